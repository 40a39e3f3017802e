"""The console's Sign-in page: an owner sets the tenant's SAML IdP (or OpenID provider) and its
rules, proves an email domain, and removes the provider, through the same actions as the API;
a bad form says what is wrong and keeps nothing; members do not see the page."""

import re

from tests.conftest import PASSWORD
from tests.console.test_console import console_login, csrf_of


def test_an_owner_sets_the_saml_idp_and_proves_a_domain(sso_app, tenant, saml_idp, zone, client):
    owner = console_login(sso_app, tenant.slug, tenant.owner_email)
    url = f"/{tenant.slug}/console/sign-in"
    page = owner.get(url)
    assert "None: people sign in with their passwords" in page.text
    assert f'href="{url}"' in owner.get(f"/{tenant.slug}/console/users").text  # in the menu

    bad = {"metadata": "<nope", "role_map": "it-admins = admin", "csrf_token": csrf_of(page)}
    refused = owner.post(f"{url}/saml", bad, status=400)
    assert "metadata" in refused.text and "not SAML metadata" in refused.text
    client.get(f"/{tenant.slug}/sso/saml", headers=tenant.auth, status=404)  # nothing kept

    fields = {
        "metadata": saml_idp.metadata,
        "role_attribute": "groups",
        "role_map": "it-admins = admin\nfounders = owner",
        "csrf_token": csrf_of(page),
    }
    owner.post(f"{url}/saml", fields, status=303)
    shown = owner.get(url).text
    assert "SAML 2.0" in shown and f"{saml_idp.url}/metadata" in shown
    provider = client.get(f"/{tenant.slug}/sso/saml", headers=tenant.auth).json
    assert provider["role_map"] == {"it-admins": "admin", "founders": "owner"}

    domain = f"{tenant.slug}.example"
    owner.post(f"{url}/claim", {"domain": domain, "csrf_token": csrf_of(page)}, status=303)
    waiting = owner.get(url).text
    name, value = re.search(
        r"<code>(_tenantapp[^<]+)</code> <code class=\"secret\">([^<]+)<", waiting
    ).groups()
    zone.txt.setdefault(name, []).append(value)
    owner.post(f"{url}/verify", {"domain": domain, "csrf_token": csrf_of(page)}, status=303)
    assert re.search(rf"<td>{re.escape(domain)}</td>\s*<td>verified</td>", owner.get(url).text)

    owner.post(f"{url}/remove", {"csrf_token": csrf_of(page)}, status=303)
    assert "None: people sign in" in owner.get(url).text
    actions = [
        e["action"] for e in client.get(f"/{tenant.slug}/audit", headers=tenant.auth).json["items"]
    ]
    assert {"sso.configured", "sso.domain_claimed", "sso.domain_verified", "sso.removed"} <= set(
        actions
    )


def test_bad_rules_say_which_line_and_members_see_no_sign_in_page(sso_app, tenant, add_user):
    owner = console_login(sso_app, tenant.slug, tenant.owner_email)
    url = f"/{tenant.slug}/console/sign-in"
    form = {
        "issuer": "http://localhost:9/",
        "client_id": "c",
        "client_secret": "s",
        "role_map": "it-admins admin",
        "csrf_token": csrf_of(owner.get(url)),
    }
    refused = owner.post(f"{url}/oidc", form, status=400)
    assert "line 1: write group = role" in refused.text
    add_user(tenant.slug, "mo@example.com", password=PASSWORD)
    member = console_login(sso_app, tenant.slug, "mo@example.com")
    member.get(url, status=403)
    assert f'href="{url}"' not in member.get(f"/{tenant.slug}/console/users").text
