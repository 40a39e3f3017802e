"""Users of a tenant: model, traversal resources, JSON views."""

from .resources import CustomFields, Users


def includeme(config):
    """The users API, custom fields and invitations (their views and the invitation job)."""
    config.add_tenant_resource("users", Users)
    config.add_tenant_resource("fields", CustomFields)
    config.scan(".views")
    config.scan(".custom_views")
    config.scan(".invitations")
