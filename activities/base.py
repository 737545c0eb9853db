"""What a saga's activity class is: its activities bound to one HTTP client, and the
activity names and result models it provides (checked against a config before a start)."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel

from activities.client import ServiceClient
from activities.step import ACTIVITY_NAME_ATTRIBUTE, STEP_RESULT_ATTRIBUTE


class SagaActivities:
    """A saga's step and compensation activities, bound to one HTTP client: subclass it and
    decorate each activity method with :func:`step_activity`."""

    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    def all(self) -> list[Any]:
        """Every activity the class defines, bound: what a worker registers."""
        return [
            getattr(self, attribute)
            for attribute, member in vars(type(self)).items()
            if hasattr(member, ACTIVITY_NAME_ATTRIBUTE)
        ]


@functools.cache
def step_results(activities: type) -> dict[str, type[BaseModel]]:
    """Every activity a class defines, by activity name, with the model it returns: what
    the saga's code provides, for checking a config against it (before every start, so it
    is worked out once per class)."""
    return {
        getattr(member, ACTIVITY_NAME_ATTRIBUTE): getattr(member, STEP_RESULT_ATTRIBUTE)
        for member in vars(activities).values()
        if hasattr(member, ACTIVITY_NAME_ATTRIBUTE)
    }
