"""Portable tenant archives: ``export-tenant`` and ``import-tenant``.

An archive is a zip file with ``manifest.json`` (format, revision, tables, columns, row counts)
and one PostgreSQL ``COPY`` text stream per table (bearer tokens excepted), taken in one
REPEATABLE READ snapshot, so every value round-trips exactly. Import builds the new tenant's
schema at the archive's revision, loads the rows, moves identity sequences past them and then
migrates to head, all in one transaction. An archive from a newer revision is refused.

Every table's stream is sealed (AES-GCM, in frames) with an archive key, itself sealed with the
tenant's data key (``encryption``): an archive is readable where that tenant's key is, and by
nothing once the tenant is purged. The manifest is authenticated with the archive key too (its
``mac`` covers every other field: tables, columns, row counts, settings), and import takes only
what the format defines: the tables of the archive's revision, every one of them (never
``tokens``), with the row counts the manifest gives. Archives in the older formats (``/1``, rows
in the clear; ``/2``, manifest not authenticated) are refused unless the operator asks for a
legacy import, which still checks tables and counts and leaves the settings out.

The imported copy adopts the tenant's data keys (its sealed
columns hold values sealed with them). ``portable=True`` also writes the tenant's data keys as
they are stored, wrapped by the key-encryption key, for importing into another installation
that holds that key-encryption key; such an archive outlives a purge until that key-encryption
key is retired (``rotate-keys``, then dropped from the settings).
"""

import base64
import json
import os
import struct
import uuid
import zipfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import psycopg
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from ..encryption.keyring import KeyUnavailable, seal, sealed_version, unseal
from ..tenancy.binding import Binding
from ..tenancy.pooling import TENANT_COLUMN
from ..tenancy.slugs import check_slug
from . import migrations, residency
from .provisioning import (
    ProvisioningError,
    TenantInfo,
    find_row,
    get_tenant,
    record_migration,
    register_tenant,
    tenants,
)
from .tenancy import Tenancy

FORMAT = "tenantapp-archive/3"  # sealed streams, authenticated manifest
FORMAT_UNAUTHENTICATED = "tenantapp-archive/2"  # sealed streams: a legacy import only
FORMAT_UNSEALED = "tenantapp-archive/1"  # from before sealing: a legacy import only
LEGACY_FORMATS = (FORMAT_UNAUTHENTICATED, FORMAT_UNSEALED)
FRAME = struct.Struct(">I")  # each sealed frame's length; a zero length ends a stream
VERSION_TABLE = "alembic_version"
# Bearer tokens are credentials, not data: a copy of a tenant must not accept the original's.
NOT_EXPORTED = {"tokens", "job_tickets"}  # secrets; jobs queued for the old id
FILES_TABLE = "files"  # its rows' blobs go into the archive too (``files``)


class ArchiveError(ProvisioningError):
    """An archive that cannot be imported; the message says why."""


class SealedStream:
    """A table's COPY stream, sealed frame by frame: each frame's associated data names the
    stream, the frame's number and whether it is the last, so frames cannot be moved,
    reordered or cut off unnoticed."""

    def __init__(self, key: AESGCM, name: str):
        self.key = key
        self.name = name
        self.number = 0

    def _aad(self, last: bool) -> bytes:
        return f"{self.name}:{self.number}:{int(last)}".encode()

    def seal(self, block: bytes, last: bool = False) -> bytes:
        nonce = os.urandom(12)
        sealed = nonce + self.key.encrypt(nonce, block, self._aad(last))
        self.number += 1
        return FRAME.pack(len(sealed)) + sealed

    def blocks(self, data):
        """The stream's blocks, from the file ``data``; ArchiveError if it was tampered with."""
        while True:
            head = data.read(FRAME.size)
            if len(head) < FRAME.size:
                raise ArchiveError(f"{self.name}: the stream is cut short")
            sealed = data.read(FRAME.unpack(head)[0])
            for last in (False, True):
                try:
                    block = self.key.decrypt(sealed[:12], sealed[12:], self._aad(last))
                    break
                except InvalidTag:
                    block = None
            if block is None:
                raise ArchiveError(f"{self.name}: frame {self.number} does not open: altered")
            self.number += 1
            if last:
                return
            yield block


def _archive_key(tenancy: Tenancy, tenant_id: int) -> tuple[AESGCM, dict]:
    """A fresh archive key, and how the manifest keeps it: sealed with the tenant's data key."""
    version, data_key = tenancy.keys.current(tenant_id)
    key = AESGCM.generate_key(256)
    archive_id = uuid.uuid4().hex
    sealed = seal(data_key, version, key, f"archive:{archive_id}".encode())
    return AESGCM(key), {
        "tenant_id": tenant_id,
        "archive_id": archive_id,
        "archive_key": base64.b64encode(sealed).decode(),
    }


def _open_archive_key(sealing: dict, data_keys: dict[int, AESGCM]) -> AESGCM:
    """The archive key, opened with the tenant's data keys."""
    sealed = base64.b64decode(sealing["archive_key"])
    data_key = data_keys.get(sealed_version(sealed))
    if data_key is None:
        raise KeyUnavailable("the data key that sealed the archive key is not among the tenant's")
    return AESGCM(unseal(data_key, sealed, f"archive:{sealing['archive_id']}".encode()))


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


def export_tenant(
    tenancy: Tenancy,
    slug: str,
    path: str | Path,
    portable: bool = False,
    progress: Callable[[str, int], None] | None = None,
    to_region: str | None = None,
) -> int:
    """Write ``slug``'s archive to ``path``; returns the number of rows written. The archive
    is the same whatever the tenant's isolation mode. ``progress(table, rows)`` after each
    table. A portable archive of a tenant pinned to a region (for another installation) is
    written only when ``to_region`` says it goes to that region."""
    with tenancy.registry.connect() as registry:
        entry = find_row(registry, slug, ("active", "suspended"))
        region = residency.pinned(registry, entry.id)  # the archive keeps the pin
        registry.rollback()
    if portable and region is not None and to_region != region:
        going = f"to region {to_region!r}" if to_region else "without saying where (--to-region)"
        raise residency.ResidencyError(
            f"tenant {slug} is pinned to region {region!r}: its portable archive is not written"
            f" {going}"
        )
    archive_key, sealing = _archive_key(tenancy, entry.id)
    if portable:
        with tenancy.registry.connect() as registry:
            sealing["keys"] = [
                {**row, "wrapped": base64.b64encode(row["wrapped"]).decode()}
                for row in tenancy.keys.wrapped(registry, entry.id)
            ]
    store = tenancy.store(entry.mode)
    binding = store.binding(entry)
    with store.owner_engine(entry).connect() as connection:
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            manifest = {
                "format": FORMAT,
                "region": region,
                "revision": migrations.current_revision(connection, "tenant", binding.schema),
                "slug": slug,
                "name": entry.display_name,
                "settings": entry.settings,
                "flags": entry.flags,
                "exported_at": datetime.now(timezone.utc).isoformat(),
                "tables": [],
                "not_exported": sorted(NOT_EXPORTED),
                "sealing": sealing,
            }
            cursor = connection.connection.driver_connection.cursor()
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
                exported = _exported(connection, binding.schema)
                for table in exported:
                    columns = [c.name for c in table.columns if c.name != TENANT_COLUMN]
                    query = _rows_of(connection, binding, table, columns)
                    count = 0
                    stream = SealedStream(archive_key, table.name)
                    with (
                        archive.open(f"{table.name}.copy", "w") as out,
                        cursor.copy(f"COPY ({query}) TO STDOUT") as copy,
                    ):
                        for block in copy:  # COPY text escapes newlines in values
                            count += bytes(block).count(b"\n")
                            out.write(stream.seal(bytes(block)))
                        out.write(stream.seal(b"", last=True))
                    manifest["tables"].append(
                        {"name": table.name, "columns": columns, "rows": count}
                    )
                    if progress is not None:
                        progress(table.name, count)
                files = [t for t in exported if t.name == FILES_TABLE]
                if tenancy.files is not None and files:  # the blobs of the rows this snapshot has
                    query = _rows_of(connection, binding, files[0], ["blob", "size"])
                    listed = [tuple(row) for row in connection.exec_driver_sql(query)]
                    manifest["files"] = tenancy.files.export(entry.id, listed, archive)
                    if progress is not None:
                        progress("files (contents)", len(listed))
                manifest["mac"] = _manifest_mac(archive_key, manifest)
                archive.writestr("manifest.json", json.dumps(manifest, indent=2))
    return sum(t["rows"] for t in manifest["tables"])


def _canonical(manifest: dict) -> bytes:
    """What the manifest's ``mac`` covers: every other field, in one spelling."""
    fields = {name: value for name, value in manifest.items() if name != "mac"}
    return b"manifest:" + json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def _manifest_mac(key: AESGCM, manifest: dict) -> str:
    nonce = os.urandom(12)
    return base64.b64encode(nonce + key.encrypt(nonce, b"", _canonical(manifest))).decode()


def _check_manifest_mac(key: AESGCM, manifest: dict) -> None:
    try:
        mac = base64.b64decode(manifest["mac"], validate=True)
        key.decrypt(mac[:12], mac[12:], _canonical(manifest))
    except (KeyError, TypeError, ValueError, InvalidTag):
        raise ArchiveError("the manifest does not match its seal: altered") from None


def _read_manifest(archive: zipfile.ZipFile, legacy: bool) -> dict:
    try:
        manifest = json.loads(archive.read("manifest.json"))
    except (KeyError, ValueError):
        raise ArchiveError("not a tenantapp archive: no readable manifest.json") from None
    if not isinstance(manifest, dict):
        raise ArchiveError("not a tenantapp archive: the manifest is not an object")
    form = manifest.get("format")
    if form in LEGACY_FORMATS and not legacy:
        raise ArchiveError(
            f"the archive is in the older format {form!r}, whose manifest nothing authenticates"
            " (anyone could have written it): import it only from a file you trust, with"
            " --legacy (its settings are then left out)"
        )
    if form != FORMAT and form not in LEGACY_FORMATS:
        raise ArchiveError(f"unsupported archive format {form!r}")
    if form != FORMAT_UNSEALED and not isinstance(manifest.get("sealing"), dict):
        raise ArchiveError(f"a {form!r} archive must be sealed: its manifest has no sealing")
    tables = manifest.get("tables")
    if not isinstance(tables, list) or not all(_a_table(table) for table in tables):
        raise ArchiveError("the manifest's tables are not a list of names, columns and rows")
    if not isinstance(manifest.get("revision"), str | None):
        raise ArchiveError("the manifest's revision is not a name")
    return manifest


def _a_table(table) -> bool:
    return (
        isinstance(table, dict)
        and isinstance(table.get("name"), str)
        and isinstance(table.get("columns"), list)
        and all(isinstance(column, str) for column in table["columns"])
        and type(table.get("rows")) is int
    )


def _check_tables(connection: Connection, schema: str, listed: list[dict]) -> None:
    """The manifest lists exactly the tables the archive's revision exports, with their
    columns: none left out (an audit log dropped on the way), none added (``tokens``)."""
    defined = {
        table.name: {c.name for c in table.columns if c.name != TENANT_COLUMN}
        for table in _exported(connection, schema)
    }
    names = [table["name"] for table in listed]
    if len(set(names)) != len(names) or set(names) != set(defined):
        extra, missing = sorted(set(names) - set(defined)), sorted(set(defined) - set(names))
        raise ArchiveError(
            "the archive's tables are not those its revision defines"
            + (f"; not importable: {', '.join(extra)}" if extra else "")
            + (f"; missing: {', '.join(missing)}" if missing else "")
        )
    for table in listed:
        if set(table["columns"]) != defined[table["name"]] or len(set(table["columns"])) != len(
            table["columns"]
        ):
            raise ArchiveError(f"{table['name']}: the columns are not those its revision defines")


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
    server: str | None = None,
    legacy: bool = False,
    progress: Callable[[str, int], None] | None = None,
) -> TenantInfo:
    """A new tenant from an archive, in ``mode`` on ``server``: the rows are loaded into a
    schema built at the archive's revision, which is then migrated to head (a shared tenant's
    rows then join the pooled tables). All or nothing, as creating a tenant is. ``legacy``
    lets an archive of an older format in (see the module's docstring)."""
    check_slug(slug)
    store = tenancy.store(mode)
    if server is not None:
        tenancy.servers[server]
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as error:
        raise ArchiveError(f"cannot read archive {str(path)!r}: {error}") from None
    with archive:
        manifest = _read_manifest(archive, legacy)
        _check_revision(manifest["revision"])
        authenticated = manifest["format"] == FORMAT
        head = migrations.head_revision("tenant")

        sealing = manifest.get("sealing")
        archive_key = None
        # an archive of a pinned tenant goes back into its region only (the pin is under the
        # manifest's seal, checked before anything is kept)
        region = manifest.get("region") if authenticated else None
        if region is not None and not isinstance(region, str):
            raise ArchiveError("the manifest's region is not a name")
        server = residency.placed(tenancy.servers, server, region)

        def build(connection: Connection, schema: str) -> None:
            if manifest["revision"] is not None:
                migrations.upgrade_tenant(connection, schema, manifest["revision"])
            _check_tables(connection, schema, manifest["tables"])
            for table in manifest["tables"]:
                _load(connection, schema, archive, table, archive_key)
                if progress is not None:
                    progress(table["name"], table["rows"])
            _advance_identities(connection, schema)
            migrations.upgrade_tenant(connection, schema, head)
            if authenticated and "files" in manifest and tenancy.files is not None:
                try:
                    tenancy.files.import_(entry.id, manifest["files"], archive)
                except ValueError as error:
                    raise ArchiveError(str(error)) from None

        entry = None
        try:
            with tenancy.registry.begin() as registry:
                name = manifest.get("name") if isinstance(manifest.get("name"), str) else None
                entry = register_tenant(registry, slug, name or slug, store, server, region)
                if sealing is not None:
                    archive_key = _adopt_keys(tenancy, registry, entry.id, sealing)
                if authenticated:
                    _check_manifest_mac(archive_key, manifest)
                    registry.execute(  # overrides: checked against the declarations when read
                        tenants.update()
                        .where(tenants.c.id == entry.id)
                        .values(
                            settings=_object(manifest.get("settings")),
                            flags=_object(manifest.get("flags")),
                        )
                    )
                store.create(registry, entry, build=build)
                record_migration(registry, entry.id, head, "ok", None, 0)
        except BaseException:
            if entry is not None and tenancy.files is not None:
                tenancy.files.purge(entry.id)  # the blobs put before it failed: nothing kept
            raise
    tenancy.rebuild(entry)
    return get_tenant(tenancy, slug)


def _load(connection: Connection, schema: str, archive, table: dict, key: AESGCM | None) -> None:
    """One table's rows, as many as the manifest says (``key``: None for an unsealed one)."""
    name = table["name"]
    target = _qualified(connection, schema, name, table["columns"])
    cursor = connection.connection.driver_connection.cursor()
    rows = 0
    try:
        with (
            cursor.copy(f"COPY {target} FROM STDIN") as copy,
            archive.open(f"{name}.copy") as data,
        ):
            if key is None:
                blocks = iter(lambda: data.read(1 << 16), b"")
            else:
                blocks = SealedStream(key, name).blocks(data)
            for block in blocks:
                rows += block.count(b"\n")
                copy.write(block)
    except KeyError:
        raise ArchiveError(f"{name}: the archive has no stream for it") from None
    except psycopg.Error as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ArchiveError(f"{name}: the rows do not load: {first}") from None
    if rows != table["rows"]:
        raise ArchiveError(f"{name}: {rows} row(s) where the manifest says {table['rows']}")


def _adopt_keys(tenancy: Tenancy, registry: Connection, tenant_id: int, sealing: dict) -> AESGCM:
    """Give the new tenant the data keys of the archive's tenant (from this registry, or the
    archive's own when portable), and open the archive key with them."""
    try:
        source = int(sealing["tenant_id"])
        rows = tenancy.keys.wrapped(registry, source) or [
            {**key, "wrapped": base64.b64decode(key["wrapped"])} for key in sealing.get("keys", ())
        ]
        return _open_archive_key(sealing, tenancy.keys.adopt(registry, tenant_id, source, rows))
    except (KeyUnavailable, KeyError, ValueError, TypeError) as error:
        raise ArchiveError(f"the archive cannot be opened: {error}") from None


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
