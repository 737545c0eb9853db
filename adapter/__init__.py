"""The bridge from Tasker task-template YAML to Temporal: load, validate, resolve a plan.

Config-time code only (YAML, JSON Schema, URLs): read by the worker, the starter and the
tests, never by workflow code. The resolved plan (:mod:`models.plan`) is plain data that
travels into the workflow, so the workflow stays deterministic and the history shows exactly
which policies a saga ran with. Import what you need from the submodules: this package
imports nothing, so ``import adapter.backoff`` stays cheap.
"""
