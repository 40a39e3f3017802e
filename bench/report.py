"""Turning the serving benchmark's runs into ``RESULTS.md``, ``results.json`` and a chart."""

import json
import statistics
from pathlib import Path

SYSTEMS = ("tenantapp", "baseline", "open", "floor")
YARDSTICKS = ("baseline", "open", "floor")  # what tenantapp is divided by, where it ran
LABELS = {"item": "GET /{t}/users/{id}", "list": "GET /{t}/users?limit=20"}
TOP = 10_000


def summarise(runs: list[dict]) -> dict:
    """(count, kind, system) → median req/s, p50 and p99 over the rounds."""
    grouped: dict[tuple, list[dict]] = {}
    for run in runs:
        grouped.setdefault((run["count"], run["kind"], run["system"]), []).append(run)
    return {
        key: {
            figure: statistics.median(r[figure] for r in rows)
            for figure in ("rps", "p50_ms", "p99_ms")
        }
        for key, rows in grouped.items()
    }


def cache_rates(stats: list[dict]) -> list[tuple[int, str, int, int, float, int, int]]:
    """Per tenant count and cache: lookups during that count's runs, hit rate, size, capacity."""
    rows = []
    for phase in stats:
        for name, after in phase["after"]["caches"].items():
            before = phase["before"]["caches"][name]
            hits = after["hits"] - before["hits"]
            misses = after["misses"] - before["misses"]
            rate = hits / (hits + misses) if hits + misses else 0.0
            rows.append(
                (phase["count"], name, hits + misses, hits, rate, after["size"], after["capacity"])
            )
    return rows


def systems_of(summary: dict) -> list[str]:
    ran = {system for _, _, system in summary}
    return [system for system in SYSTEMS if system in ran]


def targets(summary: dict, results: dict) -> list[tuple[str, str, bool]]:
    counts = sorted({count for count, _, _ in summary})
    ran = systems_of(summary)
    checks = []
    for count in counts:
        for kind in LABELS:
            mine = summary[count, kind, "tenantapp"]["rps"]
            if "open" in ran and count <= 100 and results["meta"]["isolation"] != "database":
                ratio = mine / summary[count, kind, "open"]["rps"]
                checks.append(
                    (
                        f"tenantapp/open (no authentication) ≥ 0.9 — {LABELS[kind]} at {count}",
                        f"{ratio:.2f}",
                        ratio >= 0.9,
                    )
                )
            bar = 0.9 if count >= TOP else 1.0
            ratio = mine / summary[count, kind, "baseline"]["rps"]
            checks.append(
                (
                    f"tenantapp/baseline ≥ {bar} — {LABELS[kind]} at {count}",
                    f"{ratio:.2f}",
                    ratio >= bar,
                )
            )
    if "floor" in ran:
        for count in counts:
            ratio = (
                summary[count, "item", "tenantapp"]["rps"] / summary[count, "item", "floor"]["rps"]
            )
            checks.append(
                (
                    f"tenantapp/floor ≥ 0.5 — {LABELS['item']} at {count}",
                    f"{ratio:.2f}",
                    ratio >= 0.5,
                )
            )
    low, high = counts[0], counts[-1]
    for kind in LABELS:
        p99_low = summary[low, kind, "tenantapp"]["p99_ms"]
        p99_high = summary[high, kind, "tenantapp"]["p99_ms"]
        ratio = p99_high / p99_low
        checks.append(
            (
                f"p99 at {high} ≤ 1.5× p99 at {low} — {LABELS[kind]}",
                f"{p99_high:.2f} / {p99_low:.2f} ms = {ratio:.2f}×",
                ratio <= 1.5,
            )
        )
    points = sorted(results["memory"], key=int)
    growth = (
        results["memory"][points[-1]]["tenantapp"]["rss_mb"]
        - results["memory"][points[0]]["tenantapp"]["rss_mb"]
    )
    checks.append(
        (
            f"app RSS growth from {points[0]} to {points[-1]} tenants touched ≤ 20 MB",
            f"{growth:+.1f} MB",
            growth <= 20,
        )
    )
    return checks


def markdown(results: dict) -> str:
    summary = summarise(results["runs"])
    meta = results["meta"]
    counts = sorted({count for count, _, _ in summary})
    plan = meta["plan"]
    lines = [
        f"# Serving benchmark results: {meta['isolation']} mode",
        "",
        f"`python -m bench.serving{' --quick' if meta['mode'] == 'quick' else ''}"
        f" --mode {meta['isolation']}` — "
        f"{meta['date']}, {meta['mode']} run, {meta['minutes']} min. {meta['cpus']} CPUs, "
        f"Python {meta['python']}, PostgreSQL {meta['postgresql']} ({meta['database']}, "
        f"loopback), wrk 2 threads × {plan['connections']} connections, "
        f"{plan['seconds']} s per run, {plan['rounds']} rounds alternating A/B/C then C/B/A "
        f"(medians shown), {plan['users']} users per tenant. Every system: waitress "
        f"{plan['threads']} threads, a pool of {plan['pool_size']} connections.",
        "",
        "![throughput and p99 against tenant count](results.png)",
        "",
        "## Throughput and latency",
        "",
        "| endpoint | tenants | system | req/s | p50 ms | p99 ms | ÷ baseline | ÷ open | ÷ floor |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    ran = systems_of(summary)
    for kind in LABELS:
        for count in counts:
            for system in ran:
                row = summary[count, kind, system]
                ratios = " | ".join(
                    f"{row['rps'] / summary[count, kind, other]['rps']:.2f}"
                    if other in ran
                    else "n/a"
                    for other in YARDSTICKS
                )
                lines.append(
                    f"| `{LABELS[kind]}` | {count:,} | {system} | {row['rps']:,.0f} | "
                    f"{row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {ratios} |"
                )
    lines += [
        "",
        "## Memory after warm-up (every tenant touched)",
        "",
        "| tenants touched | system | app RSS MB | PostgreSQL backends MB (private) |",
        "|---:|---|---:|---:|",
    ]
    for point in sorted(results["memory"], key=int):
        for system in ran:
            mem = results["memory"][point][system]
            backend = "n/a" if mem["backend_mb"] is None else f"{mem['backend_mb']:.1f}"
            lines.append(f"| {int(point):,} | {system} | {mem['rss_mb']:.1f} | {backend} |")
    lines += [
        "",
        "## tenantapp's caches during the measured runs",
        "",
        "| tenants | cache | lookups | hits | hit rate | size | capacity |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for count, name, lookups, hits, rate, size, capacity in cache_rates(results["stats"]):
        lines.append(
            f"| {count:,} | {name} | {lookups:,} | {hits:,} | {rate:.1%} | {size:,} | "
            f"{capacity:,} |"
        )
    lines += ["", "## Targets", "", "| target | figure | met |", "|---|---|---|"]
    for name, figure, met in targets(summary, results):
        lines.append(f"| {name} | {figure} | {'yes' if met else '**no**'} |")
    return "\n".join(lines) + "\n"


def chart(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = summarise(results["runs"])
    counts = sorted({count for count, _, _ in summary})
    figure, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    for col, kind in enumerate(LABELS):
        for row, (figure_key, label) in enumerate((("rps", "requests/s"), ("p99_ms", "p99 ms"))):
            ax = axes[row][col]
            for system in systems_of(summary):
                values = [summary[c, kind, system][figure_key] for c in counts]
                ax.plot(counts, values, marker="o", label=system)
            ax.set_xscale("log")
            ax.set_xticks(counts, [f"{c:,}" for c in counts])
            ax.set_ylim(bottom=0)
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
            if row == 0:
                ax.set_title(LABELS[kind])
            else:
                ax.set_xlabel("tenants (random tenant per request)")
    axes[0][0].legend()
    figure.suptitle(
        f"tenantapp ({results['meta']['isolation']} mode) vs single-tenant yardsticks"
        f" ({results['meta']['mode']} run)"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write(results: dict, directory: Path) -> str:
    """RESULTS.md, results.json and results.png (schema mode; ``-shared``, ``-database`` for the
    other modes); the Markdown file's name."""
    mode = results["meta"]["isolation"]
    suffix = "" if mode == "schema" else f"-{mode}"
    (directory / f"results{suffix}.json").write_text(json.dumps(results, indent=1) + "\n")
    (directory / f"RESULTS{suffix}.md").write_text(markdown(results))
    chart(results, directory / f"results{suffix}.png")
    return f"RESULTS{suffix}.md"
