"""Reaching a tenant by host: ``<slug>.<tenantapp.base_domain>``, and custom domains proven by a
DNS TXT record (``tenantapp.custom_domains = true``). Paths (``/acme/...``) always work."""

from pyramid.settings import asbool

from ..config import setting
from ..interfaces import ICacheListener, IDnsResolver, IHostResolver, IServers, provide, service
from .resolution import HostResolver, domain_cache
from .verification import make_resolver


def includeme(config):
    settings = config.get_settings()
    registry = config.registry
    base = (settings.get("tenantapp.base_domain") or "").strip().lower().strip(".") or None
    custom = asbool(settings.get("tenantapp.custom_domains", False))
    capacity = setting(settings, "tenantapp.domain_cache_size", int, 10_000, minimum=0)
    cache = service(registry, ICacheListener).register(domain_cache(capacity))
    engine = service(registry, IServers).default.serving
    provide(config, HostResolver(base, custom, cache, engine), IHostResolver)
    provide(config, make_resolver(settings.get("tenantapp.dns_resolver")), IDnsResolver)
    config.scan(".views")
