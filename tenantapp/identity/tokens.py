"""Issuing, resolving and revoking opaque bearer tokens."""

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ..users.models import User
from .models import Token

PREFIX = "tnt_"


def digest(token: str) -> str:
    """Tokens carry 256 random bits, so a fast hash is enough to keep them unusable at rest."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def issue_token(session: Session, user: User, expires_at: datetime) -> tuple[str, Token]:
    plain = PREFIX + secrets.token_urlsafe(32)
    row = Token(user_id=user.id, token_hash=digest(plain), expires_at=expires_at)
    session.add(row)
    session.flush()
    return plain, row


def user_for_token(session: Session, token: str) -> User | None:
    return session.scalar(
        select(User)
        .join(Token, Token.user_id == User.id)
        .where(Token.token_hash == digest(token), Token.expires_at > func.now())
    )


def revoke_token(session: Session, token: str) -> bool:
    result = session.execute(delete(Token).where(Token.token_hash == digest(token)))
    return result.rowcount > 0
