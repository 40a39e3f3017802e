"""Reaching a tenant by host: ``<slug>.<tenantapp.base_domain>``, and custom domains proven by a
DNS TXT record (``tenantapp.custom_domains = true``). Paths (``/acme/...``) always work."""

from pyramid.settings import asbool

from ..config import setting
from ..interfaces import (
    ICacheListener,
    IDnsResolver,
    IHostResolver,
    IServers,
    provide,
    provide_factory,
    service,
    when_assembled,
)
from .resolution import HostResolver, domain_cache
from .verification import make_resolver


def includeme(config):
    settings = config.get_settings()
    base = (settings.get("tenantapp.base_domain") or "").strip().lower().strip(".") or None
    custom = asbool(settings.get("tenantapp.custom_domains", False))
    capacity = setting(settings, "tenantapp.domain_cache_size", int, 10_000, minimum=0)
    cache = domain_cache(capacity)
    when_assembled(config, lambda registry: service(registry, ICacheListener).register(cache))

    def host_resolver(registry) -> HostResolver:
        return HostResolver(base, custom, cache, service(registry, IServers).default.serving)

    provide_factory(config, host_resolver, IHostResolver)
    provide(config, make_resolver(settings.get("tenantapp.dns_resolver")), IDnsResolver)
    config.include("tenantapp.openapi")
    config.add_api_views(".views")
