"""export-tenant / import-tenant: every row round-trips exactly, across slugs and databases."""

import base64
import json
import uuid
import zipfile

import pytest
import sqlalchemy as sa

from tenantapp.lifecycle import migrations, transfer
from tenantapp.scripts.admin import main as admin
from tenantapp.tenancy.directory import TenantEntry
from tests.conftest import login, tenancy_for

TABLES = ["users", "tokens", "login_throttle", "audit_log", "alembic_version"]


def owner_engine(tenancy, tenant):
    """Where the owner reaches ``tenant``'s rows (a TenantInfo or a test handle)."""
    entry = TenantEntry(
        tenant.id, tenant.slug, tenant.schema_name, "", "active", tenant.mode, tenant.server
    )
    return tenancy.store(tenant.mode).owner_engine(entry)


def rows_of(tenancy, tenant, table: str, columns: list[str] | None = None) -> list[tuple]:
    """``tenant``'s rows of ``table`` (``tenant``: a TenantInfo or a test handle), as a schema of
    its own holds them: in shared mode, its rows of the pooled table without their tenant_id."""
    with owner_engine(tenancy, tenant).connect() as connection:
        if columns is None:
            found = sa.inspect(connection).get_columns(table, schema=tenant.schema_name)
            columns = [c["name"] for c in found if c["name"] != "tenant_id"]
        pooled = tenant.mode == "shared" and table != "alembic_version"
        where = f" WHERE tenant_id = {int(tenant.id)}" if pooled else ""
        names = ", ".join(f'"{c}"' for c in columns)
        query = f'SELECT {names} FROM "{tenant.schema_name}"."{table}"{where} ORDER BY 1'
        return [tuple(row) for row in connection.execute(sa.text(query))]


def as_stored_at_head(name: str) -> bytes:
    """A user's name as t008 stores what an older revision held: sealed bytes come back from
    their marked base64 text, a name never sealed as UTF-8."""
    kept = "\x01sealed:"
    if name.startswith(kept):
        return base64.b64decode(name.removeprefix(kept))
    return name.encode()


def dump(tenancy, tenant) -> dict[str, list[tuple]]:
    return {table: rows_of(tenancy, tenant, table) for table in TABLES}


@pytest.fixture
def populated(testapp, tenant, add_user):
    """A tenant with rows in every table, including awkward values."""
    add_user(tenant.slug, "ann@x.example", 'Ann "quoted" \\ back-slash', password="ann password")
    add_user(tenant.slug, "bo@x.example", "Bö ünïcødé 🎉")
    login(testapp, tenant.slug, "ann@x.example", "ann password")
    testapp.post_json(
        f"/{tenant.slug}/tokens", {"email": "bo@x.example", "password": "nope nope"}, status=401
    )
    return tenant


def test_round_trip_under_another_slug(
    engine, populated, fresh_slug, tmp_path, config_uri, tenancy
):
    archive = tmp_path / "tenant.zip"
    assert admin([config_uri, "export-tenant", populated.slug, str(archive)]) == 0
    assert admin([config_uri, "import-tenant", str(archive), "--as", fresh_slug]) == 0
    copy = tenancy.get_tenant(fresh_slug)
    original = dump(tenancy, populated)
    assert all(original[t] for t in TABLES)
    copied = dump(tenancy, copy)
    assert copied.pop("tokens") == []  # credentials stay behind
    original.pop("tokens")
    assert copied == original
    assert copy.display_name == populated.display_name


def test_imported_tenants_keep_working_and_ids_continue(
    testapp, engine, populated, fresh_slug, tmp_path, tenancy
):
    archive = tmp_path / "tenant.zip"
    tenancy.export_tenant(populated.slug, archive)
    tenancy.import_tenant(archive, fresh_slug)
    token = login(testapp, fresh_slug, "ann@x.example", "ann password")
    auth = {"Authorization": f"Bearer {token}"}
    old_ids = [u["id"] for u in testapp.get(f"/{fresh_slug}/users", headers=auth).json["items"]]
    body = {"email": "new@x.example", "name": "New"}
    created = testapp.post_json(
        f"/{fresh_slug}/users",
        body,
        headers={"Authorization": f"Bearer {populated.token}"},
        status=401,
    )
    assert created.json["error"] == "unauthorized"  # the source's owner token is its own
    owner = login(testapp, fresh_slug, populated.owner_email)
    made = testapp.post_json(
        f"/{fresh_slug}/users", body, headers={"Authorization": f"Bearer {owner}"}
    ).json
    assert made["id"] > max(old_ids)


@pytest.fixture
def other_database(server_url, settings):
    name = f"tenantapp_other_{uuid.uuid4().hex[:8]}"
    base = sa.engine.make_url(server_url).set(drivername="postgresql+psycopg")
    root = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with root.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    other = tenancy_for({**settings, "sqlalchemy.url": base.set(database=name)})
    other.migrate()
    yield other
    other.servers.dispose()
    with root.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    root.dispose()


def test_round_trip_into_another_database(engine, populated, other_database, tmp_path, tenancy):
    """Another installation (with the same key-encryption key) reads a portable archive only:
    a plain one is sealed with a data key only the source's registry holds."""
    plain = tmp_path / "plain.zip"
    tenancy.export_tenant(populated.slug, plain)
    with pytest.raises(transfer.ArchiveError, match="--portable"):
        other_database.import_tenant(plain, populated.slug)
    archive = tmp_path / "tenant.zip"
    tenancy.export_tenant(populated.slug, archive, portable=True)
    copy = other_database.import_tenant(archive, populated.slug)
    copied = dump(other_database, copy)
    original = dump(tenancy, populated)
    copied.pop("tokens"), original.pop("tokens")
    assert copied == original


@pytest.fixture
def populated_schema(testapp, schema_tenant, add_user):
    """A tenant with a schema of its own, which can be migrated down alone."""
    add_user(schema_tenant.slug, "ann@x.example", "Ann")
    add_user(schema_tenant.slug, "bo@x.example", "Bö ünïcødé 🎉")
    return schema_tenant


def test_an_archive_from_an_older_revision_is_migrated_on_import(
    engine, populated_schema, fresh_slug, tmp_path, tenancy
):
    """Into the configured mode: a shared tenant's rows go through a schema at the archive's
    revision, which is migrated, then pooled."""
    populated = populated_schema
    tenancy.migrate(slugs=[populated.slug], downgrade_to="t001")
    archive = tmp_path / "old.zip"
    try:
        tenancy.export_tenant(populated.slug, archive)
        with zipfile.ZipFile(archive) as z:
            assert json.loads(z.read("manifest.json"))["revision"] == "t001"
        with engine.connect() as connection:
            old_users = connection.execute(
                sa.text(f'SELECT id, email, name FROM "{populated.schema_name}".users ORDER BY id')
            ).all()
        copy = tenancy.import_tenant(archive, fresh_slug)
        assert copy.revision == migrations.head_revision("tenant")
        rows = rows_of(tenancy, copy, "users", ["id", "email", "name", "role"])
        assert [r[:3] for r in rows] == [(i, e, as_stored_at_head(n)) for i, e, n in old_users]
        roles = {r[3] for r in rows}
        assert roles == {"member"}  # the column t002 added, at its default
    finally:
        tenancy.migrate(slugs=[populated.slug])


def test_an_archive_from_a_newer_revision_is_refused_clearly(
    engine, populated, fresh_slug, tmp_path, config_uri, capsys, tenancy
):
    archive = tmp_path / "new.zip"
    tenancy.export_tenant(populated.slug, archive)
    newer = tmp_path / "newer.zip"
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(newer, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "manifest.json":
                data = json.dumps({**json.loads(data), "revision": "t999"}).encode()
            dst.writestr(item, data)
    assert admin([config_uri, "import-tenant", str(newer), "--as", fresh_slug]) == 1
    message = capsys.readouterr().err
    assert "t999" in message and "newer" in message
    assert fresh_slug not in [t.slug for t in tenancy.list_tenants()]


@pytest.mark.parametrize("content", [b"not a zip", b""])
def test_a_file_that_is_not_an_archive_is_refused(
    config_uri, fresh_slug, tmp_path, capsys, content
):
    path = tmp_path / "junk.zip"
    path.write_bytes(content)
    assert admin([config_uri, "import-tenant", str(path), "--as", fresh_slug]) == 1
    assert "cannot read archive" in capsys.readouterr().err
