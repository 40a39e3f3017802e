"""The web console in a real browser: Debian's chromium, driven by Playwright, against the app
served by waitress on 127.0.0.1. ``TENANTAPP_SCREENSHOTS=docs`` also saves the main pages
(README's pictures)."""

import os
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tenantapp.server import create_api_server
from tests.conftest import OPERATOR_TOKEN, PASSWORD

pytestmark = pytest.mark.slow  # processes, servers or a browser of their own

CHROMIUM_ENV = "TENANTAPP_CHROMIUM"
SHOTS = os.environ.get("TENANTAPP_SCREENSHOTS")


def chromium_path() -> str:
    found = os.environ.get(CHROMIUM_ENV) or shutil.which("chromium")
    assert found, (
        "the console's tests drive Debian's chromium: apt-get install chromium "
        f"(or name another Chromium in {CHROMIUM_ENV})"
    )
    return found


@contextmanager
def served(app, host: str = "127.0.0.1"):
    """``app`` served by waitress on 127.0.0.1 in a thread: its base URL, by ``host``."""
    server = create_api_server(app, listen="127.0.0.1:0", threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://{host}:{server.effective_port}"
    server.close()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def base_url(app):
    with served(app) as url:
        yield url


@pytest.fixture(scope="module")
def chromium():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox"], headless=True
        )
        yield browser
        browser.close()


class Violations(list):
    """What the browser refused by the CSP, or failed on, while a test ran."""

    def watch(self, page):
        page.on("console", lambda m: m.type == "error" and self.append(m.text))
        page.on("pageerror", lambda error: self.append(str(error)))
        return page


@pytest.fixture
def violations():
    return Violations()


@pytest.fixture
def open_page(chromium, base_url, violations):
    contexts = []

    def open_page():
        context = chromium.new_context(base_url=base_url, viewport={"width": 1200, "height": 760})
        contexts.append(context)
        page = violations.watch(context.new_page())
        page.on("dialog", lambda dialog: dialog.accept())  # hx-confirm
        return page

    yield open_page
    for context in contexts:
        context.close()


def shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"console-{name}.png"), full_page=True)


def htmx_swapped(page, action) -> None:
    """``action`` changed the page without loading a new one: htmx swapped a part of it."""
    page.evaluate("window.stillHere = true")
    action()
    page.wait_for_load_state("networkidle")
    assert page.evaluate("window.stillHere") is True


def log_in_as_operator(page) -> None:
    page.goto("/-/console/")
    assert page.url.endswith("/-/console/login")  # sent to log in first
    page.get_by_label("Operator token").fill(OPERATOR_TOKEN)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Tenants")).to_be_visible()


def log_in_to_tenant(page, slug: str, email: str, password: str) -> None:
    page.goto(f"/{slug}/console/users")
    assert page.url.endswith(f"/{slug}/console/login")  # sent to log in first
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Users")).to_be_visible()


def test_an_operator_and_an_owner_run_a_tenant_from_the_console(
    open_page, fresh_slug, violations, testapp
):
    operator = open_page()
    log_in_as_operator(operator)
    assert operator.evaluate("typeof htmx") == "object"  # the script ran under the CSP

    operator.get_by_label("Slug").fill(fresh_slug)
    operator.get_by_label("Name").fill("Fresh Foods")
    operator.get_by_label("Owner's email").fill("boss@fresh.example")
    operator.get_by_role("button", name="Create").click()
    notice = operator.get_by_role("status")
    expect(notice).to_contain_text("shown this once")
    password = operator.locator("code.secret").inner_text()
    row = operator.locator(f"#tenant-{fresh_slug}")
    expect(row).to_contain_text("active")
    shot(operator, "operator-tenants")

    htmx_swapped(operator, lambda: row.get_by_role("button", name="Suspend").click())
    expect(operator.locator(f"#tenant-{fresh_slug}")).to_contain_text("suspended")
    testapp.get(f"/{fresh_slug}/", status=403)  # suspended for real
    htmx_swapped(operator, lambda: row.get_by_role("button", name="Resume").click())
    expect(operator.locator(f"#tenant-{fresh_slug}")).to_contain_text("active")

    row.get_by_role("link", name=fresh_slug, exact=True).click()
    expect(operator.get_by_role("heading", name="Fresh Foods")).to_be_visible()
    expect(operator.get_by_role("heading", name="Settings and flags")).to_be_visible()
    shot(operator, "operator-tenant")

    owner = open_page()
    log_in_to_tenant(owner, fresh_slug, "boss@fresh.example", password)
    adding = owner.locator("form.inline")  # each row has its own edit form too
    adding.get_by_label("Email").fill("ann@fresh.example")
    adding.get_by_label("Name", exact=True).fill("Ann")
    owner.get_by_role("button", name="Add").click()
    ann = owner.locator("tr", has_text="ann@fresh.example")
    expect(ann).to_be_visible()
    htmx_swapped(
        owner, lambda: ann.get_by_label("Role of ann@fresh.example").select_option("admin")
    )
    expect(owner.locator("tr", has_text="ann@fresh.example").locator("select")).to_have_value(
        "admin"
    )
    adding.get_by_label("Email").fill("bob@fresh.example")
    adding.get_by_label("Name", exact=True).fill("Bob")
    owner.get_by_role("button", name="Add").click()
    shot(owner, "users")
    bob = owner.locator("tr", has_text="bob@fresh.example")
    htmx_swapped(owner, lambda: bob.get_by_role("button", name="Delete").click())
    expect(owner.locator("tr", has_text="bob@fresh.example")).to_have_count(0)

    owner.get_by_role("link", name="Custom fields").click()
    owner.get_by_label("Name").fill("plan")
    owner.get_by_label("Type").select_option("choice")
    owner.get_by_label("Choices").fill("free, pro")
    owner.get_by_role("button", name="Define").click()
    expect(owner.locator("#field-plan")).to_contain_text("free, pro")
    shot(owner, "fields")

    owner.get_by_role("link", name="Settings").click()
    owner.get_by_label("theme").select_option("dark")
    owner.get_by_role("button", name="Save").click()
    expect(owner.get_by_label("theme")).to_have_value("dark")
    shot(owner, "settings")

    owner.get_by_role("link", name="Audit log").click()
    log = owner.locator("#audit-rows")
    for action in ("user.created", "user.role_changed", "user.deleted", "field.created"):
        expect(log).to_contain_text(action)
    shot(owner, "audit")

    # what the API says the console did
    token = testapp.post_json(
        f"/{fresh_slug}/tokens", {"email": "boss@fresh.example", "password": password}
    ).json["token"]
    auth = {"Authorization": f"Bearer {token}"}
    users = testapp.get(f"/{fresh_slug}/users", headers=auth).json["items"]
    assert {(u["email"], u["role"]) for u in users} == {
        ("boss@fresh.example", "owner"),
        ("ann@fresh.example", "admin"),
    }
    assert testapp.get(f"/{fresh_slug}/settings", headers=auth).json["settings"]["theme"] == "dark"
    assert violations == []  # nothing refused by the CSP, no script error


def test_a_member_sees_what_a_member_may_do(open_page, tenant, add_user, testapp, violations):
    add_user(tenant.slug, "mia@example.com", name="Mia", password=PASSWORD)
    page = open_page()
    log_in_to_tenant(page, tenant.slug, "mia@example.com", PASSWORD)
    expect(page.get_by_role("heading", name="Add a user")).to_have_count(0)
    expect(page.locator("select[name=role]")).to_have_count(0)
    expect(page.get_by_role("link", name="Audit log")).to_have_count(0)
    page.goto(f"/{tenant.slug}/console/audit")
    expect(page.get_by_role("alert")).to_have_text("your role does not allow this")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name=f"Log in to {tenant.display_name}")).to_be_visible()
    page.goto(f"/{tenant.slug}/console/users")
    assert page.url.endswith(f"/{tenant.slug}/console/login")  # logged out for real
    assert [v for v in violations if "403" not in v] == []


def test_an_owner_runs_the_tenants_identity_from_the_console(
    open_page, tenant, add_user, violations
):
    """Sign-in, Directory, Policies and Security, in the browser under the CSP."""
    add_user(tenant.slug, "ned@example.com", name="Ned")
    page = open_page()
    log_in_to_tenant(page, tenant.slug, tenant.owner_email, PASSWORD)

    page.get_by_role("link", name="Sign-in").click()
    expect(page.get_by_role("heading", name="Identity provider")).to_be_visible()
    page.get_by_label("Domain").fill(f"{tenant.slug}.example")
    page.get_by_role("button", name="Claim").click()
    expect(page.locator(f"#domain-{tenant.slug}\\.example")).to_contain_text("waiting")
    shot(page, "sign-in")

    page.get_by_role("link", name="Directory").click()
    page.get_by_label("For which directory").fill("okta")
    page.get_by_role("button", name="Make a token").click()
    expect(page.get_by_role("status")).to_contain_text("shown this once")
    shot(page, "directory")

    page.get_by_role("link", name="Policies").click()
    page.get_by_label("Policies").fill(
        'forbid(principal, action == Action::"update", resource) when { resource.role == "owner" };'
    )
    page.get_by_role("button", name="Save").click()
    page.get_by_label("May").fill(tenant.owner_email)
    page.get_by_label("do").select_option("update")
    page.get_by_label("to").fill(tenant.owner_email)
    page.get_by_role("button", name="Ask").click()
    expect(page.locator("#decision")).to_contain_text("No: forbidden by policy0")
    shot(page, "policies")

    page.get_by_role("link", name="Security").click()
    expect(page.get_by_role("heading", name="Passkeys")).to_be_visible()
    assert violations == []


def test_a_wrong_password_is_said_on_the_page(open_page, tenant):
    page = open_page()
    page.goto(f"/{tenant.slug}/console/login")
    page.get_by_label("Email").fill(tenant.owner_email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("email or password is wrong")
