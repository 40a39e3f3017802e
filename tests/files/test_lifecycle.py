"""A tenant's files go where its rows go: into its archive and back (as another tenant), along
its moves, through archive and restore; purging the tenant removes them."""

import json
import os
import zipfile

import pytest

from tenantapp.files.storage import tenant_prefix
from tenantapp.interfaces import IFiles, service
from tenantapp.lifecycle.transfer import ArchiveError
from tenantapp.testing import PASSWORD, login
from tests.files.test_files import upload


def blobs(app, tenant_id: int) -> list[str]:
    return service(app.registry, IFiles).store.keys(tenant_prefix(tenant_id))


def content(testapp, slug: str, token: str, file_id: int) -> bytes:
    return testapp.get(
        f"/{slug}/files/{file_id}/content", headers={"Authorization": f"Bearer {token}"}
    ).body


def test_an_archive_carries_the_files_and_its_import_serves_them(
    app, testapp, tenancy, tenant, fresh_slug, tmp_path
):
    data = {name: os.urandom(size) for name, size in (("a.bin", 70_000), ("b.txt", 0))}
    ids = {name: upload(testapp, tenant, body, name=name).json["id"] for name, body in data.items()}
    path = tmp_path / "t.zip"
    tenancy.export_tenant(tenant.slug, path)
    with zipfile.ZipFile(path) as archive:
        listed = json.loads(archive.read("manifest.json"))["files"]
        assert len(listed) == 2
        stored = archive.read(f"files/{listed[0]['blob']}")
        assert not any(body and body[:64] in stored for body in data.values())  # still sealed
    copy = tenancy.import_tenant(path, fresh_slug)
    assert copy.id != tenant.id and len(blobs(app, copy.id)) == 2
    token = login(testapp, fresh_slug, tenant.owner_email, PASSWORD)
    for name, body in data.items():
        assert content(testapp, fresh_slug, token, ids[name]) == body
    # the original is untouched and still its own
    assert content(testapp, tenant.slug, tenant.token, ids["a.bin"]) == data["a.bin"]


def test_an_archive_missing_a_files_contents_is_refused_and_leaves_nothing(
    app, testapp, tenancy, tenant, fresh_slug, tmp_path
):
    upload(testapp, tenant, b"kept only in the store")
    path, cut = tmp_path / "t.zip", tmp_path / "cut.zip"
    tenancy.export_tenant(tenant.slug, path)
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(cut, "w") as target:
        for item in source.infolist():
            if not item.filename.startswith("files/"):
                target.writestr(item, source.read(item))
    with pytest.raises(ArchiveError, match="no contents for file blob"):
        tenancy.import_tenant(cut, fresh_slug)
    tenants = {t.id for t in tenancy.list_tenants()}
    assert fresh_slug not in [t.slug for t in tenancy.list_tenants()]
    root = service(app.registry, IFiles).store.root / "tenants"
    orphans = [d.name for d in root.iterdir() if any((d / "files").glob("*"))]
    assert set(map(int, orphans)) <= tenants  # the failed import's blob was removed


@pytest.mark.parametrize("target", ["shared", "database"])
def test_a_move_keeps_the_files(app, testapp, tenancy, make_tenant, target):
    tenant = make_tenant("fm", mode="schema")
    file_id = upload(testapp, tenant, b"moves with its tenant").json["id"]
    tenancy.move_tenant(tenant.slug, target)
    assert content(testapp, tenant.slug, tenant.token, file_id) == b"moves with its tenant"


def test_archive_and_restore_keep_the_files_and_purge_removes_them(app, testapp, tenancy, tenant):
    file_id = upload(testapp, tenant, b"archived and back").json["id"]
    tenancy.archive_tenant(tenant.slug)
    assert len(blobs(app, tenant.id)) == 1
    tenancy.restore_tenant(tenant.slug)
    token = login(testapp, tenant.slug, tenant.owner_email, PASSWORD)
    assert content(testapp, tenant.slug, token, file_id) == b"archived and back"
    tenancy.purge_tenant(tenant.slug)
    assert blobs(app, tenant.id) == []
