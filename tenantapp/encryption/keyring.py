"""Key-encryption keys: named 256-bit keys from the settings (``tenantapp.encryption.keys``) or
the environment (``TENANTAPP_ENCRYPTION_KEYS``), ``NAME:BASE64`` separated by spaces, commas or
new lines. The first wraps new data keys and re-wraps old ones (``rotate-keys``); the others
are kept only to unwrap keys not yet re-wrapped, and can be dropped after a rotation."""

import base64
import binascii
import os
import re
import secrets
import struct
from dataclasses import dataclass
from datetime import date

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pyramid.exceptions import ConfigurationError

KEYS_SETTING = "tenantapp.encryption.keys"
KEYS_ENV = "TENANTAPP_ENCRYPTION_KEYS"
KEY_BYTES = 32
NONCE_BYTES = 12
NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")

# A sealed value: a mark, the data key's version, a nonce, the ciphertext and its tag. 0xFF is
# never the first byte of UTF-8 text, so a value without it is one written before sealing.
MARK = b"\xff"
HEADER = struct.Struct(">cI")


class KeyUnavailable(Exception):
    """A key needed to read something is not there: destroyed (the tenant was purged), or
    wrapped by a key-encryption key this process was not given."""


def new_key_text() -> str:
    """A fresh ``NAME:BASE64`` entry, to paste into the settings or the environment."""
    key = base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()
    return f"k{date.today():%Y%m%d}:{key}"


def seal(aead: AESGCM, version: int, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return HEADER.pack(MARK, version) + nonce + aead.encrypt(nonce, plaintext, aad)


def sealed_version(value: bytes) -> int | None:
    """The data key version a sealed value needs; None for a value written before sealing."""
    if len(value) < HEADER.size + NONCE_BYTES or value[:1] != MARK:
        return None
    return HEADER.unpack_from(value)[1]


def unseal(aead: AESGCM, value: bytes, aad: bytes) -> bytes:
    start = HEADER.size
    nonce = value[start : start + NONCE_BYTES]
    try:
        return aead.decrypt(nonce, value[start + NONCE_BYTES :], aad)
    except InvalidTag:
        raise KeyUnavailable("a sealed value does not open with its tenant's key") from None


@dataclass(frozen=True)
class KeyRing:
    keys: dict[str, AESGCM]
    current: str  # the name of the key that wraps

    def wrap(self, key: bytes, aad: bytes) -> tuple[str, bytes]:
        return self.current, seal(self.keys[self.current], 0, key, aad)

    def unwrap(self, kek_name: str, wrapped: bytes, aad: bytes) -> bytes:
        kek = self.keys.get(kek_name)
        if kek is None:
            raise KeyUnavailable(
                f"a data key is wrapped by the key-encryption key {kek_name!r}, which this "
                f"process was not given ({KEYS_SETTING} names {', '.join(self.keys)})"
            )
        return unseal(kek, wrapped, aad)


def keyring_from(settings: dict) -> KeyRing:
    text = (settings.get(KEYS_SETTING) or "").strip() or os.environ.get(KEYS_ENV, "").strip()
    if not text:
        raise ConfigurationError(
            f"no key-encryption key: set {KEYS_SETTING} (or the environment variable "
            f"{KEYS_ENV}) to NAME:BASE64 of 32 random bytes, for example {new_key_text()}"
        )
    keys: dict[str, AESGCM] = {}
    for item in re.split(r"[\s,]+", text):
        name, colon, encoded = item.partition(":")
        if not colon or not NAME.fullmatch(name):
            raise ConfigurationError(f"{KEYS_SETTING}: expected NAME:BASE64, not {item[:12]!r}…")
        try:
            key = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            key = b""
        if len(key) != KEY_BYTES:
            raise ConfigurationError(f"{KEYS_SETTING}: key {name!r} is not 32 bytes in base64")
        if name in keys:
            raise ConfigurationError(f"{KEYS_SETTING}: key {name!r} is named twice")
        keys[name] = AESGCM(key)
    return KeyRing(keys, next(iter(keys)))
