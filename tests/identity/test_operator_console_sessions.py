"""The operator console logs in with a session of its own: its cookie is never the operator
token, logout and expiry end it at once, and failed logins are throttled."""

import sqlalchemy as sa
import webtest

from tests.conftest import OPERATOR_TOKEN
from tests.console.test_console import csrf_of

COOKIE = "tenantapp_console"


def browser(app, address: str) -> webtest.TestApp:
    return webtest.TestApp(app, extra_environ={"HTTP_HOST": "example.com", "REMOTE_ADDR": address})


def log_in(client: webtest.TestApp, token: str = OPERATOR_TOKEN, status: int = 303):
    form = client.get("/-/console/login")
    fields = {"token": token, "csrf_token": csrf_of(form)}
    return client.post("/-/console/login", fields, status=status)


def cookie(client: webtest.TestApp) -> str:
    return next(c.value for c in client.cookiejar if c.name == COOKIE)


def test_the_cookie_is_a_session_that_logout_revokes_everywhere(app):
    client = browser(app, "192.0.2.10")
    log_in(client)
    session = cookie(client)
    assert session != OPERATOR_TOKEN and OPERATOR_TOKEN not in session
    copy = browser(app, "192.0.2.11")
    copy.set_cookie(COOKIE, session)
    copy.get("/-/console/", status=200)
    # the session opens the console, never the operator API
    copy.get("/-/tenants", headers={"Authorization": f"Bearer {session}"}, status=401)

    client.post("/-/console/logout", {"csrf_token": csrf_of(client.get("/-/console/"))}, status=303)
    copy.get("/-/console/", status=303)  # the copied cookie opens nothing any more


def test_an_expired_session_opens_nothing(app, engine):
    client = browser(app, "192.0.2.20")
    log_in(client)
    client.get("/-/console/", status=200)
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE tenantapp.operator_sessions SET expires_at = now() - interval '1 s'")
        )
    answer = client.get("/-/console/", status=303)
    assert answer.location.endswith("/-/console/login")


def test_failed_logins_are_throttled_per_address(app):
    guesser = browser(app, "192.0.2.30")
    for _ in range(5):
        log_in(guesser, "x" * 40, status=401)
    refused = log_in(guesser, OPERATOR_TOKEN, status=429)  # even the right token, for now
    assert int(refused.headers["Retry-After"]) > 0
    assert "too many failed logins" in refused.text
    log_in(browser(app, "192.0.2.31"))  # another address is not held back
