"""SCIM 2.0 per tenant: the tenant's directory creates, changes, deactivates and removes its
users at ``/{tenant}/scim/v2`` with a token the owner made; a deactivated or removed user's
tokens and console sessions end at once."""

from .resources import Scim


def includeme(config):
    config.include("tenantapp.tenancy.resources")  # the tree it hangs resources from
    config.add_tenant_resource("scim", Scim)
    config.include("tenantapp.openapi")
    config.add_api_views(".views")
