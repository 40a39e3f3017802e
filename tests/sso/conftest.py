"""What the SSO tests share: the app with a real DNS server on 127.0.0.1 that the tests fill
(the custom domains' own fixture), a client on a loopback host, proving a domain, the real
identity providers (OpenID, SAML) on 127.0.0.1, and the console's browser fixtures."""

import html
import re

import oidc_provider_mock
import pytest
import webtest

from tenantapp import main
from tenantapp.interfaces import ICacheListener, IServers, IUsageLedger, service
from tenantapp.sso.local_idp import SamlIdp
from tests.console import test_console_browser
from tests.domains import test_domains

zone = test_domains.zone  # the fixtures, found by their names here
hosted = test_domains.hosted
chromium = test_console_browser.chromium
open_page = test_console_browser.open_page
violations = test_console_browser.violations

HOST = {"HTTP_HOST": "localhost"}  # a loopback address: OAuth allows http only there


@pytest.fixture(scope="module")
def idp():
    with oidc_provider_mock.run_server_in_thread() as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture(scope="module")
def saml_idp(tmp_path_factory):
    with SamlIdp(tmp_path_factory.mktemp("saml-idp")) as idp:
        yield idp


@pytest.fixture(scope="module")
def sso_app(app, settings, zone):
    made = main({}, **settings, **{"tenantapp.dns_resolver": f"127.0.0.1:{zone.port}"})
    yield made
    for running in (ICacheListener, IUsageLedger):  # the ledger flushes while the server is up
        service(made.registry, running).stop()
    service(made.registry, IServers).dispose()


@pytest.fixture
def client(sso_app):
    return webtest.TestApp(sso_app, extra_environ=HOST)


def prove(client, dns, tenant, domain: str) -> None:
    claimed = client.post_json(
        f"/{tenant.slug}/sso/domains", {"domain": domain}, headers=tenant.auth, status=201
    ).json
    record = claimed["challenge"]
    dns.txt.setdefault(record["name"], []).append(record["value"])
    verified = client.post(f"/{tenant.slug}/sso/domains/{domain}/verify", headers=tenant.auth)
    assert verified.json["verified"] is True


def audit_actions(client, tenant) -> list[str]:
    entries = client.get(f"/{tenant.slug}/audit", headers=tenant.auth).json["items"]
    return [entry["action"] for entry in entries]


def onward_target(page: str) -> str:
    """Where a page that moves on by itself (``console.pages.onward``) goes."""
    return html.unescape(re.search(r'content="0;url=([^"]+)"', page).group(1))
