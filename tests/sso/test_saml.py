"""Single sign-on through a real SAML 2.0 IdP on 127.0.0.1 (pysaml2's, ``saml_idp``), and the
hostile cases: a Response for one tenant posted to another, an audience or recipient that is
not the tenant's, a tampered or unsigned assertion, a replayed or unsolicited Response, an email
outside the tenant's verified domains, a RelayState pointing away."""

import base64
import re
from urllib.parse import urlencode, urlsplit

import pytest
import webtest

from tenantapp.sso.local_idp import SamlIdp
from tests.domains import test_domains

from .conftest import audit_actions, onward_target, prove


def configure(client, tenant, idp: SamlIdp, **extra) -> dict:
    body = {"metadata": idp.metadata, **extra}
    shown = client.put_json(f"/{tenant.slug}/sso/saml", body, headers=tenant.auth).json
    idp.trust(client.get(f"/{tenant.slug}/sso/saml/metadata").text)
    return shown


@pytest.fixture
def saml_tenant(client, tenant, saml_idp, zone):
    configure(client, tenant, saml_idp, role_attribute="groups", role_map={"it-admins": "admin"})
    prove(client, zone, tenant, f"{tenant.slug}.example")
    return tenant


def started(client, tenant, next_path: str | None = None) -> str:
    """Start a login at the tenant: the IdP's URL carrying its AuthnRequest."""
    query = "?" + urlencode({"next": next_path}) if next_path else ""
    return client.get(f"/{tenant.slug}/sso/saml/login{query}", status=303).location


def post(client, tenant, saml_response: str, status, **fields):
    return client.post(
        f"/{tenant.slug}/sso/saml/acs", {"SAMLResponse": saml_response, **fields}, status=status
    )


def user(idp: SamlIdp, name: str, email: str, **attributes) -> str:
    idp.users[name] = {"email": [email], **{k: list(v) for k, v in attributes.items()}}
    return name


def test_a_colleague_signs_in_through_saml_with_a_role_from_a_group(client, saml_tenant, saml_idp):
    email = f"ann@{saml_tenant.slug}.example"
    name = user(saml_idp, "ann", email, groups=["staff", "it-admins"], displayName=["Ann"])
    answer = post(client, saml_tenant, saml_idp.response(started(client, saml_tenant), name), 201)
    assert answer.json["user"]["email"] == email and answer.json["user"]["role"] == "admin"
    me = client.get(
        f"/{saml_tenant.slug}/users/{answer.json['user']['id']}",
        headers={"Authorization": f"Bearer {answer.json['token']}"},
    ).json
    assert me["name"] == "Ann"
    again = post(client, saml_tenant, saml_idp.response(started(client, saml_tenant), name), 201)
    assert again.json["user"]["id"] == me["id"]  # the same user, found by email
    entries = client.get(f"/{saml_tenant.slug}/audit", headers=saml_tenant.auth).json["items"]
    logins = [e for e in entries if e["action"] == "sso.login"]
    assert logins and logins[0]["detail"]["subject"] == f"{saml_idp.url}/metadata#{email}"


def test_a_console_login_through_saml_sets_the_cookie(client, saml_tenant, saml_idp):
    console = f"/{saml_tenant.slug}/console/users"
    name = user(saml_idp, "cy", f"cy@{saml_tenant.slug}.example")
    page = post(
        client, saml_tenant, saml_idp.response(started(client, saml_tenant, console), name), 200
    )
    assert f'url={console}"' in page.text
    assert any(cookie.name == "tenantapp_console" for cookie in client.cookiejar)


def test_a_response_for_one_tenant_is_refused_at_another(
    client, saml_tenant, other_tenant, saml_idp, zone
):
    configure(client, other_tenant, saml_idp)
    prove(client, zone, other_tenant, f"{other_tenant.slug}.example")
    name = user(saml_idp, "dee", f"dee@{saml_tenant.slug}.example")
    for_a = saml_idp.response(started(client, saml_tenant), name)
    refused = post(client, other_tenant, for_a, 401).json
    assert refused["error"] == "sso_refused" and "state" in refused["message"]
    # B's own request, answered with an assertion meant for A's audience and consumer
    mine = started(client, other_tenant)
    a_entity = f"http://localhost/{saml_tenant.slug}/sso/saml/metadata"
    for_a_audience = saml_idp.response(mine, name, audience=a_entity)
    assert "audience" in post(client, other_tenant, for_a_audience, 401).json["message"].lower()


def test_an_assertion_for_another_recipient_is_refused(client, saml_tenant, saml_idp):
    name = user(saml_idp, "eli", f"eli@{saml_tenant.slug}.example")
    elsewhere = saml_idp.response(
        started(client, saml_tenant), name, recipient="http://localhost/x/sso/saml/acs"
    )
    assert "consumer URL" in post(client, saml_tenant, elsewhere, 401).json["message"]


def test_a_tampered_or_unsigned_assertion_is_refused(client, saml_tenant, saml_idp):
    email = f"fay@{saml_tenant.slug}.example"
    name = user(saml_idp, "fay", email)
    unsigned = saml_idp.response(started(client, saml_tenant), name, sign=False)
    assert "Signature missing" in post(client, saml_tenant, unsigned, 401).json["message"]
    signed = base64.b64decode(saml_idp.response(started(client, saml_tenant), name)).decode()
    owner = saml_tenant.owner_email  # someone else, to be taken for
    tampered = base64.b64encode(signed.replace(email, owner).encode()).decode()
    assert "signature" in post(client, saml_tenant, tampered, 401).json["message"].lower()
    assert audit_actions(client, saml_tenant).count("sso.refused") >= 2


def test_a_replayed_or_unsolicited_response_is_refused(client, saml_tenant, saml_idp):
    name = user(saml_idp, "gus", f"gus@{saml_tenant.slug}.example")
    answer = saml_idp.response(started(client, saml_tenant), name)
    post(client, saml_tenant, answer, 201)
    assert "state" in post(client, saml_tenant, answer, 401).json["message"]  # replayed
    unsolicited = base64.b64encode(
        re.sub(r' InResponseTo="[^"]+"', "", base64.b64decode(answer).decode(), count=1).encode()
    ).decode()
    assert "InResponseTo" in post(client, saml_tenant, unsolicited, 401).json["message"]
    assert post(client, saml_tenant, "not base64!", 401).json["error"] == "sso_refused"
    client.post(f"/{saml_tenant.slug}/sso/saml/acs", {"RelayState": "x"}, status=400)


def test_an_email_outside_the_verified_domains_is_refused(
    client, saml_tenant, other_tenant, saml_idp, zone
):
    prove(client, zone, other_tenant, f"{other_tenant.slug}.example")
    for email in ("hal@elsewhere.example", f"hal@{other_tenant.slug}.example"):
        name = user(saml_idp, "hal", email)
        refused = post(
            client, saml_tenant, saml_idp.response(started(client, saml_tenant), name), 401
        )
        assert "domain" in refused.json["message"]
    users = client.get(f"/{saml_tenant.slug}/users", headers=saml_tenant.auth).json["items"]
    assert not any(u["email"].startswith("hal@") for u in users)


def test_relay_state_sends_no_one_away(client, saml_tenant, saml_idp):
    """Where the browser goes is what the login kept; a posted RelayState changes nothing."""
    name = user(saml_idp, "ida", f"ida@{saml_tenant.slug}.example")
    answer = saml_idp.response(started(client, saml_tenant), name)
    done = post(client, saml_tenant, answer, 201, RelayState="https://evil.example/")
    assert "Location" not in done.headers and done.json["token"]
    query = urlencode({"next": "https://evil.example/"})
    client.get(f"/{saml_tenant.slug}/sso/saml/login?{query}", status=400)


def test_metadata_must_describe_one_usable_idp(client, tenant, saml_idp):
    put = f"/{tenant.slug}/sso/saml"
    for metadata, said in (
        ("<not xml", "not SAML metadata"),
        ("<EntitiesDescriptor xmlns='urn:oasis:names:tc:SAML:2.0:metadata'/>", "not one"),
        (re.sub(r"<ns0:KeyDescriptor.*?</ns0:KeyDescriptor>", "", saml_idp.metadata), "signing"),
    ):
        refused = client.put_json(put, {"metadata": metadata}, headers=tenant.auth, status=400)
        assert said in refused.json["message"] + refused.json["fields"]["metadata"]
    client.get(put, headers=tenant.auth, status=404)  # nothing kept


def test_one_provider_per_tenant_and_the_console_routes_to_it(client, saml_tenant, saml_idp):
    shown = client.get(f"/{saml_tenant.slug}/sso/saml", headers=saml_tenant.auth).json
    assert shown["protocol"] == "saml" and shown["issuer"] == f"{saml_idp.url}/metadata"
    assert "speaks saml" in client.get(f"/{saml_tenant.slug}/sso/oidc/login", status=404).text
    form = client.get(f"/{saml_tenant.slug}/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    email = f"jo@{saml_tenant.slug}.example"
    fields = {"email": email, "password": "", "csrf_token": token}
    sent = client.post(f"/{saml_tenant.slug}/console/login", fields, status=200)
    assert urlsplit(onward_target(sent.text)).path == f"/{saml_tenant.slug}/sso/saml/login"
    client.delete(f"/{saml_tenant.slug}/sso/oidc", headers=saml_tenant.auth, status=404)
    client.delete(f"/{saml_tenant.slug}/sso/saml", headers=saml_tenant.auth, status=204)


def test_sso_urls_come_from_the_public_url_not_a_host_header(sso_app, tenant):
    """Without ``tenantapp.public_url`` (or the tenant's own host) the provider would be told to
    send people back to whatever the Host header said: only this machine's own is taken."""
    elsewhere = webtest.TestApp(sso_app, extra_environ={"HTTP_HOST": "attacker.example"})
    refused = elsewhere.get(f"/{tenant.slug}/sso/saml/metadata", status=503).json
    assert refused["error"] == "needs_public_url"
    here = webtest.TestApp(sso_app, extra_environ={"HTTP_HOST": "127.0.0.1:6543"})
    metadata = here.get(f"/{tenant.slug}/sso/saml/metadata").text
    assert f'entityID="http://127.0.0.1:6543/{tenant.slug}/sso/saml/metadata"' in metadata


def test_a_tenant_reached_by_its_host_signs_in_on_its_host(hosted, tenant, saml_idp, zone):
    """The entity id, the consumer URL and the login are the tenant's host's, not a path's."""
    host = f"{tenant.slug}.{test_domains.BASE}"
    web = webtest.TestApp(hosted, extra_environ={"HTTP_HOST": host})
    web.put_json("/sso/saml", {"metadata": saml_idp.metadata}, headers=tenant.auth)
    metadata = web.get("/sso/saml/metadata").text
    assert f'entityID="http://{host}/sso/saml/metadata"' in metadata
    assert f'Location="http://{host}/sso/saml/acs"' in metadata
    saml_idp.trust(metadata)
    domain = f"{tenant.slug}.example"
    claimed = web.post_json("/sso/domains", {"domain": domain}, headers=tenant.auth).json
    zone.txt.setdefault(claimed["challenge"]["name"], []).append(claimed["challenge"]["value"])
    web.post(f"/sso/domains/{domain}/verify", headers=tenant.auth)
    start = web.get("/sso/saml/login", status=303).location
    saml_idp.users["hana"] = {"email": [f"hana@{domain}"]}
    done = web.post("/sso/saml/acs", {"SAMLResponse": saml_idp.response(start, "hana")})
    assert done.status_int == 201 and done.json["user"]["email"] == f"hana@{domain}"
