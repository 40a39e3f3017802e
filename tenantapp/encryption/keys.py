"""Each tenant's data keys: rows of the registry's ``tenant_keys``, wrapped by the keyring's
key-encryption key, unwrapped on first use and then kept in this process's memory.

A tenant has versions of its data key: new values are sealed with the newest, older ones stay
readable with theirs (``rotate-keys --new-data-keys`` adds a version and re-seals). The rows
go with the tenant's registry row (``ON DELETE CASCADE``): purging a tenant destroys them.
"""

import threading
import time
from collections import OrderedDict
from datetime import datetime

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Mapped, mapped_column

from ..tenancy.models import SharedBase, TenantRecord
from .keyring import KeyRing, KeyUnavailable

CURRENT_TTL = 60.0  # seconds: how soon a process seals with a version another process added
CACHE_SIZE = 10_000


class TenantKey(SharedBase):
    __tablename__ = "tenant_keys"

    tenant_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    kek: Mapped[str] = mapped_column(String(64))  # the name of the key that wraps it
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


keys = TenantKey.__table__
tenants = TenantRecord.__table__


def _aad(tenant_id: int, version: int) -> bytes:
    """A wrapped key opens only as the key of its own tenant and version."""
    return f"tenant-key:{tenant_id}:{version}".encode()


class TenantKeys:
    def __init__(self, ring: KeyRing, registry: Engine):
        self.ring = ring
        self.registry = registry
        self._keys: OrderedDict[tuple[int, int], AESGCM] = OrderedDict()
        self._current: dict[int, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def create(self, connection: Connection, tenant_id: int, version: int = 1) -> AESGCM:
        """A new data key for ``tenant_id``, in the caller's registry transaction (so a tenant
        and its key are made together, or neither)."""
        key, row = self._new_row(tenant_id, version)
        connection.execute(insert(keys).values(**row))
        return AESGCM(key)

    def _new_row(self, tenant_id: int, version: int) -> tuple[bytes, dict]:
        key = AESGCM.generate_key(256)
        kek, wrapped = self.ring.wrap(key, _aad(tenant_id, version))
        return key, {"tenant_id": tenant_id, "version": version, "kek": kek, "wrapped": wrapped}

    def current(self, tenant_id: int) -> tuple[int, AESGCM]:
        """The version and key that new values of ``tenant_id`` are sealed with; a tenant made
        before tenantapp had keys gets its first one here."""
        known = self._current.get(tenant_id)
        if known is None or known[1] < time.monotonic():
            with self.registry.begin() as connection:
                version = connection.scalar(
                    select(func.max(keys.c.version)).where(keys.c.tenant_id == tenant_id)
                )
                if version is None:  # two processes at once: one key is kept, both read it
                    version = 1
                    _, row = self._new_row(tenant_id, version)
                    connection.execute(insert(keys).values(**row).on_conflict_do_nothing())
            known = (version, time.monotonic() + CURRENT_TTL)
            self._current[tenant_id] = known
        return known[0], self.key(tenant_id, known[0])

    def key(self, tenant_id: int, version: int) -> AESGCM:
        """``tenant_id``'s data key of ``version``; KeyUnavailable if it was destroyed."""
        cached = self._keys.get((tenant_id, version))
        if cached is not None:
            return cached
        with self.registry.connect() as connection:
            row = connection.execute(
                select(keys.c.kek, keys.c.wrapped).where(
                    keys.c.tenant_id == tenant_id, keys.c.version == version
                )
            ).first()
        if row is None:
            raise KeyUnavailable(
                f"tenant {tenant_id} has no data key of version {version}: it was destroyed "
                "(the tenant was purged) or never made here"
            )
        aead = AESGCM(self.ring.unwrap(row.kek, row.wrapped, _aad(tenant_id, version)))
        with self._lock:
            self._keys[(tenant_id, version)] = aead
            while len(self._keys) > CACHE_SIZE:
                self._keys.popitem(last=False)
        return aead

    def forget(self, tenant_id: int) -> None:
        """Drop ``tenant_id``'s keys from this process's memory (after a purge)."""
        with self._lock:
            for cached in [k for k in self._keys if k[0] == tenant_id]:
                del self._keys[cached]
            self._current.pop(tenant_id, None)

    def wrapped(self, connection: Connection, tenant_id: int) -> list[dict]:
        """``tenant_id``'s key rows as they are stored (wrapped): for a portable archive."""
        rows = connection.execute(
            select(keys.c.version, keys.c.kek, keys.c.wrapped).where(keys.c.tenant_id == tenant_id)
        )
        return [row._asdict() for row in rows]

    def adopt(
        self, connection: Connection, tenant_id: int, source_id: int, rows=None
    ) -> dict[int, AESGCM]:
        """Give ``tenant_id`` the data keys of ``source_id`` (an imported copy reads the values
        its archive holds, sealed with them): from the registry, or from ``rows`` (a portable
        archive's, wrapped by a key-encryption key this process holds); the keys by version."""
        if rows is None:
            rows = self.wrapped(connection, source_id)
        if not rows:
            raise KeyUnavailable(
                f"the data key of tenant {source_id}, which this archive was sealed with, is "
                "not here: that tenant was purged (its key destroyed), or the archive comes "
                "from another installation (export it with --portable)"
            )
        adopted = {}
        for row in rows:
            version = row["version"]
            key = self.ring.unwrap(row["kek"], row["wrapped"], _aad(source_id, version))
            adopted[version] = AESGCM(key)
            kek, wrapped = self.ring.wrap(key, _aad(tenant_id, version))
            connection.execute(
                insert(keys).values(tenant_id=tenant_id, version=version, kek=kek, wrapped=wrapped)
            )
        return adopted

    def rewrap(self) -> int:
        """Re-wrap every data key not wrapped by the current key-encryption key; how many.
        Online: the data keys themselves, and so every sealed value, stay as they are."""
        done = 0
        with self.registry.begin() as connection:
            rows = connection.execute(
                select(keys).where(keys.c.kek != self.ring.current).with_for_update()
            ).all()
            for row in rows:
                aad = _aad(row.tenant_id, row.version)
                kek, wrapped = self.ring.wrap(self.ring.unwrap(row.kek, row.wrapped, aad), aad)
                connection.execute(
                    keys.update()
                    .where(keys.c.tenant_id == row.tenant_id, keys.c.version == row.version)
                    .values(kek=kek, wrapped=wrapped)
                )
                done += 1
        return done

    def add_version(self, tenant_id: int) -> int:
        """A new data key version for ``tenant_id``, which new values are sealed with."""
        with self.registry.begin() as connection:
            connection.execute(  # two rotations of one tenant at once: one after the other
                select(tenants.c.id).where(tenants.c.id == tenant_id).with_for_update()
            )
            newest = connection.scalar(
                select(func.max(keys.c.version)).where(keys.c.tenant_id == tenant_id)
            )
            version = (newest or 0) + 1
            self.create(connection, tenant_id, version)
        self._current.pop(tenant_id, None)
        return version


__all__ = ["KeyUnavailable", "TenantKey", "TenantKeys"]
