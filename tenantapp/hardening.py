"""HTTP-level protections on every response: request ids, security headers, the methods each
view answers (for 405's Allow)."""

import re
import secrets

from pyramid.events import ApplicationCreated, NewResponse
from pyramid.exceptions import URLDecodeError
from pyramid.response import Response
from pyramid.view import exception_view_config

from .errors import error_body
from .interfaces import IAllowedMethods, provide, service

# The console's pages and the API's page: scripts and styles from this server only, never
# inline; htmx talks to this server only.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
SECURITY_ITEMS = tuple(SECURITY_HEADERS.items())


def request_id(request) -> str:
    """The server's own id for this request: what logs and the audit log key on."""
    return new_request_id()


def new_request_id() -> str:
    return secrets.token_hex(16)


def client_request_id(request) -> str | None:
    """The caller's X-Request-Id when it is sane: echoed back and kept beside the server's,
    never instead of it (a client must not choose what the audit log calls its request)."""
    given = request.headers.get("X-Request-Id", "")
    return given if REQUEST_ID.fullmatch(given) else None


class RelativeLocationResponse(Response):
    """Keeps ``Location`` as the app set it (RFC 9110 allows a relative one): WebOb would make
    it absolute from the Host header, and the client chooses that."""

    def _abs_headerlist(self, environ):
        return list(self.headerlist)


def add_headers(event) -> None:
    """The security headers a view did not set itself, and the request's ids: appended to the
    header list in one pass (on every response, so it is kept cheap)."""
    headerlist = event.response.headerlist
    present = {name.lower() for name, _ in headerlist}
    added = [(name, value) for name, value in SECURITY_ITEMS if name.lower() not in present]
    request = event.request
    ids = [("X-Request-Id", request.request_id)]
    if request.client_request_id is not None:
        ids.append(("X-Client-Request-Id", request.client_request_id))
    for name, _ in ids:
        if name.lower() in present:  # ours, whatever a view set
            del event.response.headers[name]
    headerlist.extend(added + ids)


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
    service(registry, IAllowedMethods).update(allowed)


@exception_view_config(URLDecodeError, renderer="json")
def undecodable_path(exc, request):
    """A path that is not UTF-8 names nothing here."""
    request.response.status_int = 404
    return error_body("not_found", "no such resource")


def includeme(config):
    config.add_request_method(request_id, "request_id", reify=True)
    config.add_request_method(client_request_id, "client_request_id", reify=True)
    config.set_response_factory(lambda request: RelativeLocationResponse())
    config.add_subscriber(add_headers, NewResponse)
    provide(config, {}, IAllowedMethods)  # filled once every view is registered
    config.add_subscriber(index_allowed_methods, ApplicationCreated)
    config.scan(__name__)
