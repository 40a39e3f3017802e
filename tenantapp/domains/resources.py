"""``/-/tenants/{slug}/domains[/{domain}]`` and ``/-/domain-check``."""

from .resolution import hostname


class ManagedDomains:
    __name__ = "domains"

    def __init__(self, parent):
        self.__parent__ = parent
        self.tenancy = parent.tenancy
        self.slug = parent.info.slug

    def __getitem__(self, segment: str) -> "ManagedDomain":
        name = hostname(segment)
        if name is None or name != segment:
            raise KeyError(segment)
        return ManagedDomain(self, name)


class ManagedDomain:
    def __init__(self, parent: ManagedDomains, domain: str):
        self.__parent__ = parent
        self.__name__ = domain
        self.domain = domain
        self.tenancy = parent.tenancy
        self.slug = parent.slug


class DomainCheck:
    """What a TLS proxy asks before it gets a certificate for a host (Caddy's on-demand TLS
    ``ask``): whether the host is one of a tenant's."""

    __name__ = "domain-check"

    def __init__(self, parent):
        self.__parent__ = parent
