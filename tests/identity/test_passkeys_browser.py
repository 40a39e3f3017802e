"""Passkeys end to end in Debian's chromium, with its virtual authenticator (the DevTools
WebAuthn domain): a user adds one on the console's Security page, then logs in to the console
with their password and the passkey; an assertion made for one login is refused at another (a
replay), and at another user's login.

The page is reached as ``localhost``: WebAuthn takes no IP address as a relying party."""

import httpx
import pyotp
import pytest
from playwright.sync_api import expect
from webauthn.helpers import bytes_to_base64url

from tenantapp.identity.passkeys import webauthn_challenge
from tests.conftest import PASSWORD, login
from tests.console import test_console_browser
from tests.console.test_console_browser import served

pytestmark = pytest.mark.slow  # a browser and a server of its own

chromium = test_console_browser.chromium  # the fixtures, found by their names here
open_page = test_console_browser.open_page
violations = test_console_browser.violations

ASSERT = """async (options) => {
  const parsed = PublicKeyCredential.parseRequestOptionsFromJSON(options);
  return (await navigator.credentials.get({publicKey: parsed})).toJSON();
}"""


@pytest.fixture(scope="module")
def base_url(app):
    with served(app, "localhost") as url:
        yield url


def with_authenticator(page) -> None:
    devtools = page.context.new_cdp_session(page)
    devtools.send("WebAuthn.enable")
    devtools.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )


def log_in(page, slug: str, email: str) -> None:
    page.goto(f"/{slug}/console/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def password_step(base_url: str, slug: str, email: str) -> dict:
    """A password login over HTTP, as the browser's origin: the challenge, passkey options."""
    body = {"email": email, "password": PASSWORD}
    answer = httpx.post(f"{base_url}/{slug}/tokens", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def second_step(base_url: str, slug: str, challenge: str, assertion: dict) -> httpx.Response:
    body = {"challenge": challenge, "passkey": assertion}
    return httpx.post(f"{base_url}/{slug}/tokens/second-factor", json=body)


def test_a_passkey_added_in_the_browser_logs_in_to_the_console(
    open_page, tenant, add_user, base_url, violations, testapp
):
    email = "pia@example.com"
    add_user(tenant.slug, email, password=PASSWORD)
    page = open_page()
    with_authenticator(page)
    log_in(page, tenant.slug, email)
    expect(page.get_by_role("heading", name="Users")).to_be_visible()  # no factor yet

    # the Security page: one click, the virtual authenticator makes the passkey
    page.get_by_role("link", name="Security").click()
    page.get_by_label("Name").fill("laptop")
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.locator("tr", has_text="laptop")).to_be_visible()
    page.get_by_role("button", name="Log out").click()

    # the console again: the password, then the passkey
    log_in(page, tenant.slug, email)
    page.get_by_role("button", name="Use a passkey").click()
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    assert violations == []

    # an assertion made for one login proves nothing at the next, nor for another user
    first = password_step(base_url, tenant.slug, email)
    assertion = page.evaluate(ASSERT, first["passkey"])
    replay_at = password_step(base_url, tenant.slug, email)
    refused = second_step(base_url, tenant.slug, replay_at["challenge"], assertion)
    assert refused.status_code == 401 and refused.json()["error"] == "wrong_code"
    done = second_step(base_url, tenant.slug, first["challenge"], assertion)
    assert done.status_code == 201 and done.json()["user"]["email"] == email
    again = second_step(base_url, tenant.slug, first["challenge"], assertion)
    assert again.status_code == 401 and again.json()["error"] == "challenge_refused"

    # Quinn has a TOTP factor; Pia's passkey, asked for Quinn's challenge, is not Quinn's
    quinn = add_user(tenant.slug, "quinn@example.com", password=PASSWORD)
    mine = {"Authorization": f"Bearer {login(testapp, tenant.slug, 'quinn@example.com')}"}
    secret = testapp.post(f"/{tenant.slug}/users/{quinn['id']}/totp", headers=mine).json["secret"]
    code = {"code": pyotp.TOTP(secret).now()}
    testapp.put_json(f"/{tenant.slug}/users/{quinn['id']}/totp", code, headers=mine)
    theirs = password_step(base_url, tenant.slug, "quinn@example.com")
    assert "passkey" not in theirs  # Quinn has none
    options = dict(first["passkey"])
    options["challenge"] = bytes_to_base64url(webauthn_challenge(theirs["challenge"]))
    borrowed = page.evaluate(ASSERT, options)
    refused = second_step(base_url, tenant.slug, theirs["challenge"], borrowed)
    assert refused.status_code == 401 and refused.json()["error"] == "wrong_code"
