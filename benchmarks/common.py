"""Shared pieces of the benchmarks: fixture databases built with bulk inserts, timing,
peak memory. Benchmarks print figures and ratios; they assert nothing about time."""

from __future__ import annotations

import os
import resource
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from workspace_billing import Billing, Catalog
from workspace_billing.storage.schema import members, metadata, workspaces
from workspace_billing.storage.sql import SQLStore
from workspace_billing.testing import FakeClock, FakePaymentProvider

START = datetime(2026, 1, 1, tzinfo=UTC)
RENEWS = datetime(2026, 2, 1, tzinfo=UTC)
SWEEP_AT = RENEWS + timedelta(hours=1)
POSTGRES_ENV = "WORKSPACE_BILLING_BENCH_POSTGRES_URL"


def database_url(kind: str, folder: Path, name: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{folder / (name + '.db')}"
    url = os.environ.get(POSTGRES_ENV, "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    return url


def fresh_schema(url: str) -> SQLStore:
    store = SQLStore.from_url(url)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        metadata.drop_all(conn)
    engine.dispose()
    store.create_schema()
    return store


def billing_on(store: SQLStore, at: datetime = SWEEP_AT) -> Billing:
    clock = FakeClock(at)
    return Billing(
        catalog=Catalog.default(),
        store=store,
        provider=FakePaymentProvider(clock=clock),
        clock=clock,
    )


def generate_renewals(url: str, n_workspaces: int, members_per: int, shrink_every: int = 10) -> int:
    """Negotiated (sales-managed) workspaces whose period ended, ``members_per`` active
    members each (owner included); one in ``shrink_every`` has a decrease scheduled to
    fewer seats than its active members. Returns the members deactivated by R11."""
    engine = sa.create_engine(url)
    expected = 0
    ws_rows: list[dict[str, Any]] = []
    member_rows: list[dict[str, Any]] = []
    for n in range(n_workspaces):
        ws_id = f"ws_{n:07d}"
        pending = None
        if n % shrink_every == 0:
            pending = max(members_per // 2, 1)
            expected += members_per - pending
        ws_rows.append(
            {
                "id": ws_id,
                "name": f"W{n}",
                "owner": f"o{n}",
                "created_at": START,
                "member_seq": members_per,
                "version": 0,
                "due_at": RENEWS,
                "plan": "enterprise",
                "status": "active",
                "seats": members_per,
                "interval": "month",
                "pending_seats": pending,
                "trial_ends_at": None,
                "period_start": START,
                "period_end": RENEWS,
                "anchor": START,
                "cancel_at_period_end": False,
                "past_due_since": None,
                "unit_amount": 900,
                "unit_currency": "EUR",
                "customer_ref": None,
                "subscription_ref": None,
            }
        )
        for m in range(members_per):
            at = START + timedelta(seconds=m)
            member_rows.append(
                {
                    "workspace_id": ws_id,
                    "user": f"o{n}" if m == 0 else f"u{n}-{m}",
                    "role": "owner" if m == 0 else "member",
                    "status": "active",
                    "added_at": at,
                    "active_since": at,
                    "seq": m + 1,
                    "deactivated_at": None,
                }
            )
        if len(member_rows) >= 50_000:
            _flush(engine, ws_rows, member_rows)
    _flush(engine, ws_rows, member_rows)
    # A live database has planner statistics (autovacuum, or SQLite's optimize);
    # a freshly bulk-loaded one has none until analyzed.
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    return expected


def _flush(
    engine: sa.Engine, ws_rows: list[dict[str, Any]], member_rows: list[dict[str, Any]]
) -> None:
    with engine.begin() as conn:
        if ws_rows:
            conn.execute(sa.insert(workspaces), ws_rows)
        if member_rows:
            conn.execute(sa.insert(members), member_rows)
    ws_rows.clear()
    member_rows.clear()


_TO_DEACTIVATE = """
    SELECT workspace_id, "user", seats FROM (
        SELECT m.workspace_id, m."user", COALESCE(w.pending_seats, w.seats) AS seats,
               ROW_NUMBER() OVER (PARTITION BY m.workspace_id
                                  ORDER BY m.active_since DESC, m.seq DESC) AS newest,
               a.active - COALESCE(w.pending_seats, w.seats) AS excess
        FROM wb_members m
        JOIN wb_workspaces w ON w.id = m.workspace_id
        JOIN (SELECT workspace_id, count(*) AS active FROM wb_members
              WHERE status = 'active' GROUP BY workspace_id) a ON a.workspace_id = m.workspace_id
        WHERE m.status = 'active' AND m.role <> 'owner' AND w.due_at <= :now
    ) ranked
    WHERE newest <= excess
"""
"""The members R11 deactivates on the fixture, with their workspace's seats: the
newest active non-owners beyond the seats after the renewal."""

BASELINE_SQL = f"""
UPDATE wb_members SET status = 'deactivated', deactivated_at = :now
WHERE (workspace_id, "user") IN (SELECT workspace_id, "user" FROM ({_TO_DEACTIVATE}) chosen)
"""


def deactivated_set(url: str) -> set[tuple[str, str]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(members.c.workspace_id, members.c.user).where(
                members.c.status == "deactivated"
            )
        ).all()
    engine.dispose()
    return {(r[0], r[1]) for r in rows}


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


_DIALECT = {
    "sqlite": {
        "object": "json_object",
        "iso": "strftime('%Y-%m-%dT%H:%M:%S+00:00', {})",
        "next": "datetime({}, '+1 month') || '.000000'",
    },
    "postgres": {
        "object": "json_build_object",
        "iso": "to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+00:00\"')",
        "next": "({} + interval '1 month')",
    },
}


def like_for_like_sql(kind: str) -> list[str]:
    """Set-based SQL writing what the sweep writes on the fixture: the deactivations
    and their events, every workspace's next period and its renewal event."""
    d = _DIALECT[kind]
    obj, iso, nxt = d["object"], d["iso"], d["next"]

    def summary(seats: str, pending: str, end: str) -> str:
        return (
            f"{obj}('plan', plan, 'status', status, 'seats', {seats}, "
            f"'pending_seats', {pending}, 'interval', interval, 'period_end', {iso.format(end)})"
        )

    return [
        f"""INSERT INTO wb_events (type, workspace_id, at, subject, before, after, data)
        SELECT 'member_deactivated', workspace_id, :now, "user",
               {obj}('status', 'active'), {obj}('status', 'deactivated'),
               {obj}('reason', 'renewal', 'seats', seats)
        FROM ({_TO_DEACTIVATE}) chosen""",
        BASELINE_SQL,
        f"""INSERT INTO wb_events (type, workspace_id, at, before, after, data)
        SELECT 'subscription_renewed', id, :now,
               {summary("seats", "pending_seats", "period_end")},
               {summary("COALESCE(pending_seats, seats)", "NULL", nxt.format("period_end"))},
               {obj}()
        FROM wb_workspaces WHERE due_at <= :now""",
        f"""UPDATE wb_workspaces SET seats = COALESCE(pending_seats, seats), pending_seats = NULL,
               period_start = period_end, period_end = {nxt.format("period_end")},
               due_at = {nxt.format("period_end")}, version = version + 1
        WHERE due_at <= :now""",
    ]
