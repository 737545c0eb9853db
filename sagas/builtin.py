"""The built-in sagas: the only module of the shared machinery that names them.

Every list of sagas (the CLI's start commands, ``list --saga``, the API's start routes, the
worker's workflows and activities, the demo's samples) is derived from these descriptors
plus those of any saga module a deployment adds (``--saga-module``, ``SAGA_MODULES``).
"""

from __future__ import annotations

from pathlib import Path

from sagas.descriptor import SagaDescriptor, Sample

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = ROOT / "config"
EXAMPLES_DIR = ROOT / "examples"

ORDER = SagaDescriptor(
    kind="order",
    command="order",
    workflow_type="OrderProcessingWorkflow",
    workflow="workflows.order_processing:OrderProcessingWorkflow",
    activities="activities.order:OrderActivities",
    steps="models.order:ORDER_STEPS",
    request="models.order:OrderRequest",
    input_model="models.order:OrderInput",
    input_field="order",
    config=CONFIG_DIR / "order_processing.yaml",
    api_path="/orders",
    summary="models.order:order_summary",
    customer="models.order:order_customer",
    samples_dir=EXAMPLES_DIR,
    samples=(
        Sample("order_sample.json", "the sample order (expect complete, 124.76)"),
        Sample("order_declined.json", "an order with a declined card (expect error)", "error"),
    ),
)
REGISTRATION = SagaDescriptor(
    kind="registration",
    command="register",
    workflow_type="UserRegistrationWorkflow",
    workflow="workflows.user_registration:UserRegistrationWorkflow",
    activities="activities.registration:RegistrationActivities",
    steps="models.registration:REGISTRATION_STEPS",
    request="models.registration:RegistrationRequest",
    input_model="models.registration:RegistrationInput",
    input_field="registration",
    config=CONFIG_DIR / "user_registration.yaml",
    api_path="/registrations",
    summary="models.registration:registration_summary",
    identity="models.registration:registration_identity",
    customer="models.registration:registration_identity",
    samples_dir=EXAMPLES_DIR,
    samples=(Sample("registration_sample.json", "a pro-plan user registration (expect complete)"),),
)
SAGAS = (ORDER, REGISTRATION)
