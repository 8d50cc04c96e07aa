"""Benchmark 2 and 3: the renewal sweep against one hand-written set-based statement.

    python benchmarks/bench_renewal_sweep.py --db sqlite --members 1000000
    python benchmarks/bench_renewal_sweep.py --db postgres --members 1000000 --workers 2

Each run builds a fixture database (10 members a workspace, one workspace in ten
with a decrease to 5 seats at this renewal), times ``Billing.run_renewals`` on it,
rebuilds it, times the baseline statement producing the same deactivations, checks
both deactivated the same members, and prints the ratio and the peak memory.
Run each scale in its own process (peak memory is per process).
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from common import (
    BASELINE_SQL,
    SWEEP_AT,
    billing_on,
    database_url,
    deactivated_set,
    fresh_schema,
    generate_renewals,
    peak_rss_mb,
)

from workspace_billing.storage.sql import SQLStore


def _generate_elsewhere(url: str, n_ws: int, per: int) -> int:
    """Build the fixture in a child process, so this one's peak memory is the sweep's."""
    spawn = multiprocessing.get_context("spawn")
    with spawn.Pool(1) as pool:
        return int(pool.apply(generate_renewals, (url, n_ws, per)))


def _worker(url: str, batch_size: int) -> tuple[int, float]:
    store = SQLStore.from_url(url)
    start = time.perf_counter()
    report = billing_on(store).run_renewals(batch_size=batch_size)
    store.dispose()
    return report.examined, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--per-workspace", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    n_ws = args.members // args.per_workspace
    folder = Path(tempfile.mkdtemp(prefix="wb-bench-"))

    url = database_url(args.db, folder, "sweep")
    fresh_schema(url).dispose()
    build = time.perf_counter()
    expected = _generate_elsewhere(url, n_ws, args.per_workspace)
    build = time.perf_counter() - build
    print(
        f"{args.db}: {n_ws:,} workspaces, {args.members:,} members "
        f"(built in {build:.1f} s); {expected:,} deactivations expected"
    )

    rss_before = peak_rss_mb()
    if args.workers == 1:
        start = time.perf_counter()
        store = SQLStore.from_url(url)
        report = billing_on(store).run_renewals(batch_size=args.batch_size)
        store.dispose()
        sweep = time.perf_counter() - start
        examined = report.examined
    else:
        spawn = multiprocessing.get_context("spawn")
        start = time.perf_counter()
        with spawn.Pool(args.workers) as pool:
            parts = pool.starmap(_worker, [(url, args.batch_size)] * args.workers)
        sweep = time.perf_counter() - start
        examined = sum(p[0] for p in parts)
    rss_sweep = peak_rss_mb()
    library = deactivated_set(url)
    assert examined == n_ws, (examined, n_ws)
    assert len(library) == expected, (len(library), expected)

    fresh_schema(url).dispose()
    _generate_elsewhere(url, n_ws, args.per_workspace)
    engine = sa.create_engine(url)
    start = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(
            sa.text(BASELINE_SQL),
            {"now": SWEEP_AT.replace(tzinfo=None) if args.db == "sqlite" else SWEEP_AT},
        )
    baseline = time.perf_counter() - start
    engine.dispose()
    assert deactivated_set(url) == library, "the baseline and the sweep disagree"

    print(
        f"  sweep ({args.workers} worker{'s' if args.workers > 1 else ''}): {sweep:.2f} s "
        f"({n_ws / sweep:,.0f} workspaces/s, {args.members / sweep:,.0f} members/s)"
    )
    print(f"  baseline statement: {baseline:.2f} s (same {len(library):,} deactivations)")
    print(f"  ratio sweep/baseline: {sweep / baseline:.2f}x")
    print(
        f"  peak RSS of this process: {rss_before:.0f} MB before the sweep, "
        f"{rss_sweep:.0f} MB after it (the fixture is built in another process)"
    )


if __name__ == "__main__":
    main()
