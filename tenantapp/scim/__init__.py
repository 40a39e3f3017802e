"""SCIM 2.0 per tenant: the tenant's directory creates, changes, deactivates and removes its
users and groups at ``/{tenant}/scim/v2`` with a token the owner made (on the console's
Directory page, or the API); a deactivated or removed user's tokens and console sessions end at
once."""

from .console import DirectoryPage
from .resources import Scim


def includeme(config):
    config.include("tenantapp.tenancy.resources")  # the tree it hangs resources from
    config.add_tenant_resource("scim", Scim)
    config.include("tenantapp.openapi")
    config.add_api_views(".views")
    config.include("tenantapp.console")
    config.add_console_page(DirectoryPage, "Directory", "configure", "tenantapp.scim:templates")
    config.scan(".console")
