"""Where each step's service lives: ``handler_config.url``, overridable from the environment.

- ``SAGA_URL_<STEP>`` (for example ``SAGA_URL_PROCESS_PAYMENT``) replaces one step's URL;
- ``SAGA_SERVICES_URL`` (for example ``http://127.0.0.1:9100``) replaces the scheme, host
  and port of every URL, keeping its path: one switch for a whole simulated world.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

from adapter.errors import ConfigError
from adapter.models import TaskTemplate

SERVICES_URL_VAR = "SAGA_SERVICES_URL"


def step_url_var(step: str) -> str:
    return f"SAGA_URL_{step.upper()}"


def service_urls(template: TaskTemplate, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Base URL per step name, after environment overrides."""
    env = os.environ if env is None else env
    origin = env.get(SERVICES_URL_VAR)
    urls: dict[str, str] = {}
    for step in template.steps:
        url = env.get(step_url_var(step.name)) or step.handler_config.get("url")
        if not isinstance(url, str) or not url:
            raise ConfigError(
                template.path,
                f"no service URL (set it or {step_url_var(step.name)})",
                step=step.name,
                key="handler_config.url",
            )
        if origin and not env.get(step_url_var(step.name)):
            base, parts = urlsplit(origin), urlsplit(url)
            url = urlunsplit((base.scheme, base.netloc, base.path.rstrip("/") + parts.path, "", ""))
        urls[step.name] = url
    return urls
