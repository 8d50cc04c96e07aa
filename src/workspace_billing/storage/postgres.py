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

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..errors import StoreError
from .rows import raw_columns, raw_param
from .schema import events, members
from .statements import _ACTIVE, _MEMBER_ORDER

_TX_BITS = 20  # PostgreSQL event cursors: transaction id << 20 | position in the transaction


def _postgres_cursors(conn: Connection, count: int) -> list[int]:
    """Cursors that an outbox reader can never skip, without serializing writers.

    A cursor is the writing transaction's id, shifted, plus the event's position
    in it. ``events_after`` returns only events of transactions older than every
    transaction still running, so an event that becomes visible later always
    has a higher cursor than any event already read.
    """
    xid = int(conn.execute(sa.text("SELECT pg_current_xact_id()::text::bigint")).scalar_one())
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


def _cursor_horizon() -> sa.TextClause:
    """Every cursor below it is of a transaction that has ended: ``events_after``
    reads no further, so an event that commits later is never skipped."""
    return sa.text(f"(pg_snapshot_xmin(pg_current_snapshot())::text::bigint << {_TX_BITS})")


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
