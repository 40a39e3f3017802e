"""Password hashing: argon2id via argon2-cffi, with costs from settings."""

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ..config import setting

MIN_LENGTH = 10
MAX_LENGTH = 256


def password_hasher(settings: dict) -> PasswordHasher:
    """argon2id with argon2-cffi's defaults unless the settings lower them (tests do)."""
    defaults = PasswordHasher()
    return PasswordHasher(
        time_cost=setting(
            settings, "tenantapp.argon2.time_cost", int, defaults.time_cost, minimum=1
        ),
        memory_cost=setting(
            settings, "tenantapp.argon2.memory_cost", int, defaults.memory_cost, minimum=8
        ),
        parallelism=setting(
            settings, "tenantapp.argon2.parallelism", int, defaults.parallelism, minimum=1
        ),
    )


@cache
def _stand_in_hash(time_cost: int, memory_cost: int, parallelism: int) -> str:
    """A hash with the hasher's costs, made once, to verify against for unknown emails."""
    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
    return hasher.hash("no such user: equalise timing")


def verify_password(hasher: PasswordHasher, stored: str | None, password: str) -> bool:
    """Check ``password`` with exactly one argon2 run; with no stored hash, verify against a
    stand-in of the same costs and fail, so response times do not tell which emails exist."""
    known = stored is not None
    if not known:
        stored = _stand_in_hash(hasher.time_cost, hasher.memory_cost, hasher.parallelism)
    try:
        return hasher.verify(stored, password) and known
    except (VerificationError, InvalidHashError):
        return False
