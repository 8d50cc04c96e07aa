"""One transaction of the SQL store: the ``UnitOfWork`` port on a ``Connection``.

``SQLStore`` decides how a transaction begins and ends (its own engine or the
host's connection, SQLite's ``BEGIN IMMEDIATE``) and translates driver errors;
what happens inside the transaction is the same whichever way it began. That
part lives here, so that each of the two reads on its own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..errors import Conflict, StoreBusy
from ..events import Event
from ..ports import StoreSnapshot
from ..renewal import Renewal
from ..workspace import Member, Workspace
from .postgres import (
    _PG_ACTIVE_COUNTS,
    _PG_MEMBERS_OF,
    _cursor_horizon,
    _late_cursors,
    _postgres_cursors,
    _xid_assigned,
)
from .rows import (
    codec_for,
    event_from,
    event_row,
    member_from,
    member_row,
    raw_columns,
    workspace_from,
    workspace_row,
)
from .schema import events, members, trials, webhook_events, workspaces
from .statements import (
    _ACTIVE_COUNTS,
    _APPEND_EVENTS,
    _CLAIM_DUE,
    _CLAIM_DUE_AFTER,
    _DUE,
    _FIND_BY_CUSTOMER,
    _FIND_BY_SUBSCRIPTION,
    _GET_WORKSPACE,
    _GET_WORKSPACE_FOR_UPDATE,
    _INSERT_MEMBER,
    _INSERT_ONCE,
    _INSERT_WORKSPACE,
    _MEMBERS,
    _MEMBERS_OF,
    _MEMBERSHIPS_OF,
    _RENEW_IN_PLACE,
    _SAVE_MEMBER,
    _SAVE_MEMBERS,
    _SAVE_WORKSPACE,
    _SAVE_WORKSPACES,
    _TOUCH_WORKSPACE,
)


class _SQLUnitOfWork:
    def __init__(self, conn: Connection, dialect: str, read_only: bool, *, lock_on_read: bool):
        self._conn = conn
        self._dialect = dialect
        self._codec = codec_for(dialect)
        self._read_only = read_only
        self._lock_on_read = lock_on_read
        # A host transaction shared through from_connection may have written
        # before the store's first statement: its events take fresh cursors.
        self._late = (
            dialect == "postgresql" and lock_on_read and not read_only and _xid_assigned(conn)
        )

    def _write(self) -> None:
        if self._read_only:
            raise RuntimeError("this unit of work is read-only")

    # --------------------------------------------------------------- workspaces

    def get_workspace(self, workspace_id: str, *, for_update: bool = False) -> Workspace | None:
        query = _GET_WORKSPACE
        if for_update and not self._read_only:
            if self._dialect == "postgresql":
                query = _GET_WORKSPACE_FOR_UPDATE
            elif self._lock_on_read:
                # Inside a host's transaction there is no BEGIN IMMEDIATE: a write
                # statement is what takes SQLite's write lock.
                self._conn.execute(_TOUCH_WORKSPACE, {"ws": workspace_id})
        row = self._conn.execute(query, {"ws": workspace_id}).mappings().first()
        return workspace_from(row, self._codec) if row is not None else None

    def find_workspace_id(
        self, *, subscription_ref: str | None = None, customer_ref: str | None = None
    ) -> str | None:
        if (subscription_ref is None) == (customer_ref is None):
            raise TypeError("find_workspace_id takes exactly one of subscription_ref, customer_ref")
        if subscription_ref is not None:
            return self._conn.execute(_FIND_BY_SUBSCRIPTION, {"ref": subscription_ref}).scalar()
        return self._conn.execute(_FIND_BY_CUSTOMER, {"ref": customer_ref}).scalar()

    def add_workspace(self, workspace: Workspace) -> None:
        self._write()
        exists = sa.select(workspaces.c.id).where(workspaces.c.id == workspace.id)
        if self._conn.execute(exists).first() is not None:
            raise Conflict(f"workspace {workspace.id!r} already exists", code="workspace_exists")
        self._conn.execute(_INSERT_WORKSPACE, workspace_row(workspace, self._codec))

    def save_workspace(self, workspace: Workspace) -> Workspace:
        self._write()
        saved = attrs.evolve(workspace, version=workspace.version + 1)
        row = workspace_row(saved, self._codec)
        row.update(b_id=workspace.id, b_version=workspace.version)
        if self._conn.execute(_SAVE_WORKSPACE, row).rowcount != 1:
            raise StoreBusy(f"workspace {workspace.id!r} changed since it was read, or is gone")
        return saved

    # ------------------------------------------------------------------ members

    def members(self, workspace_id: str) -> list[Member]:
        rows = self._conn.execute(_MEMBERS, {"ws": workspace_id}).mappings()
        return [member_from(row, self._codec) for row in rows]

    def memberships_of(self, user: str) -> list[Member]:
        rows = self._conn.execute(_MEMBERSHIPS_OF, {"user": user}).mappings()
        return [member_from(row, self._codec) for row in rows]

    def save_member(self, member: Member) -> None:
        self._write()
        row = member_row(member, self._codec)
        keyed = {**row, "b_workspace_id": member.workspace_id, "b_user": member.user}
        if self._conn.execute(_SAVE_MEMBER, keyed).rowcount == 0:
            self._conn.execute(_INSERT_MEMBER, row)

    def delete_member(self, workspace_id: str, user: str) -> None:
        self._write()
        self._conn.execute(
            sa.delete(members).where(members.c.workspace_id == workspace_id, members.c.user == user)
        )

    # ------------------------------------------------------------------- claims

    def claim_trial(self, owner: str, workspace_id: str) -> bool:
        self._write()
        return self._insert_once(trials, {"owner": owner, "workspace_id": workspace_id})

    def claim_webhook_event(self, event_id: str) -> bool:
        self._write()
        return self._insert_once(webhook_events, {"event_id": event_id})

    def _insert_once(self, table: sa.Table, values: Mapping[str, object]) -> bool:
        """Insert unless the key exists; a concurrent insert of the same key waits
        for the other transaction and then does nothing (no error, no duplicate)."""
        statement = _INSERT_ONCE[(self._dialect, table.name)]
        return self._conn.execute(statement, dict(values)).first() is not None

    # ------------------------------------------------------------------- events

    def append_events(self, new: Sequence[Event]) -> list[Event]:
        self._write()
        cursors = self._insert_events(new, cursors=True)
        return [attrs.evolve(e, cursor=c) for e, c in zip(new, cursors, strict=True)]

    def _insert_events(self, new: Sequence[Event], *, cursors: bool) -> list[int]:
        """Insert ``new`` in order; their cursors when asked (SQLite reads them back)."""
        if not new:
            return []
        rows = [event_row(e, self._codec) for e in new]
        if self._late:
            return _late_cursors(self._conn, rows, _APPEND_EVENTS.run)
        if self._dialect == "postgresql":
            given = _postgres_cursors(self._conn, len(new))
            for row, cursor in zip(rows, given, strict=True):
                row["cursor"] = cursor
            _APPEND_EVENTS.run(self._conn, rows)
            return given
        if not cursors:
            _APPEND_EVENTS.run(self._conn, rows)
            return []
        # SQLite has one writer at a time: this transaction's events are the next
        # rows, so a plain batched insert, then their cursors, is all it takes.
        last = self._conn.execute(
            sa.select(sa.func.coalesce(sa.func.max(events.c.cursor), 0))
        ).scalar_one()
        _APPEND_EVENTS.run(self._conn, rows)
        return list(
            self._conn.execute(
                sa.select(events.c.cursor)
                .where(events.c.cursor > int(last))
                .order_by(events.c.cursor)
                .limit(len(new))
            ).scalars()
        )

    def events_after(self, cursor: int, limit: int) -> list[Event]:
        query = sa.select(*raw_columns(events)).where(events.c.cursor > cursor)
        if self._dialect == "postgresql":
            query = query.where(events.c.cursor < _cursor_horizon(self._conn))
        query = query.order_by(events.c.cursor).limit(limit)
        return [event_from(row, self._codec) for row in self._conn.execute(query).mappings()]

    def due_workspace_ids(self, now: datetime, limit: int) -> list[str]:
        query = (
            sa.select(workspaces.c.id)
            .where(_DUE)
            .order_by(workspaces.c.due_at, workspaces.c.id)
            .limit(limit)
        )
        return list(self._conn.execute(query, {"now": self._codec.datetime_out(now)}).scalars())

    def claim_due(
        self, now: datetime, limit: int, *, after: tuple[datetime, str] | None = None
    ) -> list[Workspace]:
        self._write()
        params: dict[str, Any] = {"now": self._codec.datetime_out(now)}
        query = _CLAIM_DUE
        if after is not None:
            query = _CLAIM_DUE_AFTER
            params.update(after_due=self._codec.datetime_out(after[0]), after_id=after[1])
        query = query.order_by(workspaces.c.due_at, workspaces.c.id).limit(limit)
        if self._dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = self._conn.execute(query, params).mappings()
        return [workspace_from(row, self._codec) for row in rows]

    def members_of(self, workspace_ids: Sequence[str]) -> dict[str, list[Member]]:
        found: dict[str, list[Member]] = {ws_id: [] for ws_id in workspace_ids}
        if not workspace_ids:
            return found
        if self._dialect == "postgresql":
            ids = json.dumps(list(found))  # each id once, as the IN list reads them
            rows = self._conn.execute(_PG_MEMBERS_OF, {"ids": ids})
        else:
            rows = self._conn.execute(_MEMBERS_OF, {"ids": list(workspace_ids)})
        for row in rows.mappings():
            found[row["workspace_id"]].append(member_from(row, self._codec))
        return found

    def active_member_counts(self, workspace_ids: Sequence[str]) -> dict[str, int]:
        counts = dict.fromkeys(workspace_ids, 0)
        if not workspace_ids:
            return counts
        if self._dialect == "postgresql":
            rows = self._conn.execute(_PG_ACTIVE_COUNTS, {"ids": json.dumps(list(counts))})
        else:
            rows = self._conn.execute(_ACTIVE_COUNTS, {"ids": list(workspace_ids)})
        counts.update({row[0]: int(row[1]) for row in rows})
        return counts

    def save_workspaces(self, many: Sequence[Workspace]) -> list[Workspace]:
        self._write()
        if not many:
            return []
        saved = [attrs.evolve(ws, version=ws.version + 1) for ws in many]
        rows = []
        for old, new in zip(many, saved, strict=True):
            row = workspace_row(new, self._codec)
            row.update(b_id=old.id, b_version=old.version)
            rows.append(row)
        if _SAVE_WORKSPACES.run(self._conn, rows) != len(many):
            raise StoreBusy("a workspace changed since it was read: nothing of the batch was saved")
        return saved

    def save_members(self, many: Sequence[Member]) -> None:
        self._write()
        if not many:
            return
        rows = []
        for m in many:
            row = member_row(m, self._codec)
            row.update(b_workspace_id=m.workspace_id, b_user=m.user)
            rows.append(row)
        if _SAVE_MEMBERS.run(self._conn, rows) != len(many):
            for member in many:  # some are new: one upsert each
                self.save_member(member)

    def renew_in_place(self, renewals: Sequence[Renewal]) -> None:
        self._write()
        if not renewals:
            return
        dt = self._codec.datetime_out
        rows = [
            {
                "seats": r.seats,
                "period_start": dt(r.period_start),
                "period_end": dt(r.period_end),
                "b_id": r.workspace_id,
                "b_version": r.version,
            }
            for r in renewals
        ]
        if _RENEW_IN_PLACE.run(self._conn, rows) != len(renewals):
            raise StoreBusy("a workspace changed since it was read: nothing of the batch was saved")
        self._insert_events([r.event for r in renewals], cursors=False)

    def subscribed_workspace_ids(self, *, after: str | None, limit: int) -> list[str]:
        query = sa.select(workspaces.c.id).where(
            workspaces.c.subscription_ref.is_not(None),
            workspaces.c.status.in_(["active", "past_due"]),
        )
        if after is not None:
            query = query.where(workspaces.c.id > after)
        return list(self._conn.execute(query.order_by(workspaces.c.id).limit(limit)).scalars())

    def unsubscribed_customer_ids(self, *, after: str | None, limit: int) -> list[str]:
        live = sa.and_(
            workspaces.c.subscription_ref.is_not(None),
            workspaces.c.status.in_(["active", "past_due"]),
        )
        query = sa.select(workspaces.c.id).where(workspaces.c.customer_ref.is_not(None), ~live)
        if after is not None:
            query = query.where(workspaces.c.id > after)
        return list(self._conn.execute(query.order_by(workspaces.c.id).limit(limit)).scalars())

    def snapshot(self) -> StoreSnapshot:
        conn, codec = self._conn, self._codec
        ordered = {
            workspaces: (workspaces.c.id,),
            members: (members.c.workspace_id, members.c.user),
            events: (events.c.cursor,),
        }
        read = {
            table: list(conn.execute(sa.select(*raw_columns(table)).order_by(*keys)).mappings())
            for table, keys in ordered.items()
        }
        return StoreSnapshot(
            workspaces=tuple(workspace_from(r, codec) for r in read[workspaces]),
            members=tuple(member_from(r, codec) for r in read[members]),
            events=tuple(event_from(r, codec) for r in read[events]),
            trials=tuple(
                (r.owner, r.workspace_id)
                for r in conn.execute(sa.select(trials).order_by(trials.c.owner))
            ),
            webhook_event_ids=tuple(
                conn.execute(
                    sa.select(webhook_events.c.event_id).order_by(webhook_events.c.event_id)
                ).scalars()
            ),
        )
