"""The web console: server-rendered pages (Jinja2, htmx for partial updates) for operators and
for a tenant's owners and admins. It sits over the JSON API's resources, permissions and
actions; only how a browser logs in (a cookie) and how forms are checked (CSRF) are its own."""

from pathlib import Path

STATIC = "-/static"
ASSETS = Path(__file__).with_name("static")


def console_asset(request, name: str) -> str:
    """The path of one of the console's assets (``/-/static/NAME``)."""
    return request.static_path(str(ASSETS / name))


def includeme(config):
    """Imports here: resources import this package's ``resources`` while the app is assembled."""
    from pyramid.csrf import CookieCSRFStoragePolicy
    from pyramid.events import BeforeRender

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
    config.add_tenant_resource("console", lambda tenant, request: TenantConsole(tenant))
    config.scan(".tenant_views")
    config.scan(".operator_views")
    config.scan(".errors")
