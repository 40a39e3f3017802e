"""Defects an attacker would look for: timing, races, inputs that broke the server, Host links."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
import webtest
from argon2 import PasswordHasher, extract_parameters

from tenantapp import main
from tenantapp.identity.passwords import verify_password
from tenantapp.interfaces import ICacheListener, IPasswordHasher, service, singletons
from tests.conftest import OPERATOR_TOKEN, PASSWORD, login
from tests.waiting import wait_for


def test_an_unknown_email_costs_what_a_wrong_password_costs():
    """One argon2 verify either way, against a hash of the same costs: the same work, so the
    same time. Checked by the hashes' parameters, not by a clock (a loaded machine skews one)."""
    verified = []

    class RecordingHasher(PasswordHasher):
        def verify(self, stored_hash, password):
            verified.append(stored_hash)
            return super().verify(stored_hash, password)

    hasher = RecordingHasher(time_cost=2, memory_cost=19_456, parallelism=1)
    assert verify_password(hasher, hasher.hash(PASSWORD), "not the password") is False
    assert verify_password(hasher, None, "not the password") is False
    known, unknown = verified
    assert unknown != known
    assert extract_parameters(unknown) == extract_parameters(known)


class CountingHasher(PasswordHasher):
    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.runs = []

    def hash(self, *args, **kw):
        self.runs.append("hash")
        return super().hash(*args, **kw)

    def verify(self, *args, **kw):
        self.runs.append("verify")
        return super().verify(*args, **kw)


@pytest.mark.parametrize("email", ["nobody@x.example", "known"])
def test_a_failed_login_runs_argon2_exactly_once(app, testapp, tenant, monkeypatch, email):
    hasher = CountingHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setitem(singletons(app.registry), (IPasswordHasher, ""), hasher)
    email = tenant.owner_email if email == "known" else email
    body = {"email": email, "password": "not the password"}
    testapp.post_json(f"/{tenant.slug}/tokens", body, status=401)
    assert hasher.runs == ["verify"]


def test_parallel_wrong_logins_check_no_more_than_the_limit(app, tenant):
    """30 attempts at once for one email: exactly 5 are checked, the rest are throttled."""
    barrier = threading.Barrier(30)
    body = {"email": tenant.owner_email, "password": "not the password"}

    def attempt(_):
        client = webtest.TestApp(app, extra_environ={"HTTP_HOST": "example.com"})
        barrier.wait()
        return client.post_json(f"/{tenant.slug}/tokens", body, expect_errors=True).status_int

    with ThreadPoolExecutor(30) as pool:
        statuses = sorted(pool.map(attempt, range(30)))
    assert statuses == [401] * 5 + [429] * 25


def blocked_backends(engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )


@pytest.mark.parametrize("change", ["delete", "demote"])
def test_two_owners_removing_each_other_at_once_leave_one(
    app, tenancy, testapp, client, tenant, change
):
    users = f"/{tenant.slug}/users"
    first = client.get(users).json["items"][0]
    body = {"email": "second@x.example", "name": "Second", "password": "second password"}
    second = client.post_json(users, body).json
    client.put_json(f"{users}/{second['id']}/role", {"role": "owner"})
    second_auth = {
        "Authorization": f"Bearer {login(testapp, tenant.slug, body['email'], body['password'])}"
    }

    def remove(target, auth):
        url = f"{users}/{target['id']}"
        if change == "delete":
            return testapp.delete(url, headers=auth, expect_errors=True).status_int
        return testapp.put_json(
            f"{url}/role", {"role": "member"}, headers=auth, expect_errors=True
        ).status_int

    # Hold the owners' rows so that both requests are in flight before either may go on.
    schema, where = tenant.schema_name, tenant.where()
    engine = tenant.owner_engine(tenancy)
    with engine.connect() as holder, ThreadPoolExecutor(2) as pool:
        holder.execute(sa.text(f'SELECT id FROM "{schema}".users{where} FOR UPDATE'))
        results = [
            pool.submit(remove, second, tenant.auth),
            pool.submit(remove, first, second_auth),
        ]
        wait_for(lambda: blocked_backends(engine) == 2)
        holder.rollback()
        statuses = sorted(future.result() for future in results)
    assert statuses[1] == 409
    assert statuses[0] in (200, 204)
    with engine.connect() as connection:
        owners = connection.scalar(
            sa.text(
                f'SELECT count(*) FROM "{schema}".users{where or " WHERE true"}'
                " AND role = 'owner'"
            )
        )
    assert owners == 1


@pytest.mark.parametrize(
    "path",
    [
        "/users/" + "9" * 5000,
        "/users?limit=" + "9" * 5000,
        "/users?after=" + "9" * 5000,
        "/users?limit=%ff",
        "/users?after=%ff%fe",
        "/audit?after=" + "1" * 5000,
        "/users/" + "1" * 5000 + "/role",
    ],
)
def test_huge_numbers_and_undecodable_queries_are_4xx(client, tenant, path):
    response = client.get(f"/{tenant.slug}{path}", expect_errors=True)
    assert response.status_int in (400, 404)
    assert response.content_type == "application/json"


def test_every_bad_query_parameter_is_named(client, tenant):
    response = client.get(f"/{tenant.slug}/users?limit=0&after=x", status=400)
    assert set(response.json["fields"]) == {"limit", "after"}


@pytest.mark.parametrize("email", ["İ" * 200, "İ" * 127 + "@x.example"])
def test_emails_that_grow_when_lowered_are_400(testapp, client, tenant, email):
    response = testapp.post_json(
        f"/{tenant.slug}/tokens", {"email": email, "password": "x"}, status=400
    )
    assert "email" in response.json["fields"]
    response = client.post_json(f"/{tenant.slug}/users", {"email": email, "name": "x"}, status=400)
    assert "email" in response.json["fields"]


def test_a_failed_login_says_how_to_authenticate(testapp, tenant):
    body = {"email": tenant.owner_email, "password": "not the password"}
    response = testapp.post_json(f"/{tenant.slug}/tokens", body, status=401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_links_never_come_from_the_host_header(client, tenant, add_user):
    for i in range(3):
        add_user(tenant.slug, f"u{i}@x.example")
    evil = {"Host": "evil.example"}
    page = client.get(f"/{tenant.slug}/users?limit=1", headers=evil).json
    assert page["next"].startswith(f"/{tenant.slug}/users?")
    created = client.post_json(
        f"/{tenant.slug}/users", {"email": "n@x.example", "name": "n"}, headers=evil
    )
    assert created.location == f"/{tenant.slug}/users/{created.json['id']}"
    assert "evil" not in client.get(f"/{tenant.slug}", headers=evil).text


def test_a_public_url_makes_links_absolute(settings, fresh_slug):
    app = main({}, **{**settings, "tenantapp.public_url": "https://api.example.com/"})
    try:
        client = webtest.TestApp(app, extra_environ={"HTTP_HOST": "evil.example"})
        client.authorization = ("Bearer", OPERATOR_TOKEN)
        response = client.post_json("/-/tenants", {"slug": fresh_slug}, status=201)
        assert response.location == f"https://api.example.com/-/tenants/{fresh_slug}"
    finally:
        service(app.registry, ICacheListener).stop()


def test_a_new_password_revokes_the_users_other_tokens(testapp, client, tenant, add_user):
    users = f"/{tenant.slug}/users"
    user = add_user(tenant.slug, "pw@x.example", password="first password")
    phone = {
        "Authorization": f"Bearer {login(testapp, tenant.slug, 'pw@x.example', 'first password')}"
    }
    laptop = {
        "Authorization": f"Bearer {login(testapp, tenant.slug, 'pw@x.example', 'first password')}"
    }
    body = {"password": "second password"}
    testapp.put_json(f"{users}/{user['id']}/password", body, headers=laptop, status=204)
    testapp.get(users, headers=laptop, status=200)  # the token that changed it stays
    testapp.get(users, headers=phone, status=401)
    # an owner setting it ends every session of that user
    client.put_json(f"{users}/{user['id']}/password", {"password": "third password"}, status=204)
    testapp.get(users, headers=laptop, status=401)
    client.get(users, status=200)


def test_admins_set_members_passwords_as_readme_says(testapp, client, tenant, add_user):
    users = f"/{tenant.slug}/users"
    admin = add_user(tenant.slug, "adm@x.example", password="admin password")
    client.put_json(f"{users}/{admin['id']}/role", {"role": "admin"})
    member = add_user(tenant.slug, "mem@x.example", password="member password")
    auth = {
        "Authorization": f"Bearer {login(testapp, tenant.slug, 'adm@x.example', 'admin password')}"
    }
    body = {"password": "set by admin"}
    testapp.put_json(f"{users}/{member['id']}/password", body, headers=auth, status=204)
    login(testapp, tenant.slug, "mem@x.example", "set by admin")
    owner_id = client.get(users).json["items"][0]["id"]
    testapp.put_json(f"{users}/{owner_id}/password", body, headers=auth, status=403)
