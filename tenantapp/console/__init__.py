"""The web console: server-rendered pages (Jinja2, htmx for partial updates) for operators and
for a tenant's owners and admins. It sits over the JSON API's resources, permissions and
actions; only how a browser logs in (a cookie) and how forms are checked (CSRF) are its own."""

from pathlib import Path

STATIC = "-/static"
ASSETS = Path(__file__).with_name("static")


def console_asset(request, name: str) -> str:
    """The path of one of the console's assets (``/-/static/NAME``)."""
    return request.static_path(str(ASSETS / name))


def add_console_page(config, page, label: str, permission: str, templates: str) -> None:
    """A feature's page of the tenant console (a ``resources.Page``), in its menu to whom has
    ``permission``; its views are the feature's own, its templates in ``templates`` (an asset
    spec: ``tenantapp.sso:templates``), which extend the console's ``base.jinja2``."""
    from ..interfaces import IConsolePages, service, when_assembled
    from .resources import ConsolePage

    config.add_jinja2_search_path(templates, name=".jinja2")
    added = ConsolePage(page, label, permission)
    when_assembled(config, lambda registry: service(registry, IConsolePages).append(added))


def includeme(config):
    """Imports here: resources import this package's ``resources`` while the app is assembled."""
    from pyramid.csrf import CookieCSRFStoragePolicy
    from pyramid.events import BeforeRender

    from ..interfaces import IConsolePages, provide, service
    from .pages import InConsole, on_render
    from .resources import TenantConsole

    config.include("tenantapp.tenancy.resources")  # the tree it hangs resources from

    config.include("pyramid_jinja2")
    config.add_jinja2_search_path("tenantapp.console:templates", name=".jinja2")
    # by its path on disk, not an asset spec: pkg_resources cannot look into a package
    # imported from a checkout on sys.path (``python -m pytest``, an app run from its clone)
    config.add_static_view(STATIC, str(ASSETS), cache_max_age=3600)
    config.add_request_method(console_asset, "console_asset")
    # The token double-submitted with each form; SameSite keeps it off other sites' requests.
    config.set_csrf_storage_policy(CookieCSRFStoragePolicy(httponly=True, samesite="Strict"))
    config.add_view_predicate("console", InConsole)
    config.add_subscriber(on_render, BeforeRender)
    provide(config, [], IConsolePages)
    config.add_directive("add_console_page", add_console_page)
    config.add_tenant_resource(
        "console",
        lambda tenant, request: TenantConsole(tenant, service(request.registry, IConsolePages)),
    )
    config.scan(".tenant_views")
    config.scan(".security_views")
    config.scan(".operator_views")
    config.scan(".errors")
