"""Errors on console pages, as pages: a browser that is not logged in is sent to log in, and
every other error says what went wrong in a page with a way back. The JSON API's own error
views answer everywhere else."""

from pyramid.exceptions import BadCSRFOrigin, BadCSRFToken, PredicateMismatch
from pyramid.httpexceptions import HTTPException, HTTPSeeOther
from pyramid.traversal import find_interface
from pyramid.view import exception_view_config, forbidden_view_config, notfound_view_config

from ..errors import APIError, unexpected_error
from ..interfaces import IConsole
from ..tenancy.errors import ProvisioningError, UnknownTenant
from .pages import template

PAGE = template("error.jinja2")


def _page(request, status: int, message: str) -> dict:
    request.response.status_int = status
    return {"console": find_interface(request.context, IConsole), "message": message}


def _to_login(request) -> HTTPSeeOther:
    return HTTPSeeOther(request.link(find_interface(request.context, IConsole)) + "/login")


@forbidden_view_config(console=True, renderer=PAGE)
def forbidden(exc, request):
    if request.identity is None:
        return _to_login(request)
    return _page(request, 403, "your role does not allow this")


@notfound_view_config(console=True, renderer=PAGE)
@exception_view_config(PredicateMismatch, console=True, renderer=PAGE)
def not_found(exc, request):
    """Strangers learn nothing of what exists in a tenant: they are asked to log in. Under a
    tenant that is not there (``/nosuch/console/``), a page says so (as the API's 404 would)."""
    if find_interface(request.context, IConsole) is None:
        return _page(request, 404, "there is no such tenant")
    if request.identity is None:
        return _to_login(request)
    return _page(request, 404, "there is no such page")


@exception_view_config(HTTPException, console=True, renderer=PAGE)
def http_error(exc, request):
    """Pyramid's own (a form without its CSRF token is a 400)."""
    if isinstance(exc, BadCSRFToken | BadCSRFOrigin):
        return _page(request, 400, "this form has expired: reload the page and try again")
    return _page(request, exc.status_int, str(exc.detail or exc.explanation or exc.title))


@exception_view_config(APIError, console=True, renderer=PAGE)
def api_error(exc, request):
    request.response.headers.update(exc.headers)
    return _page(request, exc.status, exc.message)


@exception_view_config(UnknownTenant, console=True, renderer=PAGE)
def unknown_tenant(exc, request):
    return _page(request, 404, str(exc))


@exception_view_config(ProvisioningError, console=True, renderer=PAGE)
def refused(exc, request):
    return _page(request, 409, str(exc))


@exception_view_config(Exception, console=True, renderer=PAGE)
def unexpected(exc, request):
    unexpected_error(exc, request)  # logged, as anywhere
    return _page(request, 500, "the server failed to handle this request")
