"""What every step activity returns: its result plus the attempt that produced it.

Temporal does not tell a workflow how many attempts an activity took, and the status
document must show it, so the activity reports it (on failure, in the error's details).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class StepOutput(BaseModel):
    attempt: int
    result: dict[str, Any]
