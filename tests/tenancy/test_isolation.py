"""Nothing of one tenant is ever visible from another: per endpoint, per connection, per thread."""

import json
import random
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
import webtest
from webtest.http import StopableWSGIServer

from tenantapp import main
from tenantapp.interfaces import IServers, service


def test_every_endpoint_of_tenant_b_answers_404_or_empty_for_data_of_a(
    testapp, tenant, other_tenant, add_user
):
    a, b = tenant.slug, other_tenant.slug
    user = add_user(a, "secret@a.example", "Secret")
    url_b = f"/{b}/users/{user['id']}"
    as_b = other_tenant.auth

    assert [u["email"] for u in testapp.get(f"/{b}/users", headers=as_b).json["items"]] == [
        other_tenant.owner_email
    ]
    testapp.get(url_b, headers=as_b, status=404)
    testapp.patch_json(url_b, {"name": "Hijacked"}, headers=as_b, status=404)
    testapp.delete(url_b, headers=as_b, status=404)
    testapp.put_json(f"{url_b}/role", {"role": "owner"}, headers=as_b, status=404)
    testapp.put_json(f"{url_b}/password", {"password": "x" * 12}, headers=as_b, status=404)
    # the same email is free in b; in schema mode b's user even has the same id
    mine = add_user(b, "secret@a.example", "B's own")
    assert mine["id"] == user["id"] or tenant.mode == "shared"
    assert testapp.get(f"/{b}/users/{mine['id']}", headers=as_b).json["name"] == "B's own"

    as_a = tenant.auth
    assert testapp.get(f"/{a}/users/{user['id']}", headers=as_a).json == user
    names = [u["name"] for u in testapp.get(f"/{a}/users", headers=as_a).json["items"]]
    assert names[1:] == ["Secret"]
    assert "B's own" not in str(testapp.get(f"/{a}/audit", headers=as_a).json)


def test_alternating_tenants_on_a_pool_of_one_connection(settings, tenant, other_tenant):
    app = main({}, **settings, **{"sqlalchemy.pool_size": "1", "sqlalchemy.max_overflow": "0"})
    engine = service(app.registry, IServers).default.serving
    connects = []
    sa.event.listen(engine, "connect", lambda *args: connects.append(1))
    client = webtest.TestApp(app, extra_environ={"HTTP_HOST": "example.com"})
    try:
        for i in range(6):
            for t in (tenant, other_tenant):
                slug, auth = t.slug, t.auth
                body = {"email": f"u{i}@{slug}.example", "name": slug}
                client.post_json(f"/{slug}/users", body, headers=auth)
                items = client.get(f"/{slug}/users", {"limit": 200}, headers=auth).json["items"]
                assert len(items) == i + 2  # with the owner
                assert {u["email"].split("@")[1] for u in items} == {f"{slug}.example"}
                for user in items:
                    assert client.get(f"/{slug}/users/{user['id']}", headers=auth).json == user
        assert len(connects) == 1
        with engine.connect() as connection:
            assert connection.scalar(sa.text("SHOW search_path")) == '"$user", public'
    finally:
        engine.dispose()


def _call(url: str, token: str, body: dict | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data, headers)  # noqa: S310 - loopback only
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.load(response)


@pytest.fixture
def live_server(app):
    server = StopableWSGIServer.create(
        app, host="127.0.0.1", port=0, threads=8, expose_tracebacks=False
    )
    yield f"http://127.0.0.1:{server.effective_port}"
    server.shutdown()


def test_concurrent_requests_to_many_tenants_see_only_their_own_rows(
    live_server, make_tenant, add_user
):
    tenants = {t.slug: t.token for t in (make_tenant(f"c{i}") for i in range(4))}
    slugs = sorted(tenants)
    for slug in slugs:
        for i in range(5):
            add_user(slug, f"seed{i}@{slug}.example", slug)

    def hit(n: int) -> list[str]:
        rng = random.Random(n)
        slug = rng.choice(slugs)
        token = tenants[slug]
        base = f"{live_server}/{slug}/users"
        if n % 3 == 0:
            created = _call(base, token, {"email": f"t{n}@{slug}.example", "name": slug})
            payloads = [created, _call(f"{base}/{created['id']}", token)]
        else:
            listing = _call(f"{base}?limit=200", token)
            some = rng.choice(listing["items"])["id"]
            payloads = listing["items"] + [_call(f"{base}/{some}", token)]
        return [f"{slug} {p['email']}" for p in payloads]

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = [line for lines in pool.map(hit, range(300)) for line in lines]

    assert len(results) > 300
    for line in results:
        slug, email = line.split()
        assert email.endswith(f"@{slug}.example")
