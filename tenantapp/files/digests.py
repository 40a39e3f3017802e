"""The SHA-256 an uploader vouches for, checked: RFC 9530's ``Repr-Digest`` (or
``Content-Digest``: the same for a body sent as it is) with ``sha-256=:BASE64:``.

An upload is hashed only when the uploader sends one: SHA-256 costs more than sealing and
writing the file together (58 ms per 100 MB here, against 31 for the whole upload), and the
sealing already tells a stored file that was changed. Other algorithms are ignored, as the
RFC lets a recipient do.
"""

import base64
import binascii
import hashlib

from ..errors import InvalidInput
from .overlap import Beside

HEADERS = ("Repr-Digest", "Content-Digest")


class DigestMismatch(InvalidInput):
    code = "digest_mismatch"


def vouched_sha256(headers) -> bytes | None:
    """The SHA-256 the request's digest fields give (both, when sent, must agree)."""
    found = None
    for header in HEADERS:
        for member in headers.get(header, "").split(","):
            name, _, value = member.strip().partition("=")
            if name.strip() != "sha-256":
                continue
            digest = _bytes(header, value.strip())
            if found is not None and digest != found:
                raise InvalidInput(f"{HEADERS[0]} and {HEADERS[1]} give two SHA-256 digests")
            found = digest
    return found


def _bytes(header: str, value: str) -> bytes:
    try:
        if not (len(value) > 2 and value[0] == value[-1] == ":"):
            raise ValueError
        digest = base64.b64decode(value[1:-1], validate=True)
    except (ValueError, binascii.Error):
        digest = b""
    if len(digest) != hashlib.sha256().digest_size:
        raise InvalidInput(
            f"{header}: sha-256 is 32 bytes in base64 between colons (sha-256=:…:)",
            {header: "not a SHA-256 digest"},
        )
    return digest


def field(digest_hex: str) -> str:
    """The ``Repr-Digest`` value of a stored file's SHA-256."""
    return f"sha-256=:{base64.b64encode(bytes.fromhex(digest_hex)).decode()}:"


class Hashed:
    """SHA-256 on a thread beside the upload (hashlib lets go of the GIL)."""

    def __init__(self):
        self._digest = hashlib.sha256()
        self._beside = Beside(self._update, "sha256")

    def _update(self, batch: list) -> None:
        for piece in batch:
            self._digest.update(piece)

    def update(self, piece: bytes) -> None:
        self._beside.put(piece)

    def close(self) -> None:
        self._beside.close()

    def check(self, vouched: bytes) -> str:
        """The hex digest, when it is the one ``vouched``."""
        self.close()
        if self._digest.digest() != vouched:
            raise DigestMismatch(
                "the file's SHA-256 is not the one the digest field gives: it was not kept"
            )
        return self._digest.hexdigest()
