"""Alembic wiring for the two migration trees under ``alembic/``.

``shared`` migrates the registry schema; ``tenant`` migrates one tenant schema, whose own
``alembic_version`` table records that tenant's revision. Both run on a connection handed in by
the caller, inside the caller's transaction, so creating a tenant is all-or-nothing.
"""

import os
import threading
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Connection

from ..tenancy.binding import bind_connection
from ..tenancy.models import SHARED_SCHEMA, SharedBase, TenantBase

ALEMBIC_DIR = Path(__file__).resolve().parents[1] / "alembic"  # tenantapp/alembic, installed too
TREES = ("shared", "tenant")
# an app's own tenant revisions, after tenantapp's (``tenantapp.migrations.tenant_versions``);
# set once at start-up, before any of this module is used, and handed to migrate's workers
EXTRA_TENANT_VERSIONS: list[str] = []

# alembic's ``op`` and ``context`` are module-level proxies: two migrations running at once in
# one process would swap each other's connection. Parallel migration uses processes instead.
_alembic_lock = threading.Lock()


def use_tenant_versions(locations: list[str]) -> None:
    """Add an app's tenant revisions (directories) to the tree; once, at start-up."""
    if locations != EXTRA_TENANT_VERSIONS:
        EXTRA_TENANT_VERSIONS[:] = locations
        for cached in (head_revision, chain, phase, concurrently):
            cached.cache_clear()


def alembic_config(
    tree: str, connection: Connection | None = None, schema: str | None = None, output=None
):
    if tree not in TREES:
        raise ValueError(f"unknown migration tree {tree!r}")
    cfg = Config(output_buffer=output)
    cfg.set_main_option("script_location", str(ALEMBIC_DIR))
    cfg.set_main_option("path_separator", "os")
    locations = [str(ALEMBIC_DIR / tree / "versions")]
    if tree == "tenant":
        locations += EXTRA_TENANT_VERSIONS
    cfg.set_main_option("version_locations", os.pathsep.join(locations))
    cfg.attributes.update(tree=tree, connection=connection, schema=schema)
    return cfg


@cache
def head_revision(tree: str) -> str:
    """The head of a tree; the files don't change while the process runs."""
    head = ScriptDirectory.from_config(alembic_config(tree)).get_current_head()
    if head is None:
        raise RuntimeError(f"the {tree} migration tree has no revisions")
    return head


def is_known_revision(tree: str, revision: str) -> bool:
    """Whether this code's ``tree`` has ``revision`` (a database migrated by newer code, or
    left behind by a downgrade to older code, may be at one it does not)."""
    scripts = ScriptDirectory.from_config(alembic_config(tree))
    try:
        return scripts.get_revision(revision) is not None
    except CommandError:
        return False


@cache
def chain(tree: str) -> tuple[str, ...]:
    """The tree's revisions, oldest first (one line: a branch is refused)."""
    scripts = ScriptDirectory.from_config(alembic_config(tree))
    heads = scripts.get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"the {tree} migration tree has {len(heads)} heads: {heads}")
    return tuple(reversed([script.revision for script in scripts.walk_revisions()]))


@cache
def phase(tree: str, revision: str) -> str | None:
    """A revision's ``phase``: ``"expand"`` (additive: code of the revision before it still
    works), ``"contract"`` (drops what only older code used), or None (a plain one)."""
    script = ScriptDirectory.from_config(alembic_config(tree)).get_revision(revision)
    found = getattr(script.module, "phase", None)
    if found not in (None, "expand", "contract"):
        raise RuntimeError(f"revision {revision}: phase is 'expand' or 'contract', not {found!r}")
    return found


@cache
def concurrently(tree: str, revision: str) -> tuple[str, ...]:
    """A revision's ``concurrently``: ``CREATE INDEX CONCURRENTLY`` statements run after its
    transaction (which cannot hold them), by ``migrate`` (``phases.build_concurrently``)."""
    script = ScriptDirectory.from_config(alembic_config(tree)).get_revision(revision)
    return tuple(getattr(script.module, "concurrently", ()))


def after(tree: str, current: str | None, target: str) -> list[str]:
    """The revisions an upgrade from ``current`` to ``target`` applies, in order."""
    revisions = chain(tree)
    start = 0 if current is None else revisions.index(current) + 1
    return list(revisions[start : revisions.index(target) + 1])


def expand_target(tree: str, current: str | None) -> str | None:
    """Where ``migrate --expand`` takes a schema at ``current``: through the revisions after it
    up to the first contract one (None: it is there already, or the next one contracts)."""
    if current is not None and current not in chain(tree):
        return None  # newer than this code: nothing it knows is ahead
    target = None
    for revision in after(tree, current, chain(tree)[-1]):
        if phase(tree, revision) == "contract":
            break
        target = revision
    return target


class SchemaRevisions:
    """The ``ISchemaRevisions`` service: the order of this code's tenant revisions."""

    def head(self) -> str:
        """The newest tenant revision this code knows (a serving process's heartbeat says it)."""
        return head_revision("tenant")

    def reached(self, at: str | None, revision: str) -> bool:
        """A revision this code does not know is newer than all it knows."""
        revisions = chain("tenant")
        if at is None:
            return False
        return at not in revisions or revisions.index(at) >= revisions.index(revision)


def current_revision(connection: Connection, tree: str, schema: str | None = None) -> str | None:
    version_schema = SHARED_SCHEMA if tree == "shared" else schema
    context = MigrationContext.configure(connection, opts={"version_table_schema": version_schema})
    return context.get_current_revision()


def upgrade_shared(connection: Connection, revision: str = "head") -> None:
    with _alembic_lock:
        command.upgrade(alembic_config("shared", connection), revision)


def upgrade_tenant(connection: Connection, schema: str, revision: str = "head") -> None:
    with _alembic_lock:
        command.upgrade(alembic_config("tenant", connection, schema), revision)


def downgrade_tenant(connection: Connection, schema: str, revision: str) -> None:
    with _alembic_lock:
        command.downgrade(alembic_config("tenant", connection, schema), revision)


def _run_offline(context, tree: str, schema: str | None) -> None:
    """``--sql``: print what would run, with the tenant schema bound the same way."""
    from sqlalchemy.dialects import postgresql

    version_schema = SHARED_SCHEMA if tree == "shared" else schema
    context.configure(
        dialect_name="postgresql",
        literal_binds=True,
        version_table_schema=version_schema,
        transactional_ddl=True,
        target_metadata=SharedBase.metadata if tree == "shared" else TenantBase.metadata,
    )
    with context.begin_transaction():
        if tree == "shared":
            context.execute(f"CREATE SCHEMA IF NOT EXISTS {SHARED_SCHEMA}")
        else:
            quoted = postgresql.dialect().identifier_preparer.quote_schema(schema)
            context.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
            context.execute(f"SELECT set_config('search_path', '{quoted}', true)")
        context.run_migrations()


def run_env() -> None:
    """Body of ``alembic/env.py``: configure the context for the tree being migrated."""
    from alembic import context

    attributes = context.config.attributes
    if context.is_offline_mode():
        _run_offline(context, attributes["tree"], attributes.get("schema"))
        return
    connection = attributes.get("connection")
    if connection is None:
        raise SystemExit(
            "tenantapp migrations run through the application: "
            "use `tenantapp-admin CONFIG_URI migrate`"
        )
    if attributes["tree"] == "shared":
        connection.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {SHARED_SCHEMA}")
        metadata, version_schema = SharedBase.metadata, SHARED_SCHEMA
    else:
        version_schema = attributes["schema"]
        bind_connection(connection, version_schema)
        metadata = TenantBase.metadata
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema=version_schema,
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()
