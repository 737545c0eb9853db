"""Issue 15, items 6 to 9, what needs no server: shell completion generated from the
parser, ``--version``, ``terminate`` refusing without ``--yes``, the operator's name, bad
list filters named by their option, a bad dedup window named by its variable."""

from __future__ import annotations

import io
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

import starter
from frontends.completion import bash_script
from plumbing.connection import TemporalSettings
from plumbing.version import project_version

ROOT = Path(__file__).resolve().parents[2]

PARSER = starter.build_parser(TemporalSettings(address="h:1", namespace="ns", task_queue="tq"))


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = starter.main(list(argv))
        except SystemExit as exit_:  # argparse's own exits (--version, --help)
            code = int(exit_.code or 0)
    return code, out.getvalue(), err.getvalue()


def complete(script: Path, *words: str) -> list[str]:
    """What bash offers after ``words`` (the last one is being typed)."""
    line = " ".join(f"'{word}'" for word in words)
    probe = (
        f"source {script}; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1};"
        ' _saga_complete; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True)
    return sorted(filter(None, done.stdout.splitlines()))


def test_bash_completion_offers_commands_options_and_choices(tmp_path: Path) -> None:
    script = tmp_path / "saga.bash"
    script.write_text(bash_script(PARSER))
    assert complete(script, "saga", "re") == ["register", "rerun"]
    assert complete(script, "starter.py", "list", "--st") == ["--state"]
    assert complete(script, "saga", "list", "--state", "awa") == ["awaiting_intervention"]
    assert complete(script, "saga", "--address", "h:1", "te") == ["terminate"]
    assert complete(script, "saga", "order", "x.json", "--idem") == ["--idempotency-key"]
    assert complete(script, "saga", "config", "validate", "--e") == ["--env"]
    assert complete(script, "saga", "intervene", "order-1", "re") == ["resolve", "retry"]


def test_completion_is_printed_for_each_shell() -> None:
    code, bash, _ = run("completion", "bash")
    assert code == 0
    assert "complete -o default -F _saga_complete saga starter.py" in bash
    code, zsh, _ = run("completion", "zsh")
    assert (code, zsh.splitlines()[0]) == (0, "autoload -U +X bashcompinit && bashcompinit")


def test_version() -> None:
    code, out, _ = run("--version")
    assert code == 0
    assert out.strip().split()[-1] == project_version()
    assert project_version()[0].isdigit()
    worker = subprocess.run(
        [sys.executable, "worker.py", "--version"], cwd=ROOT, capture_output=True, text=True
    )
    assert (worker.returncode, worker.stdout.strip()) == (0, f"worker.py {project_version()}")


def test_terminate_without_yes_says_what_it_does_and_does_nothing() -> None:
    code, out, err = run("terminate", "order-1")
    assert (code, out) == (2, "")
    assert "no compensation runs" in err
    assert "Add --yes to terminate it anyway." in err


def test_the_operator_defaults_to_the_environment_then_the_login(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SAGA_OPERATOR", "alice")
    assert starter.default_operator() == "alice"
    monkeypatch.delenv("SAGA_OPERATOR")
    monkeypatch.setattr("getpass.getuser", lambda: "bob")
    assert starter.default_operator() == "bob"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["list", "--since", "yesterday"], "--since: "),
        (["list", "--next", "nonsense"], "--next: not a cursor this list gave"),
        (["list", "--customer", ""], "--customer: "),
    ],
)
def test_a_bad_list_filter_is_named_by_its_option(argv: list[str], message: str) -> None:
    code, _, err = run(*argv)
    assert code == 2
    assert err.startswith(f"error: {message}")
    assert "Traceback" not in err


def test_a_bad_dedup_window_is_one_line_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAGA_DEDUP_WINDOW", "a day")
    code, _, err = run("list")
    assert code == 2
    assert err == (
        "error: SAGA_DEDUP_WINDOW: expected a duration such as 24h, 90s or 1h30m (or 0),"
        " got 'a day'\n"
    )


@pytest.mark.parametrize(
    ("command", "token_var"), [("api", "SAGA_API_TOKEN"), ("codec-server", "SAGA_CODEC_TOKEN")]
)
def test_serving_beyond_loopback_needs_a_token_or_insecure(
    command: str, token_var: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(token_var, raising=False)
    code, out, err = run(command, "--host", "0.0.0.0", "--port", "1")
    assert (code, out) == (2, "")
    assert err.startswith("error: --host 0.0.0.0 serves the ")
    assert f"set --token (or {token_var}), or pass --insecure" in err


def test_insecure_warns_and_loopback_needs_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[tuple[str, int]] = []

    async def serve(app: object, host: str, port: int) -> None:
        served.append((host, port))

    monkeypatch.setattr(starter, "serve", serve)
    monkeypatch.delenv("SAGA_API_TOKEN", raising=False)
    code, _, err = run("api", "--host", "0.0.0.0", "--port", "1", "--insecure")
    assert code == 0
    assert err.startswith("warning: --insecure: the API (decrypted customer data) on 0.0.0.0:1")
    code, _, err = run("api", "--host", "::1", "--port", "2")
    assert (code, err) == (0, "")
    assert served == [("0.0.0.0", 1), ("::1", 2)]


def test_a_token_file_is_read_or_created_and_then_beyond_loopback_is_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens: list[str | None] = []

    async def serve(app: object, host: str, port: int) -> None:
        tokens.append(None)

    monkeypatch.setattr(starter, "serve", serve)
    monkeypatch.delenv("SAGA_API_TOKEN", raising=False)
    path = tmp_path / "secrets" / "api.token"
    code, _, err = run("api", "--host", "0.0.0.0", "--port", "1", "--token-file", str(path))
    assert (code, err) == (0, "")
    created = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    assert len(created) == 1
    assert len(created[0]) >= 32
    assert path.stat().st_mode & 0o777 == 0o600
    code, _, _ = run("api", "--host", "0.0.0.0", "--port", "1", "--token-file", str(path))
    assert code == 0
    assert [line for line in path.read_text().splitlines() if not line.startswith("#")] == created
