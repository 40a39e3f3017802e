"""tenantapp: one Pyramid instance serving many tenants, each isolated from every other."""

import warnings

# WebOb imports ``cgi``, deprecated since Python 3.11: nothing an app on tenantapp (or its
# tests, through the pytest plugin) can act on; before Pyramid imports WebOb.
warnings.filterwarnings("ignore", "'cgi' is deprecated", DeprecationWarning, module="webob.compat")

from pyramid.config import Configurator  # noqa: E402 - after the filter
from pyramid.settings import aslist  # noqa: E402


def configure(settings: dict) -> Configurator:
    """The one way tenantapp is assembled, for the WSGI app, ``tenantapp-admin``, the tests and
    workers alike: each subsystem configures itself in its includeme, and ``provide``s its
    services, which the ones included after it find at once (no commit in between). An app's
    own ``pyramid.includes`` come last (Pyramid would include them first), so what they declare
    (views, ``tenant_task`` jobs) finds tenantapp's services there, in the web app and the
    worker alike."""
    settings = dict(settings)
    app_includes = aslist(settings.pop("pyramid.includes", ""))
    config = Configurator(settings=settings)
    config.include(".database")
    config.include(".caching")
    config.include(".tenancy")  # first of all: the features hang their resources from its tree
    config.include(".identity")
    config.include(".encryption")
    config.include(".lifecycle")
    config.include(".quotas")  # before tenant_settings: it declares the quota settings
    config.include(".tenant_settings")
    config.include(".domains")
    config.include(".metrics")
    config.include(".jobs")  # after metrics: it counts its jobs there
    config.include(".validation")
    config.include(".hardening")
    config.include(".console")
    config.include(".views")
    config.include(".users")
    config.include(".audit")
    config.include(".platform")
    config.include(".openapi")
    config.include(".errors")
    for include in app_includes:
        config.include(include)
    config.commit()
    return config


def main(global_config, **settings):
    """The WSGI application (paste's app factory)."""
    return configure(settings).make_wsgi_app()


def tenancy_from(settings: dict):
    """The tenant lifecycle of a configuration, assembled as the app is (scripts, benchmarks,
    tests): servers, stores and registry."""
    from .interfaces import ITenancy, service

    return service(configure(settings).registry, ITenancy)
