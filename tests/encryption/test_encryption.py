"""Encryption at rest: user names sealed with each tenant's own data key, archives sealed,
keys rotated online, and a purged tenant's key destroyed (crypto-shredding)."""

import zipfile

import pytest
import sqlalchemy as sa
import webtest
from pyramid.exceptions import ConfigurationError

from tenantapp import main
from tenantapp.encryption.columns import Sealer
from tenantapp.encryption.keyring import KeyUnavailable, keyring_from, new_key_text
from tenantapp.encryption.keys import TenantKeys
from tenantapp.interfaces import IServingProcesses, ITenantKeys, service
from tenantapp.lifecycle import transfer
from tenantapp.scripts.admin import main as admin
from tenantapp.testing import TEST_KEYS, stop_app
from tenantapp.users.models import User
from tests.conftest import write_ini

SECRET = "Ann Secretname"
AAD = b"users.name"


def stored_names(tenancy, tenant) -> dict[str, bytes]:
    """email -> the name as the database holds it."""
    with tenant.owner_engine(tenancy).connect() as connection:
        rows = connection.execute(
            sa.text(f'SELECT email, name FROM "{tenant.schema_name}".users{tenant.where()}')
        )
        return {email: bytes(name) for email, name in rows}


def key_rows(engine, tenant_id: int) -> list:
    with engine.connect() as connection:
        return connection.execute(
            sa.text("SELECT version, kek FROM tenantapp.tenant_keys WHERE tenant_id = :id"),
            {"id": tenant_id},
        ).all()


def test_a_name_is_stored_sealed_and_read_as_text(testapp, tenant, add_user, tenancy):
    user = add_user(tenant.slug, "ann@example.com", name=SECRET)
    stored = stored_names(tenancy, tenant)["ann@example.com"]
    assert stored[:1] == b"\xff" and SECRET.encode() not in stored
    assert testapp.get(f"/{tenant.slug}/users/{user['id']}", headers=tenant.auth).json["name"] == (
        SECRET
    )
    renamed = testapp.patch_json(
        f"/{tenant.slug}/users/{user['id']}", {"name": "Ann Other"}, headers=tenant.auth
    )
    assert renamed.json["name"] == "Ann Other"
    again = stored_names(tenancy, tenant)["ann@example.com"]
    assert again != stored and b"Ann Other" not in again


def test_one_tenants_sealed_value_does_not_open_as_anothers(
    tenant, other_tenant, add_user, tenancy
):
    add_user(tenant.slug, "ann@example.com", name=SECRET)
    sealed = stored_names(tenancy, tenant)["ann@example.com"]
    assert Sealer(tenancy.keys, tenant.id).open(sealed, AAD) == SECRET
    with pytest.raises(KeyUnavailable):
        Sealer(tenancy.keys, other_tenant.id).open(sealed, AAD)
    with pytest.raises(KeyUnavailable):  # nor in another column
        Sealer(tenancy.keys, tenant.id).open(sealed, b"users.email")


def test_text_written_around_the_session_is_refused_not_stored_in_the_clear(tenant, tenancy):
    with tenant.owner_engine(tenancy).connect() as connection:
        insert = User.__table__.insert().values(email="x@example.com", name="in the clear")
        with pytest.raises(sa.exc.StatementError, match="refusing to store it in the clear"):
            connection.execute(insert.execution_options(schema_translate_map=None))


def test_a_name_from_before_sealing_reads_and_is_sealed_by_reseal(
    testapp, tenant, add_user, tenancy, config_uri
):
    user = add_user(tenant.slug, "old@example.com", name="Old Name")
    with tenant.owner_engine(tenancy).begin() as connection:
        connection.execute(
            sa.text(
                f"UPDATE \"{tenant.schema_name}\".users SET name = convert_to('Old Name', 'UTF8')"
                f" WHERE email = 'old@example.com'"
            )
        )
    assert stored_names(tenancy, tenant)["old@example.com"] == b"Old Name"  # as t008 left it
    url = f"/{tenant.slug}/users/{user['id']}"
    assert testapp.get(url, headers=tenant.auth).json["name"] == "Old Name"
    assert admin([config_uri, "reseal", tenant.slug]) == 0
    assert stored_names(tenancy, tenant)["old@example.com"][:1] == b"\xff"
    assert testapp.get(url, headers=tenant.auth).json["name"] == "Old Name"


def test_an_archive_holds_nothing_in_the_clear_and_opens_only_intact(
    tenant, add_user, tenancy, tmp_path, fresh_slug
):
    add_user(tenant.slug, "ann@example.com", name=SECRET)
    archive = tmp_path / "t.zip"
    tenancy.export_tenant(tenant.slug, archive)
    with zipfile.ZipFile(archive) as z:
        streams = b"".join(z.read(n) for n in z.namelist() if n != "manifest.json")
    assert b"ann@example.com" not in streams and SECRET.encode() not in streams
    altered = tmp_path / "altered.zip"
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(altered, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "users.copy":
                data = data[:-5] + bytes([data[-5] ^ 1]) + data[-4:]
            dst.writestr(item, data)
    with pytest.raises(transfer.ArchiveError, match="altered"):
        tenancy.import_tenant(altered, fresh_slug)
    assert fresh_slug not in [t.slug for t in tenancy.list_tenants()]


def test_purging_a_tenant_destroys_its_key_and_so_its_archives_and_backups(
    app, make_tenant, add_user, tenancy, engine, tmp_path, fresh_slug
):
    doomed = make_tenant("p")
    add_user(doomed.slug, "ann@example.com", name=SECRET)
    backup = stored_names(tenancy, doomed)["ann@example.com"]  # a copy of the data, kept
    archive = tmp_path / "before-purge.zip"
    tenancy.export_tenant(doomed.slug, archive)
    assert key_rows(engine, doomed.id)

    tenancy.purge_tenant(doomed.slug)

    assert key_rows(engine, doomed.id) == []
    with pytest.raises(KeyUnavailable, match="destroyed"):
        Sealer(tenancy.keys, doomed.id).open(backup, AAD)
    with pytest.raises(transfer.ArchiveError, match="purged"):
        tenancy.import_tenant(archive, fresh_slug)


def test_rotating_the_key_encryption_key_is_online(
    app, settings, tenant, add_user, testapp, engine
):
    """New KEK first, old one kept: everything reads; after rotate-keys the old one can go."""
    user = add_user(tenant.slug, "ann@example.com", name=SECRET)
    new = new_key_text()
    old = TEST_KEYS["tenantapp.encryption.keys"]
    rotated = TenantKeys(keyring_from({"tenantapp.encryption.keys": f"{new} {old}"}), engine)
    only_new = None
    try:
        assert rotated.rewrap() >= 1
        assert {kek for _, kek in key_rows(engine, tenant.id)} == {new.split(":")[0]}
        only_new = main({}, **{**settings, "tenantapp.encryption.keys": new})
        reader = webtest.TestApp(only_new, extra_environ={"HTTP_HOST": "example.com"})
        url = f"/{tenant.slug}/users/{user['id']}"
        assert reader.get(url, headers=tenant.auth).json["name"] == SECRET
    finally:
        back = TenantKeys(keyring_from({"tenantapp.encryption.keys": f"{old} {new}"}), engine)
        back.rewrap()
        if only_new is not None:
            stop_app(only_new)
    assert testapp.get(url, headers=tenant.auth).json["name"] == SECRET


def test_new_data_keys_reseal_every_value(testapp, tenant, add_user, tenancy, config_uri, engine):
    user = add_user(tenant.slug, "ann@example.com", name=SECRET)
    assert admin([config_uri, "rotate-keys", "--new-data-keys"]) == 0
    assert sorted(v for v, _ in key_rows(engine, tenant.id)) == [1, 2]
    stored = stored_names(tenancy, tenant)
    assert {int.from_bytes(name[1:5], "big") for name in stored.values()} == {2}
    assert (
        testapp.get(f"/{tenant.slug}/users/{user['id']}", headers=tenant.auth).json["name"]
        == SECRET
    )


def test_without_a_key_encryption_key_the_app_does_not_start(settings):
    with pytest.raises(ConfigurationError, match="TENANTAPP_ENCRYPTION_KEYS"):
        main({}, **{**settings, "tenantapp.encryption.keys": ""})
    with pytest.raises(ConfigurationError, match="not 32 bytes"):
        main({}, **{**settings, "tenantapp.encryption.keys": "k:c2hvcnQ="})


def test_a_rotation_waits_for_the_processes_and_a_key_they_lack_is_a_503(
    app, settings, tenant, add_user, testapp, engine, tmp_path, capsys
):
    """rotate-keys refuses while a serving process lacks the new key (each says which keys it
    holds in its heartbeat); forced, that process answers 503 ``key_unavailable``, not 500."""
    user = add_user(tenant.slug, "ann@example.com", name=SECRET)
    url = f"/{tenant.slug}/users/{user['id']}"
    testapp.get(url, headers=tenant.auth, status=200)
    service(app.registry, IServingProcesses).beat()  # this process serves, with the old key only
    new = new_key_text()
    old = TEST_KEYS["tenantapp.encryption.keys"]
    ini = write_ini(
        tmp_path / "rotate.ini",
        settings["sqlalchemy.url"],
        {**settings, "tenantapp.encryption.keys": f"{new} {old}"},
    )
    assert admin([ini, "rotate-keys"]) == 1
    refusal = capsys.readouterr().err
    assert "do not hold the key-encryption key" in refusal and "restart" in refusal
    assert {kek for _, kek in key_rows(engine, tenant.id)} == {old.split(":")[0]}
    keys = service(app.registry, ITenantKeys)
    try:
        assert admin([ini, "rotate-keys", "--force"]) == 0
        assert "next: once no archive" in capsys.readouterr().out
        keys.forget(tenant.id)  # as a process started afresh would be
        refused = testapp.get(url, headers=tenant.auth, status=503)
        assert refused.json["error"] == "key_unavailable"
        assert refused.headers["Retry-After"]
    finally:
        back = TenantKeys(keyring_from({"tenantapp.encryption.keys": f"{old} {new}"}), engine)
        back.rewrap()
        keys.forget(tenant.id)
    assert testapp.get(url, headers=tenant.auth).json["name"] == SECRET
