"""Logging in with an email and a password, for the JSON API and the console alike: throttled
per email, audited either way."""

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


def log_in(request, data: Login) -> tuple[str, datetime, User] | None:
    """A new token, its expiry and its user; None when the email or password is wrong (the
    failure is counted and audited: the caller must let the transaction commit)."""
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
    expires_at = datetime.now(UTC) + service(request.registry, IIdentitySettings).token_ttl
    token, _ = issue_token(session, user, expires_at)
    audit.record(request, "token.issued", f"user:{user.id}", actor=f"user:{user.id}")
    return token, expires_at, user
