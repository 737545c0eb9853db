"""A step declared once: its name, the model of its result, the earlier results it reads.

tasker-core writes ``@depends_on(cart="validate_cart")`` on a handler; here a saga's models
module declares each step as a typed handle::

    VALIDATE_CART = Step("validate_cart", CartValidation)
    PROCESS_PAYMENT = Step("process_payment", PaymentResult, reads=(VALIDATE_CART,))

and everything else is derived from that one declaration: the activity's name and return
type (``activities.step.step_activity``), what a workflow's input builders may read
(``workflows.steps.Reads``), which steps need a manually resolved result, and the check
that a config's ``depends_on_step`` orders every step after the steps it reads.

Sandbox-safe: plain data and pure functions.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True, eq=False)
class Step(Generic[R]):
    """One step of a saga: one activity, one result model, the steps whose results it reads."""

    name: str
    result: type[R]
    reads: tuple[Step[Any], ...] = ()
    activity: str = field(default="", kw_only=True)
    """The activity's name, unique on a task queue; the step's name unless given (a saga
    package whose step names repeat another saga's namespaces its activities)."""

    def __post_init__(self) -> None:
        if not self.activity:
            object.__setattr__(self, "activity", self.name)

    def __repr__(self) -> str:
        return f"Step({self.name!r})"


class StepDeclarationError(ValueError):
    """Step declarations that cannot describe a saga (a programming error, found at import)."""


class Steps:
    """A saga's steps, in declaration order, and what is derived from them; with the names
    of the compensation activities its code provides (a config's ``saga.compensation``
    names one of them)."""

    def __init__(self, *steps: Step[Any], compensations: tuple[str, ...] = ()) -> None:
        names = [step.name for step in steps]
        if len(set(names)) != len(names):
            raise StepDeclarationError(f"a step is declared twice: {names}")
        for step in steps:
            unknown = [read.name for read in step.reads if read not in steps]
            if unknown:
                raise StepDeclarationError(f"{step.name} reads undeclared steps: {unknown}")
        self._steps: dict[str, Step[Any]] = {step.name: step for step in steps}
        self.compensations = compensations

    def __iter__(self) -> Iterator[Step[Any]]:
        return iter(self._steps.values())

    def __contains__(self, name: object) -> bool:
        return name in self._steps

    def __getitem__(self, name: str) -> Step[Any]:
        return self._steps[name]

    @property
    def names(self) -> list[str]:
        return list(self._steps)

    @property
    def results(self) -> dict[str, type[BaseModel]]:
        """Each step's result model, by step name."""
        return {name: step.result for name, step in self._steps.items()}

    @property
    def activities(self) -> dict[str, str]:
        """Each step's activity name, by step name."""
        return {name: step.activity for name, step in self._steps.items()}

    @property
    def provided(self) -> dict[str, type[BaseModel] | None]:
        """Every activity the saga's code must provide, with the result model of those that
        run a step (a compensation's result is its own business): what its activity class
        is checked against when a worker starts."""
        provided: dict[str, type[BaseModel] | None] = dict.fromkeys(self.compensations)
        provided.update({step.activity: step.result for step in self._steps.values()})
        return provided

    def readers_of(self, name: str) -> list[str]:
        """The steps that read ``name``'s result."""
        return [step.name for step in self._steps.values() if self._steps[name] in step.reads]

    def unordered_reads(
        self, depends_on: Mapping[str, list[str]], *, sequential: bool = False
    ) -> dict[str, list[str]]:
        """For each step, the steps it reads that ``depends_on`` (a config's dependencies,
        by step) does not order before it, directly or through other steps. ``sequential``
        (Tasker's ``concurrent: false``) orders every step after those declared before it.
        Steps the config lacks are left to the check that names them."""
        order = [name for name in depends_on if name in self._steps]
        problems: dict[str, list[str]] = {}
        for name in order:
            before = _ancestors(name, depends_on)
            if sequential:
                before |= set(order[: order.index(name)])
            missing = [read.name for read in self._steps[name].reads if read.name not in before]
            if missing:
                problems[name] = missing
        return problems


def _ancestors(name: str, depends_on: Mapping[str, list[str]]) -> set[str]:
    """Every step ``name`` waits for, directly or through other steps."""
    seen: set[str] = set()
    pending = list(depends_on.get(name, []))
    while pending:
        step = pending.pop()
        if step not in seen:
            seen.add(step)
            pending += depends_on.get(step, [])
    return seen
