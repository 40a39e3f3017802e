"""Where an app process's memory goes as it serves many tenants: N tenants (one user and a token
each) are made, the app (``production.ini``) answers one request per tenant in-process, and
``tracemalloc`` says what the Python heap kept, by line; RSS before and after too (tracemalloc's
own bookkeeping is in that RSS).

    python -m bench.memory [--tenants 10000] [--mode shared] [--top 12] [--database-url URL]
                           [--rss-only]
"""

import argparse
import gc
import io
import os
import sys
import time
import tracemalloc

from sqlalchemy import create_engine

from .database import throwaway_database
from .dataset import make_tenants
from .serving import ROOT, pserve_env


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return 0.0


def ask(app, path: str, token: str) -> None:
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "6543",
        "HTTP_HOST": "127.0.0.1:6543",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    status = []
    b"".join(app(environ, lambda s, headers, exc_info=None: status.append(s)))
    if not status[0].startswith("200"):
        raise SystemExit(f"{path}: {status[0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--mode", choices=("schema", "shared", "database"), default="shared")
    parser.add_argument("--top", type=int, default=12, help="lines of the heap to show")
    parser.add_argument("--database-url", help="a PostgreSQL server (default: embedded)")
    parser.add_argument(
        "--rss-only", action="store_true", help="RSS alone, without tracemalloc's own memory"
    )
    args = parser.parse_args()
    with throwaway_database(args.database_url) as url:
        engine = create_engine(url)
        started = time.monotonic()
        targets = make_tenants(engine, args.tenants, 1, mode=args.mode)
        engine.dispose()
        print(f"{args.tenants} tenants made in {time.monotonic() - started:.0f} s", flush=True)
        os.environ.update(pserve_env(url))
        from pyramid.paster import get_app

        app = get_app(str(ROOT / "production.ini"))
        for target in targets[:10]:  # what every app holds whatever its tenants
            ask(app, f"{target.prefix}/users/{target.first_id}", target.token)
        gc.collect()
        before = rss_mb()
        if not args.rss_only:
            tracemalloc.start()
            first = tracemalloc.take_snapshot()
        for target in targets:
            ask(app, f"{target.prefix}/users/{target.first_id}", target.token)
        gc.collect()
        after = rss_mb()
        if args.rss_only:
            print(f"RSS {before:.1f} -> {after:.1f} MB (+{after - before:.1f})")
            return
        grown = tracemalloc.take_snapshot().compare_to(first, "lineno")
        print(f"RSS {before:.1f} -> {after:.1f} MB (+{after - before:.1f}), tracemalloc on")
        print(f"Python heap +{sum(s.size_diff for s in grown) / 1e6:.1f} MB, by line:")
        for stat in grown[: args.top]:
            frame = stat.traceback[0]
            where = frame.filename.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
            print(f"  {stat.size_diff / 1e6:6.2f} MB {stat.count_diff:7d}  {where}:{frame.lineno}")


if __name__ == "__main__":
    main()
