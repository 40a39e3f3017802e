"""Impersonation for support: short-lived, audited at every use under the operator's name, and
the tenant's to forbid."""

import pytest

from tenantapp.testing import login
from tests.conftest import OPERATOR_TOKEN

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


def new_member(testapp, tenant) -> int:
    body = {"email": "member@example.com", "name": "Member"}
    return testapp.post_json(f"/{tenant.slug}/users", body, headers=tenant.auth).json["id"]


def impersonate(testapp, tenant, user_id: int, status: int = 201, **extra):
    body = {"user_id": user_id, "operator": "alice", "reason": "ticket 42", **extra}
    return testapp.post_json(
        f"/-/tenants/{tenant.slug}/impersonation", body, headers=OPERATOR, status=status
    )


def audit(testapp, tenant) -> list[dict]:
    items = testapp.get(f"/{tenant.slug}/audit?limit=100", headers=tenant.auth).json["items"]
    return list(reversed(items))


def test_an_operator_acts_as_a_user_and_every_use_is_audited(testapp, tenant):
    member = new_member(testapp, tenant)
    given = impersonate(testapp, tenant, member).json
    assert given["user"]["id"] == member and given["operator"] == "operator:alice"
    acting = {"Authorization": f"Bearer {given['token']}"}

    testapp.get(f"/{tenant.slug}/users/{member}", headers=acting, status=200)
    testapp.patch_json(
        f"/{tenant.slug}/users/{member}", {"name": "Renamed"}, headers=acting, status=403
    )  # acts with the member's rights, no more
    entries = audit(testapp, tenant)
    started = next(e for e in entries if e["action"] == "impersonation.started")
    assert started["actor"] == "operator:alice" and started["target"] == f"user:{member}"
    assert started["detail"]["reason"] == "ticket 42"
    used = [e for e in entries if e["action"] == "impersonation.used"]
    assert [(e["actor"], e["target"]) for e in used] == [
        (f"operator:alice as user:{member}", f"GET /{tenant.slug}/users/{member}"),
        (f"operator:alice as user:{member}", f"PATCH /{tenant.slug}/users/{member}"),
    ]


def test_changes_made_while_impersonating_name_the_operator(testapp, tenant):
    owner_id = next(
        u["id"]
        for u in testapp.get(f"/{tenant.slug}/users", headers=tenant.auth).json["items"]
        if u["email"] == tenant.owner_email
    )
    acting = {"Authorization": f"Bearer {impersonate(testapp, tenant, owner_id).json['token']}"}
    body = {"email": "new@example.com", "name": "New"}
    created = testapp.post_json(f"/{tenant.slug}/users", body, headers=acting, status=201).json
    entry = next(e for e in audit(testapp, tenant) if e["action"] == "user.created")
    assert entry["target"] == f"user:{created['id']}"
    assert entry["actor"] == f"operator:alice as user:{owner_id}"


def test_the_tenant_can_forbid_it_and_tokens_given_stop_working(testapp, tenant):
    member = new_member(testapp, tenant)
    acting = {"Authorization": f"Bearer {impersonate(testapp, tenant, member).json['token']}"}
    testapp.get(f"/{tenant.slug}/users/{member}", headers=acting, status=200)
    testapp.patch_json(
        f"/{tenant.slug}/settings",
        {"settings": {"allow_impersonation": False}},
        headers=tenant.auth,
        status=200,
    )
    refused = impersonate(testapp, tenant, member, status=403)
    assert refused.json["error"] == "impersonation_forbidden"
    testapp.get(f"/{tenant.slug}/users/{member}", headers=acting, status=401)
    testapp.get(f"/{tenant.slug}/users/{member}", headers=tenant.auth, status=200)
    # revoked, not suspended: allowing it again does not bring the old token back
    testapp.patch_json(
        f"/{tenant.slug}/settings",
        {"settings": {"allow_impersonation": True}},
        headers=tenant.auth,
        status=200,
    )
    testapp.get(f"/{tenant.slug}/users/{member}", headers=acting, status=401)
    assert "impersonation.revoked" in [e["action"] for e in audit(testapp, tenant)]


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"minutes": 61}, "minutes"),
        ({"minutes": 0}, "minutes"),
        ({"operator": " "}, "operator"),
        ({"reason": ""}, "reason"),
    ],
)
def test_bad_requests_name_the_field_and_issue_nothing(testapp, tenant, extra, field):
    member = new_member(testapp, tenant)
    refused = impersonate(testapp, tenant, member, status=400, **extra)
    assert field in refused.json["fields"]
    assert not [e for e in audit(testapp, tenant) if e["action"] == "impersonation.started"]


def test_only_the_operator_impersonates_and_only_users_of_that_tenant(
    testapp, tenant, other_tenant
):
    member = new_member(testapp, other_tenant)
    body = {"user_id": member, "operator": "mallory", "reason": "x"}
    url = f"/-/tenants/{other_tenant.slug}/impersonation"
    testapp.post_json(url, body, headers=tenant.auth, status=401)
    testapp.post_json(url, body, status=401)
    missing = impersonate(testapp, tenant, member + 1000, status=404)
    assert missing.json["error"] == "not_found"


def test_an_impersonation_token_lasts_only_as_long_as_asked(testapp, tenant):
    from datetime import datetime

    member = new_member(testapp, tenant)
    given = impersonate(testapp, tenant, member, minutes=5).json
    expires = datetime.fromisoformat(given["expires_at"])
    started = next(e for e in audit(testapp, tenant) if e["action"] == "impersonation.started")
    at = datetime.fromisoformat(started["occurred_at"])
    assert 4 * 60 < (expires - at).total_seconds() <= 5 * 60 + 5


def test_an_impersonation_cannot_change_credentials(testapp, tenant):
    """Neither a password of the operator's choosing (it would outlive the token and its
    trail) nor a user created with one; the user's own password still works."""
    owner_id = next(
        u["id"]
        for u in testapp.get(f"/{tenant.slug}/users", headers=tenant.auth).json["items"]
        if u["email"] == tenant.owner_email
    )
    acting = {"Authorization": f"Bearer {impersonate(testapp, tenant, owner_id).json['token']}"}
    chosen = {"password": "chosen by the operator 1"}
    url = f"/{tenant.slug}/users/{owner_id}/password"
    refused = testapp.put_json(url, chosen, headers=acting, status=403)
    assert refused.json["error"] == "forbidden"
    body = {"email": "planted@example.com", "name": "P", "password": "chosen by the operator 1"}
    refused = testapp.post_json(f"/{tenant.slug}/users", body, headers=acting, status=403)
    assert refused.json["error"] == "impersonation_forbidden"
    emails = [
        u["email"] for u in testapp.get(f"/{tenant.slug}/users", headers=tenant.auth).json["items"]
    ]
    assert "planted@example.com" not in emails
    login(testapp, tenant.slug, tenant.owner_email)  # the owner's password is unchanged
    testapp.put_json(url, chosen, headers=tenant.auth, status=204)  # the owner still may
