"""The data every system in the serving benchmark reads: tenants made by tenantapp itself (each
with N users and one owner token), and the baseline's single plain schema with the same rows."""

import contextlib
import secrets
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import Engine, create_engine, text

from tenantapp import tenancy_from
from tenantapp.identity.tokens import PREFIX, digest
from tenantapp.tenancy.binding import bind_connection
from tenantapp.tenancy.directory import TenantEntry
from tenantapp.throwaway import TEST_KEYS

USERS_SQL = """
INSERT INTO {schema}.users (email, name, role)
SELECT 'user' || g || '@example.com', convert_to('User number ' || g, 'UTF8'),
       CASE WHEN g = 1 THEN 'owner' ELSE 'member' END
FROM generate_series(1, :users) AS g
"""
TOKEN_SQL = """
INSERT INTO {schema}.tokens (user_id, token_hash, expires_at)
VALUES (:owner, :digest, now() + interval '7 days')
"""


@dataclass(frozen=True)
class Target:
    """What a client needs to ask for one tenant's users: a path prefix and a bearer token."""

    prefix: str
    token: str
    schema: str
    first_id: int = 1  # the tenant's users are first_id .. first_id + users - 1


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def make_tenants(
    engine: Engine,
    count: int,
    users: int,
    progress=None,
    mode: str = "schema",
    prefix: str = "t",
    settings: dict | None = None,
) -> list[Target]:
    """``count`` tenants in ``mode``, each with ``users`` users (ids 1..users in schema and
    database modes; in shared mode one sequence numbers them all) and an owner token; the app
    configured with ``settings`` too."""
    url = engine.url.render_as_string(hide_password=False)
    tenancy = tenancy_from({"sqlalchemy.url": url, **TEST_KEYS, **(settings or {})})
    tenancy.migrate()
    store = tenancy.store(mode)
    targets = []
    for i in range(count):
        slug = f"{prefix}{i:05d}"
        info, _ = tenancy.create_tenant(slug, mode=mode)
        entry = TenantEntry(info.id, slug, info.schema_name, slug, "active", mode, info.server)
        token = new_token()
        with store.owner_engine(entry).begin() as connection:
            bind_connection(connection, replace(store.binding(entry), guard=None))
            connection.execute(text(USERS_SQL.format(schema=info.schema_name)), {"users": users})
            mine = "" if mode != "shared" else f" WHERE tenant_id = {info.id}"  # owner: no RLS
            owner = connection.scalar(text(f"SELECT min(id) FROM users{mine}"))
            connection.execute(
                text(TOKEN_SQL.format(schema=info.schema_name)),
                {"digest": digest(token), "owner": owner},
            )
            if mode != "shared" or i == count - 1:
                connection.exec_driver_sql(
                    f"ANALYZE {info.schema_name}.users, {info.schema_name}.tokens"
                )
        targets.append(Target(f"/{slug}", token, info.schema_name, owner))
        if progress is not None:
            progress(i + 1)
    return targets


def make_baseline(engine: Engine, users: int) -> Target:
    """The baseline's own tables in ``public``, built by its own models as its cookiecutter
    would, holding the same rows as one tenant."""
    from .baseline import Base

    Base.metadata.create_all(engine)
    token = new_token()
    with engine.begin() as connection:
        connection.execute(text(USERS_SQL.format(schema="public")), {"users": users})
        connection.execute(
            text(TOKEN_SQL.format(schema="public")), {"digest": digest(token), "owner": 1}
        )
        connection.exec_driver_sql("ANALYZE public.users, public.tokens")
    return Target("", token, "public")


@contextlib.contextmanager
def throwaway_tenants(server_url: str | None, count: int, users: int):
    """A throwaway database (``bench.database``) holding ``count`` schema-mode tenants of
    ``users`` users each, and a scratch folder: ``(url, folder, targets)``."""
    from .database import throwaway_database

    with throwaway_database(server_url) as url, tempfile.TemporaryDirectory() as folder:
        engine = create_engine(url)
        try:
            targets = make_tenants(engine, count, users)
        finally:
            engine.dispose()
        yield url, Path(folder), targets
