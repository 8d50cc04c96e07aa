"""The SQL store's statements, built once, and its batched writes.

Building a statement costs more than running it on SQLite, and SQLAlchemy's
per-row handling of an executemany cost more than the database's own work on
the renewal sweep's batches. What the unit of work runs on its hot paths is
therefore prepared here, once, at import: the statements themselves and
``_Batch``, which sends a batch of rows each database's fastest way. Kept apart
from the unit of work so that it reads as what a transaction does, not how each
statement is assembled.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ..workspace import MemberStatus
from .driver import Prepared, execute, execute_many
from .rows import RAW, raw_columns, raw_param
from .schema import events, invitations, members, trials, webhook_events, workspaces

# Statements, built once: building a statement costs more than running it on
# SQLite. Columns are read raw and parameters bound raw; ``rows`` converts.
_GET_WORKSPACE = sa.select(*raw_columns(workspaces)).where(workspaces.c.id == raw_param("ws"))
_GET_WORKSPACE_FOR_UPDATE = _GET_WORKSPACE.with_for_update()
_TOUCH_WORKSPACE = (
    sa.update(workspaces)
    .where(workspaces.c.id == sa.bindparam("ws"))
    .values(version=workspaces.c.version)
)
_FIND_BY_SUBSCRIPTION = (
    sa.select(workspaces.c.id).where(workspaces.c.subscription_ref == sa.bindparam("ref")).limit(1)
)
_MEMBERSHIPS_OF = (
    sa.select(*raw_columns(members))
    .where(members.c.user == raw_param("user"))
    .order_by(members.c.status != "active", members.c.added_at, members.c.workspace_id)
)
_FIND_BY_CUSTOMER = (
    sa.select(workspaces.c.id).where(workspaces.c.customer_ref == sa.bindparam("ref")).limit(1)
)
_MEMBERS = (
    sa.select(*raw_columns(members))
    .where(members.c.workspace_id == sa.bindparam("ws"))
    .order_by(members.c.added_at, members.c.seq, members.c.user)
)
_DUE = sa.and_(workspaces.c.due_at.is_not(None), workspaces.c.due_at <= raw_param("now"))
_CLAIM_DUE = sa.select(*raw_columns(workspaces)).where(_DUE)
_CLAIM_DUE_AFTER = _CLAIM_DUE.where(
    sa.tuple_(workspaces.c.due_at, workspaces.c.id)
    > sa.tuple_(raw_param("after_due"), raw_param("after_id"))
)


_MEMBER_ORDER = (members.c.workspace_id, members.c.added_at, members.c.seq, members.c.user)
_ACTIVE = members.c.status == MemberStatus.ACTIVE.value
_MEMBERS_OF = (
    sa.select(*raw_columns(members))
    .where(members.c.workspace_id.in_(sa.bindparam("ids", expanding=True)))
    .order_by(*_MEMBER_ORDER)
)
_ACTIVE_COUNTS = (
    sa.select(members.c.workspace_id, sa.func.count())
    .where(members.c.workspace_id.in_(sa.bindparam("ids", expanding=True)), _ACTIVE)
    .group_by(members.c.workspace_id)
)


def _insert(table: sa.Table, *, skip: tuple[str, ...] = ()) -> sa.Insert:
    return sa.insert(table).values(
        {c.name: raw_param(c.name) for c in table.columns if c.name not in skip}
    )


def _update_where(table: sa.Table, *keys: str) -> sa.Update:
    """Every column set from its own parameter, the row found by ``b_<key>`` ones."""
    return (
        sa.update(table)
        .where(*(table.c[key] == raw_param(f"b_{key}") for key in keys))
        .values({c.name: raw_param(c.name) for c in table.columns})
    )


def _recordset(
    table: sa.Table, names: Sequence[str], *, numbered: bool = False
) -> sa.TableValuedAlias:
    """``json_to_recordset(CAST(:rows AS JSON)) AS v(a type, ...)``: a batch of rows
    sent as one JSON document and read as a relation, so that the batch is one
    statement on PostgreSQL. A ``b_<key>`` name is typed like its column;
    ``numbered`` adds ``n``, each row's position in the batch from 1."""
    columns = [sa.column(name, table.c[name.removeprefix("b_")].type) for name in names]
    if numbered:
        columns.append(sa.column("n", sa.BigInteger()))
    return (
        sa.func.json_to_recordset(sa.cast(raw_param("rows"), sa.JSON))
        .table_valued(*columns)
        .render_derived(name="v", with_types=True)
    )


def _update_from_recordset(table: sa.Table, *keys: str) -> sa.Update:
    """``_update_where`` for a whole batch in one PostgreSQL statement."""
    v = _recordset(table, [*(c.name for c in table.columns), *(f"b_{key}" for key in keys)])
    return (
        sa.update(table)
        .where(*(table.c[key] == v.c[f"b_{key}"] for key in keys))
        .values({c.name: v.c[c.name] for c in table.columns})
    )


def _insert_from_recordset(table: sa.Table) -> sa.Insert:
    names = [c.name for c in table.columns]
    v = _recordset(table, names)
    return sa.insert(table).from_select(names, sa.select(*(v.c[name] for name in names)))


_INSERT_WORKSPACE = _insert(workspaces)
_SAVE_WORKSPACE = _update_where(workspaces, "id", "version")
_SAVE_MEMBER = _update_where(members, "workspace_id", "user")
_INSERT_EVENT = _insert(events, skip=("cursor",))
_INSERT_ONCE = {
    (dialect, table.name): insert(table)
    .on_conflict_do_nothing()
    .returning(next(iter(table.primary_key.columns)))
    for dialect, insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
    for table in (trials, webhook_events)
}


_Write = sa.Insert | sa.Update


class _Batch:
    """One write applied to a batch of rows, the fastest way each database allows.

    SQLAlchemy handles each row of an executemany in Python, which cost more
    than SQLite's own work on the sweep's batches: on SQLite the statement is
    compiled once (per schema map) and the rows go straight to the driver's
    ``executemany``. On PostgreSQL each row of an executemany is one more
    statement for the server: the batch goes as one JSON document that one
    statement applies (arrays were slower: the driver escapes every JSON text).
    """

    def __init__(self, sqlite_statement: _Write, postgres_statement: _Write) -> None:
        self._sqlite = Prepared(sqlite_statement)
        self._postgres = Prepared(postgres_statement)

    def run(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Write ``rows`` (as ``rows.py`` builds them); the number of rows written."""
        if conn.dialect.name == "postgresql":
            document = json.dumps(rows, default=_json_datetime)
            return execute(conn, self._postgres, {"rows": document}).rowcount
        if len(rows) == 1:
            return execute(conn, self._sqlite, rows[0]).rowcount
        return execute_many(conn, self._sqlite, rows)


def _json_datetime(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"a batch row holds {value!r}, which has no JSON form")


def _renew_in_place() -> tuple[sa.Update, sa.Update]:
    """The narrow update of ``Renewal``: the period columns, the version one higher."""
    v = _recordset(workspaces, ["seats", "period_start", "period_end", "b_id", "b_version"])
    pairs = []
    for seats, start, end, b_id, b_version in (
        (raw_param("seats"), raw_param("period_start"), raw_param("period_end"),
         raw_param("b_id"), raw_param("b_version")),
        (v.c.seats, v.c.period_start, v.c.period_end, v.c.b_id, v.c.b_version),
    ):  # fmt: skip
        pairs.append(
            sa.update(workspaces)
            .where(workspaces.c.id == b_id, workspaces.c.version == b_version)
            .values(
                seats=seats,
                pending_seats=sa.null(),
                period_start=start,
                period_end=end,
                due_at=end,
                version=workspaces.c.version + sa.literal_column("1"),
            )
        )
    return pairs[0], pairs[1]


_SAVE_WORKSPACES = _Batch(_SAVE_WORKSPACE, _update_from_recordset(workspaces, "id", "version"))
_SAVE_MEMBERS = _Batch(_SAVE_MEMBER, _update_from_recordset(members, "workspace_id", "user"))
_RENEW_IN_PLACE = _Batch(*_renew_in_place())
_APPEND_EVENTS = _Batch(_INSERT_EVENT, _insert_from_recordset(events))


# The request paths' statements, run on the driver's cursor (see ``driver``).
GET_WORKSPACE = Prepared(_GET_WORKSPACE)
GET_WORKSPACE_FOR_UPDATE = Prepared(_GET_WORKSPACE_FOR_UPDATE)
TOUCH_WORKSPACE = Prepared(_TOUCH_WORKSPACE)
FIND_BY_SUBSCRIPTION = Prepared(_FIND_BY_SUBSCRIPTION)
FIND_BY_CUSTOMER = Prepared(_FIND_BY_CUSTOMER)
MEMBERS = Prepared(_MEMBERS)
MEMBERSHIPS_OF = Prepared(_MEMBERSHIPS_OF)
MEMBERS_NAMED = Prepared(
    sa.select(*raw_columns(members))
    .where(
        members.c.workspace_id == raw_param("ws"),
        members.c.user.in_([raw_param("a"), raw_param("b")]),
    )
    .order_by(members.c.added_at, members.c.seq, members.c.user)
)
INSERT_WORKSPACE = Prepared(_INSERT_WORKSPACE)
SAVE_WORKSPACE = Prepared(_SAVE_WORKSPACE)
DELETE_MEMBER = Prepared(
    sa.delete(members).where(
        members.c.workspace_id == raw_param("workspace_id"), members.c.user == raw_param("user")
    )
)
WORKSPACE_EXISTS = Prepared(sa.select(workspaces.c.id).where(workspaces.c.id == raw_param("ws")))


def _upsert_member(insert: Any) -> sa.Insert:
    """Insert the member, or replace the stored one: one statement."""
    statement = insert(members).values({c.name: raw_param(c.name) for c in members.columns})
    keys = [c.name for c in members.primary_key.columns]
    return statement.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=keys,
        set_={c.name: statement.excluded[c.name] for c in members.columns if c.name not in keys},
    )


SAVE_MEMBER = {
    "postgresql": Prepared(_upsert_member(postgresql.insert)),
    "sqlite": Prepared(_upsert_member(sqlite.insert)),
}
INSERT_ONCE = {key: Prepared(statement) for key, statement in _INSERT_ONCE.items()}
INSERT_EVENT = Prepared(_INSERT_EVENT.returning(events.c.cursor))
"""One event, its cursor returned (SQLite numbers the rows)."""
RECORD_EVENT = Prepared(_INSERT_EVENT)
"""One event, its cursor not read back (``record_events``)."""
LAST_ROWID = Prepared(sa.select(sa.func.last_insert_rowid()))
"""The cursor of the last event of an ``executemany`` (SQLite: consecutive rows)."""


@functools.lru_cache(maxsize=256)
def update_columns(table_name: str, names: tuple[str, ...]) -> Prepared:
    """Update only ``names`` of one row, found by its key (``b_<key>``; a workspace
    also by its version): a request changes a column or two of a row, and
    rewriting the others cost SQLite their index entries (a full workspace
    row touches five indexes) and PostgreSQL its WAL."""
    table = {t.name: t for t in (workspaces, members)}[table_name]
    keys = ("id", "version") if table is workspaces else ("workspace_id", "user")
    return Prepared(
        sa.update(table)
        .where(*(table.c[key] == raw_param(f"b_{key}") for key in keys))
        .values({name: raw_param(name) for name in names})
    )


def _seat_counts() -> tuple[sa.ScalarSelect[Any], sa.ScalarSelect[Any]]:
    """The workspace's active members and its invitations pending at ``:now``, counted."""
    active = (
        sa.select(sa.func.count())
        .where(members.c.workspace_id == workspaces.c.id, _ACTIVE)
        .scalar_subquery()
    )
    held = (
        sa.select(sa.func.count())
        .where(
            invitations.c.workspace_id == workspaces.c.id,
            invitations.c.expires_at > raw_param("now"),
        )
        .scalar_subquery()
    )
    return active, held


def _workspace_for() -> sa.Select[Any]:
    """A workspace, the count of its active members, the count of its invitations
    pending at ``:now`` and one user's membership (its columns NULL when there is
    none), in one statement: a consistent read."""
    member = members.alias("m")
    active, held = _seat_counts()
    joined = workspaces.outerjoin(
        member,
        sa.and_(member.c.workspace_id == workspaces.c.id, member.c.user == raw_param("user")),
    )
    return (
        sa.select(
            *raw_columns(workspaces),
            active.label("active_members"),
            held.label("invitations_pending"),
            *(sa.type_coerce(c, RAW).label(f"m_{c.name}") for c in member.columns),
        )
        .select_from(joined)
        .where(workspaces.c.id == raw_param("ws"))
    )


WORKSPACE_FOR = Prepared(_workspace_for())


def _seats_for() -> sa.Select[Any]:
    """A workspace, the seats held in it at ``:now`` (active members and pending
    invitations) and the memberships of users ``:a`` and ``:b`` (a row each; one
    row of NULL member columns when neither is a member): all that adding or
    reactivating a member decides on (R5, R8), in one statement."""
    member = members.alias("m")
    active, held = _seat_counts()
    joined = workspaces.outerjoin(
        member,
        sa.and_(
            member.c.workspace_id == workspaces.c.id,
            member.c.user.in_([raw_param("a"), raw_param("b")]),
        ),
    )
    return (
        sa.select(
            *raw_columns(workspaces),
            (active + held).label("seats_held"),
            *(sa.type_coerce(c, RAW).label(f"m_{c.name}") for c in member.columns),
        )
        .select_from(joined)
        .where(workspaces.c.id == raw_param("ws"))
        .order_by(member.c.added_at, member.c.seq, member.c.user)
    )


SEATS_FOR = Prepared(_seats_for())
LOCK_WORKSPACE = Prepared(
    sa.select(workspaces.c.id).where(workspaces.c.id == raw_param("ws")).with_for_update()
)
"""The workspace's row lock alone (PostgreSQL), before statements that count under it."""
