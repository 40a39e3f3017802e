"""Interfaces: marker interfaces the security policy recognises, and the services the app is
assembled from (registered with pyramid_services, found with ``request.find_service``)."""

import threading
from types import SimpleNamespace

from pyramid_services import find_service_factory
from zope.interface import Attribute, Interface


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
    """Where one isolation mode serves a tenant; registered under the mode's name. The three
    stores share one signature per method by design (``tenancy.stores``, ``tenancy.databases``).
    """

    mode = Attribute("the isolation mode's name: schema, shared or database")

    def engine(entry):
        """The engine a session serving ``entry`` connects with."""

    def binding(entry):
        """How that session is bound to the tenant's rows (``tenancy.binding.Binding``)."""

    def owner_engine(entry):
        """The same place, as the owner (migrations, moves, the lifecycle)."""

    def heard_at(entry):
        """The place whose listener hears of changes to its rows (a name and an engine), or
        None: nothing read from them is cached."""

    def schema_name(tenant_id):
        """The schema that holds (or pools) the tenant's tables."""


class ITenantStorage(ITenantStore):
    """The lifecycle's half of a store (``lifecycle.storage``, ``lifecycle.databases``):
    where a tenant's storage is made, put away and measured."""

    def transaction(registry, entry):
        """A context manager: a connection to the tenant's storage, in one transaction with
        the registry's where they share a database."""

    def create(registry, entry, use_template, populate, build):
        """Make the tenant's storage at head (from the template when allowed), ``populate``
        its first rows in the same transaction; returns its name."""

    def archive(registry, entry):
        """Put the storage out of service, restorably; returns where it went."""

    def restore(registry, entry):
        """Bring an archived storage back; returns its name."""

    def drop(registry, entry):
        """Remove the storage for good."""

    def sizes(entries):
        """Bytes on disk of each tenant's data, by tenant id."""


class ITenantSessions(Interface):
    """Every session that serves a tenant is made here (``tenancy.sessions``), bound to it;
    ``add_hook(hook)``: a feature adds to each new session's ``info`` (limits, sealing)."""


class IDatabasePools(Interface):
    """Database mode's serving pools, within a budget of connections per server."""


class ITenancy(Interface):
    """The tenant lifecycle (``lifecycle.Lifecycle``): the servers, each mode's storage, and
    every operation on tenants, used alike by the operator API, the console, the CLI and the
    tests."""

    servers = Attribute("the PostgreSQL servers (``tenancy.servers.Servers``)")
    stores = Attribute("each isolation mode's ``ITenantStorage``, by mode")

    def store(mode):
        """The storage of ``mode`` (None: the configured default)."""

    def create_tenant(slug, name, owner_email, owner_password, hasher, use_template, mode, server):
        """A new tenant at head, with its owner: ``(TenantInfo, Owner | None)``."""

    def get_tenant(slug):
        """The tenant as the operator sees it (``TenantInfo``)."""

    def list_tenants(slug):
        """Every tenant (or one), with revision and size on disk."""

    def rename_tenant(old, new):
        """A new slug; the storage, named by id, stays."""

    def set_status(slug, status):
        """Suspend or resume."""

    def archive_tenant(slug):
        """Out of service, restorably."""

    def restore_tenant(slug):
        """Back in service from the archive."""

    def purge_tenant(slug):
        """Gone for good, with all its data."""

    def migrate(
        *,
        slugs=None,
        workers=None,
        downgrade_to=None,
        fail_fast=False,
        lock_timeout="5s",
        progress=None,
    ):
        """Every server's shared schema, then the tenants, to head (or down): a ``Report``."""

    def migration_sql(slugs, downgrade_to):
        """The SQL a migrate run would execute, not executed."""

    def move_tenant(slug, to_mode, to_server, step):
        """Online, to another mode or server: a ``MoveReport``."""

    def export_tenant(slug, path, portable, progress):
        """The tenant's archive written to ``path``: the rows written."""

    def import_tenant(path, slug, mode, server, legacy, progress):
        """A new tenant from an archive."""


SINGLETONS_KEY = "tenantapp.singletons"


def singletons(registry) -> dict:
    """The services found so far, by (interface, name); a test swaps one in here."""
    found = registry.get(SINGLETONS_KEY)
    if found is None:
        found = registry[SINGLETONS_KEY] = {}
    return found


# after the services are registered (order 0): the wiring that connects them to each other
WIRING = 10


def provide(config, obj, iface, name: str = "") -> None:
    """Register ``obj``, built from settings alone, as the ``iface`` service (pyramid_services).
    Found once the configuration is committed, never while it is assembled."""
    config.include("pyramid_services")  # once, whichever feature comes first
    config.register_service(obj, iface, name=name)


def provide_factory(config, build, iface, name: str = "") -> None:
    """Register ``build(registry)`` as the ``iface`` service's maker: called at its first
    lookup, once every ``includeme`` has run, so the services it uses may be registered by a
    feature included before or after this one."""
    registry = config.registry
    config.include("pyramid_services")
    config.register_service_factory(lambda context, request: build(registry), iface, name=name)


def when_assembled(config, wire) -> None:
    """Call ``wire(registry)`` as the configuration is committed, after every service is
    registered: where a feature connects to another's service (a session hook, a cache the
    listener keeps) whatever order the features were included in."""
    registry = config.registry
    config.action(None, lambda: wire(registry), order=WIRING)


def service(registry, iface, name: str = ""):
    """A singleton service, made at its first lookup and then remembered: the request path
    asks for the tenant directory and the tenant's store on every request, and pyramid_services'
    per-request container costs about 0.6 ms a request (measured); singletons need none of it.
    Works outside a request too (scripts, tests), once the configuration is committed."""
    found = registry.get(SINGLETONS_KEY)  # singletons() inline: every request comes here
    if found is None:
        found = singletons(registry)
    key = (iface, name)
    if key not in found:
        with _making:  # once, though two threads ask first; a maker may ask for others
            if key not in found:
                found[key] = _make(registry, iface, name)
    return found[key]


_making = threading.RLock()


def _make(registry, iface, name: str):
    try:
        factory = find_service_factory(SimpleNamespace(registry=registry), iface, name=name)
    except LookupError:
        raise LookupError(
            f"no {iface.__name__} service {name!r}: not registered, or looked up before the"
            " configuration was committed"
        ) from None
    return factory(None, None)


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


class ILoginGates(Interface):
    """A list of ``gate(request, user)`` each password login passes once the password is
    right: a gate raises to refuse it (``sso``: SSO required)."""


class IConsolePages(Interface):
    """The tenant console's pages that features add (``config.add_console_page``): a list of
    ``ConsolePage``, in the order they were added, each shown in the menu to whom may see it."""


class ISignOnRoutes(Interface):
    """A list of ``route(request, email, next_path)``: where a login that starts with an email
    (identifier first) goes instead of asking for a password, or None (``sso``: the tenant's
    identity provider, for an email in a domain it proved)."""


class IPermissionChecks(Interface):
    """A list of ``check(request, context, permission)`` the security policy asks once the ACL
    allows: one may return a ``Denied`` saying why (``authz``: the tenant's policies)."""


class IRowFilters(Interface):
    """A list of ``rows(request, model, permission)``: SQL conditions a list of ``model`` adds,
    or a ``keep(row)`` to filter row by row (``authz``)."""


class ITenantPolicies(Interface):
    """The tenants' Cedar policies (``authz``)."""

    def policies(request):
        """The request's tenant's parsed policies (``authz.store.NONE`` without any)."""

    def check(request, context, permission):
        """A ``Denied`` when a policy forbids, else None (an ``IPermissionChecks`` check)."""

    def rows(request, model, permission):
        """``(conditions, keep)`` for a list of ``model`` (an ``IRowFilters`` filter)."""


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


class IAuditStream(Interface):
    """Where tenants' audit entries are sent on (``audit.streaming``), when configured."""


class ITenantCaches(Interface):
    """The tenant-aware cache for app code (``tenant_cache.TenantCaches``)."""


class IFiles(Interface):
    """Tenants' files: where their sealed contents are kept and how large one may be
    (``files.service.FileService``)."""


class ISchemaRevisions(Interface):
    """``reached(at, revision)``: whether a schema at ``at`` has ``revision`` applied, in the
    order of the code's tenant revisions; ``head()``: the newest it knows
    (``lifecycle.migrations.SchemaRevisions``)."""


class IPersonalData(Interface):
    """What each tenant model holds about a person, and how it is exported and erased
    (``privacy.declarations.PersonalData``)."""
