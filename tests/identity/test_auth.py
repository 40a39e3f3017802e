"""Logging in and out, and what a token is good for."""

import pytest
import sqlalchemy as sa

from tests.conftest import PASSWORD, login

TENANT_PATHS = ["", "/users", "/users/1", "/audit"]


@pytest.mark.parametrize("path", TENANT_PATHS)
def test_anonymous_requests_to_tenant_resources_get_401_json(testapp, tenant, path):
    response = testapp.get(f"/{tenant.slug}{path}", status=401)
    assert response.json["error"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header", ["Bearer", "Bearer ", "Basic abc", "Bearer tnt_forged", "bearer " + "x" * 500]
)
def test_bad_authorization_headers_get_401(testapp, tenant, header):
    testapp.get(f"/{tenant.slug}/users", headers={"Authorization": header}, status=401)


def test_login_returns_a_bearer_token_that_works(testapp, tenant):
    body = {"email": tenant.owner_email.upper(), "password": PASSWORD}
    response = testapp.post_json(f"/{tenant.slug}/tokens", body, status=201).json
    assert response["token_type"] == "Bearer"
    assert response["token"].startswith("tnt_")
    assert response["user"]["email"] == tenant.owner_email
    auth = {"Authorization": f"Bearer {response['token']}"}
    assert testapp.get(f"/{tenant.slug}/users", headers=auth).status_int == 200


@pytest.mark.parametrize(
    "body", [{"email": "owner@nowhere.example"}, {"password": "wrong password!"}]
)
def test_wrong_email_or_password_get_the_same_401(testapp, tenant, body):
    attempt = {"email": tenant.owner_email, "password": PASSWORD, **body}
    response = testapp.post_json(f"/{tenant.slug}/tokens", attempt, status=401)
    assert response.json == {
        "error": "invalid_credentials",
        "message": "email or password is wrong",
    }


def test_tokens_are_stored_hashed_and_passwords_as_argon2id(testapp, tenancy, tenant):
    with tenant.owner_engine(tenancy).connect() as connection:
        stored = connection.execute(
            sa.text(
                f'SELECT t.token_hash, u.password_hash FROM "{tenant.schema_name}".tokens t '
                f'JOIN "{tenant.schema_name}".users u ON u.id = t.user_id'
            )
        ).all()
    assert stored
    for token_hash, password_hash in stored:
        assert tenant.token not in token_hash
        assert len(token_hash) == 64
        assert password_hash.startswith("$argon2id$")
        assert PASSWORD not in password_hash


def test_logout_revokes_the_presented_token_only(testapp, tenant):
    second = login(testapp, tenant.slug, tenant.owner_email)
    testapp.delete(f"/{tenant.slug}/tokens", headers=tenant.auth, status=204)
    testapp.get(f"/{tenant.slug}/users", headers=tenant.auth, status=401)
    auth = {"Authorization": f"Bearer {second}"}
    testapp.get(f"/{tenant.slug}/users", headers=auth, status=200)


def test_an_expired_token_is_refused(testapp, tenancy, tenant):
    with tenant.owner_engine(tenancy).begin() as connection:
        connection.execute(
            sa.text(
                f"UPDATE \"{tenant.schema_name}\".tokens SET expires_at = now() - interval '1 s'"
            )
        )
    testapp.get(f"/{tenant.slug}/users", headers=tenant.auth, status=401)


def test_a_token_of_one_tenant_is_meaningless_in_another(testapp, tenant, other_tenant):
    testapp.get(f"/{other_tenant.slug}/users", headers=tenant.auth, status=401)


def test_users_can_be_created_with_a_password_and_log_in(client, testapp, tenant):
    body = {"email": "new@x.example", "name": "New", "password": "a good password"}
    client.post_json(f"/{tenant.slug}/users", body, status=201)
    login(testapp, tenant.slug, "new@x.example", "a good password")


@pytest.mark.parametrize("password", ["short", "x" * 257, 12345678901])
def test_weak_or_malformed_passwords_are_refused(client, tenant, password):
    body = {"email": "new@x.example", "name": "New", "password": password}
    response = client.post_json(f"/{tenant.slug}/users", body, status=400)
    assert set(response.json["fields"]) == {"password"}
