"""Benchmarks 2 and 3: the renewal sweep against hand-written set-based SQL.

    python benchmarks/bench_renewal_sweep.py --db sqlite --members 1000000
    python benchmarks/bench_renewal_sweep.py --db postgres --members 1000000 --workers 1,2

Each run builds a fixture database (10 members a workspace, one workspace in ten
with a decrease to 5 seats at this renewal), times ``Billing.run_renewals`` on it
in worker processes (one run per worker count), then rebuilds it and times two
baselines, checking that each made the same deactivations as the sweep:

- the issue's baseline: one windowed ``UPDATE`` making the deactivations, and
  nothing else;
- a like-for-like one: the same ``UPDATE``, plus one statement renewing every
  workspace's period and one writing an event per renewal and per deactivation,
  which is what the sweep also writes (R16), for how much of the gap is work
  the first baseline leaves out. It is written for this fixture (every anchor
  on the 1st, whole seconds): SQLite's month arithmetic does not clamp month
  ends as ``add_interval`` does. Only its deactivations are checked.

The sweep runs with the advance notices on (``Billing``'s default): after the
boundaries it claims those ahead within their leads, none on this fixture once
renewed. The notice pass is then timed on its own: the fixture rebuilt and the
job run 3 days before the renewals, so every workspace gets a
``renewal_upcoming`` notice (a batch of claims at a time, members read where
seats fall short, events and ``wb_notices`` records written set-based); it
checks that the notices name exactly the members the sweep deactivated.

Each worker reports its own peak memory; run each scale in its own process.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from common import (
    BASELINE_SQL,
    RENEWS,
    SWEEP_AT,
    billing_on,
    database_url,
    deactivated_set,
    fresh_schema,
    generate_renewals,
    like_for_like_sql,
    peak_rss_mb,
)

from workspace_billing import Notices
from workspace_billing.storage.schema import events
from workspace_billing.storage.sql import SQLStore

NOTICE_AT = RENEWS - timedelta(days=3)
"""Every renewal of the fixture is 3 days ahead: within the 7-day default lead."""


def _generate_elsewhere(url: str, n_ws: int, per: int) -> int:
    """Build the fixture in a child process, so no worker inherits its memory."""
    spawn = multiprocessing.get_context("spawn")
    with spawn.Pool(1) as pool:
        return int(pool.apply(generate_renewals, (url, n_ws, per)))


def _worker(
    url: str, batch_size: int, at: datetime, notices: bool
) -> tuple[int, int, float, float, float]:
    """One worker process: (workspaces examined, notices recorded, seconds, peak MB
    before, after)."""
    before = peak_rss_mb()
    store = SQLStore.from_url(url)
    billing = billing_on(store, at)
    if not notices:  # the sweep as it was before them, for comparison
        billing._notices = Notices(trial_ending=None, renewal_upcoming=None)
    start = time.perf_counter()
    report = billing.run_renewals(batch_size=batch_size)
    elapsed = time.perf_counter() - start
    store.dispose()
    return report.examined, report.noticed, elapsed, before, peak_rss_mb()


def _sweep(
    url: str, workers: int, batch_size: int, at: datetime = SWEEP_AT, notices: bool = True
) -> tuple[int, int, float, float, float]:
    spawn = multiprocessing.get_context("spawn")
    with spawn.Pool(workers) as pool:
        pool.apply(peak_rss_mb)  # the workers are up before the clock starts
        start = time.perf_counter()
        parts = pool.starmap(_worker, [(url, batch_size, at, notices)] * workers)
        elapsed = time.perf_counter() - start
    return (
        sum(p[0] for p in parts),
        sum(p[1] for p in parts),
        elapsed,
        max(p[3] for p in parts),
        max(p[4] for p in parts),
    )


def announced_set(url: str) -> set[tuple[str, str]]:
    """The members the ``renewal_upcoming`` notices name, as (workspace, user)."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(events.c.workspace_id, events.c.data).where(
                events.c.type == "renewal_upcoming"
            )
        ).all()
    engine.dispose()
    found = set()
    for ws_id, stored in rows:
        data = json.loads(stored) if isinstance(stored, str) else stored
        if data["deactivate_count"]:
            found.update((ws_id, user) for user in data["deactivate"].split("\n"))
    return found


def _baseline(url: str, kind: str, statements: list[str]) -> float:
    engine = sa.create_engine(url)
    now = SWEEP_AT.replace(tzinfo=None) if kind == "sqlite" else SWEEP_AT
    start = time.perf_counter()
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement), {"now": now})
    elapsed = time.perf_counter() - start
    engine.dispose()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--per-workspace", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--workers", default="1", help="worker counts to time, e.g. 1,2")
    parser.add_argument(
        "--no-notices", action="store_true", help="sweep without the notice pass, as before it"
    )
    args = parser.parse_args()
    n_ws = args.members // args.per_workspace
    counts = [int(n) for n in args.workers.split(",")]
    if args.db == "sqlite" and counts != [1]:
        parser.error("SQLite has one writer: time several workers on PostgreSQL")
    url = database_url(args.db, Path(tempfile.mkdtemp(prefix="wb-bench-")), "sweep")

    sweeps: dict[int, float] = {}
    library: set[tuple[str, str]] = set()
    for workers in counts:
        fresh_schema(url).dispose()
        build = time.perf_counter()
        expected = _generate_elsewhere(url, n_ws, args.per_workspace)
        build = time.perf_counter() - build
        if not sweeps:
            print(
                f"{args.db}: {n_ws:,} workspaces, {args.members:,} members "
                f"(built in {build:.1f} s); {expected:,} deactivations expected"
            )
        examined, noticed, elapsed, rss_before, rss_after = _sweep(
            url, workers, args.batch_size, notices=not args.no_notices
        )
        library = deactivated_set(url)
        assert (examined, noticed) == (n_ws, 0), (examined, noticed, n_ws)
        assert len(library) == expected, (len(library), expected)
        sweeps[workers] = elapsed
        print(
            f"  sweep{' without notices' if args.no_notices else ''}, "
            f"{workers} worker{'s' if workers > 1 else ''}: {elapsed:.2f} s "
            f"({n_ws / elapsed:,.0f} workspaces/s, {args.members / elapsed:,.0f} members/s); "
            f"peak RSS of a worker {rss_before:.0f} MB before, {rss_after:.0f} MB after"
        )

    fresh_schema(url).dispose()
    _generate_elsewhere(url, n_ws, args.per_workspace)
    examined, noticed, notice_s, _, notice_rss = _sweep(url, 1, args.batch_size, NOTICE_AT)
    assert (examined, noticed) == (0, n_ws), (examined, noticed, n_ws)
    assert announced_set(url) == library, "the notices and the sweep disagree"
    print(
        f"  notice pass alone, 1 worker, 3 days before: {notice_s:.2f} s "
        f"({n_ws / notice_s:,.0f} notices/s, naming the same {len(library):,} members); "
        f"peak RSS {notice_rss:.0f} MB"
    )

    timed = {}
    for name, statements in (
        ("baseline (deactivations only)", [BASELINE_SQL]),
        ("like-for-like (deactivations, renewals, events)", like_for_like_sql(args.db)),
    ):
        fresh_schema(url).dispose()
        _generate_elsewhere(url, n_ws, args.per_workspace)
        timed[name] = _baseline(url, args.db, statements)
        assert deactivated_set(url) == library, f"{name} and the sweep disagree"
        print(f"  {name}: {timed[name]:.2f} s (same {len(library):,} deactivations)")

    one = sweeps[counts[0]]
    for name, elapsed in timed.items():
        print(f"  ratio sweep ({counts[0]} worker) / {name}: {one / elapsed:.2f}x")
    for workers in counts[1:]:
        print(f"  throughput, {workers} workers / {counts[0]}: {one / sweeps[workers]:.2f}x")


if __name__ == "__main__":
    main()
