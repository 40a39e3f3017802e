"""Single sign-on through a real OpenID provider on 127.0.0.1 (oidc-provider-mock), email
domains proven by a real DNS server (dnslib's), and the hostile cases: a state replayed or
taken to another tenant, an ID token for another client, an email outside the tenant's verified
domains, an open redirect, password logins where SSO is required."""

from urllib.parse import quote, urlencode, urlsplit

import httpx
import pytest
from joserfc.jwk import KeySet

from tenantapp.sso import oidc
from tenantapp.sso.providers import Provider
from tests.conftest import PASSWORD, login

from .conftest import audit_actions, onward_target, prove


def configure(client, tenant, idp, **extra) -> dict:
    body = {"issuer": idp, "client_id": f"client-{tenant.slug}", "client_secret": "s3cret", **extra}
    return client.put_json(f"/{tenant.slug}/sso/oidc", body, headers=tenant.auth).json


def at_provider(client, tenant, idp, sub: str, claims: dict, next_path: str | None = None):
    """Start at the tenant, authorize at the provider as ``sub``: the callback path to visit."""
    assert httpx.put(f"{idp}/users/{quote(sub)}", json=claims).status_code == 204
    query = "?" + urlencode({"next": next_path}) if next_path else ""
    start = client.get(f"/{tenant.slug}/sso/oidc/login{query}", status=303)
    authorized = httpx.post(start.location, data={"sub": sub})
    back = urlsplit(authorized.headers["location"])
    return f"{back.path}?{back.query}"


@pytest.fixture
def sso_tenant(client, tenant, idp, zone):
    configure(client, tenant, idp, role_claim="groups", role_map={"it-admins": "admin"})
    prove(client, zone, tenant, f"{tenant.slug}.example")
    return tenant


def test_a_new_colleague_signs_in_and_is_a_member_with_a_working_token(client, sso_tenant, idp):
    email = f"ann@{sso_tenant.slug}.example"
    callback = at_provider(client, sso_tenant, idp, "ann-1", {"email": email, "name": "Ann"})
    answer = client.get(callback, status=201).json
    assert answer["user"]["email"] == email and answer["user"]["role"] == "member"
    me = client.get(
        f"/{sso_tenant.slug}/users/{answer['user']['id']}",
        headers={"Authorization": f"Bearer {answer['token']}"},
    ).json
    assert me["name"] == "Ann"
    assert {"sso.login", "user.created"} <= set(audit_actions(client, sso_tenant))


def test_a_group_maps_to_a_role_and_a_known_email_is_the_same_user(client, sso_tenant, idp):
    email = f"bob@{sso_tenant.slug}.example"
    claims = {"email": email, "groups": ["staff", "it-admins"]}
    first = client.get(at_provider(client, sso_tenant, idp, "bob", claims), status=201).json
    assert first["user"]["role"] == "admin"
    again = client.get(at_provider(client, sso_tenant, idp, "bob", claims), status=201).json
    assert again["user"]["id"] == first["user"]["id"]


def test_a_console_login_sets_the_cookie_and_moves_on_inside_the_tenant(client, sso_tenant, idp):
    console = f"/{sso_tenant.slug}/console/users"
    email = f"cy@{sso_tenant.slug}.example"
    page = client.get(at_provider(client, sso_tenant, idp, "cy", {"email": email}, console))
    assert page.status_int == 200 and f'url={console}"' in page.text
    assert any(cookie.name == "tenantapp_console" for cookie in client.cookiejar)
    assert email in client.get(console).text


def test_a_state_works_once_and_only_at_its_own_tenant(client, sso_tenant, other_tenant, idp, zone):
    configure(client, other_tenant, idp)
    prove(client, zone, other_tenant, f"{other_tenant.slug}.example")
    email = f"dee@{sso_tenant.slug}.example"
    callback = at_provider(client, sso_tenant, idp, "dee", {"email": email})
    elsewhere = callback.replace(f"/{sso_tenant.slug}/", f"/{other_tenant.slug}/", 1)
    refused = client.get(elsewhere, status=401).json
    assert refused["error"] == "sso_refused" and "state" in refused["message"]
    client.get(callback, status=201)
    assert "state" in client.get(callback, status=401).json["message"]  # replayed


def test_an_email_outside_the_verified_domains_is_refused_and_audited(client, sso_tenant, idp):
    for email in ("eve@elsewhere.example", f"eve@sub.{sso_tenant.slug}.example"):
        callback = at_provider(client, sso_tenant, idp, "eve", {"email": email})
        refused = client.get(callback, status=401).json
        assert "domain" in refused["message"]
    assert "sso.refused" in audit_actions(client, sso_tenant)
    emails = [
        u["email"]
        for u in client.get(f"/{sso_tenant.slug}/users", headers=sso_tenant.auth).json["items"]
    ]
    assert not any(email.startswith("eve@") for email in emails)


def test_a_domain_another_tenant_proved_cannot_be_proved_again(
    client, sso_tenant, other_tenant, zone
):
    domain = f"{sso_tenant.slug}.example"
    claimed = client.post_json(
        f"/{other_tenant.slug}/sso/domains",
        {"domain": domain},
        headers=other_tenant.auth,
        status=201,
    ).json
    zone.txt.setdefault(claimed["challenge"]["name"], []).append(claimed["challenge"]["value"])
    taken = client.post(
        f"/{other_tenant.slug}/sso/domains/{domain}/verify", headers=other_tenant.auth, status=409
    )
    assert taken.json["error"] == "conflict"


def test_next_must_stay_inside_the_tenant(client, sso_tenant):
    for target in ("https://evil.example/", "//evil.example/x", "/other/console", "/\\evil"):
        query = urlencode({"next": target})
        answer = client.get(f"/{sso_tenant.slug}/sso/oidc/login?{query}", status=400).json
        assert "next" in answer["fields"]


def test_an_id_token_for_another_client_or_nonce_is_refused(idp, sso_tenant):
    """A real ID token from the provider, checked as another tenant's client would check it."""
    nonce = "n-123"
    assert httpx.put(f"{idp}/users/fay", json={"email": "fay@x.example"}).status_code == 204
    document = httpx.get(f"{idp}/.well-known/openid-configuration").json()
    params = {
        "client_id": "client-a",
        "redirect_uri": "http://localhost/cb",
        "response_type": "code",
        "scope": "openid email",
        "state": "s",
        "nonce": nonce,
    }
    authorized = httpx.post(document["authorization_endpoint"], params=params, data={"sub": "fay"})
    code = dict(p.split("=", 1) for p in urlsplit(authorized.headers["location"]).query.split("&"))[
        "code"
    ]
    token = httpx.post(
        document["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "http://localhost/cb",
        },
        auth=("client-a", "s"),
    ).json()["id_token"]
    keys = KeySet.import_key_set(httpx.get(document["jwks_uri"]).json())
    mine = Provider("oidc", idp, "client-a", "s", None, {}, False, None)
    assert oidc.checked_claims(token, keys, mine, nonce)["sub"] == "fay"
    theirs = Provider("oidc", idp, "client-b", "s", None, {}, False, None)
    with pytest.raises(oidc.Refused, match="aud"):
        oidc.checked_claims(token, keys, theirs, nonce)
    with pytest.raises(oidc.Refused, match="nonce"):
        oidc.checked_claims(token, keys, mine, "another")
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(oidc.Refused):
        oidc.checked_claims(tampered, keys, mine, nonce)


def test_sso_required_turns_passwords_off_but_for_the_break_glass_owner(
    client, tenant, idp, add_user
):
    add_user(tenant.slug, "gus@example.com", password=PASSWORD)
    configure(client, tenant, idp, required=True, break_glass_email=tenant.owner_email)
    body = {"email": "gus@example.com", "password": PASSWORD}
    refused = client.post_json(f"/{tenant.slug}/tokens", body, status=403).json
    assert refused["error"] == "sso_required"
    login(client, tenant.slug, tenant.owner_email)  # the break-glass owner still can
    wrong = {"email": "gus@example.com", "password": "not the password"}
    client.post_json(f"/{tenant.slug}/tokens", wrong, status=401)  # nothing learnt without it


def test_the_provider_is_shown_without_its_secret_and_only_to_owners(client, sso_tenant, add_user):
    shown = client.get(f"/{sso_tenant.slug}/sso/oidc", headers=sso_tenant.auth).json
    assert "client_secret" not in shown and shown["client_id"] == f"client-{sso_tenant.slug}"
    add_user(sso_tenant.slug, "hal@example.com", password=PASSWORD)
    member = {"Authorization": f"Bearer {login(client, sso_tenant.slug, 'hal@example.com')}"}
    client.get(f"/{sso_tenant.slug}/sso/oidc", headers=member, status=403)
    bad = {"issuer": "ftp://x", "client_id": "c", "client_secret": "s"}
    client.put_json(f"/{sso_tenant.slug}/sso/oidc", bad, headers=sso_tenant.auth, status=400)


def test_the_console_sends_an_email_of_a_proved_domain_to_the_provider(client, sso_tenant, idp):
    """Identifier first: an email alone, in a domain the tenant proved, signs in at its
    provider and comes back logged in to the console; any other email is asked a password."""
    import re

    def form_post(email: str):
        form = client.get(f"/{sso_tenant.slug}/console/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
        fields = {"email": email, "password": "", "csrf_token": token}
        return client.post(f"/{sso_tenant.slug}/console/login", fields)

    asked = form_post("someone@elsewhere.example")
    assert asked.status_int == 200 and "Enter your password" in asked.text
    email = f"ivy@{sso_tenant.slug}.example"
    sent = form_post(email)  # a page moving on: a redirect would break the form's form-action
    target = onward_target(sent.text)
    assert sent.status_int == 200 and "/sso/oidc/login?next=" in target
    assert httpx.put(f"{idp}/users/ivy", json={"email": email}).status_code == 204
    start = client.get(urlsplit(target).path + "?" + urlsplit(target).query)
    back = urlsplit(httpx.post(start.location, data={"sub": "ivy"}).headers["location"])
    page = client.get(f"{back.path}?{back.query}", status=200)
    assert "/console/users" in page.text
    assert email in client.get(f"/{sso_tenant.slug}/console/users").text
