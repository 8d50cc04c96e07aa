"""The SQL store's advance notices: which workspaces to announce, and the record that
they were (``wb_notices``), for the notice pass of ``run_renewals``.

A mixin of the unit of work (``sql_uow``), kept apart as that module is near
its size limit. Like the sweep's claim, the notice claim walks the due index
``(due_at, id)`` from ``now`` and locks what it returns (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL), so workers split the upcoming boundaries; the record
is an upsert that, on PostgreSQL, returns only the rows it changed, so a
notice a concurrent worker recorded after this one's claim read its snapshot
is never recorded twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ..subscription import SubscriptionStatus
from ..workspace import Workspace
from .driver import Prepared, execute, execute_many
from .rows import RAW, raw_columns, raw_param, workspace_from
from .schema import notices, workspaces
from .statements import _json_datetime, _recordset
from .uow_part import UnitOfWorkPart

_WS = workspaces.c

_UPCOMING = sa.and_(
    _WS.due_at > raw_param("now"),
    _WS.due_at <= raw_param("until"),  # the wider window: the index range scanned
    sa.or_(
        sa.and_(
            _WS.status == SubscriptionStatus.TRIALING.value,
            _WS.due_at <= raw_param("trial_until"),
        ),
        sa.and_(
            _WS.status == SubscriptionStatus.ACTIVE.value,
            sa.not_(_WS.cancel_at_period_end),
            _WS.due_at <= raw_param("renewal_until"),
        ),
    ),
    ~sa.exists().where(notices.c.workspace_id == _WS.id, notices.c.due_at == _WS.due_at),
)
_CLAIM_UPCOMING = sa.select(*raw_columns(workspaces)).where(_UPCOMING)
_CLAIM_UPCOMING_AFTER = _CLAIM_UPCOMING.where(
    sa.tuple_(_WS.due_at, _WS.id) > sa.tuple_(raw_param("after_due"), raw_param("after_id"))
)


def _mark_sqlite() -> sa.Insert:
    """One workspace's record, inserted or replaced (the driver's ``executemany``)."""
    insert = sqlite.insert(notices).values(
        workspace_id=raw_param("workspace_id"), due_at=raw_param("due_at")
    )
    return insert.on_conflict_do_update(
        index_elements=[notices.c.workspace_id], set_={"due_at": insert.excluded.due_at}
    )


def _mark_postgres() -> sa.Insert:
    """A batch's records in one statement, returning the workspaces whose record
    changed. ``ON CONFLICT DO UPDATE`` sees the latest committed row, whatever
    the statement's snapshot: a record another worker committed meanwhile, of
    the same ``due_at``, is left as it is and not returned."""
    v = _recordset(notices, ["workspace_id", "due_at"])
    insert = postgresql.insert(notices).from_select(
        ["workspace_id", "due_at"], sa.select(v.c.workspace_id, v.c.due_at)
    )
    return insert.on_conflict_do_update(
        index_elements=[notices.c.workspace_id],
        set_={"due_at": insert.excluded.due_at},
        where=notices.c.due_at != insert.excluded.due_at,
    ).returning(notices.c.workspace_id)


_NOTICED = sa.select(notices.c.workspace_id, sa.type_coerce(notices.c.due_at, RAW)).where(
    notices.c.workspace_id.in_(sa.bindparam("ids", expanding=True))
)
"""The records held for some workspaces, ``due_at`` as stored (compared encoded)."""
_MARK_SQLITE = Prepared(_mark_sqlite())
_MARK_POSTGRES = Prepared(_mark_postgres())


class NoticeSteps(UnitOfWorkPart):
    """``claim_upcoming`` and ``mark_noticed`` of the SQL unit of work (see the port)."""

    def claim_upcoming(
        self,
        now: datetime,
        limit: int,
        *,
        trial_until: datetime | None,
        renewal_until: datetime | None,
        after: tuple[datetime, str] | None = None,
    ) -> list[Workspace]:
        self._write()
        windows = [until for until in (trial_until, renewal_until) if until is not None]
        if not windows:
            return []
        dt = self._codec.datetime_out
        params: dict[str, Any] = {
            "now": dt(now),
            "until": dt(max(windows)),
            "trial_until": dt(trial_until),
            "renewal_until": dt(renewal_until),
        }
        query = _CLAIM_UPCOMING
        if after is not None:
            query = _CLAIM_UPCOMING_AFTER
            params.update(after_due=dt(after[0]), after_id=after[1])
        query = query.order_by(_WS.due_at, _WS.id).limit(limit)
        if self._dialect == "postgresql":
            query = query.with_for_update(skip_locked=True, of=workspaces)
        return [workspace_from(row, self._codec) for row in self._conn.execute(query, params)]

    def mark_noticed(self, noticed: Sequence[tuple[str, datetime]]) -> set[str]:
        self._write()
        if not noticed:
            return set()
        dt = self._codec.datetime_out
        rows = [{"workspace_id": ws_id, "due_at": dt(due)} for ws_id, due in noticed]
        if self._dialect == "postgresql":
            document = json.dumps(rows, default=_json_datetime)
            found = execute(self._conn, _MARK_POSTGRES, {"rows": document}).fetchall()
            return {row[0] for row in found}
        # SQLite has one writer: what this transaction reads stays true until it ends.
        ids = [row["workspace_id"] for row in rows]
        held = {row[0]: row[1] for row in self._conn.execute(_NOTICED, {"ids": ids})}
        changed = [row for row in rows if held.get(row["workspace_id"]) != row["due_at"]]
        if changed:
            execute_many(self._conn, _MARK_SQLITE, changed)
        return {row["workspace_id"] for row in changed}
