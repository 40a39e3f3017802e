"""The Prometheus instruments of one app, in a registry of its own (prometheus-client).

A tenant label exists for at most ``top`` tenants (``tenantapp.metrics.top_tenants``): the
busiest this process has seen, re-picked every ``RECOUNT`` requests; every other tenant is
``other``, so the series stay bounded however many tenants there are. A tenant keeps the label
it was given until the next re-pick, and a tenant that leaves the top loses its series then
(its counts go on under ``other``); the ledger (``usage``) has the exact per-tenant figures. The
method label is one of ``METHODS`` or ``other``: a client names methods as it likes.
"""

import threading
from collections import Counter as Tally
from contextlib import suppress

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

OTHER = "other"
NO_TENANT = ""  # the operator API, readiness, unknown paths
RECOUNT = 1000
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
JOB_BUCKETS = (0.01, 0.05, 0.25, 1.0, 5.0, 30.0, 120.0, 600.0)
JOB_STATUSES = ("todo", "doing", "succeeded", "failed", "cancelled", "aborted")


class TopTenants:
    """Which tenants get a label of their own (callers hold the instruments' lock)."""

    def __init__(self, top: int, recount: int = RECOUNT):
        self.top = top
        self.recount = recount
        self._tally: Tally = Tally()
        self._named: set[str] = set()
        self._seen = 0

    def label(self, slug: str) -> tuple[str, set[str]]:
        """The slug's label, and the tenants that just left the top (their series go)."""
        self._tally[slug] += 1
        self._seen += 1
        left: set[str] = set()
        if self._seen % self.recount == 0:
            named = {s for s, _ in self._tally.most_common(self.top)}
            left, self._named = self._named - named, named
            if len(self._tally) > 10 * self.top:  # forget the long tail, keep the leaders
                self._tally = Tally(dict(self._tally.most_common(5 * self.top)))
        if slug not in self._named and len(self._named) < self.top:
            self._named.add(slug)
        return (slug if slug in self._named else OTHER), left


METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Instruments:
    def __init__(self, top: int, caches, recount: int = RECOUNT):
        self.registry = CollectorRegistry()
        self.tenants = TopTenants(top, recount)
        self._children: dict[tuple, tuple] = {}  # (tenant, method, status) -> labelled metrics
        self._jobs: set[tuple[str, str, str]] = set()  # (task, tenant, outcome) with a series
        self._lock = threading.Lock()
        labels = ("tenant", "method", "status")
        self.requests = Counter(
            "tenantapp_requests", "Requests answered", labels, registry=self.registry
        )
        self.errors = Counter(
            "tenantapp_errors",
            "Requests answered with a 5xx status",
            ("tenant",),
            registry=self.registry,
        )
        self.latency = Histogram(
            "tenantapp_request_duration_seconds",
            "Time to answer a request",
            ("tenant",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.db_time = Counter(
            "tenantapp_db_seconds",
            "Time spent in database statements",
            ("tenant",),
            registry=self.registry,
        )
        self.jobs = Counter(
            "tenantapp_jobs",
            "Jobs a worker of this process finished, by outcome (done, failed, refused, gone,"
            " duplicate)",
            ("task", "tenant", "outcome"),
            registry=self.registry,
        )
        self.job_latency = Histogram(
            "tenantapp_job_duration_seconds",
            "Time to run a job",
            ("task",),
            buckets=JOB_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(CacheCollector(caches))
        for tenant in (OTHER, NO_TENANT):  # exposed at 0 from the start, not when first seen
            self.errors.labels(tenant)

    def _tenant(self, slug: str | None) -> str:
        """Under the lock: the slug's label; the series of tenants leaving the top go."""
        if not slug:
            return NO_TENANT
        tenant, left = self.tenants.label(slug)
        if left:
            self._remove(left)
        return tenant

    def _remove(self, tenants: set[str]) -> None:
        for key in [key for key in self._children if key[0] in tenants]:
            del self._children[key]
            self.requests.remove(key[0], key[1], str(key[2]))
        for key in [key for key in self._jobs if key[1] in tenants]:
            self._jobs.discard(key)
            self.jobs.remove(*key)
        for tenant in tenants:
            for metric in (self.errors, self.latency, self.db_time):
                with suppress(KeyError):  # never had that series
                    metric.remove(tenant)

    def observe(self, slug: str | None, method: str, status: int, seconds: float, db: float):
        if method not in METHODS:  # a client chooses it: any other would be a series more
            method = OTHER
        with self._lock:
            tenant = self._tenant(slug)
            key = (tenant, method, status)
            children = self._children.get(key)
            if children is None:
                children = self._children[key] = (
                    self.requests.labels(tenant, method, str(status)),
                    self.latency.labels(tenant),
                    self.db_time.labels(tenant),
                )
            errors = self.errors.labels(tenant) if status >= 500 else None
        requests, latency, db_time = children
        requests.inc()
        if errors is not None:
            errors.inc()
        latency.observe(seconds)
        db_time.inc(db)

    def observe_job(self, task: str, slug: str | None, outcome: str, seconds: float) -> None:
        with self._lock:
            tenant = self._tenant(slug)
            self._jobs.add((task, tenant, outcome))
            jobs = self.jobs.labels(task, tenant, outcome)
        jobs.inc()
        self.job_latency.labels(task).observe(seconds)

    def watch_queue(self, depth) -> None:
        """Expose the job queue's depth, ``depth() -> {status: count}``, read at scrape time."""
        self.registry.register(QueueCollector(depth))


class CacheCollector:
    """Hits, misses and entries of the in-process caches, read at scrape time."""

    def __init__(self, caches):
        self.caches = caches  # () -> {name: stats dict}

    def collect(self):
        hits = CounterMetricFamily(
            "tenantapp_cache_hits", "Lookups answered from memory", labels=["cache"]
        )
        misses = CounterMetricFamily(
            "tenantapp_cache_misses", "Lookups that went to the database", labels=["cache"]
        )
        entries = GaugeMetricFamily("tenantapp_cache_entries", "Entries held", labels=["cache"])
        for name, stats in self.caches().items():
            hits.add_metric([name], stats["hits"])
            misses.add_metric([name], stats["misses"])
            entries.add_metric([name], stats["size"])
        yield from (hits, misses, entries)


class QueueCollector:
    """Jobs in the queue by status, counted at scrape time (one query)."""

    def __init__(self, depth):
        self.depth = depth

    def collect(self):
        jobs = GaugeMetricFamily("tenantapp_jobs_queued", "Jobs in the queue", labels=["status"])
        counts = self.depth()
        for status in JOB_STATUSES:
            jobs.add_metric([status], counts.get(status, 0))
        yield jobs
