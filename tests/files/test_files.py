"""A tenant's files: streamed upload, sniffed type, sealed at rest, ranges, limits, the quota, a
failed upload leaving nothing, another tenant's id a 404, a damaged blob an error answer."""

import base64
import hashlib
import os
import socket
from pathlib import Path
from urllib.parse import quote

import pytest
import webtest

from tenantapp import main
from tenantapp.files.overlap import BATCH
from tenantapp.files.sealing import CHUNK, Damaged, sealed_size
from tenantapp.files.storage import tenant_prefix
from tenantapp.interfaces import IFiles, service
from tenantapp.throwaway import stop_app
from tests.quotas.test_quotas import OPERATOR

PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452") + b"\x00" * 64


def upload(testapp, tenant, data: bytes, name: str = "report.bin", status: int = 201, **kw):
    return testapp.post(
        f"/{tenant.slug}/files?name={quote(name, safe='')}",
        data,
        headers={
            **tenant.auth,
            "Content-Type": kw.pop("content_type", "text/html"),
            **kw.pop("headers", {}),
        },
        status=status,
        **kw,
    )


def only_blob(app, tenant) -> Path:
    """The one blob the tenant has in the store."""
    (key,) = service(app.registry, IFiles).store.keys(tenant_prefix(tenant.id))
    return service(app.registry, IFiles).store.root / key


def test_a_file_goes_in_sealed_and_comes_out_whole_with_its_sniffed_type(
    app, testapp, engine, tenant
):
    data = os.urandom(3 * CHUNK + 5)
    made = upload(testapp, tenant, data, name="données.bin").json
    assert made["size"] == len(data) and made["sha256"] is None  # no digest sent: none kept
    assert made["content_type"] == "application/octet-stream"  # not the text/html it was sent as
    assert made["name"] == "données.bin"
    got = testapp.get(f"/{tenant.slug}/files/{made['id']}/content", headers=tenant.auth)
    assert got.body == data
    assert got.headers["Content-Disposition"] == (
        "attachment; filename=\"donn_es.bin\"; filename*=UTF-8''donn%C3%A9es.bin"
    )
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    at_rest = only_blob(app, tenant).read_bytes()
    assert len(at_rest) == sealed_size(len(data)) and data[:64] not in at_rest
    listed = testapp.get(f"/{tenant.slug}/files", headers=tenant.auth).json["items"]
    assert [f["id"] for f in listed] == [made["id"]]

    png = upload(testapp, tenant, PNG, name="logo.png", content_type="application/json").json
    assert png["content_type"] == "image/png"
    text = upload(testapp, tenant, "héllo\n".encode() * 10, name="a.txt").json
    assert text["content_type"] == "text/plain"
    empty = upload(testapp, tenant, b"", name="empty").json
    assert empty["size"] == 0
    assert (
        testapp.get(f"/{tenant.slug}/files/{empty['id']}/content", headers=tenant.auth).body == b""
    )


def test_ranges_cross_chunks_and_a_range_outside_the_file_is_416(testapp, tenant):
    data = os.urandom(2 * CHUNK + 100)
    file_id = upload(testapp, tenant, data).json["id"]
    url = f"/{tenant.slug}/files/{file_id}/content"
    for asked, (start, stop) in {
        "bytes=10-19": (10, 20),
        f"bytes={CHUNK - 3}-{2 * CHUNK + 4}": (CHUNK - 3, 2 * CHUNK + 5),
        "bytes=-5": (len(data) - 5, len(data)),
        f"bytes={2 * CHUNK}-": (2 * CHUNK, len(data)),
    }.items():
        part = testapp.get(url, headers={**tenant.auth, "Range": asked}, status=206)
        assert part.body == data[start:stop], asked
        assert part.headers["Content-Range"] == f"bytes {start}-{stop - 1}/{len(data)}"
    outside = testapp.get(url, headers={**tenant.auth, "Range": f"bytes={len(data)}-"}, status=416)
    assert outside.headers["Content-Range"] == f"bytes */{len(data)}"
    assert outside.json["error"] == "range_not_satisfiable"


def test_another_tenants_file_is_a_404_like_a_missing_one(testapp, tenant, other_tenant):
    file_id = upload(testapp, tenant, b"secret of a").json["id"]
    for path in (f"/files/{file_id}", f"/files/{file_id}/content", "/files/999999999"):
        answer = testapp.get(f"/{other_tenant.slug}{path}", headers=other_tenant.auth, status=404)
        assert answer.json["error"] == "not_found"
    testapp.delete(f"/{other_tenant.slug}/files/{file_id}", headers=other_tenant.auth, status=404)
    assert testapp.get(f"/{other_tenant.slug}/files", headers=other_tenant.auth).json["items"] == []
    testapp.get(f"/{tenant.slug}/files/{file_id}/content", headers=tenant.auth, status=200)


def test_a_name_is_required_and_plain(testapp, tenant):
    for name in ("", "a/b", "..", "x\ny", "n" * 256, "../../etc/passwd", "..\\..\\win.ini"):
        refused = upload(testapp, tenant, b"x", name=name, status=400).json
        assert refused["error"] == "invalid_input" and "name" in refused["fields"]
    testapp.post(f"/{tenant.slug}/files", b"x", headers=tenant.auth, status=400)
    quoted = upload(testapp, tenant, b"x", name='a"b; c.txt').json["id"]  # kept, never a header
    got = testapp.get(f"/{tenant.slug}/files/{quoted}/content", headers=tenant.auth)
    assert got.headers["Content-Disposition"] == (
        "attachment; filename=\"a_b; c.txt\"; filename*=UTF-8''a%22b%3B%20c.txt"
    )


def test_members_upload_and_delete_their_own_files_only(testapp, tenant, add_user):
    from tests.conftest import PASSWORD, login

    add_user(tenant.slug, "mem@example.com", password=PASSWORD)  # a member
    member = {"Authorization": f"Bearer {login(testapp, tenant.slug, 'mem@example.com')}"}
    mine = testapp.post(f"/{tenant.slug}/files?name=m", b"mine", headers=member, status=201)
    owners = upload(testapp, tenant, b"the owner's").json["id"]
    testapp.delete(f"/{tenant.slug}/files/{owners}", headers=member, status=403)
    testapp.delete(f"/{tenant.slug}/files/{mine.json['id']}", headers=member, status=204)
    testapp.delete(f"/{tenant.slug}/files/{owners}", headers=tenant.auth, status=204)
    assert testapp.get(f"/{tenant.slug}/files", headers=tenant.auth).json["items"] == []


def test_a_deleted_files_blob_waits_out_its_retention_then_is_swept(app, testapp, tenant):
    from datetime import UTC, datetime, timedelta

    from tenantapp.files.storage import deleted_prefix

    file_id = upload(testapp, tenant, b"to be deleted").json["id"]
    path = only_blob(app, tenant)
    testapp.delete(f"/{tenant.slug}/files/{file_id}", headers=tenant.auth, status=204)
    assert not path.exists()
    testapp.get(f"/{tenant.slug}/files/{file_id}/content", headers=tenant.auth, status=404)
    files = service(app.registry, IFiles)
    (aside,) = files.store.keys(deleted_prefix(tenant.id))  # for a restore to before it
    assert aside.endswith(path.name)
    assert files.sweep(tenant.id) == 0  # within its seven days
    assert files.sweep(tenant.id, datetime.now(UTC) + timedelta(days=8)) == 1
    assert files.store.keys(deleted_prefix(tenant.id)) == []


def left_in_store(app, tenant) -> list[str]:
    return service(app.registry, IFiles).store.keys(tenant_prefix(tenant.id))


def test_a_file_past_the_size_limit_is_413_and_leaves_nothing(settings, tenancy, tenant):
    small = main({}, **{**settings, "tenantapp.files.max_size_mb": "1"})
    try:
        client = webtest.TestApp(small, extra_environ={"HTTP_HOST": "example.com"})
        told = upload(client, tenant, b"x" * (1024 * 1024 + 1), status=413).json
        assert told["error"] == "file_too_large" and "1 MB" in told["message"]
        # a body that does not say its length is counted as it comes
        streamed = client.post(
            f"/{tenant.slug}/files?name=s",
            headers={**tenant.auth, "Transfer-Encoding": "chunked"},
            params=b"y" * (1024 * 1024 + 1),
            status=413,
            extra_environ={"CONTENT_LENGTH": ""},
        ).json
        assert streamed["error"] == "file_too_large"
        assert client.get(f"/{tenant.slug}/files", headers=tenant.auth).json["items"] == []
        assert left_in_store(small, tenant) == []
    finally:
        stop_app(small)


def test_files_count_toward_the_storage_quota(app, testapp, tenant):
    testapp.patch_json(
        f"/-/tenants/{tenant.slug}/settings",
        {"settings": {"quota_max_storage_mb": 1}},
        headers=OPERATOR,
    )
    refused = upload(testapp, tenant, b"z" * (2 * 1024 * 1024), status=403).json
    assert refused["error"] == "quota_exceeded"
    assert left_in_store(app, tenant) == []
    assert testapp.get(f"/{tenant.slug}/files", headers=tenant.auth).json["items"] == []


def test_an_upload_whose_transaction_fails_leaves_no_blob(app, testapp, tenant, monkeypatch):
    from tenantapp import audit

    def fail(*args, **kwargs):
        raise RuntimeError("the transaction fails after the blob was stored")

    monkeypatch.setattr(audit, "record", fail)
    assert upload(testapp, tenant, b"never kept", status=500).json["error"] == "internal_error"
    monkeypatch.undo()
    assert left_in_store(app, tenant) == []
    assert testapp.get(f"/{tenant.slug}/files", headers=tenant.auth).json["items"] == []


def test_a_damaged_or_cut_blob_is_an_error_answer_not_other_bytes(app, testapp, engine, tenant):
    data = os.urandom(CHUNK + 10)
    file_id = upload(testapp, tenant, data).json["id"]
    path = only_blob(app, tenant)
    sealed = bytearray(path.read_bytes())
    sealed[5] ^= 1
    path.write_bytes(bytes(sealed))
    url = f"/{tenant.slug}/files/{file_id}/content"
    damaged = testapp.get(url, headers=tenant.auth, status=500).json
    assert damaged["error"] == "file_damaged"
    sealed[5] ^= 1
    path.write_bytes(bytes(sealed[: CHUNK + 16]))  # the last chunk cut off
    cut = testapp.get(url, headers={**tenant.auth, "Range": f"bytes={CHUNK}-"}, status=500)
    assert cut.json["error"] == "file_damaged"
    whole = testapp.get(url, headers={**tenant.auth, "Range": "bytes=0-9"}, status=206)
    assert whole.body == data[:10]  # what is still there opens


def test_a_sent_digest_is_checked_and_kept_and_a_wrong_one_keeps_nothing(app, testapp, tenant):
    data = os.urandom(CHUNK + 7)
    digest = hashlib.sha256(data)
    field = f"sha-256=:{base64.b64encode(digest.digest()).decode()}:"
    made = upload(testapp, tenant, data, headers={"Repr-Digest": f"md5=:AAAA:, {field}"}).json
    assert made["sha256"] == digest.hexdigest()
    got = testapp.get(f"/{tenant.slug}/files/{made['id']}/content", headers=tenant.auth)
    assert got.body == data and got.headers["Repr-Digest"] == field
    assert (
        testapp.get(
            f"/{tenant.slug}/files/{made['id']}/content",
            headers={**tenant.auth, "Range": "bytes=0-1"},
        ).headers["ETag"]
        == got.headers["ETag"]
    )  # the blob's: the same for any range
    also = upload(testapp, tenant, data, headers={"Content-Digest": field}).json
    assert also["sha256"] == digest.hexdigest()

    kept = left_in_store(app, tenant)
    wrong = hashlib.sha256(data + b"!").digest()
    for headers, error in (
        ({"Repr-Digest": f"sha-256=:{base64.b64encode(wrong).decode()}:"}, "digest_mismatch"),
        (
            {
                "Repr-Digest": field,
                "Content-Digest": f"sha-256=:{base64.b64encode(wrong).decode()}:",
            },
            "invalid_input",
        ),
        ({"Repr-Digest": "sha-256=:not base64!:"}, "invalid_input"),
        ({"Content-Digest": "sha-256=:AAAA:"}, "invalid_input"),  # base64, but not 32 bytes
    ):
        refused = upload(testapp, tenant, data, headers=headers, status=400).json
        assert refused["error"] == error, headers
    assert left_in_store(app, tenant) == kept
    listed = testapp.get(f"/{tenant.slug}/files", headers=tenant.auth).json["items"]
    assert sorted(f["id"] for f in listed) == sorted([made["id"], also["id"]])


def test_a_large_file_read_ahead_comes_out_whole_and_a_damaged_chunk_cuts_it(app, testapp, tenant):
    data = os.urandom(3 * BATCH + 12345)  # past AHEAD_FROM: opened on a thread of its own
    file_id = upload(testapp, tenant, data).json["id"]
    url = f"/{tenant.slug}/files/{file_id}/content"
    assert testapp.get(url, headers=tenant.auth).body == data
    part = testapp.get(url, headers={**tenant.auth, "Range": f"bytes=5-{3 * BATCH}"}, status=206)
    assert part.body == data[5 : 3 * BATCH + 1]
    path = only_blob(app, tenant)
    sealed = bytearray(path.read_bytes())
    sealed[40 * (CHUNK + 16) + 3] ^= 1  # chunk 40: well after the first, opened on the thread
    path.write_bytes(bytes(sealed))
    with pytest.raises(Damaged, match="chunk 40"):
        testapp.get(url, headers=tenant.auth)  # the answer had started: it is cut off


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    """moto's S3 server (server mode), on 127.0.0.1, with a bucket."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    url = f"http://127.0.0.1:{port}"
    from tenantapp.files.storage import s3_client

    s3_client(url, "us-east-1", "testing", "testing").create_bucket(Bucket="tenant-files")
    yield url
    server.stop()


@pytest.mark.slow
def test_files_in_s3_compatible_storage(settings, tenant, other_tenant, s3_endpoint):
    s3 = main(
        {},
        **{
            **settings,
            "tenantapp.files.storage": "s3",
            "tenantapp.files.s3.bucket": "tenant-files",
            "tenantapp.files.s3.endpoint_url": s3_endpoint,
            "tenantapp.files.s3.region": "us-east-1",
            "tenantapp.files.s3.access_key_id": "testing",
            "tenantapp.files.s3.secret_access_key": "testing",
            "tenantapp.files.s3.prefix": "app/",
        },
    )
    try:
        client = webtest.TestApp(s3, extra_environ={"HTTP_HOST": "example.com"})
        data = os.urandom(9 * 1024 * 1024 + 3)  # past boto3's multipart threshold (8 MB)
        made = upload(client, tenant, data).json
        url = f"/{tenant.slug}/files/{made['id']}/content"
        assert client.get(url, headers=tenant.auth).body == data
        part = client.get(url, headers={**tenant.auth, "Range": "bytes=5000000-5000009"})
        assert part.status_int == 206 and part.body == data[5000000:5000010]
        client.get(
            f"/{other_tenant.slug}/files/{made['id']}/content",
            headers=other_tenant.auth,
            status=404,
        )
        store = service(s3.registry, IFiles).store
        (key,) = store.keys(tenant_prefix(tenant.id))
        raw = store.client.get_object(Bucket="tenant-files", Key="app/" + key)["Body"].read()
        assert len(raw) == sealed_size(len(data)) and data[:64] not in raw
        client.delete(f"/{tenant.slug}/files/{made['id']}", headers=tenant.auth, status=204)
        assert store.keys(tenant_prefix(tenant.id)) == []
    finally:
        stop_app(s3)


def test_a_users_file_field_names_one_of_the_tenants_files(testapp, tenant, other_tenant):
    fields = f"/{tenant.slug}/fields"
    testapp.post_json(fields, {"name": "avatar", "type": "file"}, headers=tenant.auth, status=201)
    sealed = {"name": "cv", "type": "file", "sealed": True}
    assert "not sealed" in testapp.post_json(fields, sealed, headers=tenant.auth, status=400).text
    mine = upload(testapp, tenant, PNG, name="me.png").json["id"]
    upload(testapp, other_tenant, PNG, name="first.png")  # ids are each tenant's own
    theirs = upload(testapp, other_tenant, PNG, name="them.png").json["id"]
    assert theirs != mine
    users = f"/{tenant.slug}/users"
    refused = testapp.post_json(
        users,
        {"email": "a@example.com", "name": "A", "custom": {"avatar": theirs}},
        headers=tenant.auth,
        status=400,
    ).json
    assert refused["fields"] == {"custom.avatar": f"no file {theirs} in this tenant"}
    user = testapp.post_json(
        users,
        {"email": "a@example.com", "name": "A", "custom": {"avatar": mine}},
        headers=tenant.auth,
    ).json
    assert user["custom"] == {"avatar": mine}
    found = testapp.get(f"{users}?custom.avatar={mine}", headers=tenant.auth).json["items"]
    assert [u["id"] for u in found] == [user["id"]]
    in_use = testapp.delete(f"/{tenant.slug}/files/{mine}", headers=tenant.auth, status=409)
    assert f"user {user['id']}'s avatar" in in_use.json["message"]
    testapp.patch_json(
        f"{users}/{user['id']}", {"custom": {"avatar": None}}, headers=tenant.auth, status=200
    )
    testapp.delete(f"/{tenant.slug}/files/{mine}", headers=tenant.auth, status=204)


def test_the_scan_hook_runs_for_each_upload_and_quarantines_what_it_finds(
    settings, testapp, tenant
):
    from tenantapp.interfaces import IJobQueue
    from tests.files import scanner

    scanning = main(
        {},
        **{
            **settings,
            "pyramid.includes": "tests.files.scanner",
            "tenantapp.files.scan_task": "tests.scan_file",
        },
    )
    try:
        client = webtest.TestApp(scanning, extra_environ={"HTTP_HOST": "example.com"})
        clean = upload(client, tenant, b"a clean file").json["id"]
        bad = upload(client, tenant, b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + scanner.EICAR).json["id"]
        service(scanning.registry, IJobQueue).drain(install_signal_handlers=False)
        assert {clean, bad} <= set(scanner.SCANNED)
        listed = client.get(f"/{tenant.slug}/files", headers=tenant.auth).json["items"]
        assert [f["id"] for f in listed] == [clean]
        client.get(f"/{tenant.slug}/files/{bad}/content", headers=tenant.auth, status=404)
        assert len(left_in_store(scanning, tenant)) == 1
        audit = client.get(f"/{tenant.slug}/audit", headers=tenant.auth).json["items"]
        quarantined = [e for e in audit if e["action"] == "file.quarantined"]
        assert quarantined[0]["target"] == f"file:{bad}"
        assert quarantined[0]["detail"]["reason"] == "EICAR test signature"
    finally:
        stop_app(scanning)


def test_a_post_without_a_body_is_400_not_an_empty_file(app, testapp, tenant):
    from webob import Request

    bare = Request.blank(
        f"/{tenant.slug}/files?name=x",
        method="POST",
        headers={**tenant.auth, "Host": "example.com"},
    )
    bare.environ.pop("CONTENT_LENGTH", None)  # no length, not chunked: no body was sent
    refused = bare.get_response(app)
    assert refused.status_int == 400 and "send it" in refused.json["message"]
    assert upload(testapp, tenant, b"", name="empty").json["size"] == 0  # a length of 0: a file
