"""The web console over HTTP: its cookie is a credential on console pages only, every change
needs the CSRF token, and its permissions are the API's. (Its pages in a real browser:
``test_console_browser``.)"""

import re
from urllib.parse import urlencode

import pytest
import webtest

from tests.conftest import OPERATOR_TOKEN, PASSWORD

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def browser(app) -> webtest.TestApp:
    return webtest.TestApp(app, extra_environ={"HTTP_HOST": "example.com"})


def csrf_of(page) -> str:
    return CSRF.search(page.text).group(1)


def console_login(app, slug: str, email: str, password: str = PASSWORD) -> webtest.TestApp:
    client = browser(app)
    form = client.get(f"/{slug}/console/login")
    fields = {"email": email, "password": password, "csrf_token": csrf_of(form)}
    done = client.post(f"/{slug}/console/login", fields, status=303)
    assert done.location.endswith(f"/{slug}/console/users")
    return client


def operator_login(app) -> webtest.TestApp:
    client = browser(app)
    form = client.get("/-/console/login")
    fields = {"token": OPERATOR_TOKEN, "csrf_token": csrf_of(form)}
    client.post("/-/console/login", fields, status=303)
    return client


def test_a_stranger_is_sent_to_log_in(testapp, tenant):
    answer = testapp.get(f"/{tenant.slug}/console/users", status=303)
    assert answer.location.endswith(f"/{tenant.slug}/console/login")
    answer = testapp.get(f"/{tenant.slug}/console/users/1", status=303)  # nothing learnt
    assert answer.location.endswith(f"/{tenant.slug}/console/login")


def test_an_owner_logs_in_and_the_cookie_is_kept_to_the_console(app, tenant):
    client = console_login(app, tenant.slug, tenant.owner_email)
    cookie = next(c for c in client.cookiejar if c.name == "tenantapp_console")
    assert cookie.path == f"/{tenant.slug}/console"
    assert cookie.has_nonstandard_attr("HttpOnly")
    page = client.get(f"/{tenant.slug}/console/users")
    assert tenant.owner_email in page.text
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    # the same token as a cookie on the JSON API is no credential: no CSRF there to guard it
    client.set_cookie("tenantapp_console", cookie.value)
    client.get(f"/{tenant.slug}/users", status=401)


def test_a_wrong_password_is_refused_on_the_page_and_audited(app, tenant, testapp):
    client = browser(app)
    form = client.get(f"/{tenant.slug}/console/login")
    fields = {"email": tenant.owner_email, "password": "wrong", "csrf_token": csrf_of(form)}
    answer = client.post(f"/{tenant.slug}/console/login", fields, status=401)
    assert "email or password is wrong" in answer.text
    assert not any(c.name == "tenantapp_console" for c in client.cookiejar)
    entries = testapp.get(f"/{tenant.slug}/audit", headers=tenant.auth).json["items"]
    assert entries[0]["action"] == "login.failed"


def test_every_change_needs_the_csrf_token(app, tenant, testapp):
    client = console_login(app, tenant.slug, tenant.owner_email)
    body = {"email": "forged@example.com", "name": "Forged"}
    answer = client.post(f"/{tenant.slug}/console/users", body, status=400)
    assert "expired" in answer.text
    body["csrf_token"] = "not-the-token"
    client.post(f"/{tenant.slug}/console/users", body, status=400)
    users = testapp.get(f"/{tenant.slug}/users", headers=tenant.auth).json["items"]
    assert [u["email"] for u in users] == [tenant.owner_email]


def test_an_owner_adds_a_user_and_changes_a_role_as_the_api_would(app, tenant, testapp):
    client = console_login(app, tenant.slug, tenant.owner_email)
    token = csrf_of(client.get(f"/{tenant.slug}/console/users"))
    body = {"email": "New@Example.com", "name": "New", "csrf_token": token}
    client.post(f"/{tenant.slug}/console/users", body, status=303)
    users = testapp.get(f"/{tenant.slug}/users", headers=tenant.auth).json["items"]
    new = next(u for u in users if u["email"] == "new@example.com")  # as the API stores it
    row = client.post(
        f"/{tenant.slug}/console/users/{new['id']}/role",
        {"role": "admin", "csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert row.text.lstrip().startswith(f'<tr id="user-{new["id"]}"')
    user = testapp.get(f"/{tenant.slug}/users/{new['id']}", headers=tenant.auth).json
    assert user["role"] == "admin"
    actions = [
        e["action"] for e in testapp.get(f"/{tenant.slug}/audit", headers=tenant.auth).json["items"]
    ]
    assert actions[:2] == ["user.role_changed", "user.created"]


def test_a_bad_form_says_what_is_wrong_and_keeps_nothing(app, tenant, testapp):
    client = console_login(app, tenant.slug, tenant.owner_email)
    token = csrf_of(client.get(f"/{tenant.slug}/console/users"))
    body = {"email": "not an email", "name": "X", "csrf_token": token}
    answer = client.post(f"/{tenant.slug}/console/users", body, status=400)
    assert "invalid fields" in answer.text and "not an email" in answer.text
    body = {"email": tenant.owner_email, "name": "Twin", "csrf_token": token}
    answer = client.post(f"/{tenant.slug}/console/users", body, status=409)
    assert "already exists" in answer.text
    users = testapp.get(f"/{tenant.slug}/users", headers=tenant.auth).json["items"]
    assert len(users) == 1


def test_the_last_owner_cannot_be_demoted_from_the_console_either(app, tenant):
    client = console_login(app, tenant.slug, tenant.owner_email)
    page = client.get(f"/{tenant.slug}/console/users")
    owner_id = re.search(r'<tr id="user-(\d+)"', page.text).group(1)
    row = client.post(
        f"/{tenant.slug}/console/users/{owner_id}/role",
        {"role": "member", "csrf_token": csrf_of(page)},
        headers={"HX-Request": "true"},
        status=409,
    )
    assert "at least one owner" in row.text
    assert 'value="owner" selected' in row.text  # the row shows the role it kept


@pytest.mark.parametrize("role", ["member", "admin"])
def test_the_console_allows_what_the_api_allows_and_no_more(app, tenant, add_user, role, testapp):
    other = add_user(tenant.slug, "other@example.com")
    me = add_user(tenant.slug, f"{role}@example.com", password=PASSWORD)
    testapp.put_json(f"/{tenant.slug}/users/{me['id']}/role", {"role": role}, headers=tenant.auth)
    client = console_login(app, tenant.slug, f"{role}@example.com")
    page = client.get(f"/{tenant.slug}/console/users")
    token = csrf_of(page)
    can_manage = role == "admin"
    assert ("Add a user" in page.text) is can_manage
    add = {"email": "x@example.com", "name": "X", "csrf_token": token}
    client.post(f"/{tenant.slug}/console/users", add, status=303 if can_manage else 403)
    # nobody but an owner sets roles, as PUT /users/{id}/role
    role_change = {"role": "owner", "csrf_token": token}
    client.post(f"/{tenant.slug}/console/users/{other['id']}/role", role_change, status=403)
    client.get(f"/{tenant.slug}/console/audit", status=200 if can_manage else 403)
    client.post(
        f"/{tenant.slug}/console/settings", {"theme": "dark", "csrf_token": token}, status=403
    )


def test_an_owner_changes_settings_and_fields(app, tenant, testapp):
    client = console_login(app, tenant.slug, tenant.owner_email)
    token = csrf_of(client.get(f"/{tenant.slug}/console/settings"))
    client.post(f"/{tenant.slug}/console/settings", {"theme": "dark", "csrf_token": token})
    settings = testapp.get(f"/{tenant.slug}/settings", headers=tenant.auth).json["settings"]
    assert settings["theme"] == "dark"
    answer = client.post(
        f"/{tenant.slug}/console/settings", {"theme": "purple", "csrf_token": token}, status=400
    )
    assert "settings.theme" in answer.text or "Input should be" in answer.text
    field = {"name": "plan", "type": "choice", "choices": "free, pro", "csrf_token": token}
    client.post(f"/{tenant.slug}/console/fields", field, status=303)
    fields = testapp.get(f"/{tenant.slug}/fields", headers=tenant.auth).json["items"]
    assert fields == [
        {
            "name": "plan",
            "type": "choice",
            "required": False,
            "choices": ["free", "pro"],
            "sealed": False,
            "indexed": False,
            "index": None,
        }
    ]
    client.post(f"/{tenant.slug}/console/fields/plan/delete", {"csrf_token": token}, status=303)
    assert testapp.get(f"/{tenant.slug}/fields", headers=tenant.auth).json["items"] == []


def test_logging_out_revokes_the_token(app, tenant):
    client = console_login(app, tenant.slug, tenant.owner_email)
    token = next(c.value for c in client.cookiejar if c.name == "tenantapp_console")
    page = client.get(f"/{tenant.slug}/console/users")
    client.post(f"/{tenant.slug}/console/logout", {"csrf_token": csrf_of(page)}, status=303)
    browser(app).get(
        f"/{tenant.slug}/users", headers={"Authorization": f"Bearer {token}"}, status=401
    )


def test_one_tenants_cookie_is_nothing_in_another(app, tenant, other_tenant):
    client = console_login(app, tenant.slug, tenant.owner_email)
    token = next(c.value for c in client.cookiejar if c.name == "tenantapp_console")
    stranger = browser(app)
    stranger.set_cookie("tenantapp_console", token)
    stranger.get(f"/{other_tenant.slug}/console/users", status=303)  # to its login page


def test_the_operator_creates_suspends_and_archives_a_tenant(app, fresh_slug, testapp):
    client = operator_login(app)
    page = client.get("/-/console/")
    token = csrf_of(page)
    body = {"slug": fresh_slug, "name": "Fresh", "owner_email": "boss@fresh.example"}
    made = client.post("/-/console/", {**body, "csrf_token": token}, status=201)
    password = re.search(r'<code class="secret">([^<]+)</code>', made.text).group(1)
    login = {"email": "boss@fresh.example", "password": password}
    testapp.post_json(f"/{fresh_slug}/tokens", login, status=201)  # the password shown works
    again = client.post("/-/console/", {**body, "csrf_token": token}, status=409)
    assert "taken" in again.text or "exists" in again.text
    row = client.post(
        f"/-/console/{fresh_slug}/suspend", {"csrf_token": token}, headers={"HX-Request": "true"}
    )
    assert "suspended" in row.text
    testapp.get(f"/{fresh_slug}/", status=403)
    client.post(f"/-/console/{fresh_slug}/archive", {"csrf_token": token}, status=303)
    page = client.get(f"/-/console/{fresh_slug}")
    assert '<span class="badge archived">archived</span>' in page.text
    assert "Restore</button>" in page.text
    testapp.get(f"/{fresh_slug}/", status=404)
    client.post(f"/-/console/{fresh_slug}/restore", {"csrf_token": token}, status=303)
    assert '<span class="badge active">active</span>' in client.get(f"/-/console/{fresh_slug}").text


def test_the_operator_console_wants_the_operator_token(app, tenant):
    client = browser(app)
    client.get("/-/console/", status=303)
    form = client.get("/-/console/login")
    answer = client.post(
        "/-/console/login", {"token": "x" * 40, "csrf_token": csrf_of(form)}, status=401
    )
    assert "not the operator token" in answer.text
    # a tenant owner's console cookie is nothing here
    owner = console_login(app, tenant.slug, tenant.owner_email)
    token = next(c.value for c in owner.cookiejar if c.name == "tenantapp_console")
    client.set_cookie("tenantapp_console", token)
    client.get("/-/console/", status=303)


def test_the_console_assets_are_served_from_the_package(testapp):
    script = testapp.get("/-/static/htmx.min.js")
    assert script.content_type in ("text/javascript", "application/javascript")
    assert b"htmx" in script.body[:200]


def test_the_operator_sets_a_tenants_flags_and_its_owner_sees_them(app, tenant, testapp):
    operator = operator_login(app)
    token = csrf_of(operator.get(f"/-/console/{tenant.slug}"))
    change = {"flag.new_dashboard": "true", "setting.theme": "dark", "csrf_token": token}
    operator.post(f"/-/console/{tenant.slug}/settings", change, status=303)
    seen = testapp.get(f"/{tenant.slug}/settings", headers=tenant.auth).json
    assert seen["flags"]["new_dashboard"] is True and seen["settings"]["theme"] == "dark"
    wrong = {"setting.max_upload_mb": "lots", "csrf_token": token}
    page = operator.post(f"/-/console/{tenant.slug}/settings", wrong, status=400)
    assert "max_upload_mb" in page.text
    assert (
        testapp.get(f"/{tenant.slug}/settings", headers=tenant.auth).json["settings"][
            "max_upload_mb"
        ]
        == 10
    )  # nothing of the refused change kept
    owner = console_login(app, tenant.slug, tenant.owner_email)
    shown = owner.get(f"/{tenant.slug}/console/settings").text
    assert '<span class="badge on">on</span> new_dashboard' in shown
    assert 'name="flag.' not in shown  # flags are the operator's, as in the API


def test_an_unknown_tenants_console_is_a_page_not_json(app):
    answer = browser(app).get("/nosuch-tenant/console/", status=404)
    assert answer.content_type == "text/html"
    assert "there is no such tenant" in answer.text


def test_the_operator_sets_bools_and_choices_with_selects_and_sees_on_off(app, tenant):
    operator = operator_login(app)
    page = operator.get(f"/-/console/{tenant.slug}").text
    assert '<select id="setting-allow_impersonation" name="setting.allow_impersonation">' in page
    assert '<select id="setting-theme" name="setting.theme">' in page
    assert ">True<" not in page and ">False<" not in page


def test_the_header_names_the_user_by_email(app, tenant):
    client = console_login(app, tenant.slug, tenant.owner_email)
    page = client.get(f"/{tenant.slug}/console/users").text
    assert f'<span class="who">{tenant.owner_email}</span>' in page


def test_the_api_page_wears_the_consoles_stylesheet(testapp):
    page = testapp.get("/openapi.html", status=200)
    assert "/-/static/console.css" in page.text
    assert "style-src 'self'" in page.headers["Content-Security-Policy"]


def test_the_field_form_says_what_a_name_is(app, tenant):
    client = console_login(app, tenant.slug, tenant.owner_email)
    page = client.get(f"/{tenant.slug}/console/fields").text
    assert 'title="a lowercase letter, then lowercase letters, digits or _ (63 at most)"' in page


def test_the_users_table_shows_custom_values_and_edits_name_and_email(app, tenant, testapp):
    testapp.post_json(
        f"/{tenant.slug}/fields", {"name": "plan", "type": "text"}, headers=tenant.auth, status=201
    )
    made = testapp.post_json(
        f"/{tenant.slug}/users",
        {"email": "old@c.example", "name": "Old", "custom": {"plan": "gold"}},
        headers=tenant.auth,
        status=201,
    ).json
    client = console_login(app, tenant.slug, tenant.owner_email)
    page = client.get(f"/{tenant.slug}/console/users")
    assert "<th>plan</th>" in page.text and "<td>gold</td>" in page.text
    row = f"/{tenant.slug}/console/users/{made['id']}"
    change = {"email": "new@c.example", "name": "New", "csrf_token": csrf_of(page)}
    client.post(f"{row}/edit", change, status=303)
    user = testapp.get(f"/{tenant.slug}/users/{made['id']}", headers=tenant.auth).json
    assert (user["email"], user["name"], user["custom"]) == (
        "new@c.example",
        "New",
        {"plan": "gold"},
    )
    taken = {"email": tenant.owner_email, "name": "New", "csrf_token": csrf_of(page)}
    assert client.post(f"{row}/edit", taken, status=409).status_int == 409


WRITES = re.compile(r"^\s*(INSERT|UPDATE|DELETE|MERGE|CREATE|ALTER|DROP|TRUNCATE)\b", re.I)


def test_no_console_page_writes_on_a_get(app, tenant, add_user):
    """Reading a page changes nothing: every GET of both consoles runs no write statement
    (logging in is a POST; a GET may be repeated or prefetched by the browser). The usage
    ledger's flush (usage and statements) is left out: it meters every request, GET or not,
    batched across them."""
    import threading

    import sqlalchemy as sa

    add_user(tenant.slug, "someone@example.com")
    owner = console_login(app, tenant.slug, tenant.owner_email)
    operator = operator_login(app)
    console, tenant_page = f"/{tenant.slug}/console", f"/-/console/{tenant.slug}"
    asked = urlencode(
        {"principal": tenant.owner_email, "action": "view", "resource": "someone@example.com"}
    )
    pages = [
        (owner, f"{console}/users"),
        (owner, f"{console}/users?after=1"),
        (owner, f"{console}/fields"),
        (owner, f"{console}/settings"),
        (owner, f"{console}/audit"),
        (owner, f"{console}/security"),
        (owner, f"{console}/sign-in"),
        (owner, f"{console}/directory"),
        (owner, f"{console}/policies"),
        (owner, f"{console}/policies?{asked}"),
        (owner, f"{console}/login"),
        (owner, console),
        (operator, "/-/console"),
        (operator, "/-/console/login"),
        (operator, tenant_page),
    ]
    here, written = threading.get_ident(), []

    def record(conn, cursor, statement, parameters, context, executemany):
        metering = any(t in statement for t in ("tenant_usage", "statement"))  # the ledger's
        if threading.get_ident() == here and WRITES.match(statement) and not metering:
            written.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    try:
        for client, url in pages:
            assert client.get(url).status_int in (200, 303), url
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)
    assert written == []
