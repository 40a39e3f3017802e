"""``/{tenant}/sso``: the provider (``oidc``: its settings, ``login``, ``callback``; or
``saml``: its settings, ``login``, ``acs``, ``metadata``) and the tenant's email domains
(``domains/{domain}``). Their permissions are the tenant's ACL's."""


class SingleSignOn:
    __name__ = "sso"

    def __init__(self, tenant, request=None):
        self.__parent__ = tenant
        self.tenant = tenant

    def __getitem__(self, segment: str):
        if segment == "oidc":
            return OidcProvider(self)
        if segment == "saml":
            return SamlProvider(self)
        if segment == "domains":
            return EmailDomains(self)
        raise KeyError(segment)


class OidcProvider:
    __name__ = "oidc"

    def __init__(self, parent: SingleSignOn):
        self.__parent__ = parent
        self.tenant = parent.tenant


class SamlProvider:
    __name__ = "saml"

    def __init__(self, parent: SingleSignOn):
        self.__parent__ = parent
        self.tenant = parent.tenant


class EmailDomains:
    __name__ = "domains"

    def __init__(self, parent: SingleSignOn):
        self.__parent__ = parent
        self.tenant = parent.tenant

    def __getitem__(self, domain: str) -> "EmailDomain":
        return EmailDomain(self, domain)


class EmailDomain:
    def __init__(self, parent: EmailDomains, domain: str):
        self.__parent__ = parent
        self.__name__ = domain
        self.tenant = parent.tenant
        self.domain = domain
