"""Alembic revisions, numbered; each runs on SQLite and PostgreSQL."""
