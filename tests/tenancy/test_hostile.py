"""What an attacker would try, and the clear 4xx JSON each gets."""

import pytest
import sqlalchemy as sa

from tests.conftest import OPERATOR_TOKEN

HOSTILE_SEGMENTS = [
    "a'--",
    "a%27%3B%20DROP%20SCHEMA%20tenantapp%20CASCADE%3B--",
    "%22acme%22",
    "a%00b",
    "%00",
    "..%2f..%2fetc",
    "%D0%B0cme",  # Cyrillic a
    "%EF%BD%81cme",  # fullwidth a
    "ACME",
    "x" * 10_000,
    "select",
    "null",
    "public",
    "tenantapp",
    "pg_catalog",
    "information_schema",
    "tenant_1",
    "%25",
    "%ff",
]

SECURITY_HEADERS = ["X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy"]


def assert_clean(response, *forbidden: str):
    assert response.content_type == "application/json"
    for marker in ("Traceback", "sqlalchemy", "psycopg", "SELECT", "tenant_", *forbidden):
        assert marker not in response.text
    for header in SECURITY_HEADERS:
        assert header in response.headers


@pytest.mark.parametrize("segment", HOSTILE_SEGMENTS)
@pytest.mark.parametrize("rest", ["", "/users", "/users/1", "/tokens"])
def test_hostile_tenant_segments_are_404_json(testapp, tenant, segment, rest):
    response = testapp.get(f"/{segment}{rest}", headers=tenant.auth, status=404)
    assert response.json["error"] == "not_found"
    assert_clean(response, tenant.slug)


def test_hostile_segments_reach_no_sql_and_break_nothing(testapp, engine, tenant):
    for segment in HOSTILE_SEGMENTS:
        testapp.post_json(f"/{segment}/users", {"email": "a@b.example", "name": "x"}, status=404)
    with engine.connect() as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM tenantapp.tenants")) >= 1
    testapp.get(f"/{tenant.slug}/users", headers=tenant.auth, status=200)


def test_dot_segments_cannot_carry_a_token_into_another_tenant(testapp, tenant, other_tenant):
    path = f"/{tenant.slug}/%2e%2e/{other_tenant.slug}/users"
    response = testapp.get(path, headers=tenant.auth, status=401)
    assert_clean(response, tenant.slug)


@pytest.mark.parametrize(
    "user_id", ["0", "-1", "9223372036854775808", "1e3", "0x10", "%C2%B9", "1.0", " 1"]
)
def test_ids_out_of_range_or_not_ids_are_404(client, tenant, user_id):
    response = client.get(f"/{tenant.slug}/users/{user_id}", status=404)
    assert_clean(response)


def test_a_huge_body_is_413(client, tenant):
    body = {"email": "a@x.example", "name": "x" * 100_000}
    response = client.post_json(f"/{tenant.slug}/users", body, status=413)
    assert response.json["error"] == "body_too_large"


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_a_body_that_is_not_json_is_415(client, tenant, content_type):
    response = client.post(
        f"/{tenant.slug}/users",
        b'{"email": "a@x.example", "name": "A"}',
        content_type=content_type,
        status=415,
    )
    assert response.json["error"] == "unsupported_media_type"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/users", "GET, HEAD, POST"),
        ("DELETE", "/users", "GET, HEAD, POST"),
        ("POST", "/users/{id}", "DELETE, GET, HEAD, PATCH"),
        ("GET", "/tokens", "DELETE, POST"),
        ("POST", "/audit", "GET, HEAD"),
        ("GET", "/users/{id}/role", "PUT"),
    ],
)
def test_a_wrong_method_is_405_with_allow(client, tenant, method, path, allow):
    owner_id = client.get(f"/{tenant.slug}/users").json["items"][0]["id"]
    url = f"/{tenant.slug}{path.format(id=owner_id)}"
    response = client.request(url, method=method, status=405)
    assert response.headers["Allow"] == allow
    assert response.json["error"] == "method_not_allowed"


@pytest.mark.parametrize(
    "body",
    [
        b'{"email": "a@x.example", "name": "A", "name": "B"}' * 0 + b"[" * 100_00,
        b'{"email": {"$ne": null}, "name": "A"}',
        b'{"email": "a@x.example\\u0000", "name": "A"}',
        b'{"email": "a@x.example", "name": "A\\u0000"}',
        b'{"email": "a@x.example", "name": true}',
        b'{"email": ["a@x.example"], "name": "A"}',
        b"null",
        b"NaN",
    ],
)
def test_malformed_or_mistyped_bodies_are_400(client, tenant, body):
    response = client.post(
        f"/{tenant.slug}/users", body, content_type="application/json", status=400
    )
    assert_clean(response)


def test_a_token_of_tenant_a_opens_nothing_in_tenant_b(testapp, tenant, other_tenant, add_user):
    victim = add_user(other_tenant.slug, "victim@b.example", "Victim")
    b = f"/{other_tenant.slug}"
    attempts = [
        ("GET", b, None),
        ("GET", f"{b}/users", None),
        ("POST", f"{b}/users", {"email": "evil@a.example", "name": "Evil"}),
        ("GET", f"{b}/users/{victim['id']}", None),
        ("PATCH", f"{b}/users/{victim['id']}", {"name": "pwned"}),
        ("DELETE", f"{b}/users/{victim['id']}", None),
        ("PUT", f"{b}/users/{victim['id']}/role", {"role": "owner"}),
        ("PUT", f"{b}/users/{victim['id']}/password", {"password": "hijacked password"}),
        ("DELETE", f"{b}/tokens", None),
        ("GET", f"{b}/audit", None),
    ]
    for method, url, body in attempts:
        response = testapp.request(
            url,
            method=method,
            headers={**tenant.auth, "Content-Type": "application/json"},
            body=b"" if body is None else __import__("json").dumps(body).encode(),
            expect_errors=True,
        )
        assert response.status_int in (401, 404), (method, url, response.status)
        assert_clean(response, "victim", tenant.slug)
    owner = {"Authorization": f"Bearer {other_tenant.token}"}
    assert testapp.get(f"{b}/users/{victim['id']}", headers=owner).json == victim


def test_success_and_error_responses_carry_security_headers(testapp, client, tenant):
    for response in (
        client.get(f"/{tenant.slug}/users"),
        testapp.get("/nope", status=404),
        testapp.get(f"/{tenant.slug}/users", status=401),
        testapp.get("/-/tenants", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}),
    ):
        for header in SECURITY_HEADERS:
            assert header in response.headers
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Request-Id"]


@pytest.mark.parametrize("given", ["x" * 65, "a b", "<script>", ""])
def test_unsafe_request_ids_are_not_echoed(client, tenant, given):
    response = client.get(f"/{tenant.slug}/users", headers={"X-Request-Id": given})
    assert response.headers["X-Request-Id"] != given
    assert len(response.headers["X-Request-Id"]) == 32
    assert "X-Client-Request-Id" not in response.headers


@pytest.mark.parametrize("who", ["anonymous", "other tenant's owner"])
def test_strangers_cannot_tell_which_user_ids_exist(testapp, tenant, other_tenant, add_user, who):
    user = add_user(tenant.slug, "here@x.example")
    headers = {} if who == "anonymous" else other_tenant.auth
    base = f"/{tenant.slug}/users"
    for path in (
        f"{base}/{user['id']}",
        f"{base}/{user['id'] + 1000}",
        f"{base}/{user['id']}/role",
    ):
        response = testapp.get(path, headers=headers, status=401)
        assert response.json["error"] == "unauthorized"


def test_control_characters_in_names_are_named_clearly(client, tenant):
    body = {"email": "c@x.example", "name": "tab\there"}
    response = client.post_json(f"/{tenant.slug}/users", body, status=400)
    assert response.json["fields"] == {"name": "must not contain control characters"}
