"""deploy/k8s holds: valid objects that agree with each other and with the code they run.

Offline. Every built-in kind is validated with kubernetes-validate's bundled schemas (strict:
a misspelt field fails), at the oldest Kubernetes the manifests target and the newest the
package ships; the KEDA ScaledObject against the repository's schema. Then the references:
probes and ports, Secret keys against deploy/k8s/README.md, selectors, Services, the
ScaledObject's target and trigger against the worker's environment and temporal.toml, and
the per-build template the kustomization's replacements rewrite. Where kubectl is installed
(its built-in kustomize), the same checks run on the rendered kustomization, and a bumped
build is rendered to see the build id reach every place.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from plumbing.connection import TemporalSettings
from plumbing.worker_settings import WorkerSettings

try:
    import kubernetes_validate  # type: ignore[import-untyped]
except ImportError as err:  # a failure, never a skip: `make test` installs the test extras
    raise ImportError("kubernetes-validate is missing: pip install -e '.[test]'") from err

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
SCHEMAS = K8S / "schemas"
KUSTOMIZATION = K8S / "kustomization.yaml"
SCALEDOBJECT_SCHEMA = SCHEMAS / "scaledobject_v1alpha1.json"
OLDEST_KUBERNETES = "1.33"
"""The oldest Kubernetes KEDA 2.20 (the first with the per-version Temporal trigger) is
tested on."""
KUBERNETES_VERSIONS = sorted(
    {OLDEST_KUBERNETES, ".".join(kubernetes_validate.latest_version().split(".")[:2])}
)
BUILT_IN_KINDS = {
    "ConfigMap",
    "Deployment",
    "Namespace",
    "NetworkPolicy",
    "PersistentVolumeClaim",
    "PodDisruptionBudget",
    "Service",
}
SECRET = "saga-secrets"
IMAGE = "temporal-sagas"
UID = 10001
WORKER = "saga-worker"
"""The worker pods' app.kubernetes.io/name; their Deployment is saga-worker-<build>."""
NAME = "app.kubernetes.io/name"
VERSION = "app.kubernetes.io/version"
SECRET_COMMAND = re.compile(r"create secret generic " + SECRET + r"(?:[^\n]*\\\n)*[^\n]*")
SECRET_KEY = re.compile(r"--from-(?:file|literal)=([A-Za-z0-9._-]+)=")


@dataclass(frozen=True)
class Manifest:
    source: str
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body["kind"])

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    def __str__(self) -> str:
        return f"{self.kind}/{self.name} ({self.source})"


def manifest_files() -> list[Path]:
    """The YAML files under deploy/k8s the kustomization applies (not the schemas)."""
    found = [*K8S.rglob("*.yaml"), *K8S.rglob("*.yml")]
    return sorted(p for p in found if SCHEMAS not in p.parents and p != KUSTOMIZATION)


def load_files() -> list[Manifest]:
    manifests = []
    for path in manifest_files():
        for body in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if body is not None:
                manifests.append(Manifest(path.relative_to(K8S).as_posix(), body))
    return manifests


def kustomization() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(KUSTOMIZATION.read_text(encoding="utf-8"))
    return loaded


def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        pytest.skip("kubectl is not installed: the kustomization is not rendered")
    return path


def render(directory: Path) -> list[Manifest]:
    """``kubectl kustomize`` (kustomize built into kubectl; no cluster involved)."""
    done = subprocess.run(
        [kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return [Manifest("kustomize build", b) for b in yaml.safe_load_all(done.stdout) if b]


@pytest.fixture(scope="module", params=["files", "rendered"])
def manifests(request: pytest.FixtureRequest) -> list[Manifest]:
    """The manifests as written, and as kustomize renders them."""
    return load_files() if request.param == "files" else render(K8S)


# --- lookups ------------------------------------------------------------------------------


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m.kind == kind]


def named(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    found = [m for m in of_kind(manifests, kind) if m.name == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def worker(manifests: list[Manifest]) -> Manifest:
    found = [d for d in of_kind(manifests, "Deployment") if pod_labels(d).get(NAME) == WORKER]
    assert len(found) == 1, f"expected one worker Deployment, found {[str(d) for d in found]}"
    return found[0]


def pod_spec(deployment: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = deployment.body["spec"]["template"]["spec"]
    return spec


def pod_labels(deployment: Manifest) -> dict[str, str]:
    labels: dict[str, str] = deployment.body["spec"]["template"]["metadata"]["labels"]
    return labels


def containers(deployment: Manifest) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = pod_spec(deployment)["containers"]
    return found


def the_container(deployment: Manifest) -> dict[str, Any]:
    (container,) = containers(deployment)
    return container


def env(container: dict[str, Any]) -> dict[str, str]:
    """The container's literal environment (not the values from Secrets)."""
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def ports(container: dict[str, Any]) -> dict[str, int]:
    """Declared container ports by name (unnamed ones under their number)."""
    return {str(p.get("name", p["containerPort"])): p["containerPort"] for p in container["ports"]}


def port_of(container: dict[str, Any], port: int | str) -> int:
    """A probe's or Service's port: a declared container port, by number or name."""
    declared = ports(container)
    if isinstance(port, str):
        assert port in declared, f"{container['name']} declares no port named {port!r}"
        return declared[port]
    assert port in declared.values(), f"{container['name']} declares no port {port}"
    return port


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert "matchExpressions" not in selector, "only matchLabels selectors are checked here"
    match: dict[str, str] = selector.get("matchLabels", selector)
    return bool(match) and all(labels.get(k) == v for k, v in match.items())


def selected(manifests: list[Manifest], selector: dict[str, Any]) -> list[Manifest]:
    return [d for d in of_kind(manifests, "Deployment") if selects(selector, pod_labels(d))]


def mount_path(deployment: Manifest, container: dict[str, Any], volume: str, key: str) -> str:
    """Where ``key`` of the volume ``volume`` (a Secret or ConfigMap item) appears."""
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume]
    (source,) = [v for v in pod_spec(deployment)["volumes"] if v["name"] == volume]
    backing = source.get("secret") or source.get("configMap")
    assert backing is not None, f"volume {volume} is no Secret or ConfigMap"
    (item,) = [i for i in backing["items"] if i["key"] == key]
    return f"{mount['mountPath']}/{item['path']}"


def secret_keys(manifests: list[Manifest]) -> set[str]:
    """Every key of the Secret the pods reference, from the environment and from volumes."""
    keys = set()
    for deployment in of_kind(manifests, "Deployment"):
        for container in containers(deployment):
            assert "envFrom" not in container, "envFrom would hide which keys are used"
            for variable in container.get("env", []):
                ref = variable.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == SECRET, f"{deployment}: Secret {ref['name']}"
                    keys.add(ref["key"])
        for volume in pod_spec(deployment).get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["secretName"] == SECRET, f"{deployment}: {volume}"
                assert volume["secret"].get("items"), f"{deployment}: mount named keys only"
                keys.update(item["key"] for item in volume["secret"]["items"])
    return keys


def documented_secret_keys() -> set[str]:
    """The keys of the `kubectl create secret generic saga-secrets` command in the README."""
    commands = SECRET_COMMAND.findall((K8S / "README.md").read_text(encoding="utf-8"))
    assert len(commands) == 1, "deploy/k8s/README.md shows how to create the Secret, once"
    return set(SECRET_KEY.findall(commands[0]))


def the_trigger(manifests: list[Manifest]) -> dict[str, str]:
    (scaled,) = of_kind(manifests, "ScaledObject")
    (trigger,) = scaled.body["spec"]["triggers"]
    assert trigger["type"] == "temporal"
    metadata: dict[str, str] = trigger["metadata"]
    return metadata


def temporal_settings(manifests: list[Manifest], tmp_path: Path) -> TemporalSettings:
    """What the worker's connection resolves to, read by the project's own code from the
    ConfigMap's file and the worker's environment."""
    config = named(manifests, "ConfigMap", "temporal-client").body["data"]["temporal.toml"]
    (tmp_path / "temporal.toml").write_text(config, encoding="utf-8")
    variables = env(the_container(worker(manifests)))
    variables["TEMPORAL_CONFIG_FILE"] = str(tmp_path / "temporal.toml")
    return TemporalSettings.from_env(variables)


# --- kustomize field paths ----------------------------------------------------------------

_TOKEN = re.compile(r"\[[^\]]*\]|[^.]+")
Steps = tuple[str | int, ...]
"""A concrete path into a document: keys and list indexes."""


def resolve(body: Any, field_path: str) -> Steps:
    """The concrete path of a kustomize fieldPath (``a.[name=x].b``, ``labels.[k.io/v]``,
    ``items.0``) in ``body``; fails when a step is missing."""
    path: list[str | int] = []
    node = body
    for token in _TOKEN.findall(field_path):
        if token.startswith("[") and "=" in token:
            key, _, value = token[1:-1].partition("=")
            (index,) = [i for i, item in enumerate(node) if item.get(key) == value]
            step: str | int = index
        elif token.startswith("["):
            step = token[1:-1]
        elif isinstance(node, list):
            step = int(token)
        else:
            step = token
        node = node[step]
        path.append(step)
    return tuple(path)


def at(body: Any, path: Steps) -> Any:
    for step in path:
        body = body[step]
    return body


def part(value: str, options: dict[str, Any] | None) -> str:
    """The piece of ``value`` a replacement reads or writes (``delimiter``/``index``)."""
    if not options:
        return value
    return str(value.split(options["delimiter"])[options["index"]])


def selected_by(manifests: list[Manifest], select: dict[str, str]) -> Manifest:
    return named(manifests, select["kind"], select["name"])


def leaves(body: Any, path: Steps = ()) -> Iterator[tuple[Steps, Any]]:
    if isinstance(body, dict):
        for key, value in body.items():
            yield from leaves(value, (*path, key))
    elif isinstance(body, list):
        for index, value in enumerate(body):
            yield from leaves(value, (*path, index))
    else:
        yield path, body


# --- the files and the kustomization ------------------------------------------------------


def test_the_kustomization_lists_exactly_the_manifest_files() -> None:
    listed = kustomization()["resources"]
    present = [p.relative_to(K8S).as_posix() for p in manifest_files()]
    assert len(listed) == len(set(listed)), f"listed twice: {listed}"
    assert sorted(listed) == sorted(present)


def test_every_document_is_a_known_kind_with_a_unique_name() -> None:
    manifests = load_files()
    assert {m.kind for m in manifests} == BUILT_IN_KINDS | {"ScaledObject"}
    names = [(m.kind, m.name) for m in manifests]
    assert len(names) == len(set(names)), names
    for manifest in manifests:
        assert "namespace" not in manifest.body["metadata"], f"{manifest}: kustomize sets it"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_built_in_kinds_are_valid_kubernetes(manifests: list[Manifest], version: str) -> None:
    checked = 0
    for manifest in manifests:
        if manifest.kind == "ScaledObject":
            continue
        try:
            kubernetes_validate.validate(manifest.body, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            path = ".".join(str(step) for step in err.path)
            pytest.fail(f"{manifest} is not valid Kubernetes {version}: {path}: {err.message}")
        checked += 1
    assert checked == len(manifests) - 1


def test_the_scaledobject_schema_is_a_schema_and_the_scaledobject_meets_it(
    manifests: list[Manifest],
) -> None:
    schema = json.loads(SCALEDOBJECT_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert "kedacore/keda" in schema["$comment"], "the schema cites where it comes from"
    (scaled,) = of_kind(manifests, "ScaledObject")
    jsonschema.Draft202012Validator(schema).validate(scaled.body)


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda t: t["metadata"].update(taskQeue="sagas"), "taskQeue"),
        (lambda t: t["metadata"].pop("workerDeploymentBuildId"), "workerDeploymentBuildId"),
        (lambda t: t["metadata"].update(targetQueueSize=10), "10"),
        (lambda t: t["metadata"].update(queueTypes="workflows"), "workflows"),
        (lambda t: t.update(metdata={}), "metdata"),
    ],
)
def test_the_scaledobject_schema_refuses_what_keda_would_get_wrong(
    change: Callable[[dict[str, Any]], object], complaint: str
) -> None:
    schema = json.loads(SCALEDOBJECT_SCHEMA.read_text(encoding="utf-8"))
    (scaled,) = of_kind(load_files(), "ScaledObject")
    change(scaled.body["spec"]["triggers"][0])
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(scaled.body))
    assert errors
    assert any(complaint in e.message for e in errors), [e.message for e in errors]


# --- the worker ---------------------------------------------------------------------------


def test_the_worker_probes_its_health_port_and_serves_metrics(manifests: list[Manifest]) -> None:
    container = the_container(worker(manifests))
    variables = env(container)
    settings = WorkerSettings.from_env(variables)  # the worker's own parsing accepts them
    assert settings.health_port == int(variables["SAGA_WORKER_HEALTH_PORT"])
    assert settings.health_host == "0.0.0.0"
    assert settings.metrics_host == "0.0.0.0"
    assert port_of(container, "metrics") == settings.metrics_port
    probes = {
        kind: container[kind]["httpGet"]
        for kind in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    for kind, probe in probes.items():
        assert port_of(container, probe["port"]) == settings.health_port, kind
    assert probes["livenessProbe"]["path"] == "/health/live"
    assert probes["readinessProbe"]["path"] == "/health/ready"
    annotations = worker(manifests).body["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == settings.metrics_port


def test_the_worker_outlasts_its_drain() -> None:
    source = (ROOT / "worker.py").read_text(encoding="utf-8")
    found = re.findall(r"graceful_shutdown_timeout=timedelta\(seconds=(\d+)\)", source)
    assert len(found) == 1, "worker.py's drain (graceful_shutdown_timeout) has moved"
    drain = int(found[0])
    grace = pod_spec(worker(load_files()))["terminationGracePeriodSeconds"]
    assert grace > drain


def test_the_worker_runs_the_documented_command_and_settings(manifests: list[Manifest]) -> None:
    deployment = worker(manifests)
    container = the_container(deployment)
    variables = env(container)
    assert container["command"] == ["python", "worker.py"]
    assert variables["SAGA_ENV"] == "production"
    assert variables["TEMPORAL_TASK_QUEUE"] == "sagas"
    assert variables["TEMPORAL_PROFILE"] == "default"
    assert variables["SAGA_WORKER_DEPLOYMENT_NAME"] == "sagas"
    assert "replicas" not in deployment.body["spec"], "the ScaledObject owns the count"
    assert variables["TEMPORAL_CONFIG_FILE"] == mount_path(
        deployment, container, "temporal-client", "temporal.toml"
    )


def test_the_worker_reaches_the_services_through_their_service(manifests: list[Manifest]) -> None:
    url = env(the_container(worker(manifests)))["SAGA_SERVICES_URL"]
    found = re.fullmatch(r"http://([a-z0-9-]+):(\d+)", url)
    assert found, url
    service = named(manifests, "Service", found.group(1))
    (port,) = [p for p in service.body["spec"]["ports"] if p["port"] == int(found.group(2))]
    (target,) = selected(manifests, service.body["spec"]["selector"])
    assert the_container(target)["command"][:3] == ["python", "-m", "services"]
    assert port_of(the_container(target), port["targetPort"]) == int(found.group(2))


def test_the_worker_build_is_one_value_everywhere(manifests: list[Manifest]) -> None:
    deployment = worker(manifests)
    container = the_container(deployment)
    build = env(container)["SAGA_WORKER_BUILD_ID"]
    assert container["image"] == f"{IMAGE}:{build}"
    assert deployment.name == f"{WORKER}-{build}"
    assert pod_labels(deployment)[VERSION] == build
    assert deployment.body["spec"]["selector"]["matchLabels"][VERSION] == build
    for kind in ("PodDisruptionBudget", "ScaledObject"):
        (other,) = of_kind(manifests, kind)
        assert other.name == f"{WORKER}-{build}", other
    assert the_trigger(manifests)["workerDeploymentBuildId"] == build


# --- secrets and configuration ------------------------------------------------------------


def test_every_secret_key_referenced_is_documented_and_every_documented_key_used(
    manifests: list[Manifest],
) -> None:
    documented = documented_secret_keys()
    assert documented == {"codec.keys", "id.secret", "api.token", "codec.token"}
    assert secret_keys(manifests) == documented


def test_the_secret_reaches_each_process_where_its_code_reads_it(
    manifests: list[Manifest],
) -> None:
    wanted = {
        "saga-worker": {"SAGA_ID_SECRET": "id.secret"},
        "saga-api": {"SAGA_ID_SECRET": "id.secret", "SAGA_API_TOKEN": "api.token"},
        "saga-codec-server": {"SAGA_CODEC_TOKEN": "codec.token"},
    }
    for deployment in of_kind(manifests, "Deployment"):
        container = the_container(deployment)
        from_secret = {
            e["name"]: e["valueFrom"]["secretKeyRef"]["key"]
            for e in container.get("env", [])
            if "valueFrom" in e
        }
        assert from_secret == wanted.get(pod_labels(deployment)[NAME], {}), deployment
        if "SAGA_CODEC_KEY_FILE" in env(container):
            path = mount_path(deployment, container, SECRET, "codec.keys")
            assert env(container)["SAGA_CODEC_KEY_FILE"] == path, deployment


def test_config_maps_referenced_exist_with_their_keys(manifests: list[Manifest]) -> None:
    for deployment in of_kind(manifests, "Deployment"):
        for volume in pod_spec(deployment).get("volumes", []):
            if "configMap" in volume:
                config = named(manifests, "ConfigMap", volume["configMap"]["name"])
                for item in volume["configMap"]["items"]:
                    assert item["key"] in config.body["data"], (deployment, item)


def test_the_trigger_asks_the_server_and_queue_the_workers_use(
    manifests: list[Manifest], tmp_path: Path
) -> None:
    settings = temporal_settings(manifests, tmp_path)
    trigger = the_trigger(manifests)
    variables = env(the_container(worker(manifests)))
    assert settings.address == "temporal-frontend.temporal.svc.cluster.local:7233"
    assert trigger["endpoint"] == settings.address
    assert trigger["namespace"] == settings.namespace == "default"
    assert trigger["taskQueue"] == settings.task_queue == variables["TEMPORAL_TASK_QUEUE"]
    assert trigger["workerDeploymentName"] == variables["SAGA_WORKER_DEPLOYMENT_NAME"]
    assert trigger["workerDeploymentBuildId"] == variables["SAGA_WORKER_BUILD_ID"]
    api = env(the_container(named(manifests, "Deployment", "saga-api")))
    assert api["TEMPORAL_TASK_QUEUE"] == variables["TEMPORAL_TASK_QUEUE"]


# --- scaling, disruption, network ---------------------------------------------------------


def test_the_scaledobject_scales_the_worker_deployment(manifests: list[Manifest]) -> None:
    (scaled,) = of_kind(manifests, "ScaledObject")
    spec = scaled.body["spec"]
    target = spec["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment")
    assert target["name"] == worker(manifests).name
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]


def test_the_pdb_keeps_a_worker_and_selects_only_workers(manifests: list[Manifest]) -> None:
    (budget,) = of_kind(manifests, "PodDisruptionBudget")
    assert budget.body["spec"]["minAvailable"] == 1
    assert selected(manifests, budget.body["spec"]["selector"]) == [worker(manifests)]


def test_only_workers_reach_the_services(manifests: list[Manifest]) -> None:
    policy = named(manifests, "NetworkPolicy", "services-from-workers")
    spec = policy.body["spec"]
    (services,) = selected(manifests, spec["podSelector"])
    assert the_container(services)["command"][:3] == ["python", "-m", "services"]
    assert spec["policyTypes"] == ["Ingress"]
    (rule,) = spec["ingress"]
    (peer,) = rule["from"]
    assert set(peer) == {"podSelector"}, "workers of this namespace only"
    assert selected(manifests, peer["podSelector"]) == [worker(manifests)]
    assert [p["port"] for p in rule["ports"]] == [port_of(the_container(services), "http")]


def test_every_network_policy_selects_pods_and_their_ports(manifests: list[Manifest]) -> None:
    for policy in of_kind(manifests, "NetworkPolicy"):
        spec = policy.body["spec"]
        targets = selected(manifests, spec["podSelector"])
        assert targets, f"{policy} selects no pods"
        for rule in spec["ingress"]:
            for peer in rule["from"]:
                if "podSelector" in peer:
                    assert selected(manifests, peer["podSelector"]), f"{policy}: {peer}"
            for port in rule["ports"]:
                for target in targets:
                    port_of(the_container(target), port["port"])


def test_every_service_selects_a_deployment_and_targets_a_declared_port(
    manifests: list[Manifest],
) -> None:
    services = of_kind(manifests, "Service")
    assert {s.name for s in services} == {"saga-api", "saga-codec-server", "services"}
    for service in services:
        targets = selected(manifests, service.body["spec"]["selector"])
        assert len(targets) == 1, f"{service} selects {[str(t) for t in targets]}"
        for port in service.body["spec"]["ports"]:
            port_of(the_container(targets[0]), port["targetPort"])


# --- every pod ----------------------------------------------------------------------------


def test_every_pod_runs_the_image_as_uid_10001_read_only_with_limits_and_probes(
    manifests: list[Manifest],
) -> None:
    for deployment in of_kind(manifests, "Deployment"):
        spec = pod_spec(deployment)
        context = spec["securityContext"]
        assert context["runAsNonRoot"] is True, deployment
        assert context["runAsUser"] == UID, deployment
        assert context["seccompProfile"]["type"] == "RuntimeDefault", deployment
        assert spec["automountServiceAccountToken"] is False, deployment
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in containers(deployment):
            where = f"{deployment} {container['name']}"
            assert container["image"].partition(":")[0] == IMAGE, where
            secured = container["securityContext"]
            assert secured["readOnlyRootFilesystem"] is True, where
            assert secured["allowPrivilegeEscalation"] is False, where
            assert secured["capabilities"]["drop"] == ["ALL"], where
            (tmp,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert "emptyDir" in volumes[tmp["name"]], where
            for bound in ("requests", "limits"):
                assert set(container["resources"][bound]) == {"cpu", "memory"}, where
            for probe in ("livenessProbe", "readinessProbe"):
                port_of(container, container[probe]["httpGet"]["port"])


def test_every_server_listens_on_all_addresses_at_a_declared_port(
    manifests: list[Manifest],
) -> None:
    expected = {
        "saga-api": ["python", "starter.py", "api"],
        "saga-codec-server": ["python", "starter.py", "codec-server"],
        "saga-services": ["python", "-m", "services"],
    }
    for deployment in of_kind(manifests, "Deployment"):
        container = the_container(deployment)
        command = container["command"]
        if deployment is worker(manifests):
            continue
        assert command[:3] == expected[pod_labels(deployment)[NAME]], deployment
        assert command[command.index("--host") + 1] == "0.0.0.0", deployment
        port = int(command[command.index("--port") + 1])
        assert port_of(container, "http") == port, deployment
        assert container["livenessProbe"]["httpGet"]["port"] == "http", deployment


def test_the_codec_server_is_locked_down(manifests: list[Manifest]) -> None:
    deployment = named(manifests, "Deployment", "saga-codec-server")
    command = the_container(deployment)["command"]
    assert command[command.index("--ui-origin") + 1].startswith("https://")
    assert "--insecure" not in command
    assert the_container(deployment)["readinessProbe"]["httpGet"]["path"] == "/health"
    policy = named(manifests, "NetworkPolicy", "codec-server-from-ingress")
    assert selected(manifests, policy.body["spec"]["podSelector"]) == [deployment]


def test_the_services_keep_their_database_on_a_claim(manifests: list[Manifest]) -> None:
    deployment = named(manifests, "Deployment", "saga-services")
    container = the_container(deployment)
    command = container["command"]
    assert "--no-test-api" in command
    database = Path(command[command.index("--db") + 1])
    (mount,) = [m for m in container["volumeMounts"] if database.parent == Path(m["mountPath"])]
    (volume,) = [v for v in pod_spec(deployment)["volumes"] if v["name"] == mount["name"]]
    named(manifests, "PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
    assert deployment.body["spec"]["replicas"] == 1, "SQLite has one writer"
    assert deployment.body["spec"]["strategy"]["type"] == "Recreate"
    assert container["readinessProbe"]["httpGet"]["path"] == "/_health"


# --- the per-build template ---------------------------------------------------------------


def test_the_replacements_read_and_write_one_build_id_in_the_files() -> None:
    """Every replacement's source and targets exist in the files, and hold the same value
    there; and every place the worker's objects carry that value is rewritten (or is an
    image, which `images` rewrites), so a new tag leaves nothing of the old build behind."""
    manifests = load_files()
    config = kustomization()
    (replacement,) = config["replacements"]
    source = replacement["source"]
    origin = selected_by(manifests, source)
    build = part(at(origin.body, resolve(origin.body, source["fieldPath"])), source["options"])
    (image,) = config["images"]
    assert image["name"] == IMAGE
    rewritten: set[tuple[str, Steps]] = set()
    for target in replacement["targets"]:
        manifest = selected_by(manifests, target["select"])
        for field_path in target["fieldPaths"]:
            path = resolve(manifest.body, field_path)
            value = at(manifest.body, path)
            assert part(value, target.get("options")) == build, (str(manifest), field_path)
            rewritten.add((manifest.kind, path))
    for manifest in manifests:
        for path, value in leaves(manifest.body):
            if isinstance(value, str) and build in value and path[-1] != "image":
                assert (manifest.kind, path) in rewritten, f"{manifest}: {path} is not rewritten"


def test_a_new_tag_renames_the_worker_build_everywhere(tmp_path: Path) -> None:
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    config = kustomization()
    (old,) = {i["newTag"] for i in config["images"]}
    new = "0.2.0-rc.1"
    config["images"][0]["newTag"] = new
    (copy / "kustomization.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")

    rendered = render(copy)

    deployment = worker(rendered)
    assert deployment.name == f"{WORKER}-{new}"
    assert env(the_container(deployment))["SAGA_WORKER_BUILD_ID"] == new
    assert the_trigger(rendered)["workerDeploymentBuildId"] == new
    (scaled,) = of_kind(rendered, "ScaledObject")
    assert scaled.body["spec"]["scaleTargetRef"]["name"] == f"{WORKER}-{new}"
    (budget,) = of_kind(rendered, "PodDisruptionBudget")
    assert budget.name == f"{WORKER}-{new}"
    assert selected(rendered, budget.body["spec"]["selector"]) == [deployment]
    for manifest in rendered:
        assert manifest.body["metadata"].get("namespace", "sagas") == "sagas", manifest
        for path, value in leaves(manifest.body):
            assert not (isinstance(value, str) and old in value), f"{manifest}: {path}"
        for container in containers(manifest) if manifest.kind == "Deployment" else []:
            assert container["image"] == f"{IMAGE}:{new}", manifest
