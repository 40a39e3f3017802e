"""Which tenant a request's ``Host`` names: ``<slug>.<base domain>``, or a verified custom
domain. The root factory asks; traversal then starts at that tenant (Pyramid's virtual root),
so ``/users/42`` on ``acme.example.com`` is ``/acme/users/42``, and ``resource_url`` drops the
slug again."""

import re

from sqlalchemy import select
from sqlalchemy.engine import Engine

from ..caching import NotifiedCache, forget_everywhere
from ..tenancy.directory import VISIBLE
from ..tenancy.models import TenantDomain, TenantRecord
from ..tenancy.slugs import is_valid_slug

CHANNEL = "tenantapp_domains"
NOT_A_TENANT = ""  # cached as well: a host that names no tenant must not cost a query each time
LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){LABEL}(?:\.{LABEL})+$")


def hostname(host: str) -> str | None:
    """``Host`` as a lowercase DNS name without port or final dot; None if it is not one (an IP
    address with a port is, harmlessly, a name here: no domain is ever registered as one)."""
    name = host.strip().lower()
    if name.startswith("["):  # IPv6 literal
        return None
    name = name.rsplit(":", 1)[0] if ":" in name else name
    name = name.rstrip(".")
    return name if HOSTNAME.match(name) else None


class HostResolver:
    def __init__(self, base_domain: str | None, custom: bool, cache: NotifiedCache, engine: Engine):
        self.base_domain = base_domain
        self.custom = custom
        self.cache = cache
        self.engine = engine

    @property
    def enabled(self) -> bool:
        return bool(self.base_domain) or self.custom

    def slug_for(self, host: str) -> str | None:
        name = hostname(host)
        if name is None:
            return None
        base = self.base_domain
        if base and name.endswith("." + base):
            label = name[: -len(base) - 1]
            return label if "." not in label and is_valid_slug(label) else None
        if name == base or not self.custom:
            return None
        return self.cache.lookup(name, self._load) or None

    def _load(self, domain: str) -> str:
        tenants, domains = TenantRecord.__table__, TenantDomain.__table__
        with self.engine.connect() as connection:
            slug = connection.scalar(
                select(tenants.c.slug)
                .join(domains, domains.c.tenant_id == tenants.c.id)
                .where(
                    domains.c.domain == domain,
                    domains.c.verified_at.is_not(None),
                    tenants.c.status.in_(VISIBLE),
                )
            )
        return slug or NOT_A_TENANT


def domain_cache(capacity: int) -> NotifiedCache:
    return NotifiedCache(CHANNEL, capacity)


def forget_domain(domain: str) -> None:
    forget_everywhere(CHANNEL, domain)
