"""``/-/tenants/{slug}``: the operator's view of the tenant registry."""

from pyramid.authorization import ALL_PERMISSIONS, DENY_ALL, Allow
from sqlalchemy.engine import Engine
from zope.interface import implementer

from ..interfaces import IPlatform
from ..tenancy import provisioning
from ..tenancy.slugs import is_valid_slug

PLATFORM_SEGMENT = "-"


@implementer(IPlatform)
class Platform:
    """``/-/``: readiness for anyone; the operator API when an operator token is configured."""

    __name__ = PLATFORM_SEGMENT
    __acl__ = [(Allow, "operator", ALL_PERMISSIONS), DENY_ALL]

    def __init__(self, parent, engine: Engine, operator_enabled: bool):
        self.__parent__ = parent
        self.children = {"ready": Readiness(self, engine)}
        if operator_enabled:
            self.children.update(tenants=ManagedTenants(self, engine), stats=Stats(self))

    def __getitem__(self, segment: str):
        return self.children[segment]


class Readiness:
    """``/-/ready``: whether this process can serve tenants (for load balancers, orchestrators)."""

    __name__ = "ready"

    def __init__(self, parent: Platform, engine: Engine):
        self.__parent__ = parent
        self.engine = engine


class Stats:
    """``/-/stats``: this process's caches, their sizes and hit counts."""

    __name__ = "stats"

    def __init__(self, parent: Platform):
        self.__parent__ = parent


class ManagedTenants:
    __name__ = "tenants"

    def __init__(self, parent: Platform, engine: Engine):
        self.__parent__ = parent
        self.engine = engine

    def __getitem__(self, slug: str) -> "ManagedTenant":
        if not is_valid_slug(slug):
            raise KeyError(slug)
        try:
            return ManagedTenant(self, provisioning.get_tenant(self.engine, slug))
        except provisioning.UnknownTenant:
            raise KeyError(slug) from None


class ManagedTenant:
    def __init__(self, parent: ManagedTenants, info: provisioning.TenantInfo):
        self.__parent__ = parent
        self.__name__ = info.slug
        self.info = info
        self.engine = parent.engine
