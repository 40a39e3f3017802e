"""The traversal tree's trunk: ``/`` → ``Tenant`` (the first segment, or the tenant the host
names) → what the features hang there (``users``, ``tokens``, ``audit``, ``settings``,
``fields``, ``console``, ...), and ``/-/``, the operator's side (``-`` is never a slug).

The root's ``__getitem__`` is the only place a tenant is resolved: it sets ``request.tenant``,
and ``request.dbsession`` (``tenancy.sessions``) is the only place a request's session is
bound, by the store of the tenant's isolation mode. Features add their resources with
``config.add_tenant_resource(name, factory)`` and ``config.add_root_resource(segment,
factory)``, ``factory(parent, request)``: the kernel imports none of them.
"""

from collections.abc import Callable
from functools import cached_property
from urllib.parse import urlsplit

from pyramid.authorization import ALL_PERMISSIONS, DENY_ALL, Allow
from pyramid.traversal import ResourceURL

from ..errors import APIError
from ..interfaces import (
    IHostResolver,
    ISchemaRevisions,
    ISettingsCatalog,
    ITenantDirectory,
    ITraversal,
    provide,
    service,
)
from .directory import TenantEntry

MEMBER = ("view", "logout")
ADMIN = (*MEMBER, "create", "update", "delete", "set-password", "view-audit")
VHM_ROOT = "HTTP_X_VHM_ROOT"  # the virtual root: set by the app alone, never by a client
Factory = Callable[[object, object], object]  # factory(parent, request) -> resource


class TenantSuspended(APIError):
    status = 403
    code = "tenant_suspended"


class Tree:
    """What hangs from the root and from each tenant, as the features declared it."""

    def __init__(self, public_url: str = ""):
        self.public_url = public_url  # links made outside a tenant's own host start here
        self.root: dict[str, Factory] = {}
        self.tenant: dict[str, Factory] = {}

    def __call__(self, request) -> "Root":
        """The root factory."""
        return Root(request, self)


class Root:
    __name__ = ""
    __parent__ = None

    def __init__(self, request, tree: Tree):
        """A host that names a tenant (``tenantapp.domains``) makes that tenant the virtual
        root: traversal starts there, and its URLs lose the slug. Only the app sets it."""
        self.request = request
        self.tree = tree
        environ = request.environ
        environ.pop(VHM_ROOT, None)
        hosts = service(request.registry, IHostResolver)
        if hosts.enabled:
            slug = hosts.slug_for(request.host)
            if slug is not None:
                environ[VHM_ROOT] = f"/{slug}"

    def __getitem__(self, segment: str):
        request = self.request
        if segment in self.tree.root:
            return self.tree.root[segment](self, request)
        record = service(request.registry, ITenantDirectory).resolve(segment)
        if record is None:
            raise KeyError(segment)
        if record.status == "suspended":
            raise TenantSuspended("this tenant is suspended")
        request.tenant = tenant = Tenant(self, record, request)
        return tenant


class Tenant:
    """One tenant, as its registry entry (``record``) places it."""

    def __init__(self, parent: Root, record: TenantEntry, request):
        self.__parent__ = parent
        self.__name__ = record.slug
        self.record = record
        self.registry = request.registry
        self.request = request
        self.makers = parent.tree.tenant  # the features' children, made when traversed
        self.children: dict = {}

    def __acl__(self):
        return [
            (Allow, "role:owner", ALL_PERMISSIONS),
            (Allow, "role:admin", ADMIN),
            (Allow, "role:member", MEMBER),
            DENY_ALL,
        ]

    def __getitem__(self, segment: str):
        """Walkable without an identity (pshell, pviews): permissions are the views' and the
        not-found view's business, which answers strangers alike for present and missing ids.
        A child is made the first time it is asked for: a request walks to one of them."""
        child = self.children.get(segment)
        if child is None:
            make = self.makers.get(segment)
            if make is None:
                raise KeyError(segment)
            child = self.children[segment] = make(self, self.request)
        return child

    def has_revision(self, revision: str) -> bool:
        """Whether the tenant's schema has ``revision`` applied (its registry row says so):
        code of a new version asks while ``migrate --expand`` runs, and uses the old shape
        where the answer is no (``lifecycle.phases``). A revision this code does not know is
        newer than all it knows."""
        return service(self.registry, ISchemaRevisions).reached(self.record.revision, revision)

    @cached_property
    def settings(self) -> dict:
        """The tenant's settings: its overrides over the ini's defaults (``tenant_settings``);
        worked out once per request (the quota check, the binding and app code all read it)."""
        return service(self.registry, ISettingsCatalog).values(self.record)


class ResourceURLWithoutSlash(ResourceURL):
    """``/acme/users/42`` rather than Pyramid's default ``/acme/users/42/``.

    Pyramid appends ``resource_url(context, *elements)`` elements right after this path, so
    links are always made to a resource itself (build the child resource), never with elements.
    """

    def __init__(self, resource, request):
        super().__init__(resource, request)
        for attr in ("physical_path", "virtual_path"):
            path = getattr(self, attr)
            if path != "/":
                setattr(self, attr, path.rstrip("/"))


def link(request, resource, **kw) -> str:
    """The URL of ``resource`` for links and ``Location``: on the tenant's own host when the
    request came by it (a host the registry vouched for), else under ``tenantapp.public_url``
    when configured, else a path. Never from a Host header that named no tenant."""
    if VHM_ROOT in request.environ:
        return request.resource_url(resource, app_url=request.host_url, **kw)
    return request.resource_url(
        resource, app_url=service(request.registry, ITraversal).public_url, **kw
    )


LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


class NoPublicUrl(APIError):
    status = 503
    code = "needs_public_url"


def absolute_link(request, resource, name: str = "") -> str:
    """An absolute URL of ``resource`` (and ``name`` under it), for what must name this site
    to another (an identity provider's return address, a SAML audience, a passkey's relying
    party): the link the app writes (a tenant's own host, or ``tenantapp.public_url``), or, in
    development on this machine only, the loopback address the request came by. Never from a
    Host header that named no tenant."""
    url = link(request, resource) + (f"/{name}" if name else "")
    if urlsplit(url).scheme:
        return url
    if request.domain in LOOPBACK:
        return request.host_url + url
    raise NoPublicUrl(
        "this needs absolute URLs: set tenantapp.public_url (or reach the tenant by its own host)"
    )


def includeme(config):
    """The tree and the directives the features hang their resources with: each feature
    includes this itself (Pyramid includes it once), so it may come in any order."""
    settings = config.get_settings()
    tree = Tree((settings.get("tenantapp.public_url") or "").rstrip("/"))
    provide(config, tree, ITraversal)
    config.set_root_factory(tree)
    config.add_directive(
        "add_tenant_resource", lambda config, name, factory: tree.tenant.__setitem__(name, factory)
    )
    config.add_directive(
        "add_root_resource", lambda config, name, factory: tree.root.__setitem__(name, factory)
    )
    config.add_resource_url_adapter(ResourceURLWithoutSlash)
    config.add_request_method(link, "link")
