"""What both yardsticks share: one command line, and waitress on 127.0.0.1 with it."""

import argparse
from collections.abc import Callable

import waitress


def serve(description: str, make_app: Callable[[str, int], object]) -> None:
    """``make_app(url, pool_size)`` served with the given threads, as tenantapp is."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--url", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--pool-size", type=int, default=10)
    args = parser.parse_args()
    app = make_app(args.url, args.pool_size)
    waitress.serve(app, listen=f"127.0.0.1:{args.port}", threads=args.threads)
