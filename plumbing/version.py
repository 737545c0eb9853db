"""The installed project's version, for ``--version`` on every entry point."""

from __future__ import annotations

import importlib.metadata

DISTRIBUTION = "temporal-sagas"


def project_version() -> str:
    """``pyproject.toml``'s version, as installed (``pip install -e .``, which make runs)."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:  # a checkout never installed
        return "unknown (not installed: pip install -e .)"
