"""A cache for app code, scoped to the tenant: ``request.cache`` (in views and in jobs alike).

    value = request.cache.get_or_create("plans", lambda: expensive(request), expiration=60)
    request.cache.set("report", data, sealed=True)  # sealed with the tenant's data key

Keys are the app's own strings; tenantapp puts each under its tenant: the stored key is
``<prefix><tenant id>:<cache epoch>:<BLAKE2b of the app's key>`` (the prefix:
``tenantapp:cache:``), so no app key, however it is spelt, reaches another tenant's entries,
and none is stored in the clear. The cache epoch
(``tenants.cache_epoch``, s022) goes up by a trigger when the tenant moves, is archived or comes
back from an archive or a restore; every process hears it with the registry's notifications,
so what was cached before is never read again. Purging a tenant deletes its entries.

Values are JSON (never pickle: a cache server is no place to load code from); ``sealed=True``
seals one with the tenant's data key (AES-GCM, the stored key as associated data), so it opens
only under its own key and tenant, and not at all once the tenant is purged. Backed by
dogpile.cache: Redis when ``tenantapp.cache.url`` names one (shared by the processes, which
production runs several of), else an LRU in each process (``tenantapp.cache.memory_entries``).
"""

import hashlib
import json
from dataclasses import dataclass

from dogpile.cache import make_region
from dogpile.cache.api import NO_VALUE
from pyramid.exceptions import ConfigurationError

from .config import setting
from .encryption.columns import sealer_of
from .encryption.keyring import KeyUnavailable
from .interfaces import ITenantCaches, provide, service

PREFIX = "tenantapp:cache:"  # tenantapp.cache.prefix: installations that share a Redis differ
PLAIN, SEALED = b"J", b"S"


@dataclass(frozen=True)
class TenantCaches:
    """The region all tenants' entries are in, and what the lifecycle does with them."""

    region: object  # a configured dogpile.cache region
    redis: object = None  # a redis client on the region's pool, when it is Redis
    memory: object = None  # the LRU mapping, when it is in process
    prefix: str = PREFIX

    def tenant_prefix(self, tenant_id: int) -> str:
        return f"{self.prefix}{int(tenant_id)}:"

    def of(self, tenant_id: int, epoch: int, sealer) -> "TenantCache":
        return TenantCache(self.region, f"{self.tenant_prefix(tenant_id)}{int(epoch)}:", sealer)

    def purge(self, tenant_id: int) -> int:
        """Delete every entry of the tenant (of any epoch); how many."""
        prefix = self.tenant_prefix(tenant_id)
        if self.redis is not None:
            gone = 0
            for batch in _batches(self.redis.scan_iter(match=f"{prefix}*", count=500), 500):
                gone += self.redis.unlink(*batch)
            return gone
        keys = [key for key in self.memory.keys() if key.startswith(prefix)]  # noqa: SIM118 (a copy)
        for key in keys:
            self.memory.pop(key, None)
        return len(keys)


def _batches(items, size: int):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class TenantCache:
    """One tenant's view of the cache (``request.cache``)."""

    def __init__(self, region, prefix: str, sealer):
        self._region = region
        self._prefix = prefix
        self._sealer = sealer  # () -> the tenant's ``encryption.columns.Sealer``, when sealing

    def _key(self, key: str) -> str:
        if not isinstance(key, str):
            raise TypeError(f"a cache key is a string, not {type(key).__name__}")
        digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16)
        return self._prefix + digest.hexdigest()

    def _encode(self, stored_key: str, value, sealed: bool) -> bytes:
        data = json.dumps(value, separators=(",", ":")).encode()
        if not sealed:
            return PLAIN + data
        return SEALED + self._sealer().seal_bytes(data, stored_key.encode())

    def _decode(self, stored_key: str, stored):
        if stored is NO_VALUE:
            return NO_VALUE
        kind, data = stored[:1], stored[1:]
        if kind == SEALED:
            try:
                data = self._sealer().open_bytes(data, stored_key.encode())
            except KeyUnavailable:  # its key is gone, or it was moved: as good as absent
                return NO_VALUE
        elif kind != PLAIN:
            return NO_VALUE
        return json.loads(data)

    def get(self, key: str, default=None, expiration: float | None = None):
        stored_key = self._key(key)
        value = self._decode(stored_key, self._region.get(stored_key, expiration))
        return default if value is NO_VALUE else value

    def set(self, key: str, value, sealed: bool = False) -> None:
        """``value``: anything JSON can say."""
        stored_key = self._key(key)
        self._region.set(stored_key, self._encode(stored_key, value, sealed))

    def delete(self, key: str) -> None:
        self._region.delete(self._key(key))

    def get_or_create(self, key: str, creator, expiration: float | None = None, sealed=False):
        """The cached value, else ``creator()``'s, cached (one creator at a time per key in
        this process: dogpile's lock)."""
        stored_key = self._key(key)

        def create() -> bytes:
            return self._encode(stored_key, creator(), sealed)

        stored = self._region.get_or_create(stored_key, create, expiration)
        value = self._decode(stored_key, stored)
        if value is NO_VALUE:  # it would not open: made again
            stored = create()
            self._region.set(stored_key, stored)
            value = self._decode(stored_key, stored)
        return value


def _bytes(value):
    return value


def caches_from(settings: dict) -> TenantCaches:
    expiration = setting(settings, "tenantapp.cache.expiration_seconds", int, 300, minimum=1)
    url = setting(settings, "tenantapp.cache.url", str, "")
    prefix = setting(settings, "tenantapp.cache.prefix", str, PREFIX)
    region = make_region(serializer=_bytes, deserializer=_bytes)
    if not url:
        from lru import LRU

        entries = setting(settings, "tenantapp.cache.memory_entries", int, 10_000, minimum=1)
        memory = LRU(entries)
        region.configure(
            "dogpile.cache.memory", expiration_time=expiration, arguments={"cache_dict": memory}
        )
        return TenantCaches(region, memory=memory, prefix=prefix)
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigurationError(f"tenantapp.cache.url = {url!r}: a redis:// URL, or empty")
    try:
        import redis
    except ImportError:
        raise ConfigurationError(
            "tenantapp.cache.url needs redis: pip install tenantapp[redis]"
        ) from None
    pool = redis.ConnectionPool.from_url(url)
    region.configure(
        "dogpile.cache.redis",
        expiration_time=expiration,
        # Redis forgets what dogpile would call expired anyway, a while after
        arguments={"connection_pool": pool, "redis_expiration_time": expiration * 2},
    )
    return TenantCaches(region, redis=redis.Redis(connection_pool=pool), prefix=prefix)


def tenant_cache(request) -> TenantCache:
    tenant = getattr(request, "tenant", None)
    if tenant is None:
        raise AttributeError("request.cache is a tenant's, and this request has no tenant")
    record = tenant.record
    caches = service(request.registry, ITenantCaches)
    # the tenant's sealer, found only for a sealed value: a cached read opens no session
    return caches.of(record.id, record.cache_epoch, lambda: sealer_of(request.dbsession))


def includeme(config):
    provide(config, caches_from(config.get_settings()), ITenantCaches)
    config.add_request_method(tenant_cache, "cache", reify=True)
