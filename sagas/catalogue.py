"""The catalogue: the built-in sagas plus the saga modules a deployment names.

A saga module is any importable module with ``SAGAS``, a sequence of
:class:`~sagas.descriptor.SagaDescriptor` (or ``SAGA``, one). It is named with
``--saga-module MODULE`` (repeatable) on ``worker.py`` and ``starter.py``, or with
``SAGA_MODULES`` (comma-separated). Naming one on the command line also puts it in
``SAGA_MODULES``, so the processes a command starts (the demo's worker and API) host the
same sagas.
"""

from __future__ import annotations

import argparse
import importlib
import os
from collections.abc import Iterator, Sequence
from typing import Any

from sagas.descriptor import SagaDescriptor, SagaModuleError

BUILTIN_MODULE = "sagas.builtin"
MODULES_VAR = "SAGA_MODULES"


def module_sagas(name: str) -> tuple[SagaDescriptor, ...]:
    """The descriptors a saga module declares; SagaModuleError says why there are none."""
    try:
        module = importlib.import_module(name)
    except ImportError as err:
        raise SagaModuleError(f"saga module {name!r} cannot be imported: {err}") from None
    found = getattr(module, "SAGAS", None)
    if found is None and hasattr(module, "SAGA"):
        found = (module.SAGA,)
    if not found or isinstance(found, str | bytes):
        raise SagaModuleError(
            f"saga module {name!r} declares no sagas (expected SAGAS, a list of"
            " SagaDescriptor, or SAGA, one)"
        )
    sagas = tuple(found)
    wrong = [repr(saga) for saga in sagas if not isinstance(saga, SagaDescriptor)]
    if wrong:
        raise SagaModuleError(f"saga module {name!r}: not a SagaDescriptor: {wrong[0][:80]}")
    return sagas


class Catalogue:
    """The sagas this process knows, in order: built-ins first, then each module's."""

    def __init__(self, sagas: Sequence[SagaDescriptor], modules: Sequence[str] = ()) -> None:
        self.modules = tuple(modules)
        self._sagas = tuple(sagas)
        for attribute in ("kind", "command", "workflow_type", "api_path"):
            seen: dict[str, str] = {}
            for saga in self._sagas:
                value = getattr(saga, attribute)
                if value in seen:
                    raise SagaModuleError(
                        f"two sagas have the {attribute} {value!r} ({seen[value]} and"
                        f" {saga.kind}): each saga's must be its own"
                    )
                seen[value] = saga.kind

    def __iter__(self) -> Iterator[SagaDescriptor]:
        return iter(self._sagas)

    def __len__(self) -> int:
        return len(self._sagas)

    @property
    def kinds(self) -> list[str]:
        return [saga.kind for saga in self._sagas]

    @property
    def commands(self) -> list[str]:
        return [saga.command for saga in self._sagas]

    def get(self, name: str) -> SagaDescriptor | None:
        """The saga with this command or kind."""
        return next((s for s in self._sagas if name in (s.command, s.kind)), None)

    def __getitem__(self, name: str) -> SagaDescriptor:
        saga = self.get(name)
        if saga is None:
            raise KeyError(f"no saga {name!r} (known: {', '.join(self.commands)})")
        return saga

    def of_type(self, workflow_type: str) -> SagaDescriptor | None:
        return next((s for s in self._sagas if s.workflow_type == workflow_type), None)


def _env_modules() -> list[str]:
    return [name.strip() for name in os.environ.get(MODULES_VAR, "").split(",") if name.strip()]


_current: Catalogue | None = None


def use_modules(modules: Sequence[str] = ()) -> Catalogue:
    """Build this process's catalogue from the built-ins, ``SAGA_MODULES`` and ``modules``;
    the modules named go into ``SAGA_MODULES`` for the processes this one starts."""
    global _current
    names = list(dict.fromkeys([*_env_modules(), *modules]))
    sagas = [saga for name in [BUILTIN_MODULE, *names] for saga in module_sagas(name)]
    _current = Catalogue(sagas, names)
    if names:
        os.environ[MODULES_VAR] = ",".join(names)
    return _current


def catalogue() -> Catalogue:
    """This process's catalogue (built from the environment on first use)."""
    return _current or use_modules()


def saga(name: str) -> SagaDescriptor:
    """The saga with this command or kind (``order``, ``register``, ``registration``)."""
    return catalogue()[name]


def add_module_option(parser: argparse.ArgumentParser, default: Any = None) -> None:
    """``--saga-module MODULE`` (repeatable), the same on every command."""
    parser.add_argument(
        "--saga-module",
        action="append",
        default=default,
        metavar="MODULE",
        help="also host the sagas of this module (repeatable) [SAGA_MODULES, comma-separated]",
    )


def use_module_options(argv: Sequence[str] | None) -> Catalogue:
    """The catalogue for a command line: its ``--saga-module`` options, read before the
    rest (the sagas decide which commands there are), plus ``SAGA_MODULES``."""
    early = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    add_module_option(early, [])
    known, _ = early.parse_known_args(argv)
    return use_modules(known.saga_module)


def check_code(sagas: Catalogue) -> None:
    """Import every saga's workflow and steps now: a reference that does not resolve is
    one line when a worker starts, not a failure later."""
    for saga in sagas:
        saga.workflow_class()
        saga.step_set()
