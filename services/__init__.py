"""Simulated outside world for the sagas: catalogue, inventory, payments, email, orders and
the four user-registration microservices, as one real HTTP service backed by SQLite."""

from .app import create_app, serve
from .pipeline import Settings

__all__ = ["Settings", "create_app", "serve"]
