"""The in-process caches: a change made anywhere reaches every app process within a second."""

import time
import urllib.error
import urllib.request

import pytest
import sqlalchemy as sa

from tenantapp.interfaces import ICacheListener, ITenantDirectory, service
from tenantapp.testing import TEST_KEYS
from tests.conftest import OPERATOR_TOKEN, PASSWORD, login
from tests.server.test_pserve import Pserve, free_port


def serving_ini(path, database_url: str, app: str = "", server: str = ""):
    """An ini for a pserve process serving the test database (more app and server lines)."""
    path.write_text(
        "[app:main]\nuse = egg:tenantapp\ntenantapp.embedded_database = false\n"
        f"sqlalchemy.url = {database_url.replace('%', '%%')}\n"
        f"tenantapp.operator_token = {OPERATOR_TOKEN}\n"
        f"tenantapp.encryption.keys = {TEST_KEYS['tenantapp.encryption.keys']}\n{app}"
        f"[server:main]\nuse = egg:tenantapp#main\nlisten = 127.0.0.1:6543\n{server}" + LOGGING
    )
    return path


LOGGING = """
[loggers]
keys = root
[handlers]
keys = console
[formatters]
keys = plain
[logger_root]
level = INFO
handlers = console
[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = plain
[formatter_plain]
format = %(message)s
"""


def status_of(url: str, token: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture
def second_process(tmp_path, database_url):
    """Another app process on the same database, as a second pserve would be in production."""
    ini = serving_ini(tmp_path / "second.ini", database_url)
    server = Pserve(ini, free_port()).start()
    assert seconds_until_listening(server) < 10
    yield server
    server.stop()


def seconds_until_listening(server: Pserve, limit: float = 10.0) -> float:
    """Caches fill only once the process's listener is connected, moments after start-up."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if server.call("/-/stats", token=OPERATOR_TOKEN)["caches"]["tenants"]["trusted"]:
            return time.monotonic() - started
    return limit


def served_from_memory(server: Pserve, cache: str) -> bool:
    stats = server.call("/-/stats", token=OPERATOR_TOKEN)["caches"][cache]
    return stats["trusted"] and stats["hits"] >= 1 and stats["size"] >= 1


def asked_until_served_from_memory(server: Pserve, url: str, token: str) -> float:
    """Ask until the token's owner comes from the second process's memory; how long it took."""
    started = time.monotonic()
    while time.monotonic() - started < 5.0:
        if status_of(url, token) == 200 and served_from_memory(server, "token_owners"):
            break
    return time.monotonic() - started


def ask_twice(url: str, token: str) -> None:
    """The first answer fills the second process's caches, the second comes from them."""
    assert [status_of(url, token), status_of(url, token)] == [200, 200]


def seconds_until(url: str, token: str, status: int, limit: float = 3.0) -> float:
    """Ask until the answer is ``status``; how long that took (``limit`` if it never was)."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if status_of(url, token) == status:
            return time.monotonic() - started
    return limit


def test_a_suspension_takes_effect_on_a_second_process_within_a_second(
    engine, tenant, second_process, tenancy
):
    url = f"{second_process.url}/{tenant.slug}/users"
    ask_twice(url, tenant.token)
    assert served_from_memory(second_process, "tenants")

    tenancy.set_status(tenant.slug, "suspended")
    assert seconds_until(url, tenant.token, 403) < 1.0


def test_a_rename_takes_effect_on_a_second_process_within_a_second(
    engine, tenant, fresh_slug, second_process, tenancy
):
    old_url = f"{second_process.url}/{tenant.slug}/users"
    ask_twice(old_url, tenant.token)

    tenancy.rename_tenant(tenant.slug, fresh_slug)
    try:
        assert seconds_until(old_url, tenant.token, 404) < 1.0
        assert status_of(f"{second_process.url}/{fresh_slug}/users", tenant.token) == 200
    finally:
        tenancy.rename_tenant(fresh_slug, tenant.slug)


def test_a_dropped_tenant_is_gone_from_a_second_process_within_a_second(
    engine, tenant, second_process, tenancy
):
    url = f"{second_process.url}/{tenant.slug}/users"
    ask_twice(url, tenant.token)

    tenancy.archive_tenant(tenant.slug)
    assert seconds_until(url, tenant.token, 404) < 1.0


def test_a_revoked_token_stops_working_on_a_second_process_within_a_second(
    testapp, tenant, second_process
):
    url = f"{second_process.url}/{tenant.slug}/users"
    ask_twice(url, tenant.token)
    assert asked_until_served_from_memory(second_process, url, tenant.token) < 2.0

    testapp.delete(f"/{tenant.slug}/tokens", headers=tenant.auth, status=204)
    assert seconds_until(url, tenant.token, 401) < 1.0


def test_a_demotion_takes_effect_on_a_second_process_within_a_second(
    testapp, tenant, add_user, second_process
):
    admin = add_user(tenant.slug, "boss@example.com", "Boss", password=PASSWORD)
    role_url = f"/{tenant.slug}/users/{admin['id']}/role"
    testapp.put_json(role_url, {"role": "admin"}, headers=tenant.auth)
    token = login(testapp, tenant.slug, "boss@example.com")
    url = f"{second_process.url}/{tenant.slug}/audit"
    ask_twice(url, token)

    testapp.put_json(role_url, {"role": "member"}, headers=tenant.auth)
    assert seconds_until(url, token, 403) < 1.0


def test_a_lost_listener_empties_the_caches_and_comes_back(app, engine, testapp, tenant):
    """Notifications sent while the listener was away are lost: what was cached is dropped."""
    listener = service(app.registry, ICacheListener)
    directory = service(app.registry, ITenantDirectory).cache
    assert listener.connected.wait(10)
    testapp.get(f"/{tenant.slug}/users", headers=tenant.auth)
    assert directory.stats()["size"] >= 1
    lost = listener.backend_pid

    with engine.connect() as connection:
        sql = sa.text("SELECT pg_terminate_backend(:pid, 10000)")
        assert connection.scalar(sql, {"pid": lost})
    started = time.monotonic()
    while listener.backend_pid == lost or not listener.connected.is_set():
        assert time.monotonic() - started < 10, "the listener did not reconnect"
        listener.connected.wait(0.1)
    assert directory.stats() | {"hits": 0, "misses": 0} == {
        "size": 0,
        "capacity": directory.capacity,
        "hits": 0,
        "misses": 0,
        "trusted": True,
    }
