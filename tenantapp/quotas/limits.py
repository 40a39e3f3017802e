"""Per-tenant request limits that hold across every serving process, kept where surviving a
process costs least:

* the rate (``requests_per_second``): one row per tenant on the default server, taken by one
  call (``tenantapp.take_request``, the generic cell rate algorithm); a round trip, paid only by
  tenants whose plan sets a rate;
* requests in flight: one of ``most`` advisory locks of the tenant, taken in the request's own
  transaction (where the tenant's rows are): released when the transaction ends, or when the
  connection does, so a process that dies gives its places back at once;
* the pace: each serving process holds a tenant's requests at its pace divided by the serving
  processes alive (a heartbeat each on the default server), so a reverse proxy spreading
  requests over N processes lets through the pace, not N times it.
"""

import logging
import math
import os
import socket
import threading
import uuid
from contextlib import suppress

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

TAKE = text("SELECT tenantapp.take_request(:tenant, :rate, :burst)")
TAKE_CLIENT = text("SELECT tenantapp.take_client_request(:client, :rate, :burst)")
IN_FLIGHT_CLASS = (
    1_700_000_000  # advisory lock keys (CLASS + place, tenant); the move guard's differ
)
MOST_IN_FLIGHT = 100_000
TAKE_PLACE = text(
    "SELECT place FROM generate_series(0, :most - 1) AS place"
    " WHERE pg_try_advisory_xact_lock((:class + place)::int, mod(:tenant, 2147483647)::int)"
    " LIMIT 1"
)
HEARTBEAT = text("SELECT tenantapp.serving_heartbeat(:process, :window, :keys, :head)")
GOODBYE = text("SELECT tenantapp.serving_goodbye(:process)")
LACKING_KEY = text(
    "SELECT id FROM tenantapp.serving_processes"
    " WHERE seen_at >= now() - make_interval(secs => :window) AND NOT (:key = ANY (key_names))"
    " ORDER BY id"
)
HEARTBEAT_SECONDS = 2.0
FAILED_BEATS = 5  # in a row before a warning


class SharedRates:
    """``rate`` requests a second per tenant on average, bursts of up to ``burst`` (``rate``
    when 0), counted for all processes together."""

    def __init__(self, engine: Engine):
        self.engine = engine.execution_options(isolation_level="AUTOCOMMIT")

    def take(self, tenant_id: int, rate: float, burst: float) -> float:
        """0 when the request may go; else the seconds until it could."""
        with self.engine.connect() as connection:
            return float(
                connection.scalar(TAKE, {"tenant": tenant_id, "rate": rate, "burst": burst})
            )

    def take_for_client(self, tenant_id: int, address: str, rate: float, burst: float) -> float:
        """As ``take``, for a request with no valid token: counted per client address, apart
        from the tenant's own (strangers cannot use up its users' budget)."""
        client = f"{int(tenant_id)}/{address[:64]}"
        with self.engine.connect() as connection:
            return float(
                connection.scalar(TAKE_CLIENT, {"client": client, "rate": rate, "burst": burst})
            )


def take_place_in_flight(session: Session, tenant_id: int, most: int) -> bool:
    """Whether the request got one of the tenant's ``most`` places, held until its transaction
    ends (see the module's docstring)."""
    place = session.scalar(
        TAKE_PLACE,
        {"most": min(most, MOST_IN_FLIGHT), "class": IN_FLIGHT_CLASS, "tenant": tenant_id},
    )
    return place is not None


class ServingProcesses:
    """How many processes serve requests now: this one beats every ``HEARTBEAT_SECONDS`` on
    the default server from its first request on, and counts those that beat lately."""

    def __init__(
        self, engine: Engine, key_names: list[str] | None = None, tenant_head: str | None = None
    ):
        self.engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.key_names = list(key_names or [])  # the key-encryption keys it holds, by name
        self.tenant_head = tenant_head  # its code's newest tenant revision (``phases``)
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.alive = 1
        self._started = False
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def count(self) -> int:
        if not self._started:
            with self._lock:
                if not self._started:
                    self._started = True
                    threading.Thread(target=self._beat, name="heartbeat", daemon=True).start()
        return self.alive

    def beat(self) -> int:
        with self.engine.connect() as connection:
            params = {
                "process": self.id,
                "window": 3 * HEARTBEAT_SECONDS,
                "keys": self.key_names,
                "head": self.tenant_head,
            }
            alive = connection.scalar(HEARTBEAT, params)
        self.alive = max(1, int(alive))
        return self.alive

    def _beat(self) -> None:
        failed = 0
        while not self._stopped.is_set():
            try:
                self.beat()
                failed = 0
            except Exception as error:  # the database is down: the last count stands
                failed += 1
                if failed == FAILED_BEATS:  # once an outage, and not for a blip
                    log.warning("no heartbeat to the default server: %s", error)
            self._stopped.wait(HEARTBEAT_SECONDS)

    def stop(self) -> None:
        """No more beats; a process that beat says goodbye (one killed ages out instead)."""
        self._stopped.set()
        if self._started:
            with suppress(Exception), self.engine.connect() as connection:
                connection.execute(GOODBYE, {"process": self.id})


def lacking_key(connection, key_name: str) -> list[str]:
    """The serving processes alive now (a heartbeat lately) that do not hold ``key_name``."""
    return list(connection.scalars(LACKING_KEY, {"key": key_name, "window": 3 * HEARTBEAT_SECONDS}))


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
