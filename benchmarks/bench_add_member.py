"""Benchmark 5: add_member throughput on PostgreSQL with 8 threads, all contending for
one workspace, then spread over many; counts oversold seats (must be 0).

    python benchmarks/bench_add_member.py --adds 4000

Baseline, in the same run: the same number of bare single-row INSERTs into the
members table from 8 threads (no lock, no seat check, no event).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import sqlalchemy as sa
from common import billing_on, database_url, fresh_schema, peak_rss_mb

from workspace_billing import Billing, Money, SeatLimitReached
from workspace_billing.storage.sql import SQLStore

THREADS = 8


def run(billing: Billing, jobs: list[list[tuple[str, str]]]) -> tuple[float, int, int]:
    barrier = threading.Barrier(THREADS)
    joined = refused = 0
    lock = threading.Lock()

    def worker(mine: list[tuple[str, str]]) -> None:
        nonlocal joined, refused
        barrier.wait()
        for ws_id, user in mine:
            try:
                billing.add_member(ws_id, actor="owner", user=user)
                outcome = "joined"
            except SeatLimitReached:
                outcome = "refused"
            with lock:
                joined += outcome == "joined"
                refused += outcome == "refused"

    threads = [threading.Thread(target=worker, args=(j,)) for j in jobs]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, joined, refused


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--adds", type=int, default=4000)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="postgres")
    args = parser.parse_args()
    url = database_url(args.db, Path(tempfile.mkdtemp(prefix="wb-bench-")), "adds")
    fresh_schema(url).dispose()
    store = SQLStore.from_url(url, pool_size=THREADS, max_overflow=0)
    billing = billing_on(store)
    seats = args.adds // 2
    hot = billing.create_workspace(owner="owner", name="Hot", workspace_id="ws_hot", trial=False)
    billing.apply_custom_terms(
        hot.id, operator="ops", seats=seats + 1, unit_amount=Money(900, "EUR"), interval="year"
    )
    spread = []
    for n in range(THREADS * 4):
        ws = billing.create_workspace(
            owner="owner", name=f"S{n}", workspace_id=f"ws_s{n}", trial=False
        )
        billing.apply_custom_terms(
            ws.id, operator="ops", seats=args.adds, unit_amount=Money(900, "EUR"), interval="year"
        )
        spread.append(ws.id)

    contended = [
        [("ws_hot", f"t{t}-u{i}") for i in range(args.adds // THREADS)] for t in range(THREADS)
    ]
    hot_time, joined, refused = run(billing, contended)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        active = conn.execute(
            sa.text(
                "SELECT count(*) FROM wb_members"
                " WHERE workspace_id = 'ws_hot' AND status = 'active'"
            )
        ).scalar_one()
    oversold = max(active - (seats + 1), 0)
    spread_jobs = [
        [(spread[(t * 4 + i) % len(spread)], f"s{t}-u{i}") for i in range(args.adds // THREADS)]
        for t in range(THREADS)
    ]
    spread_time, spread_joined, _ = run(billing, spread_jobs)

    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE bench_rows (k VARCHAR(64) PRIMARY KEY)"))
    barrier = threading.Barrier(THREADS)

    def insert(t: int) -> None:
        barrier.wait()
        for i in range(args.adds // THREADS):
            with engine.begin() as conn:
                conn.execute(sa.text("INSERT INTO bench_rows VALUES (:k)"), {"k": f"{t}-{i}"})

    threads = [threading.Thread(target=insert, args=(t,)) for t in range(THREADS)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    baseline = time.perf_counter() - start
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE bench_rows"))
    engine.dispose()
    store.dispose()
    print(f"{args.db}, {THREADS} threads, {args.adds:,} add_member calls each run")
    print(
        f"  one workspace ({seats:,} free seats): {args.adds / hot_time:,.0f} calls/s; "
        f"{joined:,} joined, {refused:,} refused; oversold seats: {oversold}"
    )
    print(
        f"  spread over {len(spread)} workspaces: {args.adds / spread_time:,.0f} calls/s "
        f"({spread_joined:,} joined)"
    )
    print(
        f"  baseline bare inserts: {args.adds / baseline:,.0f}/s; "
        f"ratio one-workspace/baseline {hot_time / baseline:.2f}x, spread/baseline "
        f"{spread_time / baseline:.2f}x"
    )
    print(f"  peak RSS: {peak_rss_mb():.0f} MB")
    assert oversold == 0


if __name__ == "__main__":
    main()
