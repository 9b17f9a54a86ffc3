"""Alembic migrations of the sharing registry (run by lgsp.sharing.registry.upgrade)."""
