"""A tenant's console login through its identity provider, in Debian's chromium: the email alone
on the console's login page, the provider's own page (a real OpenID provider, a real SAML IdP,
each on 127.0.0.1), and back in the console, logged in, with nothing refused by the CSP."""

import httpx
import pytest
from playwright.sync_api import expect

from tests.console.test_console_browser import served

from .conftest import prove
from .test_saml import configure as configure_saml
from .test_sso import configure as configure_oidc

pytestmark = pytest.mark.slow  # a browser and servers of its own


@pytest.fixture(scope="module")
def base_url(sso_app):
    with served(sso_app) as url:
        yield url


class OurViolations(list):
    """What the browser refused or failed on at this app's pages (the providers' pages, with
    their missing icons, are theirs)."""

    def __init__(self, base_url: str):
        super().__init__()
        self.base_url = base_url

    def watch(self, page):
        def seen(message):
            if message.type == "error" and message.location["url"].startswith(self.base_url):
                self.append(message.text)

        page.on("console", seen)
        page.on("pageerror", lambda error: self.append(str(error)))
        return page


@pytest.fixture
def violations(base_url):
    return OurViolations(base_url)


def identifier_first(page, slug: str, email: str) -> None:
    page.goto(f"/{slug}/console/users")
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Log in").click()


def test_a_console_login_through_the_tenants_openid_provider(
    open_page, client, tenant, idp, zone, violations
):
    configure_oidc(client, tenant, idp)
    prove(client, zone, tenant, f"{tenant.slug}.example")
    email = f"kim@{tenant.slug}.example"
    assert httpx.put(f"{idp}/users/kim", json={"email": email}).status_code == 204
    page = open_page()
    identifier_first(page, tenant.slug, email)
    expect(page.get_by_role("heading", name="Authorize Client")).to_be_visible()  # the provider's
    page.get_by_placeholder("sub").fill("kim")
    page.get_by_role("button", name="Authorize").click()
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    expect(page.locator("body")).to_contain_text(email)
    assert page.url.endswith(f"/{tenant.slug}/console/users")
    assert violations == []


def test_a_console_login_through_the_tenants_saml_idp(
    open_page, client, tenant, saml_idp, zone, violations, base_url
):
    configure_saml(client, tenant, saml_idp)
    # the IdP's administrator adds the SP as the browser will reach it
    saml_idp.trust(httpx.get(f"{base_url}/{tenant.slug}/sso/saml/metadata").text)
    prove(client, zone, tenant, f"{tenant.slug}.example")
    email = f"lee@{tenant.slug}.example"
    saml_idp.users["lee"] = {"email": [email]}
    page = open_page()
    identifier_first(page, tenant.slug, email)
    page.get_by_label("User").fill("lee")  # the IdP's page
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    expect(page.locator("body")).to_contain_text(email)
    assert page.url.endswith(f"/{tenant.slug}/console/users")
    assert violations == []
