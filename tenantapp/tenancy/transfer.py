"""Portable tenant archives: ``export-tenant`` and ``import-tenant``.

An archive is a zip file with ``manifest.json`` (format, revision, tables, columns, row counts)
and one PostgreSQL ``COPY`` text stream per table (bearer tokens excepted), taken in one
REPEATABLE READ snapshot, so every value round-trips exactly. Import builds the new tenant's
schema at the archive's revision, loads the rows, moves identity sequences past them and then
migrates to head, all in one transaction. An archive from a newer revision is refused.
"""

import json
import zipfile
from datetime import datetime, timezone
from pathlib import Path

from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from . import migrations
from .binding import Binding
from .lifecycle import Tenancy
from .pooling import TENANT_COLUMN
from .provisioning import (
    ProvisioningError,
    TenantInfo,
    find_row,
    get_tenant,
    record_migration,
    register_tenant,
    tenants,
)
from .servers import DEFAULT
from .slugs import check_slug

FORMAT = "tenantapp-archive/1"
VERSION_TABLE = "alembic_version"
# Bearer tokens are credentials, not data: a copy of a tenant must not accept the original's.
NOT_EXPORTED = {"tokens", "job_tickets"}  # secrets; jobs queued for the old id


class ArchiveError(ProvisioningError):
    """An archive that cannot be imported; the message says why."""


def _tables(connection: Connection, schema: str):
    """The schema's tables, parents before children."""
    metadata = MetaData(schema=schema)
    metadata.reflect(connection)
    return [t for t in metadata.sorted_tables if t.name != VERSION_TABLE]


def _exported(connection: Connection, schema: str):
    return [t for t in _tables(connection, schema) if t.name not in NOT_EXPORTED]


def _qualified(connection: Connection, schema: str, table: str, columns: list[str]) -> str:
    quote = connection.dialect.identifier_preparer
    cols = ", ".join(quote.quote(c) for c in columns)
    return f"{quote.quote_schema(schema)}.{quote.quote(table)} ({cols})"


def _rows_of(connection: Connection, binding: Binding, table, columns: list[str]) -> str:
    """A query for the tenant's rows of ``table``: all of them in a schema of its own, those
    with its id in the pooled schema."""
    quote = connection.dialect.identifier_preparer
    cols = ", ".join(quote.quote(c) for c in columns)
    source = f"{quote.quote_schema(binding.schema)}.{quote.quote(table.name)}"
    where = "" if binding.tenant_id is None else f" WHERE tenant_id = {int(binding.tenant_id)}"
    return f"SELECT {cols} FROM {source}{where}"  # noqa: S608 - quoted names, an int


def export_tenant(tenancy: Tenancy, slug: str, path: str | Path) -> int:
    """Write ``slug``'s archive to ``path``; returns the number of rows written. The archive
    is the same whatever the tenant's isolation mode."""
    with tenancy.registry.connect() as registry:
        entry = find_row(registry, slug, ("active", "suspended"))
        registry.rollback()
    store = tenancy.store(entry.mode)
    binding = store.binding(entry)
    with store.owner_engine(entry).connect() as connection:
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            manifest = {
                "format": FORMAT,
                "revision": migrations.current_revision(connection, "tenant", binding.schema),
                "slug": slug,
                "name": entry.display_name,
                "settings": entry.settings,
                "flags": entry.flags,
                "exported_at": datetime.now(timezone.utc).isoformat(),
                "tables": [],
                "not_exported": sorted(NOT_EXPORTED),
            }
            cursor = connection.connection.driver_connection.cursor()
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
                for table in _exported(connection, binding.schema):
                    columns = [c.name for c in table.columns if c.name != TENANT_COLUMN]
                    query = _rows_of(connection, binding, table, columns)
                    count = 0
                    with (
                        archive.open(f"{table.name}.copy", "w") as out,
                        cursor.copy(f"COPY ({query}) TO STDOUT") as copy,
                    ):
                        for block in copy:  # COPY text escapes newlines in values
                            count += bytes(block).count(b"\n")
                            out.write(block)
                    manifest["tables"].append(
                        {"name": table.name, "columns": columns, "rows": count}
                    )
                archive.writestr("manifest.json", json.dumps(manifest, indent=2))
    return sum(t["rows"] for t in manifest["tables"])


def _read_manifest(archive: zipfile.ZipFile) -> dict:
    try:
        manifest = json.loads(archive.read("manifest.json"))
    except (KeyError, ValueError):
        raise ArchiveError("not a tenantapp archive: no readable manifest.json") from None
    if manifest.get("format") != FORMAT:
        raise ArchiveError(f"unsupported archive format {manifest.get('format')!r}")
    return manifest


def _check_revision(revision: str | None) -> None:
    script = ScriptDirectory.from_config(migrations.alembic_config("tenant"))
    try:
        known = revision is None or script.get_revision(revision) is not None
    except CommandError:
        known = False
    if not known:
        raise ArchiveError(
            f"the archive is at revision {revision!r}, which this tenantapp does not know "
            f"(its head is {migrations.head_revision('tenant')}): it comes from a newer "
            "version; upgrade tenantapp before importing it"
        )


def import_tenant(
    tenancy: Tenancy,
    path: str | Path,
    slug: str,
    mode: str | None = None,
    server: str = DEFAULT,
) -> TenantInfo:
    """A new tenant from an archive, in ``mode`` on ``server``: the rows are loaded into a
    schema built at the archive's revision, which is then migrated to head (a shared tenant's
    rows then join the pooled tables). All or nothing, as creating a tenant is."""
    check_slug(slug)
    store = tenancy.store(mode)
    tenancy.servers[server]
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as error:
        raise ArchiveError(f"cannot read archive {str(path)!r}: {error}") from None
    with archive:
        manifest = _read_manifest(archive)
        _check_revision(manifest["revision"])
        head = migrations.head_revision("tenant")

        def build(connection: Connection, schema: str) -> None:
            if manifest["revision"] is not None:
                migrations.upgrade_tenant(connection, schema, manifest["revision"])
            cursor = connection.connection.driver_connection.cursor()
            for table in manifest["tables"]:
                target = _qualified(connection, schema, table["name"], table["columns"])
                with (
                    cursor.copy(f"COPY {target} FROM STDIN") as copy,
                    archive.open(f"{table['name']}.copy") as data,
                ):
                    while block := data.read(1 << 16):
                        copy.write(block)
            _advance_identities(connection, schema)
            migrations.upgrade_tenant(connection, schema, head)

        with tenancy.registry.begin() as registry:
            entry = register_tenant(registry, slug, manifest.get("name") or slug, store, server)
            registry.execute(  # overrides: checked against the declarations when read
                tenants.update()
                .where(tenants.c.id == entry.id)
                .values(
                    settings=_object(manifest.get("settings")), flags=_object(manifest.get("flags"))
                )
            )
            store.create(registry, entry, build=build)
            record_migration(registry, entry.id, head, "ok", None, 0)
    return get_tenant(tenancy, slug)


def _object(value) -> dict:
    return value if isinstance(value, dict) else {}


def _advance_identities(connection: Connection, schema: str) -> None:
    """Identity sequences continue after the imported ids."""
    quote = connection.dialect.identifier_preparer
    for table in _tables(connection, schema):
        for column in table.columns:
            if column.identity is None:
                continue
            qualified = f"{quote.quote_schema(schema)}.{quote.quote(table.name)}"
            name = quote.quote(column.name)
            connection.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence(%s, %s), "  # noqa: S608 - quoted names
                f"coalesce((SELECT max({name}) FROM {qualified}), 0) + 1, false)",
                (qualified, column.name),
            )
