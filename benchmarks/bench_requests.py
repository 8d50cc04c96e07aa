"""Benchmark 6: the hot request paths against the same reads and writes written by hand.

    python benchmarks/bench_requests.py                     # sqlite, postgres, memory
    python benchmarks/bench_requests.py --db sqlite --calls 2000

One workspace (a negotiated plan, its owner, an admin and ``--members`` plain
members). Each path is timed per call, best of three loops, and so is its
baseline, in the same run on the same database, the library's calls and the
baseline's taken in turn (reads a tenth of a loop at a time, writes a loop at a
time), so that a busy moment on the machine weighs on both:

- ``has_feature``, ``entitlements``: one ``SELECT`` of the workspace row by its
  key (the standard ``sqlite3`` module with the store's settings: WAL,
  ``synchronous=NORMAL``; plain ``psycopg`` on PostgreSQL). In memory: a plain
  function doing a dict lookup and the frozenset test.
- ``subscription``: the workspace row and the count of its active members.
- ``add_member``: one transaction that locks the workspace (``BEGIN IMMEDIATE``
  on SQLite, ``SELECT ... FOR UPDATE`` on PostgreSQL) reading its row, counts
  the active members, inserts the member, advances the workspace's member
  sequence and inserts the event.
- ``remove_member``, ``change_role``: the lock, the member's row, the delete
  (the role update) and the event.

Each ``add_member`` is followed by the ``remove_member`` of the same user, so
the workspace keeps its size (``add+remove`` is the pair); ``change_role`` flips
one member between admin and member. On SQLite the WAL is checkpointed before
each write loop, and a loop writes fewer pages than the automatic checkpoint
waits for: otherwise a checkpoint (a few milliseconds) lands on whichever call
crosses the threshold, the library's or the baseline's. Nothing about time is
asserted: the figures and ratios are printed.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
import timeit
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from common import billing_on, database_url, fresh_schema

from workspace_billing import Billing, Catalog, Money
from workspace_billing.storage.sql import SQLStore
from workspace_billing.testing import FakeClock, FakePaymentProvider, InMemoryStore

WS = "ws_bench"
NOW = datetime(2026, 2, 1, 1, tzinfo=UTC)
"""The benchmark's clock (``common.SWEEP_AT``): the time the baselines write."""
REPEAT = 3
ROUNDS = 10


def best_per_call(
    library: Callable[[], object], baseline: Callable[[], object], calls: int
) -> tuple[float, float]:
    """Seconds per call of each: the best of ``REPEAT`` loops of ``calls`` calls.
    A loop runs the library's calls and the baseline's in turn, a tenth at a
    time, so that a busy moment on the machine weighs on both."""
    library()  # warm: statements prepared, caches filled, as in a running host
    baseline()
    best = [float("inf"), float("inf")]
    chunk = max(calls // ROUNDS, 1)
    for _ in range(REPEAT):
        spent = [0.0, 0.0]
        for _ in range(ROUNDS):
            for i, fn in enumerate((library, baseline)):
                spent[i] += timeit.timeit(fn, number=chunk)
        best = [min(b, t / (chunk * ROUNDS)) for b, t in zip(best, spent, strict=True)]
    return best[0], best[1]


def best_pairs(
    library: tuple[Callable[[int], object], Callable[[int], object]],
    baseline: tuple[Callable[[int], object], Callable[[int], object]],
    calls: int,
    between: Callable[[], object] = lambda: None,
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Per-call seconds of ``first(n)`` and ``second(n)`` run alternately, for the
    library's pair and the baseline's, their loops taken in turn; ``between`` runs,
    untimed, before each loop."""
    best = [[float("inf")] * 2, [float("inf")] * 2]
    for loop in range(REPEAT + 1):
        for k, (first, second) in enumerate((library, baseline)):
            between()
            a = b = 0.0
            for i in range(calls):
                n = loop * calls + i
                t0 = time.perf_counter()
                first(n)
                t1 = time.perf_counter()
                second(n)
                a += t1 - t0
                b += time.perf_counter() - t1
            if loop:  # the first loop warms up
                best[k] = [min(best[k][0], a / calls), min(best[k][1], b / calls)]
    return (best[0][0], best[0][1]), (best[1][0], best[1][1])


def setup(billing: Billing, members: int) -> None:
    billing.create_workspace(owner="owner", name="Bench", workspace_id=WS, trial=False)
    billing.apply_custom_terms(
        WS, operator="ops", seats=members + 10, unit_amount=Money(900, "EUR"), interval="year"
    )
    billing.add_member(WS, actor="owner", user="admin", role="admin")
    for n in range(members):
        billing.add_member(WS, actor="admin", user=f"m{n}")


class Row:
    """One figure: the path, its per-call time and its baseline's."""

    rows: ClassVar[list[tuple[str, str, float, float]]] = []

    @classmethod
    def add(cls, store: str, path: str, library: float, baseline: float) -> None:
        cls.rows.append((store, path, library, baseline))
        print(
            f"  {path:<15} {shown(library)}   baseline {shown(baseline)}"
            f"   ratio {library / baseline:5.2f}x",
            flush=True,
        )


def shown(seconds: float) -> str:
    """A per-call time in µs, or in ns below a microsecond."""
    if seconds < 1e-6:
        return f"{seconds * 1e9:7.0f} ns"
    return f"{seconds * 1e6:7.1f} µs"


# ----------------------------------------------------------------- hand-written

_EVENT = (
    "INSERT INTO wb_events (type, workspace_id, at, actor, subject, before, after, data)"
    " VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})"
)


class SQLiteByHand:
    """The same reads and writes with the standard ``sqlite3`` module."""

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, isolation_level=None, timeout=30.0)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            self.db.execute(f"PRAGMA {pragma}")
        self.event = _EVENT.format(p="?")

    def workspace_row(self) -> Any:
        return self.db.execute("SELECT * FROM wb_workspaces WHERE id = ?", (WS,)).fetchone()

    def overview_reads(self) -> Any:
        row = self.workspace_row()
        count = self.db.execute(
            "SELECT count(*) FROM wb_members WHERE workspace_id = ? AND status = 'active'", (WS,)
        ).fetchone()
        held = self.db.execute(
            "SELECT count(*) FROM wb_invitations WHERE workspace_id = ? AND expires_at > ?",
            (WS, "2026-02-01 01:00:00.000000"),
        ).fetchone()
        return row, count, held

    def add(self, user: str) -> None:
        db = self.db
        now = "2026-02-01 01:00:00.000000"
        db.execute("BEGIN IMMEDIATE")
        seats, seq = db.execute(
            "SELECT seats, member_seq FROM wb_workspaces WHERE id = ?", (WS,)
        ).fetchone()
        (active,) = db.execute(
            "SELECT count(*) FROM wb_members WHERE workspace_id = ? AND status = 'active'", (WS,)
        ).fetchone()
        (held,) = db.execute(
            "SELECT count(*) FROM wb_invitations WHERE workspace_id = ? AND expires_at > ?",
            (WS, now),
        ).fetchone()
        assert active + held < seats
        db.execute(
            "INSERT INTO wb_members (workspace_id, user, role, status, added_at, active_since,"
            " seq, deactivated_at) VALUES (?, ?, 'member', 'active', ?, ?, ?, NULL)",
            (WS, user, now, now, seq + 1),
        )
        db.execute(
            "UPDATE wb_workspaces SET member_seq = ?, version = version + 1 WHERE id = ?",
            (seq + 1, WS),
        )
        after, data = json.dumps({"role": "member"}), json.dumps({"seq": seq + 1})
        db.execute(self.event, ("member_added", WS, now, "admin", user, "{}", after, data))
        db.execute("COMMIT")

    def remove(self, user: str) -> None:
        self._member_write(user, "DELETE FROM wb_members WHERE workspace_id = ? AND user = ?",
                           (WS, user), "member_removed")  # fmt: skip

    def change_role(self, user: str, role: str) -> None:
        sql = "UPDATE wb_members SET role = ? WHERE workspace_id = ? AND user = ?"
        self._member_write(user, sql, (role, WS, user), "role_changed")

    def _member_write(self, user: str, sql: str, params: tuple[Any, ...], kind: str) -> None:
        db = self.db
        now = "2026-02-01 01:00:00.000000"
        db.execute("BEGIN IMMEDIATE")
        db.execute("SELECT seats FROM wb_workspaces WHERE id = ?", (WS,)).fetchone()
        role, seq = db.execute(
            "SELECT role, seq FROM wb_members WHERE workspace_id = ? AND user = ?", (WS, user)
        ).fetchone()
        db.execute(sql, params)
        db.execute(self.event, (kind, WS, now, "admin", user, json.dumps({"role": role}), "{}",
                                json.dumps({"seq": seq})))  # fmt: skip
        db.execute("COMMIT")

    def checkpoint(self) -> None:
        """Copy the WAL into the database now, so that no checkpoint falls inside
        a timed loop and lands on whichever side crosses the threshold."""
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def close(self) -> None:
        self.db.close()


class PostgresByHand:
    """The same reads and writes with plain ``psycopg`` (the store's driver)."""

    def __init__(self, url: str) -> None:
        import psycopg  # noqa: PLC0415 - PostgreSQL only

        dsn = url.replace("postgresql+psycopg://", "postgresql://")
        self.read = psycopg.connect(dsn, autocommit=True)
        self.db = psycopg.connect(dsn)
        self.event = _EVENT.format(p="%s") + " RETURNING cursor"

    def workspace_row(self) -> Any:
        return self.read.execute("SELECT * FROM wb_workspaces WHERE id = %s", (WS,)).fetchone()

    def overview_reads(self) -> Any:
        row = self.workspace_row()
        count = self.read.execute(
            "SELECT count(*) FROM wb_members WHERE workspace_id = %s AND status = 'active'", (WS,)
        ).fetchone()
        held = self.read.execute(
            "SELECT count(*) FROM wb_invitations WHERE workspace_id = %s AND expires_at > %s",
            (WS, NOW),
        ).fetchone()
        return row, count, held

    def add(self, user: str) -> None:
        now = NOW
        with self.db.transaction():
            seats, seq = self.db.execute(
                "SELECT seats, member_seq FROM wb_workspaces WHERE id = %s FOR UPDATE", (WS,)
            ).fetchone()
            (active,) = self.db.execute(
                "SELECT count(*) FROM wb_members WHERE workspace_id = %s AND status = 'active'",
                (WS,),
            ).fetchone()
            (held,) = self.db.execute(
                "SELECT count(*) FROM wb_invitations WHERE workspace_id = %s AND expires_at > %s",
                (WS, now),
            ).fetchone()
            assert active + held < seats
            self.db.execute(
                'INSERT INTO wb_members (workspace_id, "user", role, status, added_at,'
                " active_since, seq, deactivated_at)"
                " VALUES (%s, %s, 'member', 'active', %s, %s, %s, NULL)",
                (WS, user, now, now, seq + 1),
            )
            self.db.execute(
                "UPDATE wb_workspaces SET member_seq = %s, version = version + 1 WHERE id = %s",
                (seq + 1, WS),
            )
            self._event("member_added", user, now, {}, {"role": "member"}, seq + 1)

    def _event(self, kind: str, user: str, now: Any, before: dict[str, str],
               after: dict[str, str], seq: int) -> None:  # fmt: skip
        self.db.execute(
            "INSERT INTO wb_events (cursor, type, workspace_id, at, actor, subject, before, after,"
            " data) VALUES ((pg_current_xact_id()::text::bigint << 20) + 1,"
            " %s, %s, %s, %s, %s, %s, %s, %s)",
            (kind, WS, now, "admin", user, json.dumps(before), json.dumps(after),
             json.dumps({"seq": seq})),
        )  # fmt: skip

    def remove(self, user: str) -> None:
        self._member_write(user, 'DELETE FROM wb_members WHERE workspace_id = %s AND "user" = %s',
                           (WS, user), "member_removed")  # fmt: skip

    def change_role(self, user: str, role: str) -> None:
        sql = 'UPDATE wb_members SET role = %s WHERE workspace_id = %s AND "user" = %s'
        self._member_write(user, sql, (role, WS, user), "role_changed")

    def _member_write(self, user: str, sql: str, params: tuple[Any, ...], kind: str) -> None:
        now = NOW
        with self.db.transaction():
            self.db.execute("SELECT seats FROM wb_workspaces WHERE id = %s FOR UPDATE", (WS,))
            role, seq = self.db.execute(
                'SELECT role, seq FROM wb_members WHERE workspace_id = %s AND "user" = %s',
                (WS, user),
            ).fetchone()
            self.db.execute(sql, params)
            self._event(kind, user, now, {"role": role}, {}, seq)

    def checkpoint(self) -> None:
        pass  # the server checkpoints on its own schedule

    def close(self) -> None:
        self.read.close()
        self.db.close()


# ----------------------------------------------------------------------- runs


def run_sql(kind: str, calls: int, write_calls: int, members: int) -> None:
    url = database_url(kind, Path(tempfile.mkdtemp(prefix="wb-bench-")), "requests")
    fresh_schema(url).dispose()
    store = SQLStore.from_url(url)
    billing = billing_on(store)
    setup(billing, members)
    hand: SQLiteByHand | PostgresByHand = (
        SQLiteByHand(url.removeprefix("sqlite:///")) if kind == "sqlite" else PostgresByHand(url)
    )
    print(f"{kind}: one workspace, {members + 2} members; per call, best of {REPEAT} loops")
    Row.add(
        kind,
        "has_feature",
        *best_per_call(lambda: billing.has_feature(WS, "sso"), hand.workspace_row, calls),
    )
    Row.add(
        kind,
        "entitlements",
        *best_per_call(lambda: billing.entitlements(WS), hand.workspace_row, calls),
    )
    Row.add(kind, "subscription",
            *best_per_call(lambda: billing.subscription(WS, actor="admin"), hand.overview_reads,
                           calls))  # fmt: skip
    (add, remove), (hand_add, hand_remove) = best_pairs(
        (
            lambda n: billing.add_member(WS, actor="admin", user=f"lib{n}"),
            lambda n: billing.remove_member(WS, actor="admin", user=f"lib{n}"),
        ),
        (lambda n: hand.add(f"hand{n}"), lambda n: hand.remove(f"hand{n}")),
        write_calls,
        hand.checkpoint,
    )
    Row.add(kind, "add_member", add, hand_add)
    Row.add(kind, "remove_member", remove, hand_remove)
    Row.add(kind, "add+remove", add + remove, hand_add + hand_remove)
    (to_admin, to_member), (hand_admin, hand_member) = best_pairs(
        (
            lambda _: billing.change_role(WS, actor="owner", user="m0", role="admin"),
            lambda _: billing.change_role(WS, actor="owner", user="m0", role="member"),
        ),
        (lambda _: hand.change_role("m1", "admin"), lambda _: hand.change_role("m1", "member")),
        write_calls,
        hand.checkpoint,
    )
    Row.add(kind, "change_role", (to_admin + to_member) / 2, (hand_admin + hand_member) / 2)
    hand.close()
    store.dispose()


def run_memory(calls: int, members: int) -> None:
    clock = FakeClock()
    billing = Billing(
        catalog=Catalog.default(),
        store=InMemoryStore(),
        provider=FakePaymentProvider(clock=clock),
        clock=clock,
    )
    setup(billing, members)
    flags = {WS: frozenset(billing.entitlements(WS).flags)}

    def by_hand(workspace_id: str, feature: str) -> bool:
        return feature in flags[workspace_id]

    print(f"memory: one workspace, {members + 2} members; per call, best of {REPEAT} loops")
    Row.add(
        "memory",
        "has_feature",
        *best_per_call(
            lambda: billing.has_feature(WS, "sso"), lambda: by_hand(WS, "sso"), calls * 50
        ),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="sqlite,postgres,memory")
    parser.add_argument("--calls", type=int, default=5000, help="read calls per loop")
    parser.add_argument(
        "--writes",
        type=int,
        default=80,
        help="write pairs per loop (80 write fewer WAL pages than a SQLite checkpoint waits for)",
    )
    parser.add_argument("--members", type=int, default=20)
    args = parser.parse_args()
    for kind in args.db.split(","):
        if kind == "memory":
            run_memory(args.calls, args.members)
        else:
            run_sql(kind, args.calls, args.writes, args.members)
    print("\npath, store: per call (baseline) ratio")
    for store, path, library, baseline in Row.rows:
        ratio = library / baseline
        print(f"  {path:<15} {store:<9} {shown(library)} ({shown(baseline)}) {ratio:5.2f}x")


if __name__ == "__main__":
    main()
