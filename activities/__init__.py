"""Temporal activities: one per Tasker step handler, plus compensations. All the I/O lives here."""
