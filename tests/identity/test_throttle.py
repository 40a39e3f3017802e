"""Repeated failed logins per tenant and email get 429 with Retry-After."""

import sqlalchemy as sa

from tests.conftest import PASSWORD, login

WRONG = {"password": "not the password"}


def fail(testapp, tenant, email, times):
    for _ in range(times):
        testapp.post_json(f"/{tenant.slug}/tokens", {"email": email, **WRONG}, status=401)


def test_five_failures_lock_the_email_then_the_window_passes(testapp, tenancy, tenant):
    fail(testapp, tenant, tenant.owner_email, 5)
    body = {"email": tenant.owner_email, "password": PASSWORD}
    response = testapp.post_json(f"/{tenant.slug}/tokens", body, status=429)
    assert response.json["error"] == "too_many_attempts"
    assert 1 <= int(response.headers["Retry-After"]) <= 900
    # time passes: the window started 15 minutes ago
    with tenant.owner_engine(tenancy).begin() as connection:
        connection.execute(
            sa.text(
                f'UPDATE "{tenant.schema_name}".login_throttle '
                "SET window_started_at = now() - interval '901 seconds'"
            )
        )
    login(testapp, tenant.slug, tenant.owner_email)
    # a success clears the count: four more failures do not lock
    fail(testapp, tenant, tenant.owner_email, 4)
    login(testapp, tenant.slug, tenant.owner_email)


def test_the_lock_is_per_email_and_per_tenant(testapp, tenant, other_tenant, add_user):
    fail(testapp, tenant, tenant.owner_email, 5)
    # another email in the same tenant
    add_user(tenant.slug, "second@x.example", "Second", password="second password")
    login(testapp, tenant.slug, "second@x.example", "second password")
    # the same email in another tenant
    add_user(other_tenant.slug, tenant.owner_email, "Same email", password=PASSWORD)
    login(testapp, other_tenant.slug, tenant.owner_email)


def test_unknown_emails_are_throttled_too(testapp, tenant):
    fail(testapp, tenant, "ghost@x.example", 5)
    body = {"email": "ghost@x.example", **WRONG}
    testapp.post_json(f"/{tenant.slug}/tokens", body, status=429)
