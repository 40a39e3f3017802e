"""Login throttling per tenant (the table is in the tenant's schema) and per email."""

import math
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import case, delete, func, literal
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from .models import LoginThrottle

# by name, not columns: in shared mode the key is (tenant_id, email)
THROTTLE_KEY = "pk_login_throttle"


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)


def lock_and_check(session: Session, email: str, policy: ThrottlePolicy) -> int | None:
    """Lock ``email``'s throttle row until the transaction ends (making it if need be), then
    return the seconds until it may try again, or None when it may try now. The lock makes
    check, verify and record one step: parallel attempts for one email queue here, so no more
    than ``max_failures`` of them are ever checked."""
    upsert = insert(LoginThrottle).values(email=email, failures=0, window_started_at=func.now())
    upsert = upsert.on_conflict_do_update(
        constraint=THROTTLE_KEY, set_={"email": upsert.excluded.email}
    )
    left = LoginThrottle.window_started_at + literal(policy.window) - func.now()
    upsert = upsert.returning(LoginThrottle.failures, func.extract("epoch", left))
    failures, seconds = session.execute(upsert).one()
    if failures < policy.max_failures or seconds <= 0:
        return None
    return max(1, math.ceil(seconds))


def record_failure(session: Session, email: str, policy: ThrottlePolicy) -> None:
    """Count a failure atomically, starting a new window when the old one has passed."""
    expired = LoginThrottle.window_started_at + literal(policy.window) <= func.now()
    stmt = insert(LoginThrottle).values(email=email, failures=1, window_started_at=func.now())
    stmt = stmt.on_conflict_do_update(
        constraint=THROTTLE_KEY,
        set_={
            "failures": case((expired, 1), else_=LoginThrottle.failures + 1),
            "window_started_at": case((expired, func.now()), else_=LoginThrottle.window_started_at),
        },
    )
    session.execute(stmt)


def clear_failures(session: Session, email: str) -> None:
    session.execute(delete(LoginThrottle).where(LoginThrottle.email == email))
