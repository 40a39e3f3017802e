"""Issuing, resolving and revoking opaque bearer tokens."""

import hashlib
import secrets
import sys
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ..caching import NotifiedCache, forget_everywhere
from ..users.models import User
from .models import Token

PREFIX = "tnt_"
CHANNEL = "tenantapp_identities"


def digest(token: str) -> str:
    """Tokens carry 256 random bits, so a fast hash is enough to keep them unusable at rest."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def issue_token(
    session: Session, user: User, expires_at: datetime, impersonated_by: str | None = None
) -> tuple[str, Token]:
    plain = PREFIX + secrets.token_urlsafe(32)
    row = Token(
        user_id=user.id,
        token_hash=digest(plain),
        expires_at=expires_at,
        impersonated_by=impersonated_by,
    )
    session.add(row)
    session.flush()
    return plain, row


@dataclass(frozen=True, slots=True)
class TokenOwner:
    """All a request needs to know about whoever presents a token."""

    user_id: int
    role: str
    expires_at: datetime
    impersonated_by: str | None = None  # an operator acting as the user


def token_owners(capacity: int) -> NotifiedCache:
    """Owners by (tenant scope, token digest); a notification names a scope (triggers t003,
    function s004)."""
    return NotifiedCache(CHANNEL, capacity, group=itemgetter(0))


def owner_key(scope: str, hashed: str) -> tuple[str, bytes]:
    """The cache key of a token's owner: its digest as 32 bytes, half the hex's size (a process
    keeps one per token in use)."""
    return scope, bytes.fromhex(hashed)


def forget_token_owners(scope: str) -> None:
    forget_everywhere(CHANNEL, scope)


def token_owner(session: Session, token_hash: str) -> TokenOwner | None:
    row = session.execute(
        select(User.id, User.role, Token.expires_at, Token.impersonated_by)
        .join(Token, Token.user_id == User.id)
        .where(Token.token_hash == token_hash, Token.expires_at > func.now(), User.active)
    ).first()
    if row is None:
        return None
    user_id, role, expires_at, impersonated_by = row
    return TokenOwner(user_id, sys.intern(role), expires_at, impersonated_by)


def revoke_token(session: Session, token: str) -> bool:
    result = session.execute(delete(Token).where(Token.token_hash == digest(token)))
    return result.rowcount > 0


def revoke_impersonations(session: Session) -> int:
    """Revoke every impersonation token of the session's tenant; returns how many."""
    return session.execute(delete(Token).where(Token.impersonated_by.is_not(None))).rowcount


def revoke_user_tokens(session: Session, user_id: int, keep: str | None = None) -> int:
    """Revoke every token of ``user_id`` but ``keep``; returns how many."""
    stmt = delete(Token).where(Token.user_id == user_id)
    if keep is not None:
        stmt = stmt.where(Token.token_hash != digest(keep))
    return session.execute(stmt).rowcount
