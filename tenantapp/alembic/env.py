"""Alembic environment shared by both trees; the wiring lives in the application."""

from tenantapp.lifecycle.migrations import run_env

run_env()
