"""A second factor per user (TOTP, RFC 6238, with pyotp; or passkeys: ``passkeys``) and the
tenant's policy for it.

A password login of a user with a factor answers a **challenge**, not a token: the token comes
from ``POST /{tenant}/tokens/second-factor`` with the challenge and a code (or a recovery
code). Where the tenant requires a factor (its owner-editable setting ``mfa_required``:
``none``, ``admins`` for owners and admins, ``everyone``) and the user has none yet, the
challenge is for enrolment: ``…/enrolment`` gives the secret, and the first good code both
turns the factor on and logs in, with ten recovery codes shown once. A challenge lives five
minutes, takes five attempts and works once; a code works once (its time step is kept).
"""

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyotp
from sqlalchemy import delete, select, update

from ..errors import APIError
from ..users.models import User
from . import passkeys
from .models import LoginChallenge, RecoveryCode

SETTING = "mfa_required"
DECLARATION = "choice(none,admins,everyone) none owner"  # tenantapp.setting.mfa_required
CHALLENGE_MINUTES = 5
MAX_ATTEMPTS = 5
RECOVERY_CODES = 10
ISSUER = "tenantapp"
PREFIX = "mfa_"
LOGIN_KINDS = ("verify", "enrol")  # a login's challenges (a passkey registration's is not one)


class ChallengeRefused(APIError):
    status, code = 401, "challenge_refused"


class WrongCode(APIError):
    status, code = 401, "wrong_code"


@dataclass(frozen=True)
class SecondStep:
    """What a password login answers when a second factor is due."""

    challenge: str
    kind: str  # verify | enrol
    expires_at: datetime
    passkey: dict | None = None  # for navigator.credentials.get, when the user has passkeys


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def required_for(tenant, user: User) -> bool:
    policy = tenant.settings.get(SETTING, "none")
    return policy == "everyone" or (policy == "admins" and user.role in ("owner", "admin"))


def has_factor(session, user: User) -> bool:
    return user.totp_enabled or passkeys.has_passkey(session, user.id)


def second_step(session, tenant, user: User) -> SecondStep | None:
    """The challenge a password login answers instead of a token, if a factor is due."""
    if has_factor(session, user):
        kind = "verify"
    elif required_for(tenant, user):
        kind = "enrol"
    else:
        return None
    plain = PREFIX + secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + timedelta(minutes=CHALLENGE_MINUTES)
    session.execute(delete(LoginChallenge).where(LoginChallenge.expires_at < datetime.now(UTC)))
    session.add(
        LoginChallenge(digest=_digest(plain), user_id=user.id, kind=kind, expires_at=expires_at)
    )
    return SecondStep(plain, kind, expires_at)


def challenged(session, plain: str, kind: str | None = None) -> tuple[LoginChallenge, User]:
    """The live challenge and its user (locked: attempts are counted one at a time)."""
    found = session.scalar(
        select(LoginChallenge)
        .where(LoginChallenge.digest == _digest(plain or ""))
        .with_for_update()
    )
    if (
        found is None
        or found.expires_at <= datetime.now(UTC)
        or found.attempts >= MAX_ATTEMPTS
        or found.kind not in ((kind,) if kind is not None else LOGIN_KINDS)
    ):
        raise ChallengeRefused("no such challenge, or it expired or was used: log in again")
    user = session.get(User, found.user_id)
    if user is None or not user.active:
        raise ChallengeRefused("no such challenge, or it expired or was used: log in again")
    return found, user


def spend(session, challenge: LoginChallenge) -> None:
    session.delete(challenge)


def count_attempt(session, challenge: LoginChallenge) -> None:
    """A wrong code: counted in a statement of its own, kept however the request ends."""
    session.execute(
        update(LoginChallenge)
        .where(LoginChallenge.id == challenge.id)
        .values(attempts=LoginChallenge.attempts + 1)
    )


def begin_enrolment(user: User, email: str) -> dict:
    """A new secret, pending until a code proves it (``confirm``)."""
    secret = pyotp.random_base32()
    user.totp_secret = secret
    user.totp_enabled = False
    uri = pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)
    return {"secret": secret, "uri": uri}


def _step_of(secret: str, code: str, last_step: int | None) -> int | None:
    """The time step ``code`` is right for (this one or a neighbour, for clock drift), unless
    a code of it or a later one was already used."""
    totp = pyotp.TOTP(secret)
    now = time.time()
    for offset in (0, -1, 1):
        moment = now + offset * totp.interval
        step = totp.timecode(datetime.fromtimestamp(moment, UTC))
        if secrets.compare_digest(totp.at(moment), str(code or "")) and (
            last_step is None or step > last_step
        ):
            return step
    return None


def verify_code(user: User, code: str) -> bool:
    if not user.totp_secret:
        return False
    step = _step_of(user.totp_secret, code, user.totp_last_step)
    if step is None:
        return False
    user.totp_last_step = step
    return True


def confirm(session, user: User, code: str) -> list[str]:
    """The pending secret proven: the factor is on, with fresh recovery codes (shown once)."""
    if user.totp_enabled or not verify_code(user, code):
        raise WrongCode("that code is not right for the secret being set up")
    user.totp_enabled = True
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [secrets.token_hex(5) for _ in range(RECOVERY_CODES)]
    session.add_all(RecoveryCode(user_id=user.id, digest=_digest(code)) for code in codes)
    return codes


def use_recovery_code(session, user: User, code: str) -> bool:
    found = session.scalar(
        select(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.digest == _digest((code or "").strip().lower()),
            RecoveryCode.used_at.is_(None),
        )
        .with_for_update()
    )
    if found is None:
        return False
    found.used_at = datetime.now(UTC)
    return True


def turn_off(session, user: User) -> None:
    user.totp_enabled = False
    user.totp_secret = None
    user.totp_last_step = None
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))


def forget_user(session, user_id: int) -> None:
    """A deleted user's challenges, recovery codes and passkeys go with it (no foreign key:
    t011)."""
    session.execute(delete(LoginChallenge).where(LoginChallenge.user_id == user_id))
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    passkeys.forget_user(session, user_id)
