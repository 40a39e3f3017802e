"""Every write is in the tenant's own audit log: actor, action, target, time, request id."""

from tests.conftest import login


def actions(testapp, tenant, **params):
    return testapp.get(f"/{tenant.slug}/audit", params, headers=tenant.auth).json


def test_writes_are_recorded_newest_first_with_actor_and_request_id(testapp, client, tenant):
    owner_id = client.get(f"/{tenant.slug}/users").json["items"][0]["id"]
    body = {"email": "a@x.example", "name": "A", "password": "password-a"}
    response = client.post_json(
        f"/{tenant.slug}/users", body, headers={"X-Request-Id": "req-create-1"}
    )
    user = response.json
    server_id = response.headers["X-Request-Id"]
    assert server_id != "req-create-1"
    assert response.headers["X-Client-Request-Id"] == "req-create-1"
    assert client.get(f"/{tenant.slug}").headers["X-Request-Id"]
    url = f"/{tenant.slug}/users/{user['id']}"
    client.patch_json(url, {"name": "B"})
    client.put_json(f"{url}/role", {"role": "admin"})
    login(testapp, tenant.slug, "a@x.example", "password-a")
    testapp.post_json(
        f"/{tenant.slug}/tokens", {"email": "a@x.example", "password": "wrong one!"}, status=401
    )
    client.delete(url)

    entries = actions(testapp, tenant)["items"]
    summary = [(e["action"], e["actor"], e["target"]) for e in entries]
    target = f"user:{user['id']}"
    assert summary[:6] == [
        ("user.deleted", f"user:{owner_id}", target),
        ("login.failed", "email:a@x.example", "email:a@x.example"),
        ("token.issued", target, target),
        ("user.role_changed", f"user:{owner_id}", target),
        ("user.updated", f"user:{owner_id}", target),
        ("user.created", f"user:{owner_id}", target),
    ]
    created = entries[5]
    # the server's id is what the log keys on; the client's is kept beside it
    assert created["request_id"] == server_id
    assert created["client_request_id"] == "req-create-1"
    assert created["occurred_at"]
    assert entries[3]["detail"] == {"old": "member", "new": "admin"}
    assert "password" not in str(entries)


def test_rejected_writes_leave_no_entry(client, testapp, tenant):
    before = actions(testapp, tenant)["items"]
    client.post_json(
        f"/{tenant.slug}/users", {"email": tenant.owner_email, "name": "x"}, status=409
    )
    client.post_json(f"/{tenant.slug}/users", {"email": "bad"}, status=400)
    assert actions(testapp, tenant)["items"] == before


def test_the_audit_log_pages(client, testapp, tenant):
    for i in range(5):
        client.post_json(f"/{tenant.slug}/users", {"email": f"p{i}@x.example", "name": "p"})
    page = actions(testapp, tenant, limit=2)
    seen = [e["id"] for e in page["items"]]
    while page["next"]:
        page = testapp.get(page["next"], headers=tenant.auth).json
        seen += [e["id"] for e in page["items"]]
    assert seen == sorted(seen, reverse=True)
    assert len(seen) == len(actions(testapp, tenant, limit=200)["items"])


def test_a_tenants_audit_log_holds_nothing_of_another(testapp, tenant, other_tenant, add_user):
    add_user(other_tenant.slug, "secret@other.example")
    assert "secret@other.example" not in str(actions(testapp, tenant, limit=200))
