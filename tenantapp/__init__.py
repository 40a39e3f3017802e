"""tenantapp: one Pyramid instance serving many tenants, each isolated from every other."""

import warnings

# WebOb imports ``cgi``, deprecated since Python 3.11: nothing an app on tenantapp (or its
# tests, through the pytest plugin) can act on; before Pyramid imports WebOb.
warnings.filterwarnings("ignore", "'cgi' is deprecated", DeprecationWarning, module="webob.compat")

from pyramid.config import Configurator  # noqa: E402 - after the filter
from pyramid.settings import aslist  # noqa: E402


def configure(settings: dict) -> Configurator:
    """The one way tenantapp is assembled, for the WSGI app, ``tenantapp-admin``, the tests and
    workers alike: each feature configures itself in its includeme, registering its services as
    factories and its wiring to others' services for the commit, so the features may be included
    in any order. An app's own ``pyramid.includes`` come last (Pyramid would include them first)
    so that what they declare overrides tenantapp's. Not committed: ``main`` makes the WSGI app,
    ``assembled`` only the registry."""
    settings = dict(settings)
    app_includes = aslist(settings.pop("pyramid.includes", ""))
    config = Configurator(settings=settings)
    for feature in FEATURES:
        config.include(feature)
    for include in app_includes:
        config.include(include)
    return config


FEATURES = (
    ".database",
    ".caching",
    ".tenant_cache",
    ".tenancy",
    ".identity",
    ".sso",
    ".scim",
    ".authz",
    ".encryption",
    ".lifecycle",
    ".quotas",
    ".tenant_settings",
    ".domains",
    ".metrics",
    ".jobs",
    ".validation",
    ".hardening",
    ".console",
    ".views",
    ".users",
    ".files",
    ".privacy",
    ".audit",
    ".platform",
    ".openapi",
    ".errors",
)


def main(global_config, **settings):
    """The WSGI application (paste's app factory)."""
    return configure(settings).make_wsgi_app()


def assembled(settings: dict):
    """The registry of a configuration, committed but with no WSGI app made (scripts, workers,
    benchmarks): its services are found with ``interfaces.service``."""
    config = configure(settings)
    config.commit()
    return config.registry


def tenancy_from(settings: dict):
    """The tenant lifecycle of a configuration, assembled as the app is (scripts, benchmarks,
    tests): servers, stores and registry."""
    from .interfaces import ITenancy, service

    return service(assembled(settings), ITenancy)
