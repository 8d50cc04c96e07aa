"""One transaction of the SQL store: the ``UnitOfWork`` port on a ``Connection``.

``SQLStore`` decides how a transaction begins and ends (its own engine or the
host's connection, SQLite's ``BEGIN IMMEDIATE``) and translates driver errors;
what happens inside the transaction is the same whichever way it began. That
part lives here, so that each of the two reads on its own.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..errors import Conflict, StoreBusy
from ..ports import StoreSnapshot
from ..renewal import Renewal
from ..workspace import Member, Workspace
from .driver import Runner
from .postgres import (
    _CLAIM_WITH_MEMBERS,
    _LOCK_BY_REF,
    _PG_ACTIVE_COUNTS,
    _PG_MEMBERS_OF,
    _xid_assigned,
)
from .rows import (
    decoder_for,
    event_from,
    member_columns_out,
    member_from,
    member_row,
    raw_columns,
    workspace_changes,
    workspace_from,
    workspace_row,
)
from .schema import events, members, trials, webhook_events, workspaces
from .sql_events import EventRows
from .sql_invitations import InvitationRows, snapshot_invitations
from .sql_notices import NoticeSteps
from .statements import (
    _ACTIVE_COUNTS,
    _CLAIM_DUE,
    _CLAIM_DUE_AFTER,
    _DUE,
    _MEMBERS_OF,
    _RENEW_IN_PLACE,
    _SAVE_MEMBERS,
    _SAVE_WORKSPACES,
    DELETE_MEMBER,
    FIND_BY_CUSTOMER,
    FIND_BY_SUBSCRIPTION,
    GET_WORKSPACE,
    GET_WORKSPACE_FOR_UPDATE,
    INSERT_ONCE,
    INSERT_WORKSPACE,
    LOCK_WORKSPACE,
    MEMBERS,
    MEMBERS_NAMED,
    MEMBERSHIPS_OF,
    SAVE_MEMBER,
    SAVE_WORKSPACE,
    SEATS_FOR,
    TOUCH_WORKSPACE,
    WORKSPACE_EXISTS,
    update_columns,
)

_WORKSPACE_COLUMNS = tuple(c.name for c in workspaces.columns)
_MEMBER_COLUMNS = tuple(c.name for c in members.columns)
_MEMBER_VALUES = operator.attrgetter(*_MEMBER_COLUMNS)
"""A member's fields in its row's order (each field is the column of its name)."""


class _SQLUnitOfWork(EventRows, NoticeSteps, InvitationRows):
    def __init__(
        self,
        conn: Connection,
        dialect: str,
        read_only: bool,
        *,
        lock_on_read: bool,
        run: Runner | None = None,
    ) -> None:
        self._conn = conn
        self._run = Runner(conn) if run is None else run
        self._dialect = dialect
        self._decoder = decoder_for(dialect)
        self._codec = self._decoder.codec
        self._member_out = member_columns_out(self._codec)
        self._read_only = read_only
        self._lock_on_read = lock_on_read
        # The rows as read (then as written) in this transaction: a save writes
        # only the columns that differ from them.
        self._workspace_rows: dict[str, tuple[tuple[Any, ...], Workspace]] = {}
        self._member_rows: dict[tuple[str, str], tuple[Any, ...] | None] = {}
        self._member_reads: list[Sequence[Any]] = []
        """Member rows as read, looked through only when a member is saved."""
        # A host transaction shared through from_connection may have written
        # before the store's first statement: its events take fresh cursors.
        self._late = (
            dialect == "postgresql" and lock_on_read and not read_only and _xid_assigned(conn)
        )

    # --------------------------------------------------------------- workspaces

    def get_workspace(self, workspace_id: str, *, for_update: bool = False) -> Workspace | None:
        query = GET_WORKSPACE
        if for_update and not self._read_only:
            if self._dialect == "postgresql":
                query = GET_WORKSPACE_FOR_UPDATE
            elif self._lock_on_read:
                # Inside a host's transaction there is no BEGIN IMMEDIATE: a write
                # statement is what takes SQLite's write lock.
                self._run.execute(TOUCH_WORKSPACE, {"ws": workspace_id})
        row = self._run.execute(query, {"ws": workspace_id}).fetchone()
        if row is None:
            return None
        ws = self._decoder.workspace(row)
        if not self._read_only:
            self._workspace_rows[workspace_id] = (tuple(row), ws)
        return ws

    def find_workspace_id(
        self, *, subscription_ref: str | None = None, customer_ref: str | None = None
    ) -> str | None:
        if (subscription_ref is None) == (customer_ref is None):
            raise TypeError("find_workspace_id takes exactly one of subscription_ref, customer_ref")
        if subscription_ref is not None:
            row = self._run.execute(FIND_BY_SUBSCRIPTION, {"ref": subscription_ref}).fetchone()
        else:
            row = self._run.execute(FIND_BY_CUSTOMER, {"ref": customer_ref}).fetchone()
        return row[0] if row is not None else None

    def add_workspace(self, workspace: Workspace) -> None:
        self._write()
        if self._run.execute(WORKSPACE_EXISTS, {"ws": workspace.id}).fetchone() is not None:
            raise Conflict(f"workspace {workspace.id!r} already exists", code="workspace_exists")
        self._run.execute(INSERT_WORKSPACE, workspace_row(workspace, self._codec))

    def save_workspace(self, workspace: Workspace) -> Workspace:
        self._write()
        saved = attrs.evolve(workspace, version=workspace.version + 1)
        read = self._workspace_rows.get(workspace.id)
        if read is not None and read[1].version == workspace.version:
            # As read in this transaction: write what changed (and the version).
            params = workspace_changes(read[1], saved, self._codec)
            statement = update_columns(workspaces.name, tuple(params))
            columns = zip(_WORKSPACE_COLUMNS, read[0], strict=True)
            row = tuple([params.get(name, old) for name, old in columns])
        else:
            params = workspace_row(saved, self._codec)
            statement, row = SAVE_WORKSPACE, tuple(params.values())
        params.update(b_id=workspace.id, b_version=workspace.version)
        if self._run.execute(statement, params).rowcount != 1:
            raise StoreBusy(f"workspace {workspace.id!r} changed since it was read, or is gone")
        self._workspace_rows[workspace.id] = (row, saved)
        self._decoder.remember(row, saved)
        return saved

    # ------------------------------------------------------------------ members

    def members(self, workspace_id: str) -> list[Member]:
        rows = self._run.execute(MEMBERS, {"ws": workspace_id}).fetchall()
        if not self._read_only:
            self._member_reads.append(rows)
        return self._decoder.members(rows)

    def memberships_of(self, user: str) -> list[Member]:
        rows = self._run.execute(MEMBERSHIPS_OF, {"user": user}).fetchall()
        return self._decoder.members(rows)

    def save_member(self, member: Member) -> None:
        self._write()
        key = (member.workspace_id, member.user)
        read = self._member_read(key)
        if read is not None and self._update_member(key, read, member):
            return
        row = member_row(member, self._codec)
        self._run.execute(SAVE_MEMBER[self._dialect], row)  # insert, or replace
        self._saved_member(key, tuple(row.values()), member)

    def _update_member(self, key: tuple[str, str], read: tuple[Any, ...], member: Member) -> bool:
        """Update the columns of a member read (or written) in this transaction that
        ``member`` changes, nothing when none; whether its row was there. The
        member as read is compared field by field (a field is its column), and
        only what changed is converted."""
        (before,) = self._decoder.members((read,))
        old, new = _MEMBER_VALUES(before), _MEMBER_VALUES(member)
        changed = [i for i in range(len(new)) if new[i] != old[i]]
        if changed:
            row = list(read)
            params = {}
            for i in changed:
                row[i] = params[_MEMBER_COLUMNS[i]] = self._member_out[i](new[i])
            params.update(b_workspace_id=member.workspace_id, b_user=member.user)
            names = tuple(_MEMBER_COLUMNS[i] for i in changed)
            if not self._run.execute(update_columns(members.name, names), params).rowcount:
                return False  # deleted by this transaction's own statements: insert it
            read = tuple(row)
        self._saved_member(key, read, member)
        return True

    def _saved_member(self, key: tuple[str, str], row: tuple[Any, ...], member: Member) -> None:
        self._member_rows[key] = row
        self._decoder.remember(row, member)

    def members_named(self, workspace_id: str, users: Sequence[str]) -> list[Member]:
        """The members among ``users`` (one or two ids), in the order of ``members``:
        what a change to one member needs (the actor's membership and the member's)."""
        if not users or len(users) > 2:
            raise TypeError("members_named takes one or two user ids")
        params = {"ws": workspace_id, "a": users[0], "b": users[-1]}
        rows = self._run.execute(MEMBERS_NAMED, params).fetchall()
        if not self._read_only:
            self._member_reads.append(rows)
        return self._decoder.members(rows)

    def seats_for(
        self, workspace_id: str, users: Sequence[str], now: datetime
    ) -> tuple[Workspace, list[Member], int] | None:
        """The workspace locked, the members among ``users`` (one or two ids) and the
        seats held at ``now`` (active members and pending invitations): what adding
        or reactivating a member decides on. One statement on SQLite, where the
        transaction began with the write lock. On PostgreSQL the row lock comes
        first, in a statement of its own: a ``FOR UPDATE`` that waited for another
        writer re-reads the locked row, but its subqueries would still count from
        the snapshot taken before the wait (READ COMMITTED), missing the member
        that writer added."""
        if not users or len(users) > 2:
            raise TypeError("seats_for takes one or two user ids")
        if not self._read_only:
            if self._dialect == "postgresql":
                self._run.execute(LOCK_WORKSPACE, {"ws": workspace_id})
            elif self._lock_on_read:
                self._run.execute(TOUCH_WORKSPACE, {"ws": workspace_id})
        when = self._decoder.codec.datetime_out(now)
        params = {"ws": workspace_id, "a": users[0], "b": users[-1], "now": when}
        rows = self._run.execute(SEATS_FOR, params).fetchall()
        if not rows:
            return None
        width = len(workspaces.columns)
        head = rows[0][:width]
        ws = self._decoder.workspace(head)
        found = [row[width + 1 :] for row in rows if row[width + 1] is not None]
        if not self._read_only:
            self._workspace_rows[workspace_id] = (tuple(head), ws)
            self._member_reads.append(found)
        return ws, self._decoder.members(found), int(rows[0][width])

    def _member_read(self, key: tuple[str, str]) -> tuple[Any, ...] | None:
        """The member's row as last read or written in this transaction, if it was."""
        if key in self._member_rows:  # written (None: deleted) in this transaction
            return self._member_rows[key]
        found = None
        workspace_id, user = key
        for rows in self._member_reads:
            for row in rows:
                if row[1] == user and row[0] == workspace_id:
                    found = tuple(row)
        return found

    def delete_member(self, workspace_id: str, user: str) -> None:
        self._write()
        self._run.execute(DELETE_MEMBER, {"workspace_id": workspace_id, "user": user})
        self._member_rows[(workspace_id, user)] = None

    # ------------------------------------------------------------------ webhooks

    def lock_workspace_of(self, *, subscription_ref: str, customer_ref: str) -> Workspace | None:
        """The workspace that follows ``subscription_ref``, else the one of
        ``customer_ref``, locked (``find_workspace_id`` then ``get_workspace``)."""
        if self._dialect != "postgresql":
            found = self.find_workspace_id(subscription_ref=subscription_ref)
            found = found or self.find_workspace_id(customer_ref=customer_ref)
            return self.get_workspace(found, for_update=True) if found else None
        params = {"sub": subscription_ref, "customer": customer_ref}
        row = self._run.execute(_LOCK_BY_REF, params).fetchone()
        if row is None:
            return None
        ws = self._decoder.workspace(row)
        if not self._read_only:
            self._workspace_rows[ws.id] = (tuple(row), ws)
        return ws

    def claim_with_members(self, event_id: str, workspace_id: str) -> tuple[bool, list[Member]]:
        """``claim_webhook_event`` and ``members``, in one statement on PostgreSQL."""
        if self._dialect != "postgresql":
            return self.claim_webhook_event(event_id), self.members(workspace_id)
        self._write()
        params = {"event": event_id, "ws": workspace_id}
        rows = self._run.execute(_CLAIM_WITH_MEMBERS, params).fetchall()
        found = [row[1:] for row in rows if row[1] is not None]
        self._member_reads.append(found)
        return bool(rows[0][0]), self._decoder.members(found)

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
        statement = INSERT_ONCE[(self._dialect, table.name)]
        return self._run.execute(statement, values).fetchone() is not None

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
        rows = self._conn.execute(query, params)
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
        for row in rows:
            found[row[0]].append(member_from(row, self._codec))
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
            table: list(conn.execute(sa.select(*raw_columns(table)).order_by(*keys)))
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
            invitations=snapshot_invitations(conn, codec),
        )
