"""In-process caches that PostgreSQL keeps true, so hot lookups cost no round trip.

A ``NotifiedCache`` is a bounded LRU. Triggers in the database send a NOTIFY on the cache's
channel for every change that could make an entry wrong, from any client, delivered at commit;
one ``Listener`` thread per process hears them and drops the entries they name. A cache is only
filled while the listener is connected and hears its own heartbeat (``trusted``): when it is
not, every lookup goes to the database, so a missed notification can never leave a stale answer
in memory. A generation counter stops a lookup that read the database before a change from
storing its answer after.
"""

import atexit
import itertools
import logging
import os
import socket
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from contextlib import contextmanager, suppress

import psycopg
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError

log = logging.getLogger(__name__)

EVERYTHING = "*"  # a payload that empties a cache (sent on TRUNCATE)
DEFAULT_PLACE = "default"  # the default server's database, where the process's own listener is
HEARTBEAT_SECONDS = 1.0
TRUST_SECONDS = 2.0  # caches turn off this long after the last heartbeat heard
FIRST_BACKOFF, MAX_BACKOFF = 0.5, 30.0
# libpq: give up connecting, and let the kernel drop a connection whose peer is gone
SILENCE_DETECTION = {
    "connect_timeout": 2,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 1,
    "keepalives_count": 3,
    "tcp_user_timeout": 3000,
}
_caches: "weakref.WeakSet[NotifiedCache]" = weakref.WeakSet()


class NotifiedCache:
    def __init__(
        self,
        channel: str,
        capacity: int,
        group: Callable[[Hashable], str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        """``group(key)`` is what a notification names: the key itself unless given."""
        self.channel = channel
        self.capacity = capacity
        self.group = group
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._generation = 0
        self._trusted_until = 0.0
        self._clock = clock
        _caches.add(self)

    def _trusted(self) -> bool:
        """Under the lock: whether the listener vouched for this cache recently enough. Trust
        that lapsed (a listener stuck on a silent server) drops everything, as a disconnect
        does, without waiting for the listener to notice."""
        if self._clock() < self._trusted_until:
            return True
        if self._entries:
            self._entries.clear()
            self._generation += 1
        return False

    def peek(self, key: Hashable):
        """The cached value for ``key``, or None: never the database, never counted."""
        with self._lock:
            return self._entries.get(key) if self._trusted() else None

    def lookup(self, key: Hashable, load: Callable[[Hashable], object | None]):
        """The cached value for ``key``, else ``load(key)``, kept if not None."""
        with self._lock:
            value = self._entries.get(key) if self._trusted() else None
            if value is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return value
            self.misses += 1
            generation = self._generation
        value = load(key)
        if value is not None:
            with self._lock:
                if self._trusted() and generation == self._generation and self.capacity:
                    self._entries[key] = value
                    if len(self._entries) > self.capacity:
                        self._entries.popitem(last=False)
        return value

    def copy(self, capacity: int) -> "NotifiedCache":
        """An empty cache like this one, for another place's listener."""
        return NotifiedCache(self.channel, capacity, self.group, self._clock)

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

    def extend_trust(self, seconds: float) -> None:
        """The listener heard its heartbeat: trust this cache for ``seconds`` more. A cache
        whose trust had lapsed starts empty."""
        with self._lock:
            self._trusted()
            self._trusted_until = self._clock() + seconds

    def distrust(self) -> None:
        """The listener lost its connection (and perhaps notifications): empty, untrusted."""
        with self._lock:
            self._trusted_until = 0.0
            self._generation += 1
            self._entries.clear()

    def stats(self) -> dict:
        with self._lock:
            trusted = self._trusted()
            return {
                "size": len(self._entries),
                "capacity": self.capacity,
                "hits": self.hits,
                "misses": self.misses,
                "trusted": trusted,
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
        self.waits: deque[float] = deque(maxlen=32)  # the last reconnect delays, for /-/stats
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def register(self, cache: NotifiedCache) -> NotifiedCache:
        if self._thread is not None:  # it listens on the channels it had when it started
            raise RuntimeError(f"cache {cache.channel!r} registered after the listener started")
        self.caches.append(cache)
        return cache

    def start(self) -> None:
        if self._thread is None and any(cache.capacity for cache in self.caches):
            self._thread = threading.Thread(target=self._run, name="cache-listener", daemon=True)
            self._thread.start()
            # at exit (before an embedded server stops) the lost connection is expected
            atexit.register(self._stop.set)

    def stop(self, wait: bool = True) -> None:
        self._stop.set()
        if wait and self._thread is not None:
            self._thread.join(timeout=5)

    def _heard(self) -> None:
        for cache in self.caches:
            cache.extend_trust(TRUST_SECONDS)
        self.connected.set()

    def _lost(self) -> None:
        for cache in self.caches:
            cache.distrust()
        self.connected.clear()

    def _run(self) -> None:
        cargs, cparams = self.engine.dialect.create_connect_args(self.engine.url)
        cparams = {**SILENCE_DETECTION, **cparams, "autocommit": True}
        by_channel: dict[str, list[NotifiedCache]] = {}
        for cache in self.caches:
            by_channel.setdefault(cache.channel, []).append(cache)
        backoff = FIRST_BACKOFF
        while not self._stop.is_set():
            try:
                with psycopg.connect(*cargs, **cparams) as connection:
                    self._serve(connection, by_channel)
            except (psycopg.Error, Deaf) as error:
                # once per outage: caches bypass themselves until the listener is back
                expected = self._stop.is_set() or not self.connected.is_set()
                (log.debug if expected else log.warning)(
                    "cache listener disconnected (%s); caches off until it reconnects", error
                )
            finally:
                if self.connected.is_set():  # it worked for a while: the next outage is new
                    backoff = FIRST_BACKOFF
                self._lost()
            self.waits.append(backoff)
            self._stop.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    def _serve(self, connection: psycopg.Connection, by_channel: dict) -> None:
        """Dispatch notifications; every second, NOTIFY ourselves and insist on hearing it. A
        connection that can no longer hear (a half-open socket, a transaction-mode pooler that
        moved the LISTEN to another server session) turns the caches off instead of leaving
        them deaf to changes. A server that stops answering altogether cannot hold the
        listener: each command must finish within ``TRUST_SECONDS`` or the socket is shut,
        and the caches' own trust lapses meanwhile. psycopg keeps notifications that arrive
        during the heartbeat."""
        self.backend_pid = connection.info.backend_pid
        beat_channel = f"tenantapp_heartbeat_{self.backend_pid}"
        with severed_if_silent(connection):
            for channel in (*by_channel, beat_channel):
                connection.execute(f"LISTEN {channel}")
        for beat in itertools.count():
            if self._stop.is_set():
                return
            with severed_if_silent(connection):
                connection.execute("SELECT pg_notify(%s, %s)", (beat_channel, str(beat)))
            heard = False
            for note in connection.notifies(timeout=HEARTBEAT_SECONDS):
                if note.channel == beat_channel and note.payload == str(beat):
                    heard = True
                    self._heard()
                for cache in by_channel.get(note.channel, ()):
                    cache.forget(note.payload)
            if not heard:
                raise Deaf(f"no heartbeat back within {HEARTBEAT_SECONDS} s")


class HeardOnConnections:
    """Caches for a database this process keeps no listener on (a tenant's database of its own),
    kept true by the connections of its pool instead: each one LISTENs from the moment it is
    made, and reads what it heard when checked out, before the request looks anything up. A
    connection made afresh may have missed what came before it, so it empties the caches: every
    connection a lookup can run on has heard all that came after the caches were last emptied.
    It costs no connection more (a listener per tenant database would halve those a server
    keeps warm) and one non-blocking read per checkout. Not behind a transaction-mode pooler,
    where a LISTEN does not stay with the client."""

    def __init__(self, engine: Engine, caches: list[NotifiedCache]):
        self.caches = caches
        for cache in caches:
            cache.extend_trust(float("inf"))
        event.listen(engine, "connect", self._connected)
        # first: what it reads is no longer there for the closed-connection poll to see
        event.listen(engine, "checkout", self._checked_out, insert=True)

    def _connected(self, dbapi_connection: psycopg.Connection, record) -> None:
        for channel in {cache.channel for cache in self.caches}:
            dbapi_connection.execute(f"LISTEN {channel}")
        dbapi_connection.commit()
        dbapi_connection.add_notify_handler(self._heard)
        self._forget(EVERYTHING)

    def _checked_out(self, dbapi_connection: psycopg.Connection, record, proxy) -> None:
        """What the connection heard while idle (psycopg hears the rest while it runs)."""
        pgconn = dbapi_connection.pgconn
        try:
            pgconn.consume_input()
        except psycopg.OperationalError as error:  # gone: the pool makes another
            self._forget(EVERYTHING)
            raise DisconnectionError(str(error)) from error
        while (note := pgconn.notifies()) is not None:
            self._forget(note.extra.decode(), note.relname.decode())

    def _heard(self, note: psycopg.Notify) -> None:
        self._forget(note.payload, note.channel)

    def _forget(self, name: str, channel: str | None = None) -> None:
        for cache in self.caches:
            if channel is None or cache.channel == channel:
                cache.forget(name)


class PlaceListeners:
    """Listeners for the other places whose triggers notify: another server's database, a
    tenant's database of its own. Each is opened on first use with its own copies of the
    caches registered here, trusted or not on its own heartbeat, and closed with the place;
    an engine ``hear_on_connections`` was given has its copies kept by its own connections
    instead (``HeardOnConnections``)."""

    def __init__(self, default: Listener):
        self.default = default
        self._templates: dict[str, NotifiedCache] = {}
        self._places: dict[str, Listener] = {}
        self._on_connections: weakref.WeakKeyDictionary[Engine, HeardOnConnections] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()
        self._stopped = False

    def register(self, cache: NotifiedCache) -> NotifiedCache:
        """Heard on the default server, and copied for every other place (with a tenth of its
        capacity: a place holds the tokens of one tenant or of one server's share)."""
        self._templates[cache.channel] = cache
        return self.default.register(cache)

    def hear_on_connections(self, engine: Engine) -> Engine:
        """Keep ``engine``'s copies of the caches true with its own connections; before it
        makes any."""
        caches = [t.copy(max(100, t.capacity // 100)) for t in self._templates.values()]
        self._on_connections[engine] = HeardOnConnections(engine, caches)
        return engine

    def cache(self, place: str, engine: Engine, channel: str) -> NotifiedCache:
        """The cache on ``channel`` kept true by ``place``'s listener (``engine``'s database),
        or by ``engine``'s connections."""
        if place == DEFAULT_PLACE:
            return self._templates[channel]
        heard = self._on_connections.get(engine)
        if heard is not None:
            return next(cache for cache in heard.caches if cache.channel == channel)
        with self._lock:
            listener = self._places.get(place)
            if listener is None:
                listener = self._places[place] = Listener(engine)
                for template in self._templates.values():
                    listener.register(template.copy(max(100, template.capacity // 10)))
                if not self._stopped:
                    listener.start()
        for cache in listener.caches:
            if cache.channel == channel:
                return cache
        raise KeyError(channel)

    def close(self, place: str) -> None:
        with self._lock:
            listener = self._places.pop(place, None)
        if listener is not None:
            listener.stop(wait=False)  # it hangs up within a heartbeat

    def listening(self) -> int:
        with self._lock:
            return len(self._places)

    def stats(self, channel: str) -> dict:
        """The channel's caches summed over every place (``places``: those with a listener;
        ``heard_on_connections``: the engines that keep their own)."""
        with self._lock:
            listeners = [self.default, *self._places.values()]
        heard = list(self._on_connections.values())
        caches = [c for holder in (*listeners, *heard) for c in holder.caches]
        total = {"size": 0, "capacity": 0, "hits": 0, "misses": 0}
        trusted = False
        for cache in caches:
            if cache.channel == channel:
                stats = cache.stats()
                for key in total:
                    total[key] += stats[key]
                trusted = trusted or stats["trusted"]
        places = {"places": len(listeners), "heard_on_connections": len(heard)}
        return {**total, "trusted": trusted, **places}

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            listeners, self._places = list(self._places.values()), {}
        for listener in listeners:
            listener.stop(wait=False)


@contextmanager
def severed_if_silent(connection: psycopg.Connection):
    """Shut the connection's socket if the block takes longer than ``TRUST_SECONDS``: a server
    that keeps the socket open but never answers would otherwise block the listener for good
    (TCP keepalives only catch a peer whose kernel is gone too)."""
    watchdog = threading.Timer(TRUST_SECONDS, _shut_socket, (connection.fileno(),))
    watchdog.daemon = True
    watchdog.start()
    try:
        yield
    finally:
        watchdog.cancel()


def _shut_socket(fileno: int) -> None:
    """Shut the socket down (not close the descriptor psycopg owns): its blocked read ends."""
    with suppress(OSError), socket.socket(fileno=os.dup(fileno)) as sock:
        sock.shutdown(socket.SHUT_RDWR)


def includeme(config):
    """The process's listener (made at first use, on the default server); it starts once the
    app is built, after every feature has registered its caches with it."""
    from pyramid.events import ApplicationCreated

    from .interfaces import ICacheListener, IPlaceListeners, IServers, provide_factory, service

    def listener(registry) -> Listener:
        return Listener(service(registry, IServers).default.owner)

    def places(registry) -> PlaceListeners:
        made = PlaceListeners(service(registry, ICacheListener))
        atexit.register(made.stop)
        return made

    provide_factory(config, listener, ICacheListener)
    provide_factory(config, places, IPlaceListeners)
    config.add_subscriber(
        lambda event: service(event.app.registry, ICacheListener).start(), ApplicationCreated
    )
