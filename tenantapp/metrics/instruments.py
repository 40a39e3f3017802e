"""The Prometheus instruments of one app, in a registry of its own (prometheus-client).

A tenant label exists for at most ``top`` tenants (``tenantapp.metrics.top_tenants``): the
busiest this process has seen, re-picked every ``RECOUNT`` requests; every other tenant is
``other``, so the series stay bounded however many tenants there are. A tenant keeps the label
it was given until the next re-pick; the ledger (``usage``) has the exact per-tenant figures.
"""

import threading
from collections import Counter as Tally

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

OTHER = "other"
NO_TENANT = ""  # the operator API, readiness, unknown paths
RECOUNT = 1000
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
JOB_BUCKETS = (0.01, 0.05, 0.25, 1.0, 5.0, 30.0, 120.0, 600.0)
JOB_STATUSES = ("todo", "doing", "succeeded", "failed", "cancelled", "aborted")


class TopTenants:
    """Which tenants get a label of their own."""

    def __init__(self, top: int):
        self.top = top
        self._tally: Tally = Tally()
        self._named: set[str] = set()
        self._seen = 0
        self._lock = threading.Lock()

    def label(self, slug: str) -> str:
        with self._lock:
            self._tally[slug] += 1
            self._seen += 1
            if self._seen % RECOUNT == 0:
                self._named = {s for s, _ in self._tally.most_common(self.top)}
                if len(self._tally) > 10 * self.top:  # forget the long tail, keep the leaders
                    self._tally = Tally(dict(self._tally.most_common(5 * self.top)))
            if slug not in self._named and len(self._named) < self.top:
                self._named.add(slug)
            return slug if slug in self._named else OTHER


METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Instruments:
    def __init__(self, top: int, caches):
        self.registry = CollectorRegistry()
        self.tenants = TopTenants(top)
        self._children: dict[tuple, tuple] = {}  # (tenant, method, status) -> labelled metrics
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

    def observe(self, slug: str | None, method: str, status: int, seconds: float, db: float):
        tenant = NO_TENANT if slug is None else self.tenants.label(slug)
        if method not in METHODS:  # a client chooses it: any other would be a series more
            method = OTHER
        key = (tenant, method, status)
        children = self._children.get(key)
        if children is None:  # labels() looks the child up under a lock: once per key
            children = self._children[key] = (
                self.requests.labels(tenant, method, str(status)),
                self.latency.labels(tenant),
                self.db_time.labels(tenant),
            )
        requests, latency, db_time = children
        requests.inc()
        if status >= 500:
            self.errors.labels(tenant).inc()
        latency.observe(seconds)
        db_time.inc(db)

    def observe_job(self, task: str, slug: str | None, outcome: str, seconds: float) -> None:
        tenant = NO_TENANT if not slug else self.tenants.label(slug)
        self.jobs.labels(task, tenant, outcome).inc()
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
