"""Driving load: ``wrk`` for the measured runs, a small keep-alive client for warm-up sweeps."""

import http.client
import json
import os
import shutil
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .dataset import Target

LUA = Path(__file__).resolve().with_name("users.lua")


def find_wrk() -> str:
    """wrk from PATH; on a Debian machine where we are root, installed from Debian's package."""
    found = shutil.which("wrk")
    if found is None and shutil.which("apt-get") and os.geteuid() == 0:
        print("wrk is missing: installing Debian's package (apt-get install wrk)", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False)  # noqa: S607
        found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk is missing: install it (Debian: apt-get install wrk) and rerun")
    return found


WRK_CPUS_ENV = "BENCH_WRK_CPUS"  # e.g. "1": run wrk there (taskset); see bench.noisy --pin


def run_wrk(
    wrk: str,
    url: str,
    targets: Path,
    kind: str,
    max_id: int,
    seconds: int,
    connections: int,
    refusals_ok: bool = False,
    delay_ms: int = 0,
    failures_ok: bool = False,
) -> dict:
    """One wrk run; any non-2xx answer (unless ``refusals_ok``: a flood expects 429/503) or
    socket error fails the benchmark, unless ``failures_ok`` (a benchmark that counts them).
    ``delay_ms`` paces each connection (``users.lua``)."""
    argv = [wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(LUA)]
    cpus = os.environ.get(WRK_CPUS_ENV)
    if cpus:  # the load generators on CPUs of their own, off the server's
        argv = ["taskset", "-c", cpus, *argv]
    done = subprocess.run(
        [*argv, url, "--", str(targets), kind, str(max_id)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "WRK_DELAY_MS": str(delay_ms)},
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    failed = (figures["non2xx"] and not refusals_ok) or figures["socket_errors"]
    if failed and not failures_ok:
        raise SystemExit(f"wrk against {url} saw errors: {figures}\n{done.stdout}")
    return {
        "requests": figures["requests"],
        "non2xx": figures["non2xx"],
        "socket_errors": figures["socket_errors"],
        "rps": figures["requests"] / (figures["duration_us"] / 1e6),
        "p50_ms": figures["p50_us"] / 1000,
        "p99_ms": figures["p99_us"] / 1000,
    }


def sweep(url: str, targets: list[Target], suffix: str, workers: int = 8) -> None:
    """Ask every target once (``PREFIX + suffix``), so each tenant has been touched."""
    host, port = url.removeprefix("http://").split(":")
    local = threading.local()

    def get(target: Target) -> None:
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection(host, int(port), timeout=30)
        local.conn.request(
            "GET", target.prefix + suffix, headers={"Authorization": f"Bearer {target.token}"}
        )
        response = local.conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"{url}{target.prefix}{suffix} answered {response.status}: {body!r}")

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(get, targets))
