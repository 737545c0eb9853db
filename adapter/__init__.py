"""The bridge from Tasker task-template YAML to Temporal: load, validate, resolve a plan.

Read outside workflows (worker, starter, tests); the resolved :class:`SagaPlan` is plain
data that travels into the workflow, so the workflow stays deterministic and the history
shows exactly which policies a saga ran with.
"""

from adapter.errors import ConfigError, ConfigWarning
from adapter.loader import load_template
from adapter.plan import OnExhausted, RetryPlan, RetryRules, SagaPlan, StepPlan, StrategyPlan
from adapter.policy import build_plan
from adapter.schema import FieldError, validate_input

__all__ = [
    "ConfigError",
    "ConfigWarning",
    "FieldError",
    "OnExhausted",
    "RetryPlan",
    "RetryRules",
    "SagaPlan",
    "StepPlan",
    "StrategyPlan",
    "build_plan",
    "load_template",
    "validate_input",
]
