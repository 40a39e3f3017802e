"""One JSON error shape for the whole API, produced by exception views.

``{"error": code, "message": text}``, plus ``"fields": {name: problem}`` for invalid input.
"""

import logging

from pyramid.httpexceptions import HTTPException
from pyramid.view import exception_view_config
from pyramid_retry import is_last_attempt
from sqlalchemy.exc import DBAPIError, DisconnectionError, InvalidRequestError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from .encryption.keyring import KeyUnavailable
from .interfaces import ITenantDirectory, service

log = logging.getLogger(__name__)
LOCK_NOT_AVAILABLE = "55P03"
# the database cannot serve now: no connection (08), shutting down or starting (57P0x),
# out of connections (53300); a failure with no SQLSTATE never reached the server
UNAVAILABLE = ("08", "57P01", "57P02", "57P03", "53300")
RETRY_AFTER_UNAVAILABLE = "5"
# SQLAlchemy's words when every connection a checkout tried was found closed (a restart leaves
# a pool of them): test_unavailable.py fails if they change
POOL_EXHAUSTED = "This connection is closed"


class APIError(Exception):
    """An error the client can act on; raised by views, rendered by ``api_error``."""

    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        fields: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.fields = fields
        self.headers = headers or {}


class InvalidInput(APIError):
    code = "invalid_input"


class Forbidden(APIError):
    """Allowed the kind of thing, not this one (another user's own second factor)."""

    status = 403
    code = "forbidden"


class Conflict(APIError):
    status = 409
    code = "conflict"


class NotFound(APIError):
    """A thing the client named (a tenant, a user, a domain) that is not there."""

    status = 404
    code = "not_found"


class NotReady(APIError):
    """The database is there but not migrated: nothing can be served until it is."""

    status = 503
    code = "not_ready"

    def __init__(self, message: str):
        super().__init__(message, headers={"Retry-After": RETRY_AFTER_UNAVAILABLE})


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    body = {"error": code, "message": message}
    if fields:
        body["fields"] = fields
    return body


@exception_view_config(APIError, renderer="json")
def api_error(exc, request):
    request.response.status_int = exc.status
    request.response.headers.update(exc.headers)
    return error_body(exc.code, exc.message, exc.fields)


@exception_view_config(HTTPException, renderer="json")
def http_error(exc, request):
    """Pyramid's own errors (404 from traversal, 405, 413 ...), as JSON."""
    response = request.response
    response.status = exc.status
    for header in ("Allow", "Retry-After", "Location"):
        if header in exc.headers:
            response.headers[header] = exc.headers[header]
    code = exc.title.lower().replace(" ", "_")
    message = exc.detail or exc.explanation or exc.title
    if exc.status_int == 404:
        message = "no such resource"
    return error_body(code, str(message))


def database_unavailable(error: Exception) -> bool:
    """Whether ``error`` means the database cannot be reached or cannot serve right now."""
    if isinstance(error, DisconnectionError | PoolTimeout):
        return True
    if isinstance(error, InvalidRequestError) and str(error) == POOL_EXHAUSTED:
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if not isinstance(error, OperationalError):
        return False
    sqlstate = getattr(error.orig, "sqlstate", None)
    return sqlstate is None or sqlstate.startswith(UNAVAILABLE)


@exception_view_config(DBAPIError, renderer="json")
@exception_view_config(InvalidRequestError, renderer="json")
@exception_view_config(DisconnectionError, renderer="json")
@exception_view_config(PoolTimeout, renderer="json")
def database_busy(exc, request):
    """503 with Retry-After when the database is down or out of connections, or a lock wait
    timed out (a tenant mid-migration); anything else is a 500."""
    response = request.response
    if _moved_from_under(exc, request):
        if not is_last_attempt(request):  # pyramid_retry runs it again, at the new place
            raise TenantMoved("the tenant moved while the request read it: at its new place now")
        response.status_int = 503
        response.headers["Retry-After"] = "1"
        return error_body("busy", "this tenant is being moved; try again in a moment")
    if getattr(getattr(exc, "orig", None), "sqlstate", None) == LOCK_NOT_AVAILABLE:
        response.status_int = 503
        response.headers["Retry-After"] = "1"
        return error_body("busy", "this tenant is being changed; try again in a moment")
    if database_unavailable(exc):
        log.warning("database unavailable on %s %s: %s", request.method, request.path, exc)
        response.status_int = 503
        response.headers["Retry-After"] = RETRY_AFTER_UNAVAILABLE
        return error_body("database_unavailable", "the database is unavailable; try again soon")
    return unexpected_error(exc, request)


@exception_view_config(KeyUnavailable, renderer="json")
def key_unavailable(exc, request):
    """A tenant's data key this process cannot open: its key-encryption key was not given to
    this process (a rotation ran before it had the new key list). Not the client's fault, and
    not a bug: a 503 saying so, until the process is given the key."""
    log.error("a data key cannot be opened on %s %s: %s", request.method, request.path, exc)
    request.response.status_int = 503
    request.response.headers["Retry-After"] = RETRY_AFTER_UNAVAILABLE
    return error_body(
        "key_unavailable", "this tenant's data cannot be opened by this server right now"
    )


class TenantMoved(RuntimeError):
    """The tenant left its database while a write waited on its move (``tenancy.guard``), or a
    read found its tables gone from under it (a move dropped the source): the request is
    retried, and finds the tenant at its new place."""


# what a request meets when its tenant's storage was dropped by a move under it
GONE = {"42P01", "3F000", "3D000"}  # undefined table, schema, database


def _moved_from_under(exc, request) -> bool:
    """A request failing on its tenant's storage gone, while the registry names another place
    for the tenant now (asked of the registry, not of this process's memory)."""
    tenant = getattr(request, "tenant", None)
    if tenant is None or getattr(getattr(exc, "orig", None), "sqlstate", None) not in GONE:
        return False
    return service(request.registry, ITenantDirectory).placed_elsewhere(tenant.record)


@exception_view_config(TenantMoved, last_retry_attempt=False)
def retry_at_the_new_place(exc, request):
    """Out to pyramid_retry, which runs the request again (``tenancy.guard``)."""
    raise exc


@exception_view_config(TenantMoved, renderer="json", last_retry_attempt=True)
def moved_again_and_again(exc, request):
    request.response.status_int = 503
    request.response.headers["Retry-After"] = "1"
    return error_body("busy", "this tenant is being moved; try again in a moment")


@exception_view_config(Exception, renderer="json")
def unexpected_error(exc, request):
    log.exception("unhandled error on %s %s", request.method, request.path_qs)
    request.response.status_int = 500
    return error_body("internal_error", "the server failed to handle this request")


def includeme(config):
    config.scan(__name__)  # the exception views
