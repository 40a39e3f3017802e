"""Interfaces: marker interfaces the security policy recognises, and the services the app is
assembled from (registered with pyramid_services, found with ``request.find_service``)."""

from types import SimpleNamespace

from pyramid_services import find_service_factory
from zope.interface import Interface


class IPlatform(Interface):
    """The operator API under ``/-/``, which can never be a tenant slug."""


class IConsole(Interface):
    """The web console's pages (``/{tenant}/console``, ``/-/console``): the only place the
    console's cookie is taken as a credential, and where every change needs a CSRF token."""


class IServers(Interface):
    """The PostgreSQL servers tenants are placed on, by name, each with one bounded pool."""


class ITenantDirectory(Interface):
    """Which tenant a slug names, and where it is placed: the registry, cached in memory."""


class ITenantStore(Interface):
    """Where one isolation mode serves a tenant; registered under the mode's name.

    ``engine(entry)`` and ``binding(entry)``: where a session serving the tenant connects and
    how it is bound; ``owner_engine(entry)``: the same as the owner; ``heard_at(entry)``: the
    place (a name, an engine) whose listener hears of changes to its rows, or None (none
    listened to: nothing read from them is cached); ``schema_name(tenant_id)``. The three
    stores share one signature per method by design (``tenancy.stores``,
    ``tenancy.databases``); the lifecycle's storage of each mode adds ``transaction``,
    ``create``, ``archive``, ``restore``, ``drop`` and ``sizes`` (``lifecycle.storage``).
    """


class ITenantSessions(Interface):
    """Every session that serves a tenant is made here (``tenancy.sessions``), bound to it;
    ``add_hook(hook)``: a feature adds to each new session's ``info`` (limits, sealing)."""


class IDatabasePools(Interface):
    """Database mode's serving pools, within a budget of connections per server."""


class ITenancy(Interface):
    """The servers and each mode's storage, as the tenant lifecycle (create, move, drop, ...)
    works with them (``lifecycle.Tenancy``)."""


SINGLETONS_KEY = "tenantapp.singletons"


def service(registry, iface, name: str = ""):
    """A singleton service registered with ``register_service``, found once per process and
    then remembered: the request path asks for the tenant directory and the tenant's store on
    every request, and pyramid_services' per-request container costs about 0.6 ms a request
    (measured); singletons need none of it. Works outside a request too (scripts, tests)."""
    found = registry.get(SINGLETONS_KEY)
    if found is None:
        found = registry[SINGLETONS_KEY] = {}
    key = (iface, name)
    if key not in found:
        factory = find_service_factory(SimpleNamespace(registry=registry), iface, name=name)
        found[key] = factory(None, None)
    return found[key]


class ISettingsCatalog(Interface):
    """The per-tenant settings and feature flags declared in the ini (``tenant_settings``)."""


class IHostResolver(Interface):
    """Which tenant a request's Host names, if any (``domains``)."""


class IJobQueue(Interface):
    """Tenant jobs: declared tasks, deferring in a request's transaction, workers (``jobs``)."""
