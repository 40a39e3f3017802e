"""Tenant-aware background jobs on PostgreSQL (procrastinate): no broker to run.

An app declares a job with ``@tenant_task("name")`` on ``fn(request, **args)`` in a module the
configuration scans, defers it from a request with ``request.defer("name", **args)`` (in the
request's transaction: nothing is queued unless it commits), and runs workers with
``tenantapp-worker CONFIG_URI``. ``cron=`` also runs it for every active tenant on a schedule,
which the ini may change or turn off (empty) per task. How jobs are bound, capped per tenant and
kept exactly-once is in ``queue``.

    tenantapp.jobs.concurrency = 4                      # jobs a worker runs at once (threads)
    tenantapp.jobs.cron.jobs.sweep = */10 * * * *       # a task's schedule, by its name
"""

import venusian

from ..config import setting
from ..interfaces import IInstruments, IJobQueue, IServers, provide_factory, service, when_assembled
from .queue import JobQueue, JobRefused, TenantTask

__all__ = ["JobRefused", "tenant_task"]


class tenant_task:
    """Declare ``fn(request, **args)`` a job that runs in a request of its tenant; found by
    ``config.scan``, like a view."""

    def __init__(self, name: str, *, retry: int = 0, cron: str | None = None):
        self.task = {"name": name, "retry": retry, "cron": cron}

    def __call__(self, wrapped):
        def register(context, name, ob):
            config = context.config
            task = TenantTask(fn=ob, **self.task)
            # after the queue's registration; two tasks of one name are a configuration conflict
            config.action(
                ("tenantapp.tenant_task", task.name),
                lambda: service(config.registry, IJobQueue).add(task),
                order=1,
            )

        venusian.attach(wrapped, register, category="pyramid")  # what config.scan looks for
        return wrapped


def defer(request, task: str, **args) -> int:
    """Queue ``task`` for the request's tenant when the request commits; the ticket's id."""
    return service(request.registry, IJobQueue).defer(request, task, args)


@tenant_task("jobs.sweep", cron="*/10 * * * *")
def sweep(request) -> None:
    """Relay the tenant's tickets a process died before relaying."""
    service(request.registry, IJobQueue).sweep(request)


def includeme(config):

    region = setting(config.get_settings(), "tenantapp.jobs.region", str, "") or None

    def job_queue(registry) -> JobQueue:
        instruments = service(registry, IInstruments)
        owner = service(registry, IServers).default.owner
        queue = JobQueue(registry, owner, instruments, region)
        instruments.watch_queue(queue.depth)
        return queue

    provide_factory(config, job_queue, IJobQueue)
    when_assembled(config, lambda registry: service(registry, IJobQueue))  # its depth, measured
    config.add_request_method(defer, "defer")
    config.scan(__name__)  # its own periodic jobs
