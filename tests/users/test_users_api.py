"""The users API of one tenant, through the WSGI stack (webtest)."""

import pytest


def test_create_returns_201_the_user_and_its_location(client, tenant):
    response = client.post_json(
        f"/{tenant.slug}/users", {"email": "Ann@Example.com", "name": " Ann "}, status=201
    )
    user = response.json
    assert user["email"] == "ann@example.com"
    assert user["name"] == "Ann"
    assert set(user) >= {"id", "email", "name", "created_at"}
    assert response.location == f"/{tenant.slug}/users/{user['id']}"
    assert client.get(response.location).json == user


def test_get_unknown_user_is_404_json(client, tenant):
    response = client.get(f"/{tenant.slug}/users/12345", status=404)
    assert response.content_type == "application/json"
    assert response.json["error"] == "not_found"


@pytest.mark.parametrize("path", ["/no-such-tenant/users", "/no-such-tenant", "/BAD/users/1"])
def test_unknown_tenant_is_404_json(testapp, path):
    response = testapp.get(path, status=404)
    assert response.json == {"error": "not_found", "message": "no such resource"}


def test_paths_below_a_user_are_404(client, tenant, add_user):
    user = add_user(tenant.slug, "a@x.example")
    client.get(f"/{tenant.slug}/users/{user['id']}/extra", status=404)
    client.get(f"/{tenant.slug}/things", status=404)


def test_list_pages_with_limit_and_next_link(client, tenant, add_user):
    emails = [f"u{i}@x.example" for i in range(5)]
    for email in emails:
        add_user(tenant.slug, email)
    page = client.get(f"/{tenant.slug}/users", {"limit": 2}).json
    seen = [u["email"] for u in page["items"]]
    assert page["limit"] == 2
    while page["next"]:
        page = client.get(page["next"]).json
        seen += [u["email"] for u in page["items"]]
    assert seen == [tenant.owner_email, *emails]
    assert client.get(f"/{tenant.slug}/users").json["next"] is None


def test_a_new_tenant_lists_only_its_owner(client, tenant):
    page = client.get(f"/{tenant.slug}/users").json
    assert [(u["email"], u["role"]) for u in page["items"]] == [(tenant.owner_email, "owner")]
    assert (page["limit"], page["next"]) == (50, None)


@pytest.mark.parametrize(
    "query", [{"limit": "0"}, {"limit": "201"}, {"limit": "x"}, {"after": "-1"}, {"limit": "1e3"}]
)
def test_list_rejects_bad_paging_parameters(client, tenant, query):
    response = client.get(f"/{tenant.slug}/users", query, status=400)
    assert set(response.json["fields"]) == set(query)


def test_duplicate_email_is_409_and_changes_nothing(client, tenant, add_user):
    add_user(tenant.slug, "dup@x.example", "First")
    response = client.post_json(
        f"/{tenant.slug}/users", {"email": "DUP@x.example", "name": "Second"}, status=409
    )
    assert response.json["error"] == "conflict"
    assert "email" in response.json["fields"]
    items = client.get(f"/{tenant.slug}/users").json["items"]
    assert [u["email"] for u in items] == [tenant.owner_email, "dup@x.example"]
    assert items[1]["name"] == "First"


@pytest.mark.parametrize(
    ("body", "bad_fields"),
    [
        ({}, {"email", "name"}),
        ({"email": "not-an-email", "name": "A"}, {"email"}),
        ({"email": "a@x.example", "name": ""}, {"name"}),
        ({"email": "a@x.example", "name": "   "}, {"name"}),
        ({"email": 5, "name": ["A"]}, {"email", "name"}),
        ({"email": "a@x.example", "name": "A", "role": "owner"}, {"role"}),
        ({"email": "a@x.example", "name": "n" * 201}, {"name"}),
        ({"email": None, "name": "A"}, {"email"}),
    ],
)
def test_create_names_each_bad_field(client, tenant, body, bad_fields):
    response = client.post_json(f"/{tenant.slug}/users", body, status=400)
    assert response.json["error"] == "invalid_input"
    assert set(response.json["fields"]) == bad_fields
    assert len(client.get(f"/{tenant.slug}/users").json["items"]) == 1  # the owner


@pytest.mark.parametrize("raw", [b"{bad json", b"", b"[1, 2]", b'"text"', b"\xff\xfe"])
def test_create_with_a_body_that_is_not_a_json_object_is_400(client, tenant, raw):
    response = client.post(
        f"/{tenant.slug}/users", raw, content_type="application/json", status=400
    )
    assert response.json["error"] == "invalid_input"
    assert "Traceback" not in response.text


def test_patch_changes_only_the_given_fields(client, tenant, add_user):
    user = add_user(tenant.slug, "p@x.example", "Before")
    url = f"/{tenant.slug}/users/{user['id']}"
    changed = client.patch_json(url, {"name": "After"}).json
    assert changed["name"] == "After"
    assert changed["email"] == "p@x.example"
    assert changed["created_at"] == user["created_at"]
    assert client.get(url).json == changed


@pytest.mark.parametrize(
    ("body", "status"),
    [({}, 400), ({"name": None}, 400), ({"email": "bad"}, 400), ({"id": 7}, 400)],
)
def test_patch_rejects_bad_bodies(client, tenant, add_user, body, status):
    user = add_user(tenant.slug, "p@x.example", "Before")
    url = f"/{tenant.slug}/users/{user['id']}"
    client.patch_json(url, body, status=status)
    assert client.get(url).json == user


def test_patch_to_a_taken_email_is_409(client, tenant, add_user):
    add_user(tenant.slug, "taken@x.example")
    user = add_user(tenant.slug, "mine@x.example")
    url = f"/{tenant.slug}/users/{user['id']}"
    client.patch_json(url, {"email": "taken@x.example"}, status=409)
    assert client.get(url).json["email"] == "mine@x.example"


def test_delete_is_204_then_404(client, tenant, add_user):
    user = add_user(tenant.slug, "d@x.example")
    url = f"/{tenant.slug}/users/{user['id']}"
    response = client.delete(url, status=204)
    assert response.body == b""
    client.get(url, status=404)
    client.delete(url, status=404)


def test_tenant_index_links_to_its_users(client, tenant):
    body = client.get(f"/{tenant.slug}").json
    assert body == {
        "slug": tenant.slug,
        "name": tenant.display_name,
        "links": {"users": f"/{tenant.slug}/users"},
    }


def test_an_unexpected_failure_is_a_500_json_without_internals(testapp, engine, schema_tenant):
    tenant = schema_tenant
    with engine.begin() as connection:  # the schema vanishes behind the registry's back
        connection.exec_driver_sql(f'DROP SCHEMA "{tenant.schema_name}" CASCADE')
    response = testapp.get(f"/{tenant.slug}/users", headers=tenant.auth, status=500)
    assert response.json == {
        "error": "internal_error",
        "message": "the server failed to handle this request",
    }
    assert tenant.schema_name not in response.text
