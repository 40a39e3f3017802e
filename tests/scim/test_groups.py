"""Directory groups over SCIM: a user's role follows their groups by the owner's SSO rules
(``role_map``), for every user a change touches; the last owner stays one; without rules,
groups change no one's role; members are this tenant's users only."""

import re

import pytest

from tenantapp.sso import providers
from tests.console.test_console import console_login, csrf_of

from .test_scim import make_token, new_user, scim

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def token(testapp, tenant):
    return make_token(testapp, tenant)


def with_rules(testapp, tenant, role_map: dict) -> None:
    """The tenant's SSO rules, as the owner sets them with its provider."""
    rules = providers.SamlSettings(metadata="<kept as is>", role_map=role_map)
    providers.save(testapp.app.registry, tenant.id, rules, "https://idp.example/metadata")


def group(testapp, tenant, token, name: str, *user_ids: str) -> dict:
    body = {"schemas": [GROUP], "displayName": name, "members": [{"value": u} for u in user_ids]}
    return scim(testapp, "post", f"/{tenant.slug}/scim/v2/Groups", token, body, 201).json


def role(testapp, tenant, user_id: str) -> str:
    return testapp.get(f"/{tenant.slug}/users/{user_id}", headers=tenant.auth).json["role"]


def user(testapp, tenant, token, name: str) -> str:
    body = new_user(name, f"{name}@example.com")
    return scim(testapp, "post", f"/{tenant.slug}/scim/v2/Users", token, body, 201).json["id"]


def test_a_users_role_follows_their_groups(testapp, tenant, token):
    with_rules(testapp, tenant, {"it-admins": "admin", "founders": "owner"})
    ann, bob = user(testapp, tenant, token, "ann"), user(testapp, tenant, token, "bob")
    admins = group(testapp, tenant, token, "it-admins", ann, bob)
    assert admins["members"][0]["value"] == ann
    assert role(testapp, tenant, ann) == role(testapp, tenant, bob) == "admin"
    founders = group(testapp, tenant, token, "founders", ann)
    assert role(testapp, tenant, ann) == "owner"  # the highest of their groups
    url = f"/{tenant.slug}/scim/v2/Groups/{admins['id']}"
    remove_bob = {
        "schemas": [PATCH],
        "Operations": [{"op": "remove", "path": f'members[value eq "{bob}"]'}],
    }
    scim(testapp, "patch", url, token, remove_bob, [200, 204])
    assert role(testapp, tenant, bob) == "member"
    scim(testapp, "delete", f"/{tenant.slug}/scim/v2/Groups/{founders['id']}", token, status=204)
    assert role(testapp, tenant, ann) == "admin"
    entries = testapp.get(f"/{tenant.slug}/audit", headers=tenant.auth).json["items"]
    changed = [e for e in entries if e["action"] == "user.role_changed"]
    assert changed and all(e["detail"]["via"] == "scim-groups" for e in changed)
    assert all(e["actor"].startswith("scim:") for e in changed)


def test_the_last_owner_is_not_demoted_by_a_group(testapp, tenant, token):
    with_rules(testapp, tenant, {"staff": "member"})
    owner = testapp.get(f"/{tenant.slug}/users", headers=tenant.auth).json["items"][0]
    assert owner["role"] == "owner"
    body = {"schemas": [GROUP], "displayName": "staff", "members": [{"value": str(owner["id"])}]}
    refused = scim(testapp, "post", f"/{tenant.slug}/scim/v2/Groups", token, body, 400).json
    assert "owner" in refused["detail"]
    assert role(testapp, tenant, str(owner["id"])) == "owner"
    listed = scim(testapp, "get", f"/{tenant.slug}/scim/v2/Groups", token).json
    assert listed["totalResults"] == 0  # nothing of the refused change was kept


def test_without_rules_groups_change_no_role(testapp, tenant, token):
    cy = user(testapp, tenant, token, "cy")
    group(testapp, tenant, token, "it-admins", cy)
    assert role(testapp, tenant, cy) == "member"


def test_members_are_this_tenants_users_and_groups_stay_in_their_tenant(
    testapp, tenant, other_tenant, token
):
    theirs = make_token(testapp, other_tenant)
    dee = user(testapp, other_tenant, theirs, "dee")
    body = {"schemas": [GROUP], "displayName": "x", "members": [{"value": "987654"}]}
    refused = scim(testapp, "post", f"/{tenant.slug}/scim/v2/Groups", token, body, 400).json
    assert "no user" in refused["detail"]
    made = group(testapp, tenant, token, "mine")
    other = scim(testapp, "get", f"/{other_tenant.slug}/scim/v2/Groups", theirs).json
    assert other["totalResults"] == 0
    scim(testapp, "get", f"/{other_tenant.slug}/scim/v2/Groups/{made['id']}", theirs, status=404)
    scim(testapp, "get", f"/{tenant.slug}/scim/v2/Groups", theirs, status=401)
    assert role(testapp, other_tenant, dee) == "member"


def test_an_owner_makes_and_revokes_a_directory_token_in_the_console(app, tenant, testapp):
    owner = console_login(app, tenant.slug, tenant.owner_email)
    url = f"/{tenant.slug}/console/directory"
    page = owner.get(url)
    assert "No tokens" in page.text and f"/{tenant.slug}/scim/v2" in page.text
    made = owner.post(f"{url}/tokens", {"name": "okta", "csrf_token": csrf_of(page)})
    token = re.search(r'<code class="secret">(scim_[^<]+)</code>', made.text).group(1)
    assert scim(testapp, "get", f"/{tenant.slug}/scim/v2/Users", token).json["totalResults"] >= 1
    assert token not in owner.get(url).text  # shown once
    token_id = re.search(r'name="token_id" value="(\d+)"', owner.get(url).text).group(1)
    owner.post(f"{url}/revoke", {"token_id": token_id, "csrf_token": csrf_of(page)}, status=303)
    scim(testapp, "get", f"/{tenant.slug}/scim/v2/Users", token, status=401)
