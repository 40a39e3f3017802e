"""waitress, answering in the API's own shape even where waitress answers before the app.

``pserve INI http_port=N`` overrides the port of ``listen``: PasteDeploy lets an ini's own
``[DEFAULT]`` win over command-line variables, so a default port cannot live there.

Requests wait for a thread in a queue per tenant, served in turn (``FairTaskDispatcher``): a
tenant with many requests waiting does not make every other tenant wait behind all of them, as
waitress's single first-come queue would; and with ``threads_per_tenant = N`` in the server's
section, no tenant has more than N threads at once while others wait, its other requests
waiting their turn (alone, it may take all threads but one idle); and
a tenant whose plan paces it (its ``quota_paced_requests_per_second``, ``tenantapp.quotas``) has
its requests taken at most that often (held, not refused: a flooding client waits instead of
burning the CPU on refusals). The app tells the server a tenant's pace with each of its
requests (``PACE_KEY`` in the environ), so a changed plan applies from its next request on.

A request's queue is its tenant as the app resolved it, as the app's answers taught the queue
(``FairQueue.key``); whatever the app has not said is a tenant's shares one queue.

The queue takes the place of waitress's own (its dispatcher's ``queue``) and a connection's
turn ends where waitress's channel ``service`` returns: waitress internals, not documented, so
setup.py pins the waitress series tested and ``tests/server/test_waitress_internals.py`` fails when
one of them changes.

waitress refuses some requests itself (a body over ``max_request_body_size``, a bad
``Content-Length``, headers too large) with a text/plain page; here those answers are JSON in
the API's error shape, with a request id and the security headers, like every other answer.
"""

import gc
import json
import sys
import threading
import time
from collections import OrderedDict, deque

from waitress import serve_paste
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server
from waitress.task import ErrorTask, ThreadedTaskDispatcher, WSGITask

from .errors import error_body
from .hardening import SECURITY_HEADERS, new_request_id
from .quotas import PACE_KEY, TENANT_KEY
from .tenancy.resources import VHM_ROOT

CODES = {413: "body_too_large", 431: "headers_too_large"}


class APIErrorTask(ErrorTask):
    def execute(self):
        error = self.request.error
        code = CODES.get(error.code) or error.reason.lower().replace(" ", "_")
        body = json.dumps(error_body(code, str(error.body))).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.extend(
            [
                ("Content-Type", "application/json"),
                *SECURITY_HEADERS.items(),
                ("X-Request-Id", new_request_id()),
            ]
        )
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


TURN = threading.local()  # what the app said of the request a worker thread is serving


class PacedTask(WSGITask):
    """Keeps what the app said of the request (the tenant's pace, and the host if it named the
    tenant) for the dispatcher, in the worker thread that serves it: the channel itself may
    already be taking its next request in another thread."""

    def get_environment(self):
        """waitress's environ, with RFC 9112 §3.2.2 kept: the authority of an absolute-form
        target (``GET http://host/path``) is the request's host, whatever ``Host`` says."""
        environ = super().get_environment()
        authority = getattr(self.request, "proxy_netloc", "")
        if authority:
            environ["HTTP_HOST"] = authority
        return environ

    def execute(self):
        try:
            super().execute()
        finally:
            environ = self.environ or {}
            TURN.pace = environ.get(PACE_KEY)
            TURN.tenant = environ.get(TENANT_KEY)
            TURN.tenant_host = environ.get("HTTP_HOST", "") if VHM_ROOT in environ else None


class APIChannel(HTTPChannel):
    """A connection. waitress queues the channel itself, once per request it has ready, so a
    turn's end is booked here, once, with the key the queue gave it when it handed this thread
    the channel (read first: once the answer is out, the next request on the connection can be
    queued and handed to another thread)."""

    error_task_class = APIErrorTask
    task_class = PacedTask
    queue_key = None  # set by the queue when it hands the channel a thread

    def service(self):
        key = self.queue_key
        TURN.pace = TURN.tenant = TURN.tenant_host = None
        try:
            super().service()
        finally:
            self.server.task_dispatcher.finished(key, TURN.pace, TURN.tenant, TURN.tenant_host)


def first_request(task):
    """The request a queued channel is to serve next (the parser's current one before waitress
    has moved it to ``requests``)."""
    requests = getattr(task, "requests", None)
    return requests[0] if requests else getattr(task, "request", None)


class FairQueue:
    """A queue per tenant, taken in turn: the first task of the tenant served longest ago goes
    next, skipping tenants that already have ``per_key`` tasks running (they wait, costing
    nothing, until one of theirs is done). The cap binds while others wait: when no tenant
    under its cap has a task ready and another thread would still be idle (``spare()``), a
    capped tenant may take one more, so one busy tenant does not leave threads idle, and a
    newcomer still finds a thread at once. What waitress's dispatcher asks of its queue:
    append, popleft, len, and truth meaning "a task can be taken now".

    A task's key is its tenant as the app resolved it, learnt from the app's answers (which
    tenant a request was, and whether its host named it): ``/SLUG`` for a tenant reached by its
    path or by its own host, whatever that host's paths; ``/-`` for the platform. Anything else
    (a first request of a tenant this process has not served yet, an unknown segment, an
    unknown host, a request waitress could not parse) shares one key, ``""``: a client choosing
    Host headers or first segments gets no queue of its own by it."""

    MAX_LEARNT = 100_000  # tenants and tenant hosts remembered; past that, learnt again
    UNKNOWN = ""
    PLATFORM = "/-"

    def __init__(self, per_key: int = 0, rate: float = 0.0, clock=time.monotonic, spare=lambda: 0):
        self._queues: OrderedDict = OrderedDict()
        self.spare = spare  # threads idle besides the one asking
        self._running: dict = {}
        self._size = 0
        self.per_key = per_key  # 0: no cap
        self.rate = rate  # tasks a second per key, bursts of up to one second's; 0: no limit
        self._paces: dict = {}  # key -> its own rate, as its last finished task said
        self._clock = clock
        self._tokens: dict = {}  # key -> (tokens, at)
        self._tenants: set[str] = {self.PLATFORM}  # keys the app said were a tenant's
        self._tenant_hosts: dict[str, str] = {}  # a host that named a tenant -> its key

    def key(self, task) -> str:
        request = first_request(task)
        if request is None:
            return self.UNKNOWN
        headers = getattr(request, "headers", None) or {}
        host = getattr(request, "proxy_netloc", "") or headers.get("HOST", "")
        key = self._tenant_hosts.get(host.lower())
        if key is not None:
            return key
        path = getattr(request, "path", None) or ""  # none on a request that did not parse
        key = "/" + path.lstrip("/").split("/", 1)[0]
        return key if key in self._tenants else self.UNKNOWN

    def _rate(self, key) -> float:
        return self._paces.get(key, self.rate)

    def _tokens_now(self, key, rate: float) -> float:
        tokens, at = self._tokens.get(key, (rate, None))
        if at is None:
            return max(rate, 1.0)
        return min(max(rate, 1.0), tokens + (self._clock() - at) * rate)

    def _ready(self, key) -> bool:
        if self.per_key and self._running.get(key, 0) >= self.per_key:
            return False
        return self._paced(key)

    def _paced(self, key) -> bool:
        rate = self._rate(key)
        return not rate or self._tokens_now(key, rate) >= 1

    def _next_key(self):
        """In turn, the first key under its cap with a task ready; else, while another thread
        would stay idle, the first whose pace lets it go."""
        key = next((key for key in self._queues if self._ready(key)), None)
        if key is None and self.per_key and self.spare() > 0:
            key = next((key for key in self._queues if self._paced(key)), None)
        return key

    def next_ready_in(self) -> float | None:
        """Seconds until a waiting task's key has a token again (None: none waits on one)."""
        waits = [
            (1 - self._tokens_now(key, rate)) / rate
            for key in self._queues
            if (rate := self._rate(key))
            and not (self.per_key and self._running.get(key, 0) >= self.per_key)
        ]
        return max(0.0, min(waits)) if waits else None

    def append(self, task) -> None:
        key = self.key(task)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
        queue.append((key, task))
        self._size += 1

    def popleft(self):
        key = self._next_key()
        if key is None:
            raise IndexError("no task can be taken now")
        queue = self._queues.pop(key)
        _, task = queue.popleft()
        if queue:
            self._queues[key] = queue  # to the back of the line
        rate = self._rate(key)
        if rate:
            self._tokens[key] = (self._tokens_now(key, rate) - 1, self._clock())
        self._size -= 1
        self._running[key] = self._running.get(key, 0) + 1
        task.queue_key = key
        return task

    def finished(
        self,
        key,
        pace: float | None = None,
        tenant: str | None = None,
        tenant_host: str | None = None,
    ) -> None:
        """A turn of ``key`` is over (called under the dispatcher's lock, once per ``popleft``):
        it has a thread less, and what the app said of its request is learnt (its tenant, and
        its host if that named the tenant) and booked (the pace, to the tenant's key)."""
        if not tenant:
            self.done(key, pace)
            return
        own = self.learn(tenant, tenant_host)
        self.done(key, None)
        self._book_pace(own, pace)

    def learn(self, tenant: str, host: str | None = None) -> str:
        """The app served ``tenant`` (reached by ``host``, if it named it): its key."""
        own = "/" + tenant
        if own not in self._tenants:
            if len(self._tenants) >= self.MAX_LEARNT:
                self._tenants = {self.PLATFORM}
            self._tenants.add(own)
        if host:
            if len(self._tenant_hosts) >= self.MAX_LEARNT:
                self._tenant_hosts.clear()
            self._tenant_hosts[host.lower()] = own
        return own

    def done(self, key, pace: float | None = None) -> None:
        """One of ``key``'s tasks finished; the app said its pace (a tenant's request: 0 for
        none), or nothing (not a tenant's)."""
        count = self._running.get(key, 0) - 1
        if count > 0:
            self._running[key] = count
        else:
            self._running.pop(key, None)
        self._book_pace(key, pace)

    def _book_pace(self, key, pace: float | None) -> None:
        if pace is not None:
            if pace > 0:
                self._paces[key] = float(pace)
            else:
                self._paces.pop(key, None)
                self._tokens.pop(key, None)

    def running(self) -> dict:
        """Tasks running per key (the bookkeeping a test checks)."""
        return dict(self._running)

    def __len__(self) -> int:
        return self._size

    def __bool__(self) -> bool:
        return self._next_key() is not None


class FairTaskDispatcher(ThreadedTaskDispatcher):
    """waitress's thread pool, taking tasks from a ``FairQueue``. With a rate, a timer thread
    wakes a worker when a waiting tenant's next token is due (nothing else would)."""

    def __init__(self, per_tenant: int = 0):
        super().__init__()
        self.queue = FairQueue(per_key=per_tenant, spare=self._idle_threads)
        self._closed = False
        threading.Thread(target=self._wake_when_due, name="fair-queue", daemon=True).start()

    def _idle_threads(self) -> int:
        """Threads waiting for a task (under the lock; the asking thread counts as active)."""
        return len(self.threads) - self.stop_count - self.active_count

    def shutdown(self, *args, **kw):
        self._closed = True
        return super().shutdown(*args, **kw)

    def _wake_when_due(self) -> None:
        while True:
            with self.lock:
                due = self.queue.next_ready_in()
                if due is not None and due <= 0 and self.queue:
                    self.queue_cv.notify()
                if self._closed:
                    return
            time.sleep(0.05 if due is None else min(max(due, 0.001), 0.05))

    def finished(self, key, pace=None, tenant=None, tenant_host=None) -> None:
        with self.lock:
            self.queue.finished(key, pace, tenant, tenant_host)
            if self.queue:
                self.queue_cv.notify()  # a task of that tenant may be taken now


def create_api_server(app, **kw):
    """waitress's ``create_server``, with tenants served in turn and its listening sockets
    using ``APIChannel``."""
    socket_map = kw.pop("map", None) or {}
    switch_ms = float(kw.pop("switch_interval_ms", 0))
    if switch_ms > 0:  # how long a thread may hold the GIL while others wait (Python's: 5 ms)
        sys.setswitchinterval(switch_ms / 1000)
    per_tenant = int(kw.pop("threads_per_tenant", 0))
    if "_dispatcher" not in kw:
        dispatcher = kw["_dispatcher"] = FairTaskDispatcher(per_tenant)
        adjustments = Adjustments(**{k: v for k, v in kw.items() if not k.startswith("_")})
        dispatcher.set_thread_count(adjustments.threads)
    server = create_server(app, map=socket_map, **kw)
    for dispatcher in socket_map.values():
        if isinstance(dispatcher, BaseWSGIServer):
            dispatcher.channel_class = APIChannel
    return server


def serve(app, global_conf, **settings):
    """pserve's server: the app is built; what it built at start-up is frozen out of the
    garbage collector's full passes (``gc.freeze``), which would otherwise walk all of it again
    and again while requests wait."""
    gc.collect()
    gc.freeze()
    port = global_conf.get("http_port")
    if port:
        host = settings.get("listen", "127.0.0.1:6543").rsplit(":", 1)[0]
        settings["listen"] = f"{host}:{int(port)}"
    return serve_paste(app, global_conf, _server=create_api_server, **settings)
