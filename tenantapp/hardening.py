"""HTTP-level protections on every response: request ids, security headers, 405 with Allow."""

import re
import uuid

from pyramid.events import ApplicationCreated, NewResponse
from pyramid.exceptions import PredicateMismatch, URLDecodeError
from pyramid.view import exception_view_config

from .errors import error_body

REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def request_id(request) -> str:
    """The caller's X-Request-Id when it is sane, else a new one."""
    given = request.headers.get("X-Request-Id", "")
    return given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def add_headers(event) -> None:
    headers = event.response.headers
    for name, value in SECURITY_HEADERS.items():
        headers.setdefault(name, value)
    headers["X-Request-Id"] = event.request.request_id


def index_allowed_methods(event) -> None:
    """Which methods each (context, view name) answers, read once from the view registrations."""
    allowed: dict[tuple[type, str], set[str]] = {}
    registry = event.app.registry
    for view in registry.introspector.get_category("views"):
        intr = view["introspectable"]
        methods = intr["request_methods"]
        if intr["context"] is None or methods is None or intr["exception_only"]:
            continue
        if isinstance(methods, str):
            methods = (methods,)
        allowed.setdefault((intr["context"], intr["name"]), set()).update(methods)
    for methods in allowed.values():
        if "GET" in methods:
            methods.add("HEAD")
    registry["allowed_methods"] = allowed


@exception_view_config(PredicateMismatch, renderer="json")
def method_not_allowed(exc, request):
    """A view exists here but not for this method: 405 naming the methods that do."""
    key = (type(request.context), request.view_name)
    methods = request.registry["allowed_methods"].get(key)
    if not methods or request.method in methods:
        request.response.status_int = 404
        return error_body("not_found", "no such resource")
    request.response.status_int = 405
    request.response.headers["Allow"] = ", ".join(sorted(methods))
    return error_body("method_not_allowed", f"{request.method} is not allowed here")


@exception_view_config(URLDecodeError, renderer="json")
def undecodable_path(exc, request):
    """A path that is not UTF-8 names nothing here."""
    request.response.status_int = 404
    return error_body("not_found", "no such resource")


def includeme(config):
    config.add_request_method(request_id, "request_id", reify=True)
    config.add_subscriber(add_headers, NewResponse)
    config.add_subscriber(index_allowed_methods, ApplicationCreated)
    config.scan(__name__)
