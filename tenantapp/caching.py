"""In-process caches that PostgreSQL keeps true, so hot lookups cost no round trip.

A ``NotifiedCache`` is a bounded LRU. Triggers in the database send a NOTIFY on the cache's
channel for every change that could make an entry wrong, from any client, delivered at commit;
one ``Listener`` thread per process hears them and drops the entries they name. A cache is only
filled while the listener is connected and hears its own heartbeat (``trusted``): when it is
not, every lookup goes to the database, so a missed notification can never leave a stale answer
in memory. A generation counter stops a lookup that read the database before a change from
storing its answer after.
"""

import itertools
import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable

import psycopg
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

EVERYTHING = "*"  # a payload that empties a cache (sent on TRUNCATE)
HEARTBEAT_SECONDS = 1.0
_caches: "weakref.WeakSet[NotifiedCache]" = weakref.WeakSet()


class NotifiedCache:
    def __init__(self, channel: str, capacity: int, group: Callable[[Hashable], str] | None = None):
        """``group(key)`` is what a notification names: the key itself unless given."""
        self.channel = channel
        self.capacity = capacity
        self.group = group
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._generation = 0
        self._trusted = False
        _caches.add(self)

    def lookup(self, key: Hashable, load: Callable[[Hashable], object | None]):
        """The cached value for ``key``, else ``load(key)``, kept if not None."""
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return value
            self.misses += 1
            generation = self._generation
        value = load(key)
        if value is not None:
            with self._lock:
                if self._trusted and generation == self._generation and self.capacity:
                    self._entries[key] = value
                    if len(self._entries) > self.capacity:
                        self._entries.popitem(last=False)
        return value

    def forget(self, name: str) -> None:
        """Drop the entries a notification names (all of them for ``*``)."""
        with self._lock:
            self._generation += 1
            if name == EVERYTHING:
                self._entries.clear()
            elif self.group is None:
                self._entries.pop(name, None)
            else:
                for key in [k for k in self._entries if self.group(k) == name]:
                    del self._entries[key]

    def trust(self, trusted: bool) -> None:
        with self._lock:
            self._trusted = trusted
            self._generation += 1
            self._entries.clear()

    def stats(self) -> dict:
        with self._lock:
            return {
                "size": len(self._entries),
                "capacity": self.capacity,
                "hits": self.hits,
                "misses": self.misses,
                "trusted": self._trusted,
            }


def forget_everywhere(channel: str, name: str) -> None:
    """Drop ``name`` from this process's caches on ``channel`` now, without waiting for the
    notification (which still tells every other process)."""
    for cache in list(_caches):
        if cache.channel == channel:
            cache.forget(name)


class Deaf(Exception):
    """The listener's own heartbeat did not come back."""


class Listener:
    """One LISTEN connection per process, feeding every cache registered with it."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.caches: list[NotifiedCache] = []
        self.connected = threading.Event()
        self.backend_pid: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def register(self, cache: NotifiedCache) -> NotifiedCache:
        self.caches.append(cache)
        return cache

    def start(self) -> None:
        if self._thread is None and any(cache.capacity for cache in self.caches):
            self._thread = threading.Thread(target=self._run, name="cache-listener", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _trust(self, trusted: bool) -> None:
        for cache in self.caches:
            cache.trust(trusted)
        (self.connected.set if trusted else self.connected.clear)()

    def _run(self) -> None:
        cargs, cparams = self.engine.dialect.create_connect_args(self.engine.url)
        by_channel: dict[str, list[NotifiedCache]] = {}
        for cache in self.caches:
            by_channel.setdefault(cache.channel, []).append(cache)
        backoff = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(*cargs, **cparams, autocommit=True) as connection:
                    self._serve(connection, by_channel)
            except (psycopg.Error, Deaf) as error:
                # once per outage: caches bypass themselves until the listener is back
                (log.warning if self.connected.is_set() else log.debug)(
                    "cache listener disconnected (%s); caches off until it reconnects", error
                )
            finally:
                self._trust(False)
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 30)

    def _serve(self, connection: psycopg.Connection, by_channel: dict) -> None:
        """Dispatch notifications; every second, NOTIFY ourselves and insist on hearing it. A
        connection that can no longer hear (a half-open socket, a transaction-mode pooler that
        moved the LISTEN to another server session) turns the caches off instead of leaving
        them deaf to changes. psycopg keeps notifications that arrive during the heartbeat."""
        self.backend_pid = connection.info.backend_pid
        beat_channel = f"tenantapp_heartbeat_{self.backend_pid}"
        for channel in (*by_channel, beat_channel):
            connection.execute(f"LISTEN {channel}")
        for beat in itertools.count():
            if self._stop.is_set():
                return
            connection.execute("SELECT pg_notify(%s, %s)", (beat_channel, str(beat)))
            heard = False
            for note in connection.notifies(timeout=HEARTBEAT_SECONDS):
                if note.channel == beat_channel:
                    heard = heard or note.payload == str(beat)
                for cache in by_channel.get(note.channel, ()):
                    cache.forget(note.payload)
            if not heard:
                raise Deaf(f"no heartbeat back within {HEARTBEAT_SECONDS} s")
            if not self.connected.is_set():
                self._trust(True)


def includeme(config):
    """The process's listener; it starts once the app is built."""
    from pyramid.events import ApplicationCreated

    listener = Listener(config.registry["dbengine"])
    config.registry["cache_listener"] = listener
    config.add_subscriber(lambda event: listener.start(), ApplicationCreated)
