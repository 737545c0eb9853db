"""Pydantic models shared by workflows, activities, the CLI and tests (import-safe)."""
