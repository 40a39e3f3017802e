"""The operator console's logins: sessions of their own, never the operator token in a cookie.

A login makes a random session token; the browser's cookie holds it, the registry's
``operator_sessions`` its SHA-256 (a copy of the table opens nothing) with an expiry
(``tenantapp.operator_console.session_minutes``, 60 by default). Every console page checks it
there, so logout (which deletes it) and expiry hold at once in every process. The session
opens the console only: the operator API still takes the operator token alone. Failed logins
are throttled per client address as a tenant's are per email (``ThrottlePolicy``).
"""

import math
import secrets
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.engine import Engine

from .throttle import ThrottlePolicy
from .tokens import digest

PREFIX = "ops_"

OPEN = text(
    "INSERT INTO tenantapp.operator_sessions (digest, expires_at, address)"
    " VALUES (:digest, now() + :ttl, :address)"
)
PURGE = text("DELETE FROM tenantapp.operator_sessions WHERE expires_at < now()")
VALID = text(
    "SELECT 1 FROM tenantapp.operator_sessions WHERE digest = :digest AND expires_at > now()"
)
CLOSE = text("DELETE FROM tenantapp.operator_sessions WHERE digest = :digest")
WAIT = text(
    "SELECT extract(epoch FROM window_started_at + :window - now())"
    " FROM tenantapp.operator_login_throttle WHERE address = :address AND failures >= :most"
)
FAILED = text(
    "INSERT INTO tenantapp.operator_login_throttle AS t (address, failures, window_started_at)"
    " VALUES (:address, 1, now()) ON CONFLICT (address) DO UPDATE SET"
    " failures = CASE WHEN t.window_started_at + :window <= now() THEN 1"
    " ELSE t.failures + 1 END,"
    " window_started_at = CASE WHEN t.window_started_at + :window <= now() THEN now()"
    " ELSE t.window_started_at END"
)
CLEAR = text("DELETE FROM tenantapp.operator_login_throttle WHERE address = :address")


class OperatorSessions:
    def __init__(self, engine: Engine, ttl: timedelta, throttle: ThrottlePolicy):
        self.engine = engine
        self.ttl = ttl
        self.throttle = throttle

    def open(self, address: str) -> str:
        """A new session's token (and the expired ones gone)."""
        token = PREFIX + secrets.token_urlsafe(32)
        with self.engine.begin() as connection:
            connection.execute(PURGE)
            connection.execute(OPEN, {"digest": digest(token), "ttl": self.ttl, "address": address})
            connection.execute(CLEAR, {"address": address})
        return token

    def valid(self, token: str) -> bool:
        if not token.startswith(PREFIX):
            return False
        with self.engine.connect() as connection:
            return connection.scalar(VALID, {"digest": digest(token)}) is not None

    def close(self, token: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(CLOSE, {"digest": digest(token)})

    def wait(self, address: str) -> int | None:
        """Seconds until ``address`` may try again, or None when it may try now."""
        params = {
            "address": address,
            "window": self.throttle.window,
            "most": self.throttle.max_failures,
        }
        with self.engine.connect() as connection:
            seconds = connection.scalar(WAIT, params)
        return None if seconds is None or seconds <= 0 else max(1, math.ceil(seconds))

    def failed(self, address: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(FAILED, {"address": address, "window": self.throttle.window})
