"""SCIM 2.0 per tenant: scim2-tester's checks against a live server, and the hostile cases (a
token of one tenant at another, filters that try injection, a deactivated user whose token is
still in a cache)."""

import threading

import httpx2
import pytest
import sqlalchemy as sa
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

from tenantapp.server import create_api_server
from tests.conftest import PASSWORD, login

SCIM_JSON = "application/scim+json"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def make_token(testapp, tenant) -> str:
    made = testapp.post_json(
        f"/{tenant.slug}/scim/tokens", {"name": "okta"}, headers=tenant.auth, status=201
    ).json
    assert made["token"].startswith("scim_")
    return made["token"]


def scim(testapp, method: str, url: str, token: str, body=None, status=None):
    headers = {"Authorization": f"Bearer {token}"}
    call = getattr(testapp, f"{method}_json" if body is not None else method)
    args = (url, body) if body is not None else (url,)
    return (
        call(*args, headers=headers, status=status, content_type=SCIM_JSON)
        if body is not None
        else call(*args, headers=headers, status=status)
    )


def new_user(user_name: str, email: str, **extra) -> dict:
    return {
        "schemas": [USER],
        "userName": user_name,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": email, "primary": True}],
        "active": True,
        **extra,
    }


@pytest.fixture
def token(testapp, tenant):
    return make_token(testapp, tenant)


def test_a_directory_creates_finds_changes_and_removes_a_user(testapp, tenant, token):
    base = f"/{tenant.slug}/scim/v2/Users"
    made = scim(testapp, "post", base, token, new_user("ada", "ada@example.com"), 201).json
    assert made["userName"] == "ada" and made["active"] is True
    users = testapp.get(f"/{tenant.slug}/users", headers=tenant.auth).json["items"]
    assert "ada@example.com" in [u["email"] for u in users]  # a user like any other
    found = scim(testapp, "get", f'{base}?filter=userName eq "ada"', token).json
    assert found["totalResults"] == 1 and found["Resources"][0]["id"] == made["id"]
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": "Countess"}],
    }
    scim(testapp, "patch", f"{base}/{made['id']}", token, patch, [200, 204])
    assert scim(testapp, "get", f"{base}/{made['id']}", token).json["displayName"] == "Countess"
    scim(testapp, "delete", f"{base}/{made['id']}", token, status=204)
    scim(testapp, "get", f"{base}/{made['id']}", token, status=404)
    actions = [
        e["action"] for e in testapp.get(f"/{tenant.slug}/audit", headers=tenant.auth).json["items"]
    ]
    assert {"user.created", "user.updated", "user.deleted"} <= set(actions)


def test_a_token_of_one_tenant_is_nothing_at_another(testapp, tenant, other_tenant, token):
    answer = scim(testapp, "get", f"/{other_tenant.slug}/scim/v2/Users", token, status=401)
    assert answer.json["status"] == "401"
    scim(testapp, "get", f"/{tenant.slug}/scim/v2/Users", "scim_not-a-token", status=401)
    testapp.get(f"/{tenant.slug}/scim/v2/Users", status=401)  # no token at all
    user_token = tenant.token  # a user's token is no SCIM token either
    scim(testapp, "get", f"/{tenant.slug}/scim/v2/Users", user_token, status=401)


@pytest.mark.parametrize(
    "expression",
    [
        'userName eq "x\\" or 1=1 --"',
        'userName eq "\'; DROP TABLE users; --"',
        'userName eq "a" or userName pr',
        'emails[value co "@"] and userName sw "\'"',
        "userName eq",
        ")(",
    ],
)
def test_filters_never_reach_sql_as_text(testapp, tenant, token, tenancy, expression):
    base = f"/{tenant.slug}/scim/v2/Users"
    scim(testapp, "post", base, token, new_user("bob", "bob@example.com"), 201)
    answer = scim(testapp, "get", f"{base}?filter={expression}", token, status="*")
    assert answer.status_int in (200, 400), answer.text
    if answer.status_int == 400:
        assert answer.json["scimType"] == "invalidFilter"
    with tenant.owner_engine(tenancy).connect() as connection:
        count = connection.scalar(
            sa.text(f'SELECT count(*) FROM "{tenant.schema_name}".users{tenant.where()}')
        )
    assert count == 2  # the owner and bob: nothing dropped, nothing leaked


def test_deactivating_ends_every_session_at_once(testapp, tenant, token, add_user):
    add_user(tenant.slug, "cy@example.com", password=PASSWORD)
    own = {"Authorization": f"Bearer {login(testapp, tenant.slug, 'cy@example.com')}"}
    testapp.get(f"/{tenant.slug}/users", headers=own, status=200)  # its owner is cached now
    base = f"/{tenant.slug}/scim/v2/Users"
    found = scim(testapp, "get", f'{base}?filter=emails.value eq "cy@example.com"', token).json
    user_id = found["Resources"][0]["id"]
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": False}],
    }
    scim(testapp, "patch", f"{base}/{user_id}", token, patch, [200, 204])
    assert scim(testapp, "get", f"{base}/{user_id}", token).json["active"] is False
    testapp.get(f"/{tenant.slug}/users", headers=own, status=401)
    body = {"email": "cy@example.com", "password": PASSWORD}
    testapp.post_json(f"/{tenant.slug}/tokens", body, status=401)


def test_the_last_owner_cannot_be_removed_or_deactivated_by_the_directory(testapp, tenant, token):
    base = f"/{tenant.slug}/scim/v2/Users"
    owner = scim(
        testapp, "get", f'{base}?filter=emails.value eq "{tenant.owner_email}"', token
    ).json
    owner_id = owner["Resources"][0]["id"]
    scim(testapp, "delete", f"{base}/{owner_id}", token, status=400)
    login(testapp, tenant.slug, tenant.owner_email)


def test_revoked_tokens_stop_working(testapp, tenant, token):
    listed = testapp.get(f"/{tenant.slug}/scim/tokens", headers=tenant.auth).json["items"]
    assert ([t["name"] for t in listed] == ["okta"] and "token" not in listed[0]) or listed[0][
        "token"
    ] is None
    testapp.delete(f"/{tenant.slug}/scim/tokens/{listed[0]['id']}", headers=tenant.auth, status=204)
    scim(testapp, "get", f"/{tenant.slug}/scim/v2/Users", token, status=401)


@pytest.mark.slow
def test_scim2_tester_finds_nothing_wrong_against_a_live_server(app, testapp, tenant):
    """Every check scim2-tester makes (discovery, create, read, query, replace, patch, delete),
    of users and of groups, passes, against the app served by waitress on 127.0.0.1."""
    token = make_token(testapp, tenant)
    server = create_api_server(app, listen="127.0.0.1:0", threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.effective_port}/{tenant.slug}/scim/v2/"
        with httpx2.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as http:
            results = check_server(SyncSCIMClient(http), resource_types=["User", "Group"])
    finally:
        server.close()
        thread.join(timeout=10)
    bad = [
        (r.title, r.status.name, r.reason)
        for r in results
        if r.status in (Status.ERROR, Status.CRITICAL, Status.DEVIATION)
    ]
    assert len(results) > 20 and bad == []
