"""Yardstick 1b: the baseline (``bench.baseline``) with no authentication: the same app reading
the same row, with no token looked up and no permission checked: the least a single-tenant
Pyramid app on this stack does for the request.

    python -m bench.open_baseline --url URL --port 6546 [--threads 8 --pool-size 10]
"""

from .baseline import make_app
from .yardstick import serve

if __name__ == "__main__":
    serve(__doc__, lambda url, pool_size: make_app(url, pool_size, authenticate=False))
