"""Simulated outside world for the sagas: catalogue, inventory, payments, email, orders and
the four user-registration microservices, as one real HTTP service backed by SQLite."""

from .app import create_app, serve

__all__ = ["create_app", "serve"]
