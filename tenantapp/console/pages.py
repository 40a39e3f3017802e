"""What every console page shares: its content security policy, its CSRF token, the cookie it
logs in with, and how a failed action is shown on the page."""

import functools
from datetime import timedelta
from html import escape

from pyramid.csrf import get_csrf_token, new_csrf_token
from pyramid.response import Response
from pyramid.traversal import find_interface
from pyramid.view import view_config

from ..errors import APIError
from ..hardening import PAGE_CSP
from ..identity.policy import CONSOLE_COOKIE
from ..interfaces import IConsole
from ..tenancy.resources import NoPublicUrl, absolute_link
from ..validation import form_fields


def form_post(context, renderer, permission: str, **more) -> view_config:
    """A console page's form view: a POST that must carry the CSRF token."""
    return view_config(
        context=context,
        request_method="POST",
        renderer=renderer,
        permission=permission,
        require_csrf=True,
        **more,
    )


def shown_link(request, resource, name: str) -> str:
    """The absolute URL a page tells someone to give another site (``absolute_link``), or,
    without one, the path and what to set."""
    try:
        return absolute_link(request, resource, name)
    except NoPublicUrl as error:
        return f"{request.link(resource)}/{name} ({error.message})"


def template(name: str) -> str:
    return f"tenantapp.console:templates/{name}"


def in_console(request) -> bool:
    """A console page, or what would be one: a path whose second segment is ``console`` under
    a tenant that is not there (``/nosuch/console/``) gets the console's page too."""
    context = getattr(request, "context", None)
    if find_interface(context, IConsole) is not None:
        return True
    subpath = getattr(request, "subpath", None) or ()
    return find_interface(context, IConsole) is None and subpath[:1] == ("console",)


class InConsole:
    """The ``console=True`` view predicate: the request's traversal context is a console page
    (exception views too, whose context is the exception)."""

    def __init__(self, value, config):
        self.value = bool(value)

    def text(self):
        return f"console = {self.value}"

    phash = text

    def __call__(self, context, request):
        return in_console(request) == self.value


def on_render(event) -> None:
    """Every page rendered from a console template: the CSRF token for its forms, the CSP."""
    request = event.get("request")
    if request is None or not event.get("renderer_name", "").endswith(".jinja2"):
        return
    event["csrf_token"] = get_csrf_token(request)
    event["htmx"] = is_htmx(request)
    event["who"] = who(request)
    request.response.headers["Content-Security-Policy"] = PAGE_CSP


def who(request) -> str | None:
    """Who is logged in, as the header says it: a user by their email (an impersonation says
    whose), the operator as such."""
    identity = request.identity
    if identity is None or request.tenant is None or identity.user_id is None:
        return None if identity is None else identity.actor
    from ..users.models import User  # here: the users' package imports the console's

    user = request.dbsession.get(User, identity.user_id)
    email = user.email if user is not None else identity.userid
    return email if identity.impersonator is None else f"{identity.impersonator} as {email}"


def is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def failed(request, error: APIError) -> dict:
    """The page (or fragment) shows the error; nothing of the failed action is kept: its
    transaction is rolled back, and the page is read in a new one that is never committed."""
    request.tm.abort()
    request.tm.begin()
    request.tm.doom()
    request.response.status_int = error.status
    request.response.headers.update(error.headers)
    return {"error": error.message, "problems": error.fields or {}}


SECRET_FIELDS = ("password", "csrf_token")  # never sent back into a re-rendered form


def shown_on(page, keep_form: bool = False):
    """The console's one error path: the view's ``APIError`` rolls its work back (``failed``)
    and ``page(context, request, **extra)`` is rendered again with the error, and, with
    ``keep_form``, the form as it was sent (its secrets left out)."""

    def decorate(view):
        @functools.wraps(view)
        def shown(context, request):
            try:
                return view(context, request)
            except APIError as error:
                extra = failed(request, error)
                if keep_form:
                    sent = form_fields(request)
                    extra["form"] = {k: v for k, v in sent.items() if k not in SECRET_FIELDS}
                return page(context, request, **extra)

        return shown

    return decorate


def onward(target: str, title: str) -> Response:
    """A page that moves on to ``target`` by itself: a navigation, where a redirect would not
    do (after a form's POST the page's ``form-action 'self'`` forbids a redirect to another
    site, such as an identity provider; after a provider's redirect the SameSite=Strict cookie
    would not be sent)."""
    url = escape(target, quote=True)
    page = (
        f'<!doctype html><html lang=en><head><meta http-equiv="refresh" content="0;url={url}">'
        f'<title>{escape(title)}</title><link rel="icon" href="/-/static/favicon.svg">'
        f'</head><body><a href="{url}">Continue</a></body></html>'
    )
    response = Response(page, content_type="text/html", charset="utf-8")
    response.headers["Content-Security-Policy"] = PAGE_CSP
    return response


def log_in_browser(request, response, console, token: str, ttl: timedelta) -> None:
    """The cookie, and a new CSRF token: one an attacker planted before the login is void."""
    new_csrf_token(request)
    response.set_cookie(
        CONSOLE_COOKIE,
        token,
        max_age=int(ttl.total_seconds()),
        path=request.resource_path(console),
        httponly=True,
        samesite="strict",
        secure=request.scheme == "https",
    )


def log_out_browser(request, response, console) -> None:
    response.delete_cookie(CONSOLE_COOKIE, path=request.resource_path(console))
