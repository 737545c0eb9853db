"""Temporal workflows: thin sagas over the shared step runner (``workflows.steps``)."""
