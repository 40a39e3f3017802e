"""The operator API: tenant lifecycle over HTTP, with the same code as ``tenantapp-admin``."""

from .resources import PLATFORM_SEGMENT, Platform


def includeme(config):
    config.include("tenantapp.tenancy.resources")  # the tree it hangs resources from
    config.add_root_resource(PLATFORM_SEGMENT, Platform)
    config.include("tenantapp.openapi")
    config.add_api_views(".views")
    config.add_api_views(".plans")
