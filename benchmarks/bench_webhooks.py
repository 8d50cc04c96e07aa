"""Benchmark 4: webhook ingest (verified, deduplicated, applied), events per second,
with 20% duplicates, on SQLite and PostgreSQL.

    python benchmarks/bench_webhooks.py --db sqlite --events 5000

Baseline, in the same run: the same number of bare ``INSERT ... ON CONFLICT DO
NOTHING`` of the event ids (the dedupe alone) on the same database. On
PostgreSQL, also what the server itself costs: a round trip, a transaction that
writes one row (its commit waits for the WAL to reach the disk), and the
deliveries handled by hand with ``psycopg``, the same statements the store runs
for each (lock the workspace found by its subscription, claim the event id and
read the members, commit), without the library. ``--no-pre-ping`` builds the
store with ``pool_pre_ping=False`` (one round trip less a call; see
docs/storage.md).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from common import database_url, fresh_schema, peak_rss_mb

from workspace_billing import Billing, Catalog
from workspace_billing.storage.sql import SQLStore
from workspace_billing.testing import FakeClock, FakePaymentProvider


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--workspaces", type=int, default=200)
    parser.add_argument("--no-pre-ping", action="store_true")
    args = parser.parse_args()
    url = database_url(args.db, Path(tempfile.mkdtemp(prefix="wb-bench-")), "hooks")
    fresh_schema(url).dispose()
    options = {"pool_pre_ping": False} if args.no_pre_ping else {}
    store = SQLStore.from_url(url, **options)
    clock = FakeClock()
    provider = FakePaymentProvider(clock=clock)
    billing = Billing(catalog=Catalog.default(), store=store, provider=provider, clock=clock)
    refs = []
    for n in range(args.workspaces):
        ws = billing.create_workspace(owner=f"o{n}", name=f"W{n}", workspace_id=f"ws_{n}")
        checkout = billing.upgrade(
            ws.id,
            actor=f"o{n}",
            plan="business",
            seats=2,
            success_url="https://h/ok",
            cancel_url="https://h/no",
        )
        refs.append(provider.complete_checkout(checkout.id))
    provider.take_webhooks()
    unique = int(args.events * 0.8)
    bodies = []
    for n in range(unique):  # subscription events naming the workspaces' subscriptions
        body = {
            "id": f"evt_b{n}",
            "type": "subscription.updated",
            "created": 0,
            "data": {"object": {"subscription": refs[n % len(refs)]}},
        }
        bodies.append(json.dumps(body).encode())
    deliveries = bodies + random.Random(7).sample(bodies, args.events - unique)
    random.Random(8).shuffle(deliveries)
    signed = [(body, provider.sign(body)) for body in deliveries]

    start = time.perf_counter()
    applied = duplicates = 0
    for body, headers in signed:
        result = billing.handle_webhook(body, headers)
        applied += result.applied
        duplicates += result.duplicates
    ingest = time.perf_counter() - start
    assert (applied, duplicates) == (unique, args.events - unique), (applied, duplicates)

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE bench_ids (event_id VARCHAR(255) PRIMARY KEY)"))
    insert = "INSERT INTO bench_ids (event_id) VALUES (:id) ON CONFLICT DO NOTHING"
    start = time.perf_counter()
    for body in deliveries:
        with engine.begin() as conn:
            conn.execute(sa.text(insert), {"id": json.loads(body)["id"]})
    baseline = time.perf_counter() - start
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE bench_ids"))
    engine.dispose()
    print(
        f"{args.db}: {args.events:,} deliveries ({args.events - unique:,} duplicates), "
        f"{args.workspaces} subscriptions"
    )
    print(f"  ingest: {ingest:.2f} s = {args.events / ingest:,.0f} events/s")
    print(
        f"  baseline (dedupe insert alone, one transaction each): {args.events / baseline:,.0f}/s"
    )
    print(f"  ratio ingest/baseline: {ingest / baseline:.2f}x")
    if args.db == "postgres":
        server_costs(url, deliveries)
    print(f"  peak RSS: {peak_rss_mb():.0f} MB")


def server_costs(url: str, deliveries: list[bytes]) -> None:
    """What PostgreSQL itself costs a delivery, measured with its driver alone."""
    import psycopg  # noqa: PLC0415 - PostgreSQL only

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as db:
        db.execute("CREATE TABLE bench_probe (k INT PRIMARY KEY)")
        n = 500
        start = time.perf_counter()
        for _ in range(n):
            db.execute("SELECT 1").fetchone()
        trip = (time.perf_counter() - start) / n
        start = time.perf_counter()
        for k in range(n):
            with db.transaction():
                db.execute("INSERT INTO bench_probe VALUES (%s)", (k,))
        write = (time.perf_counter() - start) / n
        db.execute("DROP TABLE bench_probe")
        print(
            f"  server: a round trip {trip * 1e6:.0f} µs; a transaction writing one row "
            f"(BEGIN, INSERT, COMMIT, which waits for the WAL flush) {write * 1e6:.0f} µs"
        )
        db.execute("CREATE TABLE bench_claims (event_id VARCHAR(255) PRIMARY KEY)")
        start = time.perf_counter()
        for body in deliveries:
            payload = json.loads(body)
            ref = payload["data"]["object"]["subscription"]
            with db.transaction():
                (ws,) = db.execute(
                    "SELECT id FROM wb_workspaces WHERE subscription_ref = %s FOR UPDATE", (ref,)
                ).fetchone()
                claimed = db.execute(
                    "INSERT INTO bench_claims VALUES (%s) ON CONFLICT DO NOTHING RETURNING 1",
                    (payload["id"],),
                ).fetchone()
                if claimed:
                    db.execute("SELECT * FROM wb_members WHERE workspace_id = %s", (ws,)).fetchall()
        by_hand = time.perf_counter() - start
        db.execute("DROP TABLE bench_claims")
    print(
        f"  by hand, the same statements for each delivery (psycopg, no library, no pre-ping): "
        f"{len(deliveries) / by_hand:,.0f}/s"
    )


if __name__ == "__main__":
    main()
