"""Reaching a tenant by host: ``<slug>.<tenantapp.base_domain>``, and custom domains proven by a
DNS TXT record (``tenantapp.custom_domains = true``). Paths (``/acme/...``) always work."""

from pyramid.settings import asbool

from ..config import setting
from ..interfaces import IHostResolver, IServers, service
from .resolution import HostResolver, domain_cache
from .verification import make_resolver


def includeme(config):
    settings = config.get_settings()
    registry = config.registry
    base = (settings.get("tenantapp.base_domain") or "").strip().lower().strip(".") or None
    custom = asbool(settings.get("tenantapp.custom_domains", False))
    capacity = setting(settings, "tenantapp.domain_cache_size", int, 10_000, minimum=0)
    cache = registry["cache_listener"].register(domain_cache(capacity))
    engine = service(registry, IServers).default.serving
    config.register_service(HostResolver(base, custom, cache, engine), IHostResolver)
    registry["custom_domains"] = custom
    registry["dns_resolver"] = make_resolver(settings.get("tenantapp.dns_resolver"))
    config.scan(".views")
