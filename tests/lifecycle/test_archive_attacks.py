"""An archive is data from outside: its manifest is authenticated, older formats need the
operator's explicit word, and only what the format defines is imported (never tokens)."""

import json
import zipfile

import pytest
import sqlalchemy as sa

from tenantapp.identity.tokens import digest
from tenantapp.lifecycle import provisioning, transfer
from tests.lifecycle.test_transfer import owner_engine

PLANTED = "planted-token-of-the-attackers-choosing"


def exported(tenancy, tenant, tmp_path):
    path = tmp_path / "export.zip"
    tenancy.export_tenant(tenant.slug, path)
    with zipfile.ZipFile(path) as archive:
        return path, json.loads(archive.read("manifest.json"))


def rewritten(source, path, manifest: dict, streams: dict[str, bytes] | None = None):
    """``source`` with another manifest and, if given, other streams (and only those)."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(path, "w") as dst:
        dst.writestr("manifest.json", json.dumps(manifest))
        if streams is not None:
            for name, data in streams.items():
                dst.writestr(f"{name}.copy", data)
            return path
        for item in src.infolist():
            if item.filename != "manifest.json":
                dst.writestr(item, src.read(item))
    return path


def plain_rows(tenancy, tenant, table: str, columns: list[str], **replaced: str) -> bytes:
    """The tenant's rows of ``table`` as a COPY text stream in the clear, some columns replaced
    by SQL expressions: what an attacker writes into an unsealed archive."""
    selected = ", ".join(replaced.get(c, f'"{c}"') for c in columns)
    where = f" WHERE tenant_id = {int(tenant.id)}" if tenant.mode == "shared" else ""
    query = f'SELECT {selected} FROM "{tenant.schema_name}"."{table}"{where}'
    with owner_engine(tenancy, tenant).connect() as connection:
        cursor = connection.connection.driver_connection.cursor()
        with cursor.copy(f"COPY ({query}) TO STDOUT") as copy:
            return b"".join(bytes(block) for block in copy)


def token_columns(tenancy, tenant) -> list[str]:
    with owner_engine(tenancy, tenant).connect() as connection:
        found = sa.inspect(connection).get_columns("tokens", schema=tenant.schema_name)
    return [c["name"] for c in found if c["name"] != "tenant_id"]


def unsealed(tenancy, tenant, manifest: dict, with_tokens: bool) -> tuple[dict, dict]:
    """A forged format-/1 archive of the tenant's rows in the clear, with, if asked, a tokens
    table holding the digest of a token the attacker chose."""
    tables = [dict(t) for t in manifest["tables"]]
    streams = {t["name"]: plain_rows(tenancy, tenant, t["name"], t["columns"]) for t in tables}
    if with_tokens:
        columns = token_columns(tenancy, tenant)
        stream = plain_rows(tenancy, tenant, "tokens", columns, token_hash=f"'{digest(PLANTED)}'")
        tables.append({"name": "tokens", "columns": columns, "rows": stream.count(b"\n")})
        streams["tokens"] = stream
    forged = {
        "format": transfer.FORMAT_UNSEALED,
        "revision": manifest["revision"],
        "name": "Forged",
        "settings": {"allow_impersonation": True, "quota_max_users": 100000},
        "flags": {},
        "tables": tables,
    }
    return forged, streams


def slugs(tenancy) -> list[str]:
    return [t.slug for t in tenancy.list_tenants()]


def test_an_unsealed_archive_is_refused_unless_asked_for_and_never_brings_tokens(
    tenancy, tenant, tmp_path, fresh_slug
):
    source, manifest = exported(tenancy, tenant, tmp_path)
    forged, streams = unsealed(tenancy, tenant, manifest, with_tokens=True)
    path = rewritten(source, tmp_path / "forged.zip", forged, streams)

    with pytest.raises(transfer.ArchiveError, match=r"older format.*--legacy"):
        tenancy.import_tenant(path, fresh_slug)
    with pytest.raises(transfer.ArchiveError, match="not importable: tokens"):
        tenancy.import_tenant(path, fresh_slug, legacy=True)
    assert fresh_slug not in slugs(tenancy)


def test_a_legacy_import_loads_the_rows_and_leaves_the_settings_out(
    testapp, tenancy, tenant, tmp_path, fresh_slug
):
    source, manifest = exported(tenancy, tenant, tmp_path)
    forged, streams = unsealed(tenancy, tenant, manifest, with_tokens=False)
    path = rewritten(source, tmp_path / "old.zip", forged, streams)

    copy = tenancy.import_tenant(path, fresh_slug, legacy=True)
    with tenancy.registry.connect() as registry:
        settings = registry.scalar(
            sa.select(provisioning.tenants.c.settings).where(provisioning.tenants.c.id == copy.id)
        )
    assert settings == {}
    testapp.get(f"/{fresh_slug}/users", headers={"Authorization": f"Bearer {PLANTED}"}, status=401)


def drop_audit_log(manifest: dict) -> dict:
    return {**manifest, "tables": [t for t in manifest["tables"] if t["name"] != "audit_log"]}


def add_settings(manifest: dict) -> dict:
    return {**manifest, "settings": {"allow_impersonation": True, "quota_max_users": 100000}}


def miscount(manifest: dict) -> dict:
    tables = [
        {**t, "rows": t["rows"] + 1} if t["name"] == "users" else t for t in manifest["tables"]
    ]
    return {**manifest, "tables": tables}


@pytest.mark.parametrize("alter", [drop_audit_log, add_settings, miscount])
def test_an_altered_manifest_is_refused(tenancy, tenant, tmp_path, fresh_slug, alter):
    source, manifest = exported(tenancy, tenant, tmp_path)
    path = rewritten(source, tmp_path / "altered.zip", alter(manifest))
    with pytest.raises(transfer.ArchiveError, match="manifest does not match its seal: altered"):
        tenancy.import_tenant(path, fresh_slug)
    assert fresh_slug not in slugs(tenancy)


@pytest.mark.parametrize("alter", [drop_audit_log, miscount])
def test_a_legacy_sealed_archive_is_checked_against_its_format(
    tenancy, tenant, tmp_path, fresh_slug, alter
):
    """Format /2 sealed the rows but not the manifest: tables and counts are still checked."""
    source, manifest = exported(tenancy, tenant, tmp_path)
    old = {k: v for k, v in manifest.items() if k != "mac"}
    old["format"] = transfer.FORMAT_UNAUTHENTICATED
    path = rewritten(source, tmp_path / "v2.zip", alter(old))
    with pytest.raises(transfer.ArchiveError, match="older format"):
        tenancy.import_tenant(path, fresh_slug)
    with pytest.raises(transfer.ArchiveError, match=r"missing: audit_log|row\(s\) where"):
        tenancy.import_tenant(path, fresh_slug, legacy=True)
    assert fresh_slug not in slugs(tenancy)
    intact = rewritten(source, tmp_path / "v2-intact.zip", old)
    assert tenancy.import_tenant(intact, fresh_slug, legacy=True).slug == fresh_slug
