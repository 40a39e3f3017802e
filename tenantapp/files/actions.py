"""Storing, reading and deleting a tenant's files: the sealing, the store and the row together.

An upload streams: the body is read in pieces, sealed chunk by chunk and written to the store as
it comes, counted against the size limit and the tenant's storage quota on the way. The row is
added in the request's transaction; the blob is written before it, and removed again if that
transaction does not commit, so a failed upload leaves nothing behind. A deleted file's blob is
set aside once the deletion has committed (``FileService.discard``), kept for restores.
"""

import logging
import re

import filetype

from .. import audit
from ..encryption.columns import sealer_of
from ..errors import APIError, Conflict, InvalidInput
from ..interfaces import IFiles, service
from ..quotas import MB, QuotaExceeded
from ..quotas.storage import storage_room
from .digests import Hashed, vouched_sha256
from .models import StoredFile
from .overlap import BATCH, Ahead
from .sealing import (
    CHUNK,
    Damaged,
    new_key,
    open_range,
    random_blob_id,
    seal_chunks,
)
from .storage import blob_key

log = logging.getLogger(__name__)
KEY_AAD = b"files.sealed_key"
SNIFF_BYTES = 8192
BODY_PIECE = 16 * CHUNK  # whole chunks, sealed without a copy (64 KiB reads: 37 ms, not 30)
AHEAD_FROM = 2 * BATCH  # a longer read is opened on a thread of its own
# a name as a person gave it: no path, no control characters (it ends up in a header)
NAME = re.compile(r"[^\x00-\x1f\x7f/\\]{1,255}")
OCTETS = "application/octet-stream"


class FileTooLarge(APIError):
    status = 413
    code = "file_too_large"


class FileDamaged(APIError):
    """The stored contents do not open: changed, cut short or swapped in the store."""

    status = 500
    code = "file_damaged"


def file_name(raw: str | None) -> str:
    if raw is None or not NAME.fullmatch(raw) or raw in (".", ".."):
        raise InvalidInput(
            "say the file's name: ?name=NAME, 1 to 255 characters, no slash or control character",
            {"name": "required: 1 to 255 characters, no slash or control character"},
        )
    return raw


def sniffed_type(head: bytes) -> str:
    """The type the first bytes show (``filetype``'s signatures); text that is UTF-8 without
    NULs is ``text/plain``; anything else is bytes. What the uploader said is never used: a
    download must not become a page of the service's own origin."""
    kind = filetype.guess(head) if head else None
    if kind is not None:
        return kind.mime
    try:
        head.decode()
    except UnicodeDecodeError as error:  # a character cut at the end of the sniffed bytes
        if error.start < len(head) - 3:
            return OCTETS
    return OCTETS if b"\x00" in head else "text/plain"


class _Body:
    """The request body in pieces, counted, its head kept for sniffing (and hashed, when the
    uploader sent a digest)."""

    def __init__(self, stream, max_bytes: int, room: int | None, hashed: Hashed | None):
        self.stream = stream
        self.max_bytes = max_bytes
        self.room = room  # bytes left in the tenant's storage quota, None: no quota
        self.size = 0
        self.hashed = hashed
        self.head = b""

    def __iter__(self):
        while piece := self.stream.read(BODY_PIECE):
            self.size += len(piece)
            if self.size > self.max_bytes:
                raise FileTooLarge(f"a file may hold at most {self.max_bytes // MB} MB")
            if self.room is not None and self.size > self.room:
                raise QuotaExceeded("this file would take the tenant past its storage quota")
            if len(self.head) < SNIFF_BYTES:
                self.head += piece[: SNIFF_BYTES - len(self.head)]
            if self.hashed is not None:
                self.hashed.update(piece)
            yield piece


def upload(request, name: str) -> StoredFile:
    settings = service(request.registry, IFiles)
    store = settings.store
    length = request.content_length
    if length is None and "chunked" not in request.headers.get("Transfer-Encoding", "").lower():
        raise InvalidInput("the body is the file: send it (with its Content-Length, or chunked)")
    if length is not None and length > settings.max_bytes:
        raise FileTooLarge(f"a file may hold at most {settings.max_bytes // MB} MB")
    room = storage_room(request)
    if room is not None and length is not None and length > room:
        raise QuotaExceeded(
            f"this file ({length / MB:.1f} MB) would take the tenant past its storage quota"
        )
    tenant_id = request.tenant.record.id
    key, blob = new_key(), random_blob_id()
    vouched = vouched_sha256(request.headers)
    hashed = Hashed() if vouched is not None else None
    body = _Body(request.body_file, settings.max_bytes, room, hashed)
    where = blob_key(tenant_id, blob)
    try:
        store.put(where, seal_chunks(key, blob, body))
    finally:
        if hashed is not None:
            hashed.close()
    _unless_committed(request, lambda: store.delete(where))
    stored = StoredFile(
        blob=blob,
        name=name,
        content_type=sniffed_type(body.head),
        size=body.size,
        sha256=None if hashed is None else hashed.check(vouched),
        sealed_key=sealer_of(request.dbsession).seal_bytes(key, KEY_AAD),
        uploaded_by=request.identity.user_id if request.identity else None,
    )
    request.dbsession.add(stored)
    request.dbsession.flush()
    audit.record(request, "file.uploaded", f"file:{stored.id}", size=stored.size)
    if settings.scan_task:
        request.defer(settings.scan_task, file_id=stored.id)
    return stored


def read_file(request, file_id: int):
    """A file's bytes, opened as they are read; None when the tenant has no such file. For
    the scan hook's task (``tenantapp.files.scan_task``) and app code."""
    stored = request.dbsession.get(StoredFile, file_id)
    if stored is None:
        return None
    first, rest = contents(request, stored, 0, stored.size)
    yield first
    yield from rest


def quarantine(request, file_id: int, reason: str) -> bool:
    """Remove a file a scanner found bad (its blob once this commits), audited with the
    reason; users' fields naming it are cleared. False when it was gone already."""
    from ..users.custom import file_references
    from ..users.models import User

    stored = request.dbsession.get(StoredFile, file_id)
    if stored is None:
        return False
    for user_id, field in file_references(request.dbsession, file_id):
        user = request.dbsession.get(User, user_id)
        user.custom = {k: v for k, v in user.custom.items() if k != field}
    request.dbsession.flush()
    audit.record(
        request, "file.quarantined", f"file:{file_id}", actor="scanner", reason=reason[:500]
    )
    delete(request, stored, keep=False)  # not kept for restores: it is not to come back
    return True


def delete(request, stored: StoredFile, keep: bool = True) -> None:
    """Refused (409) while a user's ``file`` field names it: clear that first. Its blob is set
    aside once this commits (``keep``: for the retention, else removed)."""
    from ..users.custom import file_references

    used = file_references(request.dbsession, stored.id)
    if used:
        named = ", ".join(f"user {user_id}'s {field}" for user_id, field in used[:5])
        raise Conflict(f"file {stored.id} is in use ({named}): clear those fields first")
    files = service(request.registry, IFiles)
    tenant_id, blob = request.tenant.record.id, stored.blob
    request.dbsession.delete(stored)
    request.dbsession.flush()
    audit.record(request, "file.deleted", f"file:{stored.id}", size=stored.size)
    request.tm.get().addAfterCommitHook(
        lambda ok: ok and _quietly(files.discard, tenant_id, blob, keep)
    )


def contents(request, stored: StoredFile, start: int, stop: int):
    """Bytes ``start``..``stop`` of the file, opened as they are read; the first chunk is
    opened before this returns, so a damaged file is an error answer, not a cut-off one."""
    store = service(request.registry, IFiles).store
    tenant_id = request.tenant.record.id
    key = sealer_of(request.dbsession).open_bytes(stored.sealed_key, KEY_AAD)
    where = blob_key(tenant_id, stored.blob)
    pieces = open_range(
        key, stored.blob, stored.size, start, stop, lambda o, n: store.read(where, o, n)
    )
    try:
        first = next(pieces, b"")
    except (Damaged, FileNotFoundError) as error:
        log.error("file %s of tenant %s: %s", stored.id, tenant_id, error)
        raise FileDamaged("this file's stored contents do not open: restore it") from None
    rest = _logged(pieces, stored.id, tenant_id)
    if stop - start > AHEAD_FROM:
        rest = Ahead(rest, "file-read")  # opened while the server sends what came before
    return first, rest


def _logged(pieces, file_id: int, tenant_id: int):
    try:
        yield from pieces
    except Damaged as error:  # the answer has started: it is cut off, and the log says why
        log.error("file %s of tenant %s: %s", file_id, tenant_id, error)
        raise


def _unless_committed(request, undo) -> None:
    transaction = request.tm.get()
    transaction.addAfterCommitHook(lambda ok: ok or _quietly(undo))
    transaction.addAfterAbortHook(lambda: _quietly(undo))


def _quietly(call, *args) -> None:
    """A blob left behind is sealed and unreachable; never an error for the request."""
    try:
        call(*args)
    except Exception:
        log.exception("could not remove a file's blob from the store")
