"""The console's traversal tree. Each page wraps the API resource it shows, so it sits under the
same ACLs: a tenant's pages inherit the tenant's, a user's row takes that user's resource's own
(only owners change owners and admins), the operator's pages the platform's."""

from dataclasses import dataclass

from pyramid.decorator import reify
from zope.interface import implementer

from ..interfaces import IConsole

SEGMENT = "console"


@implementer(IConsole)
class TenantConsole:
    """``/{tenant}/console``: log in and out; its pages are children."""

    __name__ = SEGMENT
    kind = "tenant"

    def __init__(self, tenant, added: list["ConsolePage"] = ()):
        self.__parent__ = tenant
        self.tenant = tenant
        self.added = added  # the features' pages, for the menu too

    def __getitem__(self, segment: str):
        page = PAGES.get(segment)
        if page is None:
            page = next((a.page for a in self.added if a.page.segment == segment), None)
        if page is None:
            raise KeyError(segment)
        return page(self)


class Page:
    """A page of the tenant console, over the tenant's API resource of the same name (or of
    ``api_segment``: a feature's page over the feature's resource)."""

    segment: str
    api_segment: str | None = None

    def __init__(self, parent: TenantConsole):
        self.__parent__ = parent
        self.__name__ = self.segment
        self.tenant = parent.tenant

    @reify
    def api(self):
        return self.tenant[self.api_segment or self.segment]


@dataclass(frozen=True)
class ConsolePage:
    """A feature's page: its class (a ``Page``), its name in the menu, and the permission
    (on the console) that shows it there."""

    page: type[Page]
    label: str
    permission: str = "view"


class UsersPage(Page):
    segment = "users"

    def __getitem__(self, segment: str) -> "Row":
        return Row(self, self.api[segment])


class FieldsPage(Page):
    segment = "fields"

    def __getitem__(self, segment: str) -> "Row":
        return Row(self, self.api[segment])


class SettingsPage(Page):
    segment = "settings"


class AuditPage(Page):
    segment = "audit"


class SecurityPage(Page):
    """The logged-in user's own second factors (no API resource of its own: the user's)."""

    segment = "security"


PAGES = {
    page.segment: page for page in (UsersPage, FieldsPage, SettingsPage, AuditPage, SecurityPage)
}


class Row:
    """One user or custom field on its page, under the ACL of its API resource."""

    def __init__(self, parent: Page, api):
        self.__parent__ = parent
        self.__name__ = api.__name__
        self.api = api

    def __acl__(self):
        acl = getattr(self.api, "__acl__", ())
        return acl() if callable(acl) else acl


@implementer(IConsole)
class OperatorConsole:
    """``/-/console``: the tenants; each one's page is a child."""

    __name__ = SEGMENT
    kind = "operator"

    def __init__(self, platform, tenants):
        self.__parent__ = platform
        self.tenants = tenants  # the operator API's ManagedTenants

    def __getitem__(self, slug: str) -> "TenantPage":
        return TenantPage(self, self.tenants[slug])


class TenantPage:
    def __init__(self, parent: OperatorConsole, managed):
        self.__parent__ = parent
        self.__name__ = managed.__name__
        self.managed = managed
        self.info = managed.info
