"""An in-process cache of the tenant registry, so resolving a tenant costs no round trip.

Bounded (LRU, ``tenantapp.tenant_cache_size`` entries) and kept true across processes by
PostgreSQL: a trigger on ``tenantapp.tenants`` (shared revision s003) sends a NOTIFY on
``tenantapp_tenants`` naming the slug of every row changed, by any client, delivered at commit.
A listener thread per process drops those entries. The cache is only filled while that listener
is connected; when it is not, every lookup goes to the database, so a missed notification can
never leave a suspended or renamed tenant served from memory. A generation counter stops a
lookup that read the registry before a change from storing its now-stale answer after it.
"""

import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

CHANNEL = "tenantapp_tenants"
EVERYTHING = "*"  # the payload of a TRUNCATE
_directories: "weakref.WeakSet[TenantDirectory]" = weakref.WeakSet()


@dataclass(frozen=True, slots=True)
class TenantEntry:
    """What serving a tenant needs from its registry row."""

    id: int
    slug: str
    schema_name: str
    display_name: str
    status: str


class TenantDirectory:
    def __init__(self, engine: Engine, capacity: int):
        self.engine = engine
        self.capacity = capacity
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[str, TenantEntry] = OrderedDict()
        self._lock = threading.Lock()
        self._generation = 0
        self._listening = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()
        _directories.add(self)

    def lookup(self, slug: str, load: Callable[[str], TenantEntry | None]) -> TenantEntry | None:
        with self._lock:
            entry = self._entries.get(slug)
            if entry is not None:
                self._entries.move_to_end(slug)
                self.hits += 1
                return entry
            self.misses += 1
            generation = self._generation
        entry = load(slug)
        if entry is not None:
            with self._lock:
                if self._listening and generation == self._generation and self.capacity:
                    self._entries[slug] = entry
                    if len(self._entries) > self.capacity:
                        self._entries.popitem(last=False)
        return entry

    def forget(self, slug: str) -> None:
        with self._lock:
            self._generation += 1
            if slug == EVERYTHING:
                self._entries.clear()
            else:
                self._entries.pop(slug, None)

    def stats(self) -> dict:
        with self._lock:
            return {
                "size": len(self._entries),
                "capacity": self.capacity,
                "hits": self.hits,
                "misses": self.misses,
                "listening": self._listening,
            }

    def start(self) -> "TenantDirectory":
        if self.capacity and self._thread is None:
            self._thread = threading.Thread(
                target=self._listen, name="tenant-directory", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _set_listening(self, listening: bool) -> None:
        with self._lock:
            self._listening = listening
            self._generation += 1
            self._entries.clear()
        if listening:
            self.connected.set()
        else:
            self.connected.clear()

    def _listen(self) -> None:
        cargs, cparams = self.engine.dialect.create_connect_args(self.engine.url)
        backoff = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(*cargs, **cparams, autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    self._set_listening(True)
                    backoff = 0.5
                    while not self._stop.is_set():
                        for note in connection.notifies(timeout=1.0):
                            self.forget(note.payload)
            except psycopg.Error as error:
                log.warning("tenant cache listener lost its connection (%s); retrying", error)
            finally:
                self._set_listening(False)
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 30)


def forget_everywhere(slug: str) -> None:
    """Drop ``slug`` from every directory in this process at once; other processes hear of the
    change from the trigger's NOTIFY."""
    for directory in list(_directories):
        directory.forget(slug)
