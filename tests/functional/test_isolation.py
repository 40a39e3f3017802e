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


def test_every_endpoint_of_tenant_b_answers_404_or_empty_for_data_of_a(
    testapp, tenant, other_tenant, add_user
):
    a, b = tenant.slug, other_tenant.slug
    user = add_user(a, "secret@a.example", "Secret")
    url_b = f"/{b}/users/{user['id']}"

    assert testapp.get(f"/{b}/users").json["items"] == []
    testapp.get(url_b, status=404)
    testapp.patch_json(url_b, {"name": "Hijacked"}, status=404)
    testapp.delete(url_b, status=404)
    # the same email is free in b, and b's user with the same id is b's own
    mine = add_user(b, "secret@a.example", "B's own")
    assert mine["id"] == user["id"]
    assert testapp.get(url_b).json["name"] == "B's own"

    assert testapp.get(f"/{a}/users/{user['id']}").json == user
    assert [u["name"] for u in testapp.get(f"/{a}/users").json["items"]] == ["Secret"]


def test_alternating_tenants_on_a_pool_of_one_connection(settings, tenant, other_tenant):
    app = main({}, **settings, **{"sqlalchemy.pool_size": "1", "sqlalchemy.max_overflow": "0"})
    engine = app.registry["dbengine"]
    connects = []
    sa.event.listen(engine, "connect", lambda *args: connects.append(1))
    client = webtest.TestApp(app, extra_environ={"HTTP_HOST": "example.com"})
    try:
        for i in range(6):
            for slug in (tenant.slug, other_tenant.slug):
                client.post_json(f"/{slug}/users", {"email": f"u{i}@{slug}.example", "name": slug})
                items = client.get(f"/{slug}/users", {"limit": 200}).json["items"]
                assert len(items) == i + 1
                assert {u["name"] for u in items} == {slug}
                for user in items:
                    assert client.get(f"/{slug}/users/{user['id']}").json == user
        assert len(connects) == 1
        with engine.connect() as connection:
            assert connection.scalar(sa.text("SHOW search_path")) == '"$user", public'
    finally:
        engine.dispose()


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - loopback only
        return json.load(response)


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(  # noqa: S310 - loopback only
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
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
    slugs = [make_tenant(f"c{i}").slug for i in range(4)]
    for slug in slugs:
        for i in range(5):
            add_user(slug, f"seed{i}@{slug}.example", slug)

    def hit(n: int) -> list[str]:
        rng = random.Random(n)
        slug = rng.choice(slugs)
        base = f"{live_server}/{slug}/users"
        if n % 3 == 0:
            created = _post(base, {"email": f"t{n}@{slug}.example", "name": slug})
            payloads = [created, _get(f"{base}/{created['id']}")]
        else:
            listing = _get(f"{base}?limit=200")
            payloads = listing["items"] + [_get(f"{base}/{rng.randint(1, 5)}")]
        return [f"{slug} {p['name']} {p['email']}" for p in payloads]

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = [line for lines in pool.map(hit, range(300)) for line in lines]

    assert len(results) > 300
    for line in results:
        slug, name, email = line.split()
        assert name == slug
        assert email.endswith(f"@{slug}.example")
