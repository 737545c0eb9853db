"""The workflows' arguments: what the customer asked for and the plan it runs with.

Here, not beside the workflows, so the sandbox shares them (``models`` is passed through)
instead of building these pydantic classes again for every workflow run.
"""

from __future__ import annotations

from pydantic import BaseModel

from models.order import OrderInput
from models.plan import SagaPlan
from models.registration import RegistrationInput


class OrderRequest(BaseModel):
    """OrderProcessingWorkflow's argument."""

    order: OrderInput
    plan: SagaPlan


class RegistrationRequest(BaseModel):
    """UserRegistrationWorkflow's argument."""

    registration: RegistrationInput
    plan: SagaPlan
