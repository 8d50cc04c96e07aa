"""Invitations in the SQL store: the ``UnitOfWork`` port's invitation methods.

A mixin of the SQL unit of work (``sql_uow._SQLUnitOfWork``), kept apart so
that each module reads on its own. Only pending invitations are rows (and
expired ones until ``run_renewals`` deletes them): accepting, revoking or
expiring one deletes it in the transaction that records its event.

The request paths' statements (one workspace's invitations, one by id, an
insert, a delete) are compiled once and run on the driver's cursor like the
others (``driver.Prepared``); the sweep's reads of many workspaces go through
SQLAlchemy with an expanding ``IN``. The expiry is one ``DELETE ...
RETURNING`` whose rows are chosen ``FOR UPDATE SKIP LOCKED`` on PostgreSQL:
an invitation is returned, and its expiry recorded, by the one transaction
that deleted it, and a row an accepting transaction holds is skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.sql.dml import ReturningDelete

from ..invitation import Invitation
from ..workspace import Role
from .driver import Prepared
from .rows import Codec, raw_columns, raw_param
from .schema import invitations as table
from .uow_part import UnitOfWorkPart

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["InvitationRows", "invitation_from", "invitation_row", "snapshot_invitations"]

_ORDER = (table.c.created_at, table.c.seq, table.c.id)
_SELECT = sa.select(*raw_columns(table))
_OF_WORKSPACE = _SELECT.where(table.c.workspace_id == raw_param("ws")).order_by(*_ORDER)

INVITATIONS = Prepared(_OF_WORKSPACE)
INVITATIONS_FOR_UPDATE = Prepared(_OF_WORKSPACE.with_for_update())
INVITATION = Prepared(_SELECT.where(table.c.id == raw_param("id")))
INSERT_INVITATION = Prepared(
    sa.insert(table).values({c.name: raw_param(c.name) for c in table.columns})
)
DELETE_INVITATION = Prepared(sa.delete(table).where(table.c.id == raw_param("id")))

_DELETE_MANY = sa.delete(table).where(table.c.id.in_(sa.bindparam("ids", expanding=True)))
_OF_WORKSPACES = _SELECT.where(
    table.c.workspace_id.in_(sa.bindparam("ids", expanding=True))
).order_by(table.c.workspace_id, *_ORDER)
_COUNTS = (
    sa.select(table.c.workspace_id, sa.func.count())
    .where(
        table.c.workspace_id.in_(sa.bindparam("ids", expanding=True)),
        table.c.expires_at > raw_param("now"),
    )
    .group_by(table.c.workspace_id)
)


def _expire(*, skip_locked: bool) -> ReturningDelete[Any]:
    """Delete up to ``:limit`` invitations expired at ``:now``, soonest first; the
    deleted rows come back."""
    chosen = (
        sa.select(table.c.id)
        .where(table.c.expires_at <= raw_param("now"))
        .order_by(table.c.expires_at, table.c.id)
        .limit(sa.bindparam("limit", type_=sa.Integer))
    )
    if skip_locked:
        chosen = chosen.with_for_update(skip_locked=True)
    return (
        sa.delete(table)
        .where(table.c.id.in_(chosen.scalar_subquery()))
        .returning(*raw_columns(table))
    )


_EXPIRE = {"postgresql": _expire(skip_locked=True), "sqlite": _expire(skip_locked=False)}


def invitation_row(invitation: Invitation, codec: Codec) -> dict[str, Any]:
    """The invitation's row, the columns in the table's order."""
    dt = codec.datetime_out
    return {
        "id": invitation.id,
        "workspace_id": invitation.workspace_id,
        "email": invitation.email,
        "role": invitation.role.value,
        "invited_by": invitation.invited_by,
        "created_at": dt(invitation.created_at),
        "expires_at": dt(invitation.expires_at),
        "seq": invitation.seq,
    }


def invitation_from(row: Sequence[Any], codec: Codec) -> Invitation:
    """An invitation from its row, the columns in the table's order (``raw_columns``)."""
    id_, workspace_id, email, role, invited_by, created_at, expires_at, seq = row
    created, expires = codec.datetime_in(created_at), codec.datetime_in(expires_at)
    assert created is not None
    assert expires is not None
    return Invitation(
        id=id_,
        workspace_id=workspace_id,
        email=email,
        role=Role(role),
        invited_by=invited_by,
        created_at=created,
        expires_at=expires,
        seq=seq,
    )


def snapshot_invitations(conn: Connection, codec: Codec) -> tuple[Invitation, ...]:
    """Every invitation, by id: ``StoreSnapshot.invitations``."""
    rows = conn.execute(_SELECT.order_by(table.c.id))
    return tuple(invitation_from(row, codec) for row in rows)


class InvitationRows(UnitOfWorkPart):
    """The invitation methods of the SQL unit of work."""

    def invitations(self, workspace_id: str, *, for_update: bool = False) -> list[Invitation]:
        locking = for_update and self._dialect == "postgresql" and not self._read_only
        query = INVITATIONS_FOR_UPDATE if locking else INVITATIONS
        rows = self._run.execute(query, {"ws": workspace_id}).fetchall()
        return [invitation_from(row, self._codec) for row in rows]

    def invitation(self, invitation_id: str) -> Invitation | None:
        row = self._run.execute(INVITATION, {"id": invitation_id}).fetchone()
        return invitation_from(row, self._codec) if row is not None else None

    def add_invitation(self, invitation: Invitation) -> None:
        self._write()
        self._run.execute(INSERT_INVITATION, invitation_row(invitation, self._codec))

    def delete_invitations(self, invitation_ids: Sequence[str]) -> None:
        self._write()
        if len(invitation_ids) == 1:
            self._run.execute(DELETE_INVITATION, {"id": invitation_ids[0]})
        elif invitation_ids:
            self._conn.execute(_DELETE_MANY, {"ids": list(invitation_ids)})

    def invitation_counts(self, workspace_ids: Sequence[str], now: datetime) -> dict[str, int]:
        counts = dict.fromkeys(workspace_ids, 0)
        if workspace_ids:
            params = {"ids": list(counts), "now": self._codec.datetime_out(now)}
            counts.update({row[0]: int(row[1]) for row in self._conn.execute(_COUNTS, params)})
        return counts

    def invitations_of(self, workspace_ids: Sequence[str]) -> dict[str, list[Invitation]]:
        found: dict[str, list[Invitation]] = {ws_id: [] for ws_id in workspace_ids}
        if workspace_ids:
            for row in self._conn.execute(_OF_WORKSPACES, {"ids": list(found)}):
                found[row[1]].append(invitation_from(row, self._codec))
        return found

    def expire_invitations(self, now: datetime, limit: int) -> list[Invitation]:
        self._write()
        params = {"now": self._codec.datetime_out(now), "limit": limit}
        rows = self._conn.execute(_EXPIRE[self._dialect], params)
        expired = [invitation_from(row, self._codec) for row in rows]
        return sorted(expired, key=lambda i: (i.expires_at, i.id))
