"""The SQL store's outbox rows: a unit of work's events written, and read back in
order (``wb_events``).

A mixin of the unit of work (``sql_uow``), kept apart as that module is near
its size limit. SQLite numbers the events itself (one writer at a time: a
transaction's events are the next rows); PostgreSQL computes each cursor in
its insert (see ``postgres``).
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import sqlalchemy as sa

from ..events import Event
from .postgres import _cursor_horizon, _insert_with_cursors, _late_cursors
from .rows import event_from, event_row, raw_columns
from .schema import events
from .statements import _APPEND_EVENTS, INSERT_EVENT, LAST_ROWID, RECORD_EVENT
from .uow_part import UnitOfWorkPart

__all__ = ["EventRows"]


class EventRows(UnitOfWorkPart):
    """The event methods of the SQL unit of work."""

    _late: bool

    def append_events(self, new: Sequence[Event]) -> list[Event]:
        self._write()
        cursors = self._insert_events(new, cursors=True)
        return [attrs.evolve(e, cursor=c) for e, c in zip(new, cursors, strict=True)]

    def record_events(self, new: Sequence[Event]) -> None:
        """``append_events`` for a caller that does not read the cursors back."""
        self._write()
        self._insert_events(new, cursors=False)

    def _insert_events(self, new: Sequence[Event], *, cursors: bool) -> list[int]:
        """Insert ``new`` in order; their cursors when asked (SQLite reads them back)."""
        if not new:
            return []
        rows = [event_row(e, self._codec) for e in new]
        if self._late:
            return _late_cursors(self._conn, rows, _APPEND_EVENTS.run)
        if self._dialect == "postgresql":
            given = _insert_with_cursors(self._conn, rows)
            return given if cursors else []
        # SQLite has one writer at a time: this transaction's events are the next
        # rows, numbered in order, so the last one's number gives them all.
        if len(rows) == 1:
            if not cursors:
                self._run.execute(RECORD_EVENT, rows[0])
                return []
            (cursor,) = self._run.execute(INSERT_EVENT, rows[0]).fetchone()
            return [cursor]
        _APPEND_EVENTS.run(self._conn, rows)
        if not cursors:
            return []
        last = int(self._run.execute(LAST_ROWID, {}).fetchone()[0])
        return list(range(last - len(rows) + 1, last + 1))

    def events_after(self, cursor: int, limit: int) -> list[Event]:
        query = sa.select(*raw_columns(events)).where(events.c.cursor > cursor)
        if self._dialect == "postgresql":
            query = query.where(events.c.cursor < _cursor_horizon(self._conn))
        query = query.order_by(events.c.cursor).limit(limit)
        return [event_from(row, self._codec) for row in self._conn.execute(query)]
