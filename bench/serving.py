"""Serving benchmark: tenantapp against a single-tenant Pyramid baseline and a bare-WSGI floor.

    python -m bench.serving [--quick] [--database-url URL]

Every system runs under waitress with the same threads and pool size, on one throwaway database
(embedded PostgreSQL unless a server URL is given), and is loaded by ``wrk`` with ``users.lua``:
a random tenant (and user id) per request. Systems alternate run by run (A/B/C, then C/B/A) so
drift on the machine hits all three alike. Writes ``bench/RESULTS.md`` and ``bench/results.png``.
"""

import argparse
import json
import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text
from tqdm import tqdm

from tenantapp.throwaway import TEST_KEYS

from . import report
from .database import throwaway_database
from .dataset import Target, make_baseline, make_tenants
from .loadgen import find_wrk, run_wrk, sweep

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SYSTEMS = ("tenantapp", "baseline", "open", "floor")
ENDPOINTS = ("item", "list")


@dataclass(frozen=True)
class Plan:
    counts: tuple[int, ...]
    users: int
    seconds: int
    warmup_seconds: int
    rounds: int
    threads: int = 8
    pool_size: int = 10
    connections: int = 16
    memory_points: tuple[int, int] = (10, 10_000)


FULL = Plan(counts=(1, 100, 10_000), users=1000, seconds=10, warmup_seconds=3, rounds=2)
QUICK = Plan(
    counts=(1, 10, 100), users=200, seconds=2, warmup_seconds=1, rounds=1, memory_points=(10, 100)
)


@dataclass
class Server:
    """One system under test, in its own process, on 127.0.0.1."""

    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    log: Path
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Server":
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                self.argv, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.name} exited:\n{self.log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.2)
        raise SystemExit(f"{self.name} did not start:\n{self.log.read_text()}")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def pserve_env(url: str, **extra: str) -> dict[str, str]:
    """The environment a benchmark's ``pserve production.ini`` runs in: the database, a fresh
    operator token and the test key-encryption key."""
    return {
        **os.environ,
        "TENANTAPP_DATABASE_URL": url,
        "TENANTAPP_OPERATOR_TOKEN": secrets.token_urlsafe(32),
        "TENANTAPP_ENCRYPTION_KEYS": TEST_KEYS["tenantapp.encryption.keys"],
        **extra,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tenantapp_ini(tmp: Path, settings: list[str]) -> Path:
    """production.ini with ``KEY=VALUE`` settings added to the app's section."""
    extra = "".join(f"{key.strip()} = {value.strip()}\n" for key, _, value in map(_split, settings))
    text = (ROOT / "production.ini").read_text().replace("[app:main]\n", f"[app:main]\n{extra}", 1)
    path = tmp / "tenantapp.ini"
    path.write_text(text)
    return path


def _split(setting: str) -> tuple[str, str, str]:
    if "=" not in setting:
        raise SystemExit(f"--setting takes KEY=VALUE, not {setting!r}")
    return setting.partition("=")


def servers(url: str, plan: Plan, logs: Path, operator_token: str, ini: Path) -> dict[str, Server]:
    python = sys.executable
    common = ["--url", url, "--threads", str(plan.threads), "--pool-size", str(plan.pool_size)]

    def with_app(name: str) -> str:
        return f"{url}{'&' if '?' in url else '?'}application_name={name}"

    env = dict(os.environ)
    tenantapp_env = pserve_env(with_app("tenantapp"), TENANTAPP_OPERATOR_TOKEN=operator_token)
    made = {
        "tenantapp": Server(
            "tenantapp",
            [str(Path(python).with_name("pserve")), str(ini)],
            tenantapp_env,
            free_port(),
            logs / "tenantapp.log",
        ),
        "baseline": Server(
            "baseline",
            [python, "-m", "bench.baseline", *common],
            env,
            free_port(),
            logs / "baseline.log",
        ),
        "open": Server(
            "open",
            [python, "-m", "bench.open_baseline", *common],
            env,
            free_port(),
            logs / "open.log",
        ),
        "floor": Server(
            "floor", [python, "-m", "bench.floor", *common], env, free_port(), logs / "floor.log"
        ),
    }
    made["tenantapp"].argv.append(f"http_port={made['tenantapp'].port}")
    for name in ("baseline", "open", "floor"):
        made[name].argv[made[name].argv.index(url)] = with_app(name)
        made[name].argv += ["--port", str(made[name].port)]
    return made


def backend_memory_mb(engine, application: str) -> float | None:
    """Private memory of the system's PostgreSQL backends (local servers only)."""
    with engine.connect() as connection:
        pids = connection.scalars(
            text("SELECT pid FROM pg_stat_activity WHERE application_name = :a"),
            {"a": application},
        ).all()
    total = 0
    for pid in pids:
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            return None
        for line in rollup.splitlines():
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1])
    return total / 1024


def operator_stats(server: Server, token: str) -> dict:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        f"{server.url}/-/stats", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)
    except urllib.error.HTTPError:
        return {"caches": {}}


def write_targets(path: Path, targets: list[Target]) -> Path:
    path.write_text("".join(f"{t.prefix} {t.token} {t.first_id}\n" for t in targets))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small and short: for development")
    parser.add_argument("--database-url", help="a PostgreSQL server (default: embedded)")
    parser.add_argument(
        "--mode",
        choices=("schema", "shared", "database"),
        default="schema",
        help="isolation mode of tenantapp's tenants",
    )
    parser.add_argument(
        "--counts",
        type=lambda text: tuple(int(n) for n in text.split(",")),
        help="tenant counts to measure, e.g. 100 or 1,100 (default: the plan's)",
    )
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a tenantapp setting, e.g. tenantapp.database_mode.max_connections=100 (repeatable)",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        help="the embedded server's max_connections (database mode at 100 tenant databases)",
    )
    parser.add_argument("--rounds", type=int, help="rounds per figure (default: the plan's)")
    parser.add_argument(
        "--output",
        type=Path,
        help="where RESULTS.md goes (default: bench/, or bench/quick/ for --quick)",
    )
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    if args.counts:
        plan = replace(plan, counts=args.counts, memory_points=(min(args.counts), max(args.counts)))
    if args.rounds:
        plan = replace(plan, rounds=args.rounds)
    output = args.output or (HERE / "quick" if args.quick else HERE)
    output.mkdir(exist_ok=True)
    wrk = find_wrk()
    started = time.monotonic()
    with (
        throwaway_database(args.database_url, args.max_connections) as url,
        tempfile.TemporaryDirectory() as tmp,
    ):
        tmp = Path(tmp)
        engine = create_engine(url)
        most = max(plan.counts)
        with tqdm(total=most, desc="tenants", unit="tenant", disable=None) as bar:
            targets = make_tenants(
                engine, most, plan.users, progress=lambda n: bar.update(1), mode=args.mode
            )
        baseline_target = make_baseline(engine, plan.users)
        print(f"data ready in {time.monotonic() - started:.0f} s", flush=True)
        token = secrets.token_urlsafe(32)
        running = servers(url, plan, tmp, token, tenantapp_ini(tmp, args.setting))
        if args.mode != "schema":  # the floor's SQL knows schema mode's tables only
            del running["floor"]
        try:
            for server in running.values():
                server.start()
            results = measure(plan, wrk, running, engine, targets, baseline_target, tmp, token)
        finally:
            for server in running.values():
                server.stop()
            engine.dispose()
        with engine.connect() as connection:
            server_version = connection.scalar(text("SHOW server_version"))
    results["meta"] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "mode": "quick" if args.quick else "full",
        "isolation": args.mode,
        "settings": args.setting,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "postgresql": server_version,
        "database": "server" if args.database_url else "embedded",
        "wrk": wrk,
        "plan": plan.__dict__,
        "minutes": round((time.monotonic() - started) / 60, 1),
    }
    name = report.write(results, output)
    print(f"wrote {output / name} in {results['meta']['minutes']} min")


def measure(plan, wrk, running, engine, targets, baseline_target, tmp, token) -> dict:
    runs: list[dict] = []
    memory: dict[str, dict] = {}
    stats: list[dict] = []
    for count in sorted(set(plan.counts) | set(plan.memory_points)):
        files = {
            "tenantapp": write_targets(tmp / f"t{count}.txt", targets[:count]),
            "floor": tmp / f"t{count}.txt",
            "baseline": write_targets(tmp / "baseline.txt", [baseline_target]),
            "open": tmp / "baseline.txt",  # its token is sent and never looked at
        }
        systems = [name for name in SYSTEMS if name in running]
        for name in ("tenantapp", "floor"):
            if name in running:
                sweep(running[name].url, targets[:count], "/users?limit=20")
        if count in plan.memory_points:
            memory[str(count)] = {
                name: {
                    "rss_mb": round(server.rss_mb(), 1),
                    "backend_mb": backend_memory_mb(engine, name),
                }
                for name, server in running.items()
            }
        if count not in plan.counts:
            continue
        before = operator_stats(running["tenantapp"], token)
        for kind in ENDPOINTS:
            for name in systems:
                run_wrk(
                    wrk, running[name].url, files[name], kind, plan.users, plan.warmup_seconds, 4
                )
            for round_ in range(plan.rounds):
                for name in systems if round_ % 2 == 0 else reversed(systems):
                    figures = run_wrk(
                        wrk,
                        running[name].url,
                        files[name],
                        kind,
                        plan.users,
                        plan.seconds,
                        plan.connections,
                    )
                    runs.append({"count": count, "kind": kind, "system": name, **figures})
                    print(
                        f"{count:>6} tenants {kind:<4} {name:<9} {figures['rps']:8.0f} req/s"
                        f"  p50 {figures['p50_ms']:6.2f} ms  p99 {figures['p99_ms']:6.2f} ms",
                        flush=True,
                    )
        after = operator_stats(running["tenantapp"], token)
        stats.append({"count": count, "before": before, "after": after})
    return {"runs": runs, "memory": memory, "stats": stats}


if __name__ == "__main__":
    main()
