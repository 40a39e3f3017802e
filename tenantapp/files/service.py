"""The tenants' files as a service (``IFiles``): the store and the limits the request path
uses, and what the lifecycle does with a tenant's blobs: set a deleted one aside and sweep it
later, purge them all, write them into the tenant's archive and read them back from one."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .sealing import sealed_size
from .storage import READ_PIECE, blob_key, deleted_key, deleted_prefix, everything_of

BLOB_ID = re.compile(r"[0-9a-f]{32}")
ARCHIVED = "files/"  # a blob's name in a tenant archive: files/<blob id>


@dataclass(frozen=True)
class FileService:
    """The store and the limit (the request path), and what the lifecycle does with a
    tenant's blobs: purge them, write them into its archive, read them back from one."""

    store: object  # storage.LocalStore or storage.S3Store
    max_bytes: int
    scan_task: str = ""  # a tenant task deferred for each upload (``file_id=``): the scan hook
    keep_deleted_days: int = 7  # a deleted file's blob, kept for restores to before it

    def purge(self, tenant_id: int) -> None:
        self.store.delete_prefix(everything_of(tenant_id))

    def discard(self, tenant_id: int, blob: str, keep: bool = True) -> None:
        """A deleted file's blob: set aside for ``keep_deleted_days`` (``keep``), or gone."""
        if keep and self.keep_deleted_days > 0:
            self.store.move(blob_key(tenant_id, blob), deleted_key(tenant_id, blob))
        else:
            self.store.delete(blob_key(tenant_id, blob))

    def sweep(self, tenant_id: int, now: datetime | None = None) -> int:
        """Remove the set-aside blobs past their retention; how many."""
        now = now or datetime.now(UTC)
        old = self.store.keys(
            deleted_prefix(tenant_id), before=now - timedelta(days=self.keep_deleted_days)
        )
        for key in old:
            self.store.delete(key)
        return len(old)

    def _read(self, tenant_id: int, blob: str, length: int):
        """A blob as stored, also one set aside (an archive of the past names it)."""
        try:
            pieces = self.store.read(blob_key(tenant_id, blob), 0, length)
            first = next(pieces, b"")
        except (FileNotFoundError, LookupError) as missing:
            try:
                pieces = self.store.read(deleted_key(tenant_id, blob), 0, length)
                first = next(pieces, b"")
            except (FileNotFoundError, LookupError):
                raise missing from None
        yield first
        yield from pieces

    def export(self, tenant_id: int, files: list[tuple[str, int]], archive) -> list[dict]:
        """Write each ``(blob, size)`` of the tenant's into the zip ``archive``, as it is
        stored (sealed: its key is in its row, which the archive seals with the rows); the
        manifest's list of them."""
        listed = []
        for blob, size in files:
            length = sealed_size(size)
            with archive.open(ARCHIVED + blob, "w", force_zip64=length > 2**31) as out:
                for piece in self._read(tenant_id, blob, length):
                    out.write(piece)
            listed.append({"blob": blob, "size": size})
        return listed

    def import_(self, tenant_id: int, listed, archive) -> None:
        """Put the blobs an archive's manifest lists into the store, for ``tenant_id``; a
        listed blob that is missing, or a list that is not one, refuses the archive."""
        if not isinstance(listed, list):
            raise ValueError("the manifest's files are not a list")
        for item in listed:
            blob = item.get("blob") if isinstance(item, dict) else None
            if not isinstance(blob, str) or not BLOB_ID.fullmatch(blob):
                raise ValueError(f"the manifest lists a file that is no blob id: {blob!r}")
            try:
                source = archive.open(ARCHIVED + blob)
            except KeyError:
                raise ValueError(f"the archive has no contents for file blob {blob}") from None
            with source:
                self.store.put(
                    blob_key(tenant_id, blob), iter(lambda s=source: s.read(READ_PIECE), b"")
                )
