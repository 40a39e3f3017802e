"""A tenant's sessions: the session factory, the request's session (``request.dbsession``) and
the hooks through which features that act on each tenant session (limits, sealing) add to it,
so the kernel imports none of them.

A request that may write joins the request's transaction manager (pyramid_tm commits or aborts
it); a safe one (GET, HEAD, OPTIONS) reads in a read-only transaction rolled back when the
request is done, with no two-phase commit machinery for a transaction with nothing to commit.
"""

import logging
from collections.abc import Callable
from contextlib import suppress

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from zope.sqlalchemy.datamanager import ZopeTransactionEvents

from ..interfaces import ITenantSessions, ITenantStore, service
from . import binding
from .directory import TenantEntry

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ZOPE_KEY = "tenantapp.zope_events"
ZOPE_EVENTS = (  # what zope.sqlalchemy.register listens for
    "after_begin",
    "after_attach",
    "after_flush",
    "after_bulk_update",
    "after_bulk_delete",
    "before_commit",
    "do_orm_execute",
)
# hook(entry, tenant) -> what to add to a new session's ``info``; ``tenant`` is the request's
# tenant resource, None for a session made outside a request (jobs, scripts)
SessionHook = Callable[[TenantEntry, object], dict]

log = logging.getLogger(__name__)


class TenantSessions:
    """Makes every session that serves a tenant (the ``ITenantSessions`` service): bound to
    it as its store says, with what each hook adds."""

    def __init__(self, factory: sessionmaker):
        self.factory = factory
        self.hooks: list[SessionHook] = []

    def add_hook(self, hook: SessionHook) -> None:
        self.hooks.append(hook)

    def open(self, registry, entry: TenantEntry, info: dict | None = None, tenant=None) -> Session:
        store = service(registry, ITenantStore, entry.mode)
        info = dict(info or ())
        for hook in self.hooks:
            info.update(hook(entry, tenant))
        session = self.factory(bind=store.engine(entry), info=info)
        binding.bind_session(session, store.binding(entry))
        return session


def make_session_factory(
    engine: Engine | None = None, lock_timeout: str | None = None, max_schemas: int | None = None
) -> sessionmaker:
    """Sessions that bind to a tenant; their transactions wait at most ``lock_timeout`` for a
    lock (e.g. a tenant being migrated) and then fail with 503 instead of hanging, and a pooled
    connection is replaced once it has served ``max_schemas`` tenants."""
    info = {binding.LOCK_TIMEOUT_KEY: lock_timeout, binding.MAX_SCHEMAS_KEY: max_schemas}
    factory = sessionmaker(
        bind=engine, class_=binding.TenantSession, expire_on_commit=False, info=info
    )  # the request path passes each session the engine of its tenant's server
    binding.install(factory)
    for name in ZOPE_EVENTS:
        event.listen(factory, name, _to_zope(name))
    return factory


def _to_zope(name: str):
    """zope.sqlalchemy's handlers, listened for once on the factory instead of seven
    ``event.listen`` calls per request (``zope.sqlalchemy.register``, a tenth of a read's cost);
    each session carries its own handlers, bound to its request's transaction manager."""

    def handler(first, *args):
        session = first if isinstance(first, Session) else first.session
        events = session.info.get(ZOPE_KEY)
        if events is not None:
            getattr(events, name)(first, *args)

    return handler


def changes_state(request) -> bool:
    """pyramid_tm's activate hook: only requests that may write get a managed transaction."""
    return request.method not in SAFE_METHODS


def close_read_session(session: Session) -> None:
    """End a read: its rollback may find the connection gone (the server restarted under the
    request), which must not turn an answer already made into an error; the connection is
    then dropped, not given back to the pool."""
    try:
        session.close()
    except DBAPIError:
        log.info("a read's connection was gone at its end: dropped")
        with suppress(DBAPIError):
            session.invalidate()


def request_dbsession(request) -> Session:
    """The session of the request's tenant, and the one place a request's session is bound:
    its tenant's store (found by the tenant's mode) says which engine serves the tenant and how
    to bind to it. A request that may write joins the request's transaction manager
    (pyramid_tm commits or aborts it); a safe one (GET, HEAD, OPTIONS) reads in a read-only
    transaction that is rolled back when the request is done, without two-phase commit
    machinery for a transaction that has nothing to commit."""
    tenant = request.tenant
    if tenant is None:
        raise LookupError("request.dbsession serves a tenant: this request has none")
    sessions = service(request.registry, ITenantSessions)
    if request.method in SAFE_METHODS:
        info = {binding.READ_ONLY_KEY: True}
        session = sessions.open(request.registry, tenant.record, info, tenant)
        request.add_finished_callback(lambda request: close_read_session(session))
    else:
        info = {ZOPE_KEY: ZopeTransactionEvents(transaction_manager=request.tm)}
        session = sessions.open(request.registry, tenant.record, info, tenant)
    return session


def tenant_session(registry, entry, info: dict | None = None) -> Session:
    """A session bound to ``entry``'s tenant, as its store says; the request path's sessions
    are made here, and so is the rare one made outside a request (``jobs``), which manages
    its own transactions."""
    return service(registry, ITenantSessions).open(registry, entry, info)


def request_tenant(request):
    """None until the root factory resolves the tenant in the URL and sets it."""
    return None
