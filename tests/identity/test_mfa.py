"""A second factor (TOTP) and the tenant's policy for it; and the ways around it that must
fail: the second step without a password, a challenge replayed, taken to another tenant, or
guessed at, a code used twice."""

import re
import time

import pyotp
import pytest

from tests.conftest import PASSWORD

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def password_login(testapp, slug: str, email: str, status=(200, 201)):
    body = {"email": email, "password": PASSWORD}
    return testapp.post_json(f"/{slug}/tokens", body, status=status).json


def enrol(testapp, tenant, user_id: int, auth: dict) -> pyotp.TOTP:
    url = f"/{tenant.slug}/users/{user_id}/totp"
    secret = testapp.post(url, headers=auth).json["secret"]
    totp = pyotp.TOTP(secret)
    codes = testapp.put_json(url, {"code": totp.now()}, headers=auth).json["recovery_codes"]
    assert len(codes) == 10
    totp.recovery_codes = codes
    return totp


def next_code(totp: pyotp.TOTP) -> str:
    """The code of the next time step (accepted: a step either side is, for clock drift)."""
    return totp.at(time.time() + totp.interval)


@pytest.fixture
def member(testapp, tenant, add_user):
    user = add_user(tenant.slug, "mo@example.com", password=PASSWORD)
    token = password_login(testapp, tenant.slug, "mo@example.com")["token"]
    return user, {"Authorization": f"Bearer {token}"}


def test_a_user_with_a_factor_gets_a_token_only_after_a_code(testapp, tenant, member):
    user, auth = member
    totp = enrol(testapp, tenant, user["id"], auth)
    first = password_login(testapp, tenant.slug, "mo@example.com")
    assert "token" not in first and first["second_factor"] == "verify"
    url = f"/{tenant.slug}/tokens/second-factor"
    done = testapp.post_json(url, {"challenge": first["challenge"], "code": next_code(totp)})
    assert done.status_int == 201 and done.json["user"]["id"] == user["id"]
    testapp.get(f"/{tenant.slug}/users", headers={"Authorization": f"Bearer {done.json['token']}"})
    # the challenge is spent, and the code too (its time step), even with a new challenge
    again = {"challenge": first["challenge"], "code": next_code(totp)}
    assert testapp.post_json(url, again, status=401).json["error"] == "challenge_refused"
    second = password_login(testapp, tenant.slug, "mo@example.com")
    reused = {"challenge": second["challenge"], "code": next_code(totp)}
    assert testapp.post_json(url, reused, status=401).json["error"] == "wrong_code"


def test_a_recovery_code_works_once(testapp, tenant, member):
    user, auth = member
    totp = enrol(testapp, tenant, user["id"], auth)
    url = f"/{tenant.slug}/tokens/second-factor"
    for status in (201, 401):
        step = password_login(testapp, tenant.slug, "mo@example.com")
        body = {"challenge": step["challenge"], "recovery_code": totp.recovery_codes[0]}
        testapp.post_json(url, body, status=status)


def test_the_second_step_cannot_be_skipped_guessed_or_taken_elsewhere(
    testapp, tenant, other_tenant, member
):
    user, auth = member
    totp = enrol(testapp, tenant, user["id"], auth)
    url = f"/{tenant.slug}/tokens/second-factor"
    testapp.post_json(url, {"challenge": "mfa_made-up", "code": "123456"}, status=401)
    step = password_login(testapp, tenant.slug, "mo@example.com")
    elsewhere = f"/{other_tenant.slug}/tokens/second-factor"
    testapp.post_json(
        elsewhere, {"challenge": step["challenge"], "code": next_code(totp)}, status=401
    )
    wrong = str((int(next_code(totp)) + 1) % 1_000_000).zfill(6)
    for _ in range(5):
        testapp.post_json(url, {"challenge": step["challenge"], "code": wrong}, status=401)
    right = {"challenge": step["challenge"], "code": next_code(totp)}
    assert testapp.post_json(url, right, status=401).json["error"] == "challenge_refused"


def test_a_tenant_that_requires_a_factor_has_its_users_set_one_up_on_login(
    testapp, tenant, add_user
):
    add_user(tenant.slug, "ed@example.com", password=PASSWORD)
    testapp.patch_json(
        f"/{tenant.slug}/settings", {"settings": {"mfa_required": "everyone"}}, headers=tenant.auth
    )
    step = password_login(testapp, tenant.slug, "ed@example.com")
    assert step["second_factor"] == "enrol" and "token" not in step
    enrolment = testapp.post_json(
        f"/{tenant.slug}/tokens/enrolment", {"challenge": step["challenge"]}
    ).json
    totp = pyotp.TOTP(enrolment["secret"])
    done = testapp.post_json(
        f"/{tenant.slug}/tokens/second-factor", {"challenge": step["challenge"], "code": totp.now()}
    ).json
    assert done["token"] and len(done["recovery_codes"]) == 10
    assert password_login(testapp, tenant.slug, "ed@example.com")["second_factor"] == "verify"


def test_only_the_user_sets_up_their_factor_and_an_admin_can_turn_a_lost_one_off(
    testapp, tenant, member
):
    user, auth = member
    enrol(testapp, tenant, user["id"], auth)
    owner_id = testapp.get(f"/{tenant.slug}/users", headers=tenant.auth).json["items"][0]["id"]
    testapp.post(f"/{tenant.slug}/users/{owner_id}/totp", headers=tenant.auth)  # their own: fine
    testapp.post(f"/{tenant.slug}/users/{user['id']}/totp", headers=tenant.auth, status=403)
    testapp.delete(f"/{tenant.slug}/users/{user['id']}/totp", headers=tenant.auth, status=204)
    assert "token" in password_login(testapp, tenant.slug, "mo@example.com")


def test_the_console_asks_for_the_code_before_the_cookie(app, testapp, tenant, member):
    import webtest

    user, auth = member
    totp = enrol(testapp, tenant, user["id"], auth)
    browser = webtest.TestApp(app, extra_environ={"HTTP_HOST": "example.com"})
    form = browser.get(f"/{tenant.slug}/console/login")
    fields = {
        "email": "mo@example.com",
        "password": PASSWORD,
        "csrf_token": CSRF.search(form.text).group(1),
    }
    page = browser.post(f"/{tenant.slug}/console/login", fields)
    assert 'name="challenge"' in page.text
    assert not any(c.name == "tenantapp_console" for c in browser.cookiejar)
    challenge = re.search(r'name="challenge" value="([^"]+)"', page.text).group(1)
    step = {
        "challenge": challenge,
        "kind": "verify",
        "code": next_code(totp),
        "csrf_token": CSRF.search(page.text).group(1),
    }
    done = browser.post(f"/{tenant.slug}/console/second-factor", step, status=303)
    assert done.location.endswith(f"/{tenant.slug}/console/users")
    assert "mo@example.com" in browser.get(done.location).text
