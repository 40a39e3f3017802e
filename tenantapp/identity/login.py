"""Logging in with an email and a password, for the JSON API and the console alike: throttled
per email, audited either way."""

from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints
from sqlalchemy import select
from sqlalchemy.orm import undefer

from .. import audit
from ..errors import APIError
from ..interfaces import IIdentitySettings, ILoginGates, ILoginThrottle, IPasswordHasher, service
from ..users.models import User
from ..validation import PlainText, lowercase_email
from . import mfa, passkeys
from .passwords import verify_password
from .throttle import clear_failures, lock_and_check, record_failure
from .tokens import issue_token


class TooManyAttempts(APIError):
    status = 429
    code = "too_many_attempts"


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    email: Annotated[
        PlainText,
        StringConstraints(strip_whitespace=True, min_length=1),
        AfterValidator(lowercase_email),
    ]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


def log_in(request, data: Login) -> tuple[str, datetime, User] | mfa.SecondStep | None:
    """A new token, its expiry and its user; a ``SecondStep`` when a second factor is due
    (``mfa``); None when the email or password is wrong (the failure is counted and audited:
    the caller must let the transaction commit, as for a second step)."""
    email = data.email
    session = request.dbsession
    policy = service(request.registry, ILoginThrottle)
    wait = lock_and_check(session, email, policy)
    if wait is not None:
        raise TooManyAttempts(
            f"too many failed logins: try again in {wait} s", headers={"Retry-After": str(wait)}
        )
    user = session.scalar(
        select(User)
        .where(User.email == email, User.active)  # a deactivated user is no one to log in as
        .options(undefer(User.password_hash))
    )
    hasher = service(request.registry, IPasswordHasher)
    if not verify_password(hasher, user.password_hash if user else None, data.password):
        record_failure(session, email, policy)
        audit.record(request, "login.failed", f"email:{email}", actor=f"email:{email}")
        return None
    for gate in service(request.registry, ILoginGates):
        gate(request, user)  # the password was right: a refusal here says why it is not enough
    clear_failures(session, email)
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(data.password)
    step = mfa.second_step(session, request.tenant, user)
    if step is not None and step.kind == "verify":
        step = replace(step, passkey=passkeys.request_options(request, user, step.challenge))
    if step is not None:
        actor = f"user:{user.id}"
        audit.record(request, "login.second_factor_due", actor, actor=actor, kind=step.kind)
        return step
    return logged_in(request, user)


def logged_in(request, user: User, **detail) -> tuple[str, datetime, User]:
    """A new token for ``user``, audited: the end of every way of logging in."""
    expires_at = datetime.now(UTC) + service(request.registry, IIdentitySettings).token_ttl
    token, _ = issue_token(request.dbsession, user, expires_at)
    actor = f"user:{user.id}"
    audit.record(request, "token.issued", actor, actor=actor, **detail)
    return token, expires_at, user


def second_step(
    request,
    challenge: str,
    code: str | None,
    recovery_code: str | None,
    passkey: dict | None = None,
):
    """``(token, expires_at, user, recovery_codes)`` for a challenge and a code of the user's
    factor (or a recovery code, or a passkey's assertion); for an enrolment challenge, the
    first code of the new factor turns it on (and the recovery codes are made). A wrong code is
    returned as a ``WrongCode``, not raised: the attempt it cost must commit. A dead challenge
    raises ``ChallengeRefused``."""
    session = request.dbsession
    pending, user = mfa.challenged(session, challenge)
    codes = None
    try:
        if pending.kind == "enrol":
            codes = mfa.confirm(session, user, code or "")
        elif passkey is not None:
            if not passkeys.verify(request, user, challenge, passkey):
                raise mfa.WrongCode("that passkey is not one of this user's, for this login")
        elif not (
            mfa.verify_code(user, code)
            if code
            else mfa.use_recovery_code(session, user, recovery_code or "")
        ):
            raise mfa.WrongCode("that code is not right")
    except mfa.WrongCode as wrong:
        mfa.count_attempt(session, pending)
        audit.record(request, "login.failed", f"user:{user.id}", actor=f"user:{user.id}")
        return wrong
    mfa.spend(session, pending)
    factor = (
        "passkey"
        if passkey is not None
        else ("recovery_code" if recovery_code and not code else "totp")
    )
    token, expires_at, user = logged_in(request, user, second_factor=factor)
    return token, expires_at, user, codes


def add_passkey(request, user: User, registration: str, credential: dict, name: str):
    """A registration of ``user``'s (taken once), the authenticator's answer to it checked, the
    passkey kept; audited."""
    session = request.dbsession
    pending, owner = mfa.challenged(session, registration, kind=passkeys.KIND)
    if owner.id != user.id:
        raise passkeys.PasskeyRefused("this registration is another user's")
    made = passkeys.register(request, user, registration, credential, name)
    mfa.spend(session, pending)
    audit.record(request, "mfa.passkey_added", f"user:{user.id}", passkey=made.id)
    return made


def remove_passkey(request, user: User, passkey_id: int) -> None:
    passkeys.remove(request.dbsession, user.id, passkey_id)
    audit.record(request, "mfa.passkey_removed", f"user:{user.id}", passkey=passkey_id)
