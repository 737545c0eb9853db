"""Nothing under tests/, .ci/ or the Makefile reads outside the checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.checkout_guard import ROOT, ReadRecorder, outside_paths_in

GUARDED = [
    *sorted((ROOT / "tests").rglob("*.py")),
    *sorted((ROOT / "tests").rglob("*.md")),
    *sorted((ROOT / ".ci").iterdir()),
    ROOT / "Makefile",
    ROOT / "pyproject.toml",
]
THIS_GUARD = {ROOT / "tests" / "checkout_guard.py", Path(__file__).resolve()}


def test_no_guarded_file_names_a_path_outside_the_checkout() -> None:
    found = [
        line
        for path in GUARDED
        if path.is_file() and path not in THIS_GUARD
        for line in outside_paths_in(str(path.relative_to(ROOT)), path.read_text("utf-8"))
    ]
    assert found == []


@pytest.mark.parametrize(
    ("relative", "line"),
    [
        ("tests/unit/t.py", 'REF = ROOT.parent / "shared" / "reference"'),
        ("tests/unit/t.py", "ROOT = Path(__file__).resolve().parents[3]"),
        ("tests/t.py", "ROOT = Path(__file__).parent.parent"),
        ("tests/unit/t.py", 'open("../shared/reference/x.yaml")'),
        ("Makefile", "\tcp ../shared/x ."),
        (".ci/run", f"cat {ROOT.parent}/shared/SPEC.md"),
    ],
)
def test_the_text_check_catches_a_climb_out(relative: str, line: str) -> None:
    assert outside_paths_in(relative, line) != []


@pytest.mark.parametrize(
    ("relative", "line"),
    [
        ("tests/unit/t.py", "ROOT = Path(__file__).resolve().parents[2]"),
        ("tests/unit/t.py", 'EXAMPLES = ROOT / "examples"'),
        ("tests/unit/t.py", "x = a..b  # not a path"),
        ("Makefile", "\t$(PY) starter.py demo"),
    ],
)
def test_the_text_check_passes_paths_inside(relative: str, line: str) -> None:
    assert outside_paths_in(relative, line) == []


def test_the_read_recorder_flags_siblings_only(tmp_path: Path) -> None:
    root = tmp_path / "clone" / "project"
    recorder = ReadRecorder(root)
    recorder("open", (str(root.parent / "shared" / "SPEC.md"), "r", 0))
    recorder("os.scandir", (root.parent / "shared",))
    recorder("open", (str(root / "config" / "order_processing.yaml"), "r", 0))
    recorder("open", (3, "r", 0))
    assert recorder.take() == [
        str(root.parent / "shared" / "SPEC.md"),
        str(root.parent / "shared"),
    ]
    assert recorder.take() == []
