"""tenantapp-worker CONFIG: run the tenant jobs the app defers, with its settings."""

import argparse
import logging
import sys

from prometheus_client import start_http_server
from pyramid.paster import get_appsettings

from .. import assembled
from ..config import setting
from ..interfaces import IInstruments, IJobQueue, IUsageLedger, service
from . import one_line_errors, setup_quiet_logging

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tenantapp-worker", description=__doc__)
    parser.add_argument("config_uri", metavar="CONFIG", help="the app's ini, e.g. development.ini")
    parser.add_argument("-v", "--verbose", action="store_true", help="log INFO lines too")
    parser.add_argument(
        "--concurrency",
        type=int,
        help="jobs run at once, each in a thread (default: tenantapp.jobs.concurrency, else 4)",
    )
    parser.add_argument(
        "--once", action="store_true", help="run the jobs queued now, then exit (cron, tests)"
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        help="serve this worker's job metrics for Prometheus on 127.0.0.1:PORT",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Errors are one line on stderr and exit status 1, as ``tenantapp-admin``'s."""
    args = build_parser().parse_args(argv)
    return one_line_errors("tenantapp-worker", lambda: work(args))


def work(args) -> int:
    setup_quiet_logging(args.config_uri, args.verbose)
    settings = get_appsettings(args.config_uri)
    registry = assembled(dict(settings))
    concurrency = args.concurrency or setting(
        settings, "tenantapp.jobs.concurrency", int, 4, minimum=1
    )
    if args.metrics_port:
        start_http_server(args.metrics_port, "127.0.0.1", service(registry, IInstruments).registry)
    try:
        queue = service(registry, IJobQueue)
        run = queue.drain if args.once else queue.run_worker
        run(concurrency=concurrency, name="tenantapp-worker")
    finally:
        service(registry, IUsageLedger).stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
