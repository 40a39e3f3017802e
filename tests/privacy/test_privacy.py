"""A person's data: everything held about them as a zip (owners, and the person), and its
erasure: gone or pseudonymised everywhere in the tenant, the audit trail kept, itself audited."""

import io
import json
import zipfile

import sqlalchemy as sa

from tenantapp.testing import PASSWORD, login
from tests.files.test_files import PNG, upload


def person(testapp, tenant, add_user) -> tuple[dict, dict]:
    """A member with a photo in a file field, a file of their own, a token and a failed login."""
    testapp.post_json(
        f"/{tenant.slug}/fields", {"name": "photo", "type": "file"}, headers=tenant.auth
    )
    photo = upload(testapp, tenant, PNG, name="dora.png").json["id"]
    dora = add_user(tenant.slug, "dora@example.com", "Dora Dalton", password=PASSWORD)
    testapp.patch_json(
        f"/{tenant.slug}/users/{dora['id']}", {"custom": {"photo": photo}}, headers=tenant.auth
    )
    auth = {"Authorization": f"Bearer {login(testapp, tenant.slug, 'dora@example.com')}"}
    own = testapp.post(f"/{tenant.slug}/files?name=notes.txt", b"dora's notes", headers=auth)
    testapp.post_json(  # after the login, which clears the count
        f"/{tenant.slug}/tokens",
        {"email": "dora@example.com", "password": "not the password"},
        status=401,
    )
    return dora, {"auth": auth, "photo": photo, "own": own.json["id"]}


def read_zip(body: bytes) -> tuple[dict, dict[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        data = json.loads(archive.read("person.json"))
        files = {n: archive.read(n) for n in archive.namelist() if n.startswith("files/")}
    return data, files


def test_a_persons_data_is_all_there_for_owners_and_themself_only(testapp, tenant, add_user):
    dora, held = person(testapp, tenant, add_user)
    url = f"/{tenant.slug}/users/{dora['id']}/data"
    answer = testapp.get(url, headers=tenant.auth)
    assert answer.content_type == "application/zip"
    assert "attachment" in answer.headers["Content-Disposition"]
    data, files = read_zip(answer.body)
    parts = data["data"]
    assert parts["user"]["email"] == "dora@example.com"
    assert parts["user"]["name"] == "Dora Dalton"
    assert parts["user"]["custom"] == {"photo": held["photo"]}
    assert len(parts["tokens"]) == 1 and "token" not in parts["tokens"][0]
    assert parts["login_throttle"] == [{"failed_logins": 1}]
    actions = {entry["action"] for entry in parts["audit"]}
    assert {"user.created", "login.failed"} <= actions, actions
    assert files == {
        f"files/{held['photo']}-dora.png": PNG,
        f"files/{held['own']}-notes.txt": b"dora's notes",
    }
    mine, _ = read_zip(testapp.get(url, headers=held["auth"]).body)  # the person themself
    assert mine["data"]["user"]["id"] == dora["id"]
    other = add_user(tenant.slug, "eve@example.com", password=PASSWORD)
    eve = {"Authorization": f"Bearer {login(testapp, tenant.slug, 'eve@example.com')}"}
    testapp.get(url, headers=eve, status=403)
    testapp.get(f"/{tenant.slug}/users/{other['id']}/data", headers=held["auth"], status=403)


def test_erasure_removes_the_person_keeps_the_trail_and_is_audited(
    testapp, tenancy, tenant, add_user
):
    from tests.lifecycle.test_transfer import rows_of

    dora, held = person(testapp, tenant, add_user)
    before = json.dumps([list(map(str, r)) for r in rows_of(tenancy, tenant, "audit_log")])
    assert "dora@example.com" in before
    testapp.post(f"/{tenant.slug}/users/{dora['id']}/erase", headers=held["auth"], status=403)
    testapp.post(f"/{tenant.slug}/users/{dora['id']}/erase", headers=tenant.auth, status=204)

    rows = rows_of(tenancy, tenant, "audit_log", ["actor", "action", "target", "detail"])
    assert rows_of(tenancy, tenant, "login_throttle") == []
    testapp.get(f"/{tenant.slug}/users/{dora['id']}", headers=tenant.auth, status=404)
    testapp.get(f"/{tenant.slug}/users", headers=held["auth"], status=401)  # tokens revoked
    testapp.post_json(  # (a new failed login: it names the email tried, as any would)
        f"/{tenant.slug}/tokens", {"email": "dora@example.com", "password": PASSWORD}, status=401
    )
    files = testapp.get(f"/{tenant.slug}/files", headers=tenant.auth).json["items"]
    assert [(f["id"], f["uploaded_by"]) for f in files] == [(held["own"], None)]  # the photo: gone
    trail = json.dumps([list(map(str, r)) for r in rows])
    assert [r for r in rows if "dora@example.com" in str(r) or "Dora Dalton" in str(r)] == []
    assert f"user:{dora['id']}" in trail  # the entries stay, with the opaque id
    assert len(rows) >= len(json.loads(before))  # none removed
    (erased,) = [r for r in rows if r[1] == "user.erased"]
    assert erased[1:] == ("user.erased", f"user:{dora['id']}", None)
    assert erased[0].startswith("user:")  # the owner who erased


def test_the_last_owner_is_not_erased_and_nothing_changes(testapp, tenant):
    me = testapp.get(f"/{tenant.slug}/users", headers=tenant.auth).json["items"][0]
    refused = testapp.post(
        f"/{tenant.slug}/users/{me['id']}/erase", headers=tenant.auth, status=409
    )
    assert "owner" in refused.json["message"]
    assert testapp.get(f"/{tenant.slug}/users/{me['id']}", headers=tenant.auth).json == me


def test_every_tenant_model_is_declared(personal_data_coverage):
    assert personal_data_coverage == []


def test_an_erasure_racing_a_write_erases_what_the_write_wrote(
    app, testapp, tenancy, tenant, add_user
):
    """A write holds the person's row; the erasure waits for it, then reads the row again:
    the email the write set is erased too, and nothing of the person is left."""
    import threading

    from tests.lifecycle.test_transfer import owner_engine, rows_of

    dora = add_user(tenant.slug, "dora@example.com", "Dora")
    engine = owner_engine(tenancy, tenant)
    table = f'"{tenant.schema_name}".users'
    answers = []
    with engine.connect() as writer:
        writer.execute(
            sa.text(f"UPDATE {table} SET email = 'dora.new@example.com' WHERE id = :id"),
            {"id": dora["id"]},
        )  # the row is locked until this commits
        erasing = threading.Thread(
            target=lambda: answers.append(
                testapp.post(
                    f"/{tenant.slug}/users/{dora['id']}/erase", headers=tenant.auth, status="*"
                ).status_int
            )
        )
        erasing.start()
        waiting = sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE cardinality(pg_blocking_pids(pid)) > 0"
            " AND datname = current_database()"
        )
        with engine.connect() as watcher:
            while not watcher.execute(waiting).scalar():  # until the erasure waits on the row
                watcher.rollback()
        writer.commit()
    erasing.join(timeout=60)
    assert answers == [204]
    assert [r for r in rows_of(tenancy, tenant, "users", ["email"]) if "dora" in r[0]] == []
    trail = str(rows_of(tenancy, tenant, "audit_log", ["actor", "target", "detail"]))
    assert "dora" not in trail
