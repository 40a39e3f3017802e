"""Password hashing: argon2id via argon2-cffi, with costs from settings."""

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10
MAX_LENGTH = 256


def password_hasher(settings: dict) -> PasswordHasher:
    """argon2id with argon2-cffi's defaults unless the settings lower them (tests do)."""
    defaults = PasswordHasher()
    return PasswordHasher(
        time_cost=int(settings.get("tenantapp.argon2.time_cost", defaults.time_cost)),
        memory_cost=int(settings.get("tenantapp.argon2.memory_cost", defaults.memory_cost)),
        parallelism=int(settings.get("tenantapp.argon2.parallelism", defaults.parallelism)),
    )


def verify_password(hasher: PasswordHasher, stored: str | None, password: str) -> bool:
    """Check ``password``; with no stored hash, spend the same time and fail, so response times
    do not tell which emails exist."""
    if stored is None:
        stored = hasher.hash("no such user: equalise timing")
        password = ""
    try:
        return hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
