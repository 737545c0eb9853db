"""Connection settings the way Temporal's own tools read them (``temporalio.envconfig``):
a TOML profile, then the environment; TLS and API keys included."""

from __future__ import annotations

from pathlib import Path

import pytest

from plumbing.connection import ConnectionSettingsError, TemporalSettings

CLOUD = """
[profile.cloud]
address = "my-ns.a1b2c.tmprl.cloud:7233"
namespace = "my-ns.a1b2c"
api_key = "secret-api-key"

[profile.cloud.tls]
server_name = "my-ns.a1b2c.tmprl.cloud"
"""


def test_defaults_without_any_configuration() -> None:
    settings = TemporalSettings.from_env({})
    assert (settings.address, settings.namespace, settings.task_queue) == (
        "localhost:7233", "default", "sagas",
    )  # fmt: skip
    assert settings.connection == {}


def test_a_cloud_profile_gives_tls_and_the_api_key_and_never_prints_it(tmp_path: Path) -> None:
    config = tmp_path / "temporal.toml"
    config.write_text(CLOUD)
    env = {"TEMPORAL_CONFIG_FILE": str(config), "TEMPORAL_PROFILE": "cloud"}

    settings = TemporalSettings.from_env(env)

    assert settings.address == "my-ns.a1b2c.tmprl.cloud:7233"
    assert settings.namespace == "my-ns.a1b2c"
    assert settings.connection["api_key"] == "secret-api-key"
    assert settings.connection["tls"].domain == "my-ns.a1b2c.tmprl.cloud"
    assert "secret-api-key" not in repr(settings)


def test_environment_overrides_the_profile(tmp_path: Path) -> None:
    config = tmp_path / "temporal.toml"
    config.write_text(CLOUD)
    env = {
        "TEMPORAL_CONFIG_FILE": str(config),
        "TEMPORAL_PROFILE": "cloud",
        "TEMPORAL_NAMESPACE": "other.a1b2c",
        "TEMPORAL_TASK_QUEUE": "orders",
    }
    settings = TemporalSettings.from_env(env)
    assert (settings.namespace, settings.task_queue) == ("other.a1b2c", "orders")


@pytest.mark.parametrize(
    ("content", "profile", "message"),
    [("[profile.cloud\n", "cloud", "TOML parse error"), (CLOUD, "staging", "'staging' not found")],
)
def test_a_broken_configuration_is_one_clear_error(
    tmp_path: Path, content: str, profile: str, message: str
) -> None:
    config = tmp_path / "temporal.toml"
    config.write_text(content)
    env = {"TEMPORAL_CONFIG_FILE": str(config), "TEMPORAL_PROFILE": profile}
    with pytest.raises(ConnectionSettingsError, match=message):
        TemporalSettings.from_env(env)
