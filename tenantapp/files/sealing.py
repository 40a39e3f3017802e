"""A file's contents sealed in chunks, so that any byte range opens without the rest.

Each file has a key of its own (AES-256-GCM, from ``cryptography``), sealed with the tenant's
data key in the file's row: purging the tenant destroys its data keys and so every file key
with them. The contents are cut into chunks of ``CHUNK`` bytes, each sealed on its own (the
STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár): chunk *i*'s nonce is *i* and a
flag that marks the last chunk, and the associated data is the file's blob id. A chunk moved,
reordered, dropped at the end or taken from another file does not open. A file of no bytes is
one empty last chunk. Chunk *i* of the stored blob starts at ``i * SEALED_CHUNK``.
"""

import os
from collections.abc import Iterable, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

CHUNK = 64 * 1024
TAG = 16
SEALED_CHUNK = CHUNK + TAG


class Damaged(Exception):
    """A stored chunk does not open: the blob was changed, cut short or swapped."""


def new_key() -> bytes:
    return AESGCM.generate_key(256)


def _nonce(index: int, last: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def sealed_size(size: int) -> int:
    """The stored blob's length for ``size`` bytes of contents."""
    return size + TAG * chunk_count(size)


def chunk_count(size: int) -> int:
    return max(1, -(-size // CHUNK))


def seal_chunks(key: bytes, blob: str, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The sealed chunks of the contents ``chunks`` yields (any sizes: re-cut to ``CHUNK``;
    pieces of whole chunks, as an upload reads them, are sealed without a copy)."""
    aead, aad = AESGCM(key), blob.encode()
    index, held, pending = 0, None, bytearray()  # held: a full chunk, maybe the last
    for piece in chunks:
        if not pending and len(piece) % CHUNK == 0:
            view = memoryview(piece)
            ready = [view[at : at + CHUNK] for at in range(0, len(piece), CHUNK)]
        else:
            pending += piece
            ready = []
            while len(pending) >= CHUNK:
                ready.append(bytes(pending[:CHUNK]))
                del pending[:CHUNK]
        for chunk in ready:
            if held is not None:
                yield aead.encrypt(_nonce(index, False), held, aad)
                index += 1
            held = chunk
    if held is not None and pending:
        yield aead.encrypt(_nonce(index, False), held, aad)
        index, held = index + 1, None
    yield aead.encrypt(_nonce(index, True), bytes(pending) if held is None else held, aad)


def open_range(key: bytes, blob: str, size: int, start: int, stop: int, read) -> Iterator[bytes]:
    """Bytes ``start``..``stop`` (exclusive) of a file of ``size`` bytes, opened chunk by chunk
    from ``read(offset, length)``, which yields the stored bytes there in pieces (sliced
    where they lie, copied only for a chunk that spans two pieces)."""
    aead, aad = AESGCM(key), blob.encode()
    last = chunk_count(size) - 1
    first, final = start // CHUNK, max(start, stop - 1) // CHUNK
    offset = first * SEALED_CHUNK
    length = min(sealed_size(size), (final + 1) * SEALED_CHUNK) - offset
    index, rest = first, b""
    for piece in read(offset, length):
        data = rest + piece if rest else piece
        view, at = memoryview(data), 0
        while index <= final:
            take = SEALED_CHUNK if index < last else _tail(size)
            if len(data) - at < take:
                break
            plain = _open(aead, index, index == last, view[at : at + take], aad)
            at += take
            yield _slice(plain, index, start, stop)
            index += 1
        if index > final:
            return
        rest = bytes(view[at:])
    raise Damaged(f"the stored file {blob} ends before chunk {index}")


def _tail(size: int) -> int:
    """The stored length of the last chunk."""
    return size - (chunk_count(size) - 1) * CHUNK + TAG


def _open(aead: AESGCM, index: int, last: bool, sealed: bytes, aad: bytes) -> bytes:
    try:
        return aead.decrypt(_nonce(index, last), sealed, aad)
    except InvalidTag:
        raise Damaged(f"chunk {index} of a stored file does not open") from None


def _slice(plain: bytes, index: int, start: int, stop: int) -> bytes:
    base = index * CHUNK
    return plain[max(0, start - base) : max(0, stop - base)]


def random_blob_id() -> str:
    return os.urandom(16).hex()
