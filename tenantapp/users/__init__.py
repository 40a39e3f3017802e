"""Users of a tenant: model, traversal resources, JSON views."""

from .resources import CustomFields, Users


def includeme(config):
    """The users API, custom fields and invitations (their views and the invitation job)."""
    config.include("tenantapp.tenancy.resources")  # the tree it hangs resources from
    config.add_tenant_resource("users", Users)
    config.add_tenant_resource("fields", CustomFields)
    config.include("tenantapp.openapi")
    config.add_api_views(".views")
    config.add_api_views(".custom_views")
    config.add_api_views(".invitations")
    config.scan(".custom_indexes")  # its job
