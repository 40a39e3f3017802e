"""The users API of one tenant, through the WSGI stack (webtest)."""

import pytest


def test_create_returns_201_the_user_and_its_location(testapp, tenant):
    response = testapp.post_json(
        f"/{tenant.slug}/users", {"email": "Ann@Example.com", "name": " Ann "}, status=201
    )
    user = response.json
    assert user["email"] == "ann@example.com"
    assert user["name"] == "Ann"
    assert set(user) >= {"id", "email", "name", "created_at"}
    assert response.location == f"http://example.com/{tenant.slug}/users/{user['id']}"
    assert testapp.get(response.location).json == user


def test_get_unknown_user_is_404_json(testapp, tenant):
    response = testapp.get(f"/{tenant.slug}/users/12345", status=404)
    assert response.content_type == "application/json"
    assert response.json["error"] == "not_found"


@pytest.mark.parametrize("path", ["/no-such-tenant/users", "/no-such-tenant", "/BAD/users/1"])
def test_unknown_tenant_is_404_json(testapp, path):
    response = testapp.get(path, status=404)
    assert response.json == {"error": "not_found", "message": "no such resource"}


def test_paths_below_a_user_are_404(testapp, tenant, add_user):
    user = add_user(tenant.slug, "a@x.example")
    testapp.get(f"/{tenant.slug}/users/{user['id']}/extra", status=404)
    testapp.get(f"/{tenant.slug}/things", status=404)


def test_list_pages_with_limit_and_next_link(testapp, tenant, add_user):
    emails = [f"u{i}@x.example" for i in range(5)]
    for email in emails:
        add_user(tenant.slug, email)
    page = testapp.get(f"/{tenant.slug}/users", {"limit": 2}).json
    seen = [u["email"] for u in page["items"]]
    assert page["limit"] == 2
    while page["next"]:
        page = testapp.get(page["next"]).json
        seen += [u["email"] for u in page["items"]]
    assert seen == emails
    assert testapp.get(f"/{tenant.slug}/users").json["next"] is None


def test_list_of_an_empty_tenant(testapp, tenant):
    assert testapp.get(f"/{tenant.slug}/users").json == {"items": [], "limit": 50, "next": None}


@pytest.mark.parametrize(
    "query", [{"limit": "0"}, {"limit": "201"}, {"limit": "x"}, {"after": "-1"}, {"limit": "1e3"}]
)
def test_list_rejects_bad_paging_parameters(testapp, tenant, query):
    response = testapp.get(f"/{tenant.slug}/users", query, status=400)
    assert set(response.json["fields"]) == set(query)


def test_duplicate_email_is_409_and_changes_nothing(testapp, tenant, add_user):
    add_user(tenant.slug, "dup@x.example", "First")
    response = testapp.post_json(
        f"/{tenant.slug}/users", {"email": "DUP@x.example", "name": "Second"}, status=409
    )
    assert response.json["error"] == "conflict"
    assert "email" in response.json["fields"]
    items = testapp.get(f"/{tenant.slug}/users").json["items"]
    assert [(u["email"], u["name"]) for u in items] == [("dup@x.example", "First")]


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
def test_create_names_each_bad_field(testapp, tenant, body, bad_fields):
    response = testapp.post_json(f"/{tenant.slug}/users", body, status=400)
    assert response.json["error"] == "invalid_input"
    assert set(response.json["fields"]) == bad_fields
    assert testapp.get(f"/{tenant.slug}/users").json["items"] == []


@pytest.mark.parametrize("raw", [b"{bad json", b"", b"[1, 2]", b'"text"', b"\xff\xfe"])
def test_create_with_a_body_that_is_not_a_json_object_is_400(testapp, tenant, raw):
    response = testapp.post(
        f"/{tenant.slug}/users", raw, content_type="application/json", status=400
    )
    assert response.json["error"] == "invalid_input"
    assert "Traceback" not in response.text


def test_patch_changes_only_the_given_fields(testapp, tenant, add_user):
    user = add_user(tenant.slug, "p@x.example", "Before")
    url = f"/{tenant.slug}/users/{user['id']}"
    changed = testapp.patch_json(url, {"name": "After"}).json
    assert changed["name"] == "After"
    assert changed["email"] == "p@x.example"
    assert changed["created_at"] == user["created_at"]
    assert testapp.get(url).json == changed


@pytest.mark.parametrize(
    ("body", "status"),
    [({}, 400), ({"name": None}, 400), ({"email": "bad"}, 400), ({"id": 7}, 400)],
)
def test_patch_rejects_bad_bodies(testapp, tenant, add_user, body, status):
    user = add_user(tenant.slug, "p@x.example", "Before")
    url = f"/{tenant.slug}/users/{user['id']}"
    testapp.patch_json(url, body, status=status)
    assert testapp.get(url).json == user


def test_patch_to_a_taken_email_is_409(testapp, tenant, add_user):
    add_user(tenant.slug, "taken@x.example")
    user = add_user(tenant.slug, "mine@x.example")
    url = f"/{tenant.slug}/users/{user['id']}"
    testapp.patch_json(url, {"email": "taken@x.example"}, status=409)
    assert testapp.get(url).json["email"] == "mine@x.example"


def test_delete_is_204_then_404(testapp, tenant, add_user):
    user = add_user(tenant.slug, "d@x.example")
    url = f"/{tenant.slug}/users/{user['id']}"
    response = testapp.delete(url, status=204)
    assert response.body == b""
    testapp.get(url, status=404)
    testapp.delete(url, status=404)


def test_tenant_index_links_to_its_users(testapp, tenant):
    body = testapp.get(f"/{tenant.slug}").json
    assert body == {
        "slug": tenant.slug,
        "name": tenant.display_name,
        "links": {"users": f"http://example.com/{tenant.slug}/users"},
    }


def test_an_unexpected_failure_is_a_500_json_without_internals(testapp, engine, tenant):
    with engine.begin() as connection:  # the schema vanishes behind the registry's back
        connection.exec_driver_sql(f'DROP SCHEMA "{tenant.schema_name}" CASCADE')
    response = testapp.get(f"/{tenant.slug}/users", status=500)
    assert response.json == {
        "error": "internal_error",
        "message": "the server failed to handle this request",
    }
    assert tenant.schema_name not in response.text
