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


def singletons(registry) -> dict:
    """The services found so far, by (interface, name); a test swaps one in here."""
    found = registry.get(SINGLETONS_KEY)
    if found is None:
        found = registry[SINGLETONS_KEY] = {}
    return found


def provide(config, obj, iface, name: str = "") -> None:
    """Register ``obj`` as the ``iface`` service (pyramid_services), found by ``service()`` at
    once: what a later ``includeme`` looks up while the app is assembled needs no commit
    between them. A lookup of a service not provided yet fails, naming it."""
    config.register_service(obj, iface, name=name)
    singletons(config.registry)[(iface, name)] = obj


def service(registry, iface, name: str = ""):
    """A singleton service registered with ``register_service``, found once per process and
    then remembered: the request path asks for the tenant directory and the tenant's store on
    every request, and pyramid_services' per-request container costs about 0.6 ms a request
    (measured); singletons need none of it. Works outside a request too (scripts, tests)."""
    found = registry.get(SINGLETONS_KEY)  # singletons() inline: every request comes here
    if found is None:
        found = singletons(registry)
    key = (iface, name)
    if key not in found:
        try:
            factory = find_service_factory(SimpleNamespace(registry=registry), iface, name=name)
        except LookupError:
            raise LookupError(f"no {iface.__name__} service {name!r} yet") from None
        found[key] = factory(None, None)
    return found[key]


class ISettingsCatalog(Interface):
    """The per-tenant settings and feature flags declared in the ini (``tenant_settings``)."""


class IHostResolver(Interface):
    """Which tenant a request's Host names, if any (``domains``)."""


class IJobQueue(Interface):
    """Tenant jobs: declared tasks, deferring in a request's transaction, workers (``jobs``)."""


class ICacheListener(Interface):
    """The process's LISTEN connection on the default server (``caching.Listener``):
    ``register(cache)``, ``start()``, ``stop()``."""


class IPlaceListeners(Interface):
    """A listener per place tenants' rows live (``caching.PlaceListeners``): ``register``,
    ``cache(place, engine, channel)``, ``hear_on_connections(engine)``, ``stats``, ``stop``."""


class ICompiledCacheStats(Interface):
    """SQLAlchemy's compiled-cache hits and misses on the serving engine: ``stats()``."""


class ITenantKeys(Interface):
    """Each tenant's data keys, wrapped by the key-encryption keys (``encryption.keys``)."""


class IPasswordHasher(Interface):
    """argon2id (argon2-cffi's ``PasswordHasher``): ``hash``, ``verify``, ``check_needs_rehash``."""


class ILoginThrottle(Interface):
    """Failed logins counted per account and address (``identity.throttle``)."""


class IOperatorSessions(Interface):
    """The operator console's sessions (``identity.operator_sessions``): ``open``, ``valid``,
    ``close``."""


class IIdentitySettings(Interface):
    """``token_ttl`` (a timedelta) and ``operator_enabled`` (an operator token is configured)."""


class IInstruments(Interface):
    """The Prometheus metrics of this process (``metrics.instruments``)."""


class IUsageLedger(Interface):
    """Per-tenant usage, counted in memory and flushed to the shared ledger: ``add``, ``flush``,
    ``start``, ``stop`` (``metrics.usage``)."""


class IServingProcesses(Interface):
    """The serving processes alive, as PostgreSQL knows them (``quotas.limits``): ``count``,
    ``beat``, ``alive``, ``stop``."""


class IDnsResolver(Interface):
    """What a custom domain's DNS TXT record says (``domains.claims``)."""


class ITraversal(Interface):
    """The traversal tree's trunk (``tenancy.resources.Tree``): what hangs from the root and
    each tenant, and ``public_url`` for links made outside a tenant's own host."""


class IAllowedMethods(Interface):
    """The methods each (context, view name) answers, for a 405's ``Allow`` (``hardening``):
    a dict."""


class IBodyLimit(Interface):
    """How large a JSON body may be (``validation.BodyLimit``: ``max_bytes``)."""


class IOpenAPIDocument(Interface):
    """``document(registry)``: the OpenAPI description, built once (``openapi.Document``)."""
