"""What the SQL store does differently on PostgreSQL, where writers run concurrently.

SQLite has one writer at a time, so the next rows of the events table are the
next cursors, and its planner reads a plain ``IN`` list fine. PostgreSQL lets
writers of different workspaces commit in any order and may plan a lookup by a
list of ids as a scan of a whole table. Its event cursors and its lookups of
members by workspace ids are therefore built differently, and kept together
here: the cursor scheme (``_TX_BITS``) and the horizon that keeps an outbox
reader from skipping an event only work as a pair.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from ..errors import StoreError
from .driver import Prepared, execute
from .rows import raw_columns, raw_param
from .schema import events, members, webhook_events, workspaces
from .statements import _ACTIVE, _MEMBER_ORDER, _json_datetime, _recordset

Insert = Callable[[Connection, list[dict[str, object]]], object]

_TX_BITS = 20  # PostgreSQL event cursors: transaction id << 20 | position in the transaction


def _postgres_cursors_of(conn: Connection, xid: int, count: int) -> list[int]:
    """Cursors that an outbox reader can never skip, without serializing writers.

    A cursor is the writing transaction's id, shifted, plus the event's position
    in it. ``events_after`` returns only events of transactions older than every
    transaction still running, so an event that becomes visible later always
    has a higher cursor than any event already read.
    """
    first, end = xid << _TX_BITS, (xid + 1) << _TX_BITS
    used = conn.execute(  # earlier units of work of one host transaction
        sa.select(sa.func.max(events.c.cursor)).where(
            events.c.cursor >= first, events.c.cursor < end
        )
    ).scalar_one()
    start = int(used) if used is not None else first
    if start + count >= end:
        raise StoreError(f"at most {(1 << _TX_BITS) - 1} events per transaction")
    return list(range(start + 1, start + 1 + count))


def _insert_numbered() -> sa.Insert:
    """A batch of events and their cursors (``_postgres_cursors_of``) in one statement:
    the transaction's id, and its events' positions after those it wrote already."""
    names = [c.name for c in events.columns if c.name != "cursor"]
    v = _recordset(events, names, numbered=True)
    first = sa.literal_column(f"(pg_current_xact_id()::text::bigint << {_TX_BITS})", sa.BigInteger)
    end = first + sa.literal_column(str(1 << _TX_BITS), sa.BigInteger)
    start = (
        sa.select(sa.func.coalesce(sa.func.max(events.c.cursor), first))
        .where(events.c.cursor >= first, events.c.cursor < end)
        .scalar_subquery()
    )
    return (
        sa.insert(events)
        .from_select(["cursor", *names], sa.select(start + v.c.n, *(v.c[n] for n in names)))
        .returning(events.c.cursor)
    )


_INSERT_NUMBERED = Prepared(_insert_numbered())


def _insert_with_cursors(conn: Connection, rows: list[dict[str, object]]) -> list[int]:
    """Insert ``rows`` (events) with their cursors, in one round trip; the cursors."""
    for n, row in enumerate(rows, 1):
        row["n"] = n
    document = json.dumps(rows, default=_json_datetime)
    cursors = sorted(c for (c,) in execute(conn, _INSERT_NUMBERED, {"rows": document}).fetchall())
    if cursors and (cursors[-1] >> _TX_BITS) != (cursors[0] - 1) >> _TX_BITS:
        raise StoreError(f"at most {(1 << _TX_BITS) - 1} events per transaction")
    return cursors


def _xid_assigned(conn: Connection) -> bool:
    """Whether the transaction wrote before this unit of work touched the store:
    only a host's transaction shared through ``SQLStore.from_connection`` can."""
    return bool(
        conn.execute(sa.text("SELECT pg_current_xact_id_if_assigned() IS NOT NULL")).scalar_one()
    )


def _late_cursors(conn: Connection, rows: list[dict[str, object]], insert: Insert) -> list[int]:
    """Cursors for events written in a host transaction that had a transaction id
    before it first touched the store.

    Readers wait only for transactions that hold a lock on the store's tables
    (see ``_cursor_horizon``), and that id was taken before this one held any:
    a reader may already have passed it. The events' cursors are therefore
    taken from the id of the savepoint they are written in, which is assigned
    by their own insert, while the transaction holds the store's locks.
    """
    top = int(conn.execute(sa.text("SELECT pg_current_xact_id()::text::bigint")).scalar_one())
    provisional = [-((top << _TX_BITS) | (i + 1)) for i in range(len(rows))]
    for row, cursor in zip(rows, provisional, strict=True):
        row["cursor"] = cursor
    insert(conn, rows)
    xmin: sa.ColumnClause[int] = sa.literal_column("xmin::text::bigint")
    low = int(
        conn.execute(
            sa.select(xmin).select_from(events).where(events.c.cursor == provisional[0])
        ).scalar_one()
    )
    sub = (top & ~0xFFFFFFFF) | low  # the 32-bit savepoint id in the top id's epoch
    if sub < top:
        sub += 1 << 32
    final = _postgres_cursors_of(conn, sub, len(rows))
    conn.execute(
        sa.update(events)
        .where(events.c.cursor == sa.bindparam("provisional"))
        .values(cursor=sa.bindparam("final")),
        [{"provisional": p, "final": f} for p, f in zip(provisional, final, strict=True)],
    )
    return final


def _cursor_horizon(conn: Connection) -> int:
    """Every cursor below it is of a transaction that has ended: ``events_after``
    reads no further, so an event that commits later is never skipped.

    It is the oldest transaction id among the transactions that hold a lock on
    one of the store's tables (or the next id to be given out, when none does).
    A writer of the store takes such a lock before its transaction has an id,
    so it is never missed; transactions of other databases, and sessions of
    this one that never touched the store, do not hold readers back.
    """
    translate = conn.get_execution_options().get("schema_translate_map") or {}
    schema = translate.get(None)
    found = conn.execute(_HORIZON, {"schema": schema}).scalar_one()
    return int(found) << _TX_BITS


_HORIZON = sa.text(
    r"""
    WITH snap AS (
        SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax
    ), store AS (
        SELECT c.oid FROM pg_class c
        WHERE c.relnamespace = COALESCE(
                  to_regnamespace(CAST(:schema AS text)),
                  (SELECT n.oid FROM pg_namespace n WHERE n.nspname = current_schema()))
          AND c.relname LIKE 'wb\_%'
    ), writers AS (
        SELECT DISTINCT l.virtualtransaction FROM pg_locks l
        WHERE l.locktype = 'relation'
          AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
          AND l.relation IN (SELECT oid FROM store)
    ), xids AS (
        SELECT ((snap.xmax >> 32) << 32) | t.transactionid::text::bigint AS xid, snap.xmax
        FROM pg_locks t CROSS JOIN snap
        WHERE t.locktype = 'transactionid'
          AND t.virtualtransaction IN (SELECT virtualtransaction FROM writers)
    )
    SELECT LEAST(
        (SELECT xmax FROM snap),
        (SELECT min(CASE WHEN xid >= xmax THEN xid - 4294967296 ELSE xid END) FROM xids)
    )
    """
)
"""Lock ids are 32 bits: each is placed in the epoch of the snapshot's next id,
one epoch back when that would put it in the future."""


# On PostgreSQL the ids go as one JSON array, and each is looked up through the
# members' key (a correlated subquery, a lateral join): the plan stays an index
# lookup per workspace whatever the table's statistics say (a freshly loaded,
# never analyzed table got a sequential scan of every member for every batch).
_PG_IDS = (
    sa.func.json_array_elements_text(sa.cast(raw_param("ids"), sa.JSON))
    .table_valued("id")
    .render_derived(name="ids")
)
_PG_ACTIVE_COUNTS = sa.select(
    _PG_IDS.c.id,
    sa.select(sa.func.count())
    .where(members.c.workspace_id == _PG_IDS.c.id, _ACTIVE)
    .scalar_subquery(),
)
_PG_MEMBERS_LATERAL = (
    sa.select(*raw_columns(members)).where(members.c.workspace_id == _PG_IDS.c.id).lateral("m")
)
_PG_MEMBERS_OF = (
    sa.select(_PG_MEMBERS_LATERAL)
    .select_from(_PG_IDS.join(_PG_MEMBERS_LATERAL, sa.true()))
    .order_by(*(_PG_MEMBERS_LATERAL.c[c.name] for c in _MEMBER_ORDER))
)


def _lock_by_ref() -> sa.Select[Any]:
    """The workspace that follows a provider subscription, else the one of a provider
    customer, locked: one statement for a webhook's two lookups and its lock."""

    def by(column: str, name: str) -> sa.ScalarSelect[Any]:
        other = workspaces.alias(f"by_{column}")
        return (
            sa.select(other.c.id)
            .where(other.c[column] == raw_param(name))
            .limit(1)
            .scalar_subquery()
        )

    found = sa.func.coalesce(by("subscription_ref", "sub"), by("customer_ref", "customer"))
    return sa.select(*raw_columns(workspaces)).where(workspaces.c.id == found).with_for_update()


def _claim_with_members() -> sa.Select[Any]:
    """A webhook event's id claimed, and the members of the workspace it is about, in
    one statement run after the workspace is locked (its snapshot is then fresh).
    The first column counts the ids claimed (0 for a duplicate); a workspace without
    members gives one row of NULLs."""
    claim = (
        postgresql.insert(webhook_events)
        .values(event_id=raw_param("event"))
        .on_conflict_do_nothing()
        .returning(webhook_events.c.event_id)
        .cte("claim")
    )
    claimed = sa.select(sa.func.count()).select_from(claim).scalar_subquery()
    one = sa.select(sa.literal_column("1").label("one")).subquery("one")
    joined = one.outerjoin(members, members.c.workspace_id == raw_param("ws"))
    return (
        sa.select(claimed.label("claimed"), *raw_columns(members))
        .select_from(joined)
        .order_by(*_MEMBER_ORDER[1:])
    )


_LOCK_BY_REF = Prepared(_lock_by_ref())
_CLAIM_WITH_MEMBERS = Prepared(_claim_with_members())
