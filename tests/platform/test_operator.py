"""The operator API under /-/: the same tenant lifecycle as the CLI, behind the operator token."""

import pytest
import webtest

from tenantapp import main
from tenantapp.interfaces import IServers, service
from tests.conftest import OPERATOR_TOKEN, login

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer " + "y" * 43}, {"Authorization": f"Basic {OPERATOR_TOKEN}"}],
)
def test_the_operator_api_needs_the_operator_token(testapp, headers):
    response = testapp.get("/-/tenants", headers=headers, status=401)
    assert response.json["error"] == "unauthorized"


def test_a_tenant_token_is_not_an_operator_token(testapp, tenant):
    response = testapp.get("/-/tenants", headers=tenant.auth, status=401)
    assert response.json["message"] == "a valid operator token is required"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_operator_token_opens_no_tenant(testapp, tenant):
    testapp.get(f"/{tenant.slug}/users", headers=OPERATOR, status=401)


def test_create_with_owner_then_the_owner_logs_in(testapp, fresh_slug):
    body = {"slug": fresh_slug, "name": "Op Corp", "owner_email": f"boss@{fresh_slug}.example"}
    response = testapp.post_json("/-/tenants", body, headers=OPERATOR, status=201)
    created = response.json
    assert created["slug"] == fresh_slug
    assert created["status"] == "active"
    assert response.location == f"/-/tenants/{fresh_slug}"
    shown = testapp.get(f"/-/tenants/{fresh_slug}", headers=OPERATOR).json
    assert {k: v for k, v in created.items() if k != "owner"} == shown
    assert created["size_bytes"] > 0
    assert created["migration"]["status"] == "ok"
    owner = created["owner"]
    token = login(testapp, fresh_slug, owner["email"], owner["password"])
    me = testapp.get(f"/{fresh_slug}/users", headers={"Authorization": f"Bearer {token}"}).json
    assert [(u["email"], u["role"]) for u in me["items"]] == [(owner["email"], "owner")]
    listed = testapp.get("/-/tenants", headers=OPERATOR).json["items"]
    assert fresh_slug in [t["slug"] for t in listed]
    assert testapp.get(f"/-/tenants/{fresh_slug}", headers=OPERATOR).json["name"] == "Op Corp"


@pytest.mark.parametrize("slug", ["Bad", "1x", "a_b", "x" * 64, ""])
def test_create_refuses_bad_slugs(testapp, slug):
    response = testapp.post_json("/-/tenants", {"slug": slug}, headers=OPERATOR, status=400)
    assert "slug" in response.json["fields"]


def test_create_refuses_a_taken_slug(testapp, tenant):
    body = {"slug": tenant.slug}
    testapp.post_json("/-/tenants", body, headers=OPERATOR, status=409)


def test_suspend_and_resume(testapp, tenant):
    suspended = testapp.post(f"/-/tenants/{tenant.slug}/suspend", headers=OPERATOR).json
    assert suspended["status"] == "suspended"
    response = testapp.get(f"/{tenant.slug}/users", headers=tenant.auth, status=403)
    assert response.json == {"error": "tenant_suspended", "message": "this tenant is suspended"}
    testapp.post_json(
        f"/{tenant.slug}/tokens", {"email": tenant.owner_email, "password": "x"}, status=403
    )
    testapp.post(f"/-/tenants/{tenant.slug}/resume", headers=OPERATOR)
    assert testapp.get(f"/{tenant.slug}/users", headers=tenant.auth).status_int == 200


def test_delete_archives_restore_brings_back_purge_removes(testapp, tenant):
    testapp.delete(f"/-/tenants/{tenant.slug}", headers=OPERATOR, status=204)
    testapp.get(f"/{tenant.slug}/users", headers=tenant.auth, status=404)
    assert testapp.get(f"/-/tenants/{tenant.slug}", headers=OPERATOR).json["status"] == "deleted"
    testapp.post(f"/-/tenants/{tenant.slug}/suspend", headers=OPERATOR, status=404)
    testapp.post(f"/-/tenants/{tenant.slug}/restore", headers=OPERATOR, status=200)
    testapp.get(f"/{tenant.slug}/users", headers=tenant.auth, status=200)
    testapp.post(f"/-/tenants/{tenant.slug}/restore", headers=OPERATOR, status=404)
    testapp.delete(f"/-/tenants/{tenant.slug}?purge=true", headers=OPERATOR, status=204)
    testapp.get(f"/-/tenants/{tenant.slug}", headers=OPERATOR, status=404)


def test_without_an_operator_token_setting_there_is_no_operator_api(settings):
    app = main({}, **{k: v for k, v in settings.items() if k != "tenantapp.operator_token"})
    try:
        client = webtest.TestApp(app)
        client.get("/-/tenants", headers=OPERATOR, status=404)
    finally:
        service(app.registry, IServers).dispose()


def test_a_short_operator_token_is_refused_at_start(settings):
    from pyramid.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="at least 32"):
        main({}, **{**settings, "tenantapp.operator_token": "short"})
