"""The cache listener against a server that stops answering, and against repeated outages."""

import socket
import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tenantapp.caching import FIRST_BACKOFF, Listener, NotifiedCache
from tenantapp.interfaces import ICacheListener, service
from tests.waiting import wait_for


class SilentableProxy:
    """A TCP proxy to PostgreSQL that can go silent: sockets stay open, nothing is answered."""

    def __init__(self, database_url: str):
        url = make_url(database_url)
        socket_dir = url.query.get("host")
        if socket_dir:  # the embedded server listens on a Unix socket only
            self.upstream = (socket.AF_UNIX, f"{socket_dir}/.s.PGSQL.{url.port or 5432}")
        else:
            self.upstream = (socket.AF_INET, (url.host, url.port or 5432))
        self.silent = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = url.set(host="127.0.0.1", port=self.server.getsockname()[1], query={})
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.socket(self.upstream[0])
            upstream.connect(self.upstream[1])
            self._open += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while data := src.recv(65536):
                if not self.silent.is_set():  # silent: read and drop, answer nothing
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                sock.close()

    def close(self):
        self.server.close()
        for sock in self._open:
            sock.close()


@pytest.fixture
def proxied_listener(database_url):
    proxy = SilentableProxy(database_url)
    engine = sa.create_engine(proxy.url)
    listener = Listener(engine)
    cache = listener.register(NotifiedCache("tenantapp_test_silence", 10))
    listener.start()
    yield proxy, listener, cache
    listener.stop()
    proxy.close()
    engine.dispose()


def test_a_silent_server_turns_the_caches_off_within_two_seconds(proxied_listener):
    proxy, listener, cache = proxied_listener
    assert listener.connected.wait(10)
    cache.lookup("k", lambda key: "cached")
    assert cache.stats()["size"] == 1

    proxy.silent.set()
    assert wait_for(lambda: not cache.stats()["trusted"], limit=5) < 2.5
    assert cache.lookup("k", lambda key: "from the database") == "from the database"
    # the listener is not stuck on the silent socket: it gives up and keeps trying
    wait_for(lambda: not listener.connected.is_set() and len(listener.waits) >= 1)

    proxy.silent.clear()
    assert listener.connected.wait(30)
    cache.lookup("k", lambda key: "kept again")
    assert cache.lookup("k", lambda key: "never asked") == "kept again"


def test_the_reconnect_delay_starts_over_after_a_good_connection(app, engine):
    listener = service(app.registry, ICacheListener)
    assert listener.connected.wait(10)
    for _ in range(4):
        lost = listener.backend_pid
        with engine.connect() as connection:
            sql = sa.text("SELECT pg_terminate_backend(:pid, 10000)")
            assert connection.scalar(sql, {"pid": lost})
        wait_for(lambda lost=lost: listener.backend_pid != lost and listener.connected.is_set())
    assert list(listener.waits)[-4:] == [FIRST_BACKOFF] * 4
