"""The traversal tree: ``/`` → ``Tenant`` (first segment) → ``users`` → one user.

The root factory's ``__getitem__`` is the only place a tenant is resolved, and constructing the
``Tenant`` resource is the only place a request's session is bound to a schema.
"""

from pyramid.traversal import ResourceURL

from .tenancy.binding import bind_session
from .tenancy.models import TenantRecord
from .tenancy.registry import find_active_tenant
from .users.resources import Users


class Root:
    __name__ = ""
    __parent__ = None

    def __init__(self, request):
        self.request = request

    def __getitem__(self, segment: str) -> "Tenant":
        record = find_active_tenant(self.request.dbsession, segment)
        if record is None:
            raise KeyError(segment)
        return Tenant(self, record, self.request.dbsession)


class Tenant:
    """One tenant; building it binds the session to the tenant's schema for the request."""

    def __init__(self, parent: Root, record: TenantRecord, dbsession):
        self.__parent__ = parent
        self.__name__ = record.slug
        self.record = record
        bind_session(dbsession, record.schema_name)
        self.users = Users(self, dbsession)

    def __getitem__(self, segment: str):
        if segment == "users":
            return self.users
        raise KeyError(segment)


class ResourceURLWithoutSlash(ResourceURL):
    """``/acme/users/42`` rather than Pyramid's default ``/acme/users/42/``."""

    def __init__(self, resource, request):
        super().__init__(resource, request)
        for attr in ("physical_path", "virtual_path"):
            path = getattr(self, attr)
            if path != "/":
                setattr(self, attr, path.rstrip("/"))


def includeme(config):
    config.set_root_factory(Root)
    config.add_resource_url_adapter(ResourceURLWithoutSlash)
