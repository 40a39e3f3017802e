"""``/-/tenants/{slug}``: the operator's view of the tenant registry."""

from pyramid.authorization import ALL_PERMISSIONS, DENY_ALL, Allow
from zope.interface import implementer

from ..console.resources import OperatorConsole
from ..domains.resources import DomainCheck, ManagedDomains
from ..interfaces import IHostResolver, IIdentitySettings, IPlatform, IServers, ITenancy, service
from ..lifecycle import Lifecycle, provisioning
from ..metrics.resources import Insight, Metrics
from ..tenancy.servers import Server
from ..tenancy.slugs import is_valid_slug

PLATFORM_SEGMENT = "-"


@implementer(IPlatform)
class Platform:
    """``/-/``: readiness for anyone; the operator API when an operator token is configured."""

    __name__ = PLATFORM_SEGMENT
    __acl__ = [(Allow, "operator", ALL_PERMISSIONS), DENY_ALL]

    def __init__(self, parent, request):
        self.__parent__ = parent
        registry = request.registry
        self.children = {
            "ready": Readiness(self, service(registry, IServers).default),
            "domain-check": DomainCheck(self),
        }
        if service(registry, IIdentitySettings).operator_enabled:
            tenancy = service(registry, ITenancy)
            tenants = ManagedTenants(self, tenancy, service(registry, IHostResolver).custom)
            self.children.update(tenants=tenants, stats=Stats(self), metrics=Metrics(self))
            self.children["insight"] = Insight(self)
            self.children["plans"] = Plans(self)
            self.children["console"] = OperatorConsole(self, tenants)

    def __getitem__(self, segment: str):
        return self.children[segment]


class Plans:
    """``/-/plans``: the plans of the ini (``lifecycle.plans``)."""

    __name__ = "plans"

    def __init__(self, parent: Platform):
        self.__parent__ = parent


class Readiness:
    """``/-/ready``: whether this process can serve tenants (for load balancers, orchestrators)."""

    __name__ = "ready"

    def __init__(self, parent: Platform, server: Server):
        self.__parent__ = parent
        self.server = server


class Stats:
    """``/-/stats``: this process's caches, their sizes and hit counts."""

    __name__ = "stats"

    def __init__(self, parent: Platform):
        self.__parent__ = parent


class ManagedTenants:
    __name__ = "tenants"

    def __init__(self, parent: Platform, tenancy: Lifecycle, custom_domains: bool = False):
        self.__parent__ = parent
        self.tenancy = tenancy
        self.custom_domains = custom_domains

    def __getitem__(self, slug: str) -> "ManagedTenant":
        if not is_valid_slug(slug):
            raise KeyError(slug)
        try:
            return ManagedTenant(self, self.tenancy.get_tenant(slug))
        except provisioning.UnknownTenant:
            raise KeyError(slug) from None


class ManagedTenant:
    def __init__(self, parent: ManagedTenants, info: provisioning.TenantInfo):
        self.__parent__ = parent
        self.__name__ = info.slug
        self.info = info
        self.tenancy = parent.tenancy
        self.custom_domains = parent.custom_domains

    def __getitem__(self, segment: str):
        """``domains`` when custom domains are on; other names are views (``move``, …)."""
        if segment == "domains" and self.custom_domains:
            return ManagedDomains(self)
        raise KeyError(segment)
