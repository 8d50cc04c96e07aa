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

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..errors import StoreError
from .rows import raw_columns, raw_param
from .schema import events, members
from .statements import _ACTIVE, _MEMBER_ORDER

Insert = Callable[[Connection, list[dict[str, object]]], object]

_TX_BITS = 20  # PostgreSQL event cursors: transaction id << 20 | position in the transaction


def _postgres_cursors(conn: Connection, count: int) -> list[int]:
    """Cursors for ``count`` events of this transaction (see ``_postgres_cursors_of``)."""
    xid = int(conn.execute(sa.text("SELECT pg_current_xact_id()::text::bigint")).scalar_one())
    return _postgres_cursors_of(conn, xid, count)


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
