"""Login throttling per tenant (the table is in the tenant's schema) and per email."""

import math
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import case, delete, func, literal, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from .models import LoginThrottle


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)


def retry_after(session: Session, email: str, policy: ThrottlePolicy) -> int | None:
    """Seconds until ``email`` may try again, or None when it may try now."""
    remaining = session.execute(
        select(
            LoginThrottle.failures,
            func.extract(
                "epoch", LoginThrottle.window_started_at + literal(policy.window) - func.now()
            ),
        ).where(LoginThrottle.email == email)
    ).first()
    if remaining is None:
        return None
    failures, seconds = remaining
    if failures < policy.max_failures or seconds <= 0:
        return None
    return max(1, math.ceil(seconds))


def record_failure(session: Session, email: str, policy: ThrottlePolicy) -> None:
    """Count a failure atomically, starting a new window when the old one has passed."""
    expired = LoginThrottle.window_started_at + literal(policy.window) <= func.now()
    stmt = insert(LoginThrottle).values(email=email, failures=1, window_started_at=func.now())
    stmt = stmt.on_conflict_do_update(
        index_elements=[LoginThrottle.email],
        set_={
            "failures": case((expired, 1), else_=LoginThrottle.failures + 1),
            "window_started_at": case((expired, func.now()), else_=LoginThrottle.window_started_at),
        },
    )
    session.execute(stmt)


def clear_failures(session: Session, email: str) -> None:
    session.execute(delete(LoginThrottle).where(LoginThrottle.email == email))
