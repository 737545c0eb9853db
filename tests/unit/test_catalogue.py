"""The catalogue: built-in sagas plus saga modules; one clear line for a module that
cannot be used; descriptors that import no saga code until it is needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from plumbing.ports import free_port
from sagas import catalogue as catalogue_module
from sagas.builtin import ORDER, REGISTRATION
from sagas.catalogue import MODULES_VAR, Catalogue, module_sagas, use_modules
from sagas.descriptor import SagaDescriptor, SagaModuleError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def modules_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path for throwaway saga modules; the catalogue is put back after."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(MODULES_VAR, "")
    yield tmp_path
    os.environ.pop(MODULES_VAR, None)
    use_modules()
    for name in [name for name in sys.modules if name.startswith("saga_mod_")]:
        del sys.modules[name]


def test_the_built_in_sagas_come_first_and_are_found_by_command_or_kind() -> None:
    sagas = Catalogue([ORDER, REGISTRATION])
    assert sagas.kinds == ["order", "registration"]
    assert sagas.commands == ["order", "register"]
    assert sagas["register"] is sagas["registration"] is REGISTRATION
    assert sagas.of_type("OrderProcessingWorkflow") is ORDER
    with pytest.raises(KeyError, match="no saga 'refund'"):
        sagas["refund"]


def test_a_module_adds_its_sagas_and_names_them_for_child_processes(
    modules_dir: Path,
) -> None:
    (modules_dir / "saga_mod_ok.py").write_text(
        textwrap.dedent("""
            import dataclasses
            from sagas.builtin import ORDER
            SAGAS = [dataclasses.replace(ORDER, kind="copy", command="copy",
                     workflow_type="CopyWorkflow", api_path="/copies")]
        """)
    )
    sagas = use_modules(["saga_mod_ok"])
    assert sagas.kinds == ["order", "registration", "copy"]
    assert os.environ[MODULES_VAR] == "saga_mod_ok"
    assert catalogue_module.catalogue() is sagas


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (None, "saga module 'saga_mod_x' cannot be imported: No module named 'saga_mod_x'"),
        ("X = 1\n", "saga module 'saga_mod_x' declares no sagas (expected SAGAS"),
        ("SAGAS = [1]\n", "saga module 'saga_mod_x': not a SagaDescriptor: 1"),
        (
            "from sagas.builtin import ORDER\nSAGAS = [ORDER]\n",
            "two sagas have the kind 'order' (order and order)",
        ),
    ],
)
def test_a_module_that_cannot_be_used_is_refused_in_one_line(
    modules_dir: Path, source: str | None, message: str
) -> None:
    if source is not None:
        (modules_dir / "saga_mod_x.py").write_text(source)
    with pytest.raises(SagaModuleError) as refused:
        use_modules(["saga_mod_x"])
    assert str(refused.value).startswith(message)
    assert "\n" not in str(refused.value)


def test_a_descriptor_checks_its_own_fields() -> None:
    with pytest.raises(SagaModuleError, match=r"workflow 'nope' is not a 'package\.module:Name'"):
        SagaDescriptor(**{**ORDER.__dict__, "workflow": "nope"})
    with pytest.raises(SagaModuleError, match="kind 'Order!' must be lower-case"):
        SagaDescriptor(**{**ORDER.__dict__, "kind": "Order!"})
    with pytest.raises(SagaModuleError, match="api_path must be a fixed path"):
        SagaDescriptor(**{**ORDER.__dict__, "api_path": "orders"})


def test_module_sagas_reads_the_built_ins() -> None:
    assert module_sagas("sagas.builtin") == (ORDER, REGISTRATION)


def _run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


@pytest.mark.parametrize("program", ["starter.py", "worker.py"])
def test_a_missing_saga_module_is_one_line_and_exit_2(program: str) -> None:
    args = [program, "--saga-module", "no_such_saga_module"]
    result = _run(*args, *(["list"] if program == "starter.py" else []))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: saga module 'no_such_saga_module' cannot be imported:"
        " No module named 'no_such_saga_module'"
    ]
    from_env = _run(*args[:1], "list", env={MODULES_VAR: "no_such_saga_module"})
    if program == "starter.py":
        assert from_env.returncode == 2
        assert "no_such_saga_module" in from_env.stderr


PROBE = """
import json, sys
import starter
try:
    starter.main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)))
"""
HEAVY = ("httpx", "aiohttp", "httpx_aiohttp", "activities")


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["order", "examples/order_sample.json", "--address", "127.0.0.1:{port}"]],
    ids=["help", "start-unreachable"],
)
def test_the_cli_imports_no_activity_or_workflow_code(argv: list[str]) -> None:
    """A start and --help read the descriptors, not the sagas' code: no HTTP client, no
    activity module, no saga workflow module."""
    port = str(free_port())
    result = _run("-c", PROBE, *(arg.replace("{port}", port) for arg in argv))
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    workflows = {saga.workflow.partition(":")[0] for saga in (ORDER, REGISTRATION)}
    heavy = [name for name in loaded if name.split(".")[0] in HEAVY or name in workflows]
    assert heavy == []
    if argv[0] == "order":
        assert "models.order" in loaded  # the start did validate the request
        assert "cannot reach Temporal" in result.stderr
