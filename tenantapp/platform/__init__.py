"""The operator API: tenant lifecycle over HTTP, with the same code as ``tenantapp-admin``."""

from .resources import PLATFORM_SEGMENT, Platform


def includeme(config):
    config.add_root_resource(PLATFORM_SEGMENT, Platform)
    config.scan(".views")
