"""A ``Store`` on SQLAlchemy Core: SQLite (the embedded default) and PostgreSQL.

Install with ``pip install "workspace-billing[sql]"`` (SQLite, standard
library driver) or ``"workspace-billing[postgres]"`` (psycopg 3).

Writers to one workspace are serialized the way each engine does it best:
SQLite takes the database's write lock when a writing transaction begins
(``BEGIN IMMEDIATE``, WAL mode, a busy timeout), PostgreSQL locks the
workspace row (``SELECT ... FOR UPDATE``) before seats are counted. Webhook
event ids and trial owners are unique in the database, so a racing duplicate
is a no-op rather than an error. Every driver error is translated here into
the library's errors; none reaches the host.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

try:
    import sqlalchemy as sa
    from sqlalchemy import event as sa_event
    from sqlalchemy import exc as sa_exc
    from sqlalchemy.dialects import postgresql, sqlite
    from sqlalchemy.engine import Connection, Engine
except ImportError as missing:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'the SQL store needs SQLAlchemy: pip install "workspace-billing[sql]" '
        '(or "workspace-billing[postgres]" for PostgreSQL)'
    ) from missing

import attrs

from ..catalog import Interval
from ..errors import Conflict, InvalidRequest, StoreError
from ..events import Event, EventType
from ..money import Money
from ..ports import StoreSnapshot
from ..subscription import Subscription, SubscriptionStatus
from ..workspace import Member, MemberStatus, Role, Workspace
from . import schema
from .schema import events, members, metadata, trials, webhook_events, workspaces

__all__ = ["SQLStore", "metadata"]

_BEGIN_OPTION = "workspace_billing_begin"
_TX_BITS = 20  # PostgreSQL event cursors: transaction id << 20 | position in the transaction
_SQLITE_BUSY_TIMEOUT_S = 30.0


class SQLStore:
    """The ``Store`` port on a SQL database.

    Build it from a URL (``SQLStore.from_url("sqlite:///billing.db")``,
    ``"postgresql+psycopg://user@host/db"``), from the host's ``Engine``, or
    bound to the host's open ``Connection`` (``SQLStore.from_connection``) so
    that the library's writes join the host's own transaction.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine: Engine | None = engine
        self._connection: Connection | None = None
        self._dialect = engine.dialect.name
        if self._dialect == "sqlite":
            _configure_sqlite(engine)

    @classmethod
    def from_url(cls, url: str, *, create_schema: bool = False, **engine_options: Any) -> SQLStore:
        """A store on its own engine; ``create_schema=True`` runs ``upgrade`` first."""
        try:
            parsed = sa.make_url(url)
        except sa_exc.ArgumentError as e:
            raise InvalidRequest(f"not a database URL: {url!r}") from e
        if parsed.get_backend_name() == "sqlite":
            if parsed.database in (None, "", ":memory:"):
                raise InvalidRequest(
                    "an in-memory SQLite database lives and dies with one connection: "
                    "use a file (sqlite:///billing.db), or InMemoryStore for tests"
                )
            engine_options.setdefault("connect_args", {}).setdefault(
                "timeout", _SQLITE_BUSY_TIMEOUT_S
            )
        else:
            engine_options.setdefault("pool_pre_ping", True)
        with _translated():
            engine = sa.create_engine(parsed, **engine_options)
            store = cls(engine)
            if create_schema:
                store.create_schema()
        return store

    @classmethod
    def from_connection(cls, connection: Connection) -> SQLStore:
        """A store that works inside the host's connection and transaction.

        Each unit of work is a savepoint when the host's transaction is open (a
        refused action rolls back only its own writes) and the host commits.
        """
        store = cls.__new__(cls)
        store._engine = None
        store._connection = connection
        store._dialect = connection.dialect.name
        return store

    @property
    def dialect(self) -> str:
        return self._dialect

    def create_schema(self) -> int:
        """Create or migrate the schema (see ``workspace_billing.storage.schema.upgrade``)."""
        with _translated():
            bind = self._connection if self._connection is not None else self._engine
            assert bind is not None
            return schema.upgrade(bind)

    def schema_version(self) -> int:
        """The schema version recorded in the database (0 before ``create_schema``)."""
        with _translated():
            if self._connection is not None:
                return schema.schema_version(self._connection)
            assert self._engine is not None
            with self._engine.connect() as conn:
                return schema.schema_version(conn)

    def dispose(self) -> None:
        """Close the pooled connections of an engine this store created or was given."""
        if self._engine is not None:
            self._engine.dispose()

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        bind = self._engine if self._engine is not None else self._connection
        assert bind is not None
        return bind.engine.url.render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"SQLStore({self.url!r})"

    @contextmanager
    def unit_of_work(self, *, read_only: bool = False) -> Iterator[_SQLUnitOfWork]:
        with _translated():
            if self._connection is not None:
                conn = self._connection
                tx = conn.begin_nested() if conn.in_transaction() else conn.begin()
                with tx:
                    yield _SQLUnitOfWork(conn, self._dialect, read_only, lock_on_read=True)
                return
            assert self._engine is not None
            with self._engine.connect() as conn:
                if self._dialect == "sqlite":
                    begin = "BEGIN" if read_only else "BEGIN IMMEDIATE"
                    conn.execution_options(**{_BEGIN_OPTION: begin})
                with conn.begin():
                    yield _SQLUnitOfWork(conn, self._dialect, read_only, lock_on_read=False)

    def snapshot(self) -> StoreSnapshot:
        with self.unit_of_work(read_only=True) as uow:
            return uow.snapshot()


def _configure_sqlite(engine: Engine) -> None:
    """Make pysqlite run real transactions, and writers take the lock at BEGIN.

    The driver's own transaction handling starts transactions lazily and never
    for reads; the SQLAlchemy-documented fix is to switch it off and emit
    BEGIN ourselves. Installed once per engine. How long a writer waits for the
    lock is the driver's ``timeout`` connect argument (30 s from ``from_url``).
    """
    if sa_event.contains(engine, "connect", _sqlite_connect):
        return
    sa_event.listen(engine, "connect", _sqlite_connect)
    sa_event.listen(engine, "begin", _sqlite_begin)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql(conn.get_execution_options().get(_BEGIN_OPTION, "BEGIN"))


@contextmanager
def _translated() -> Iterator[None]:
    """Driver errors become the library's, chained so the cause stays visible."""
    try:
        yield
    except sa_exc.IntegrityError as e:
        raise Conflict(f"the change collides with stored data: {_reason(e)}") from e
    except sa_exc.OperationalError as e:
        if _retryable(e):
            raise Conflict(f"the database is busy, retry: {_reason(e)}") from e
        raise StoreError(f"the database failed: {_reason(e)}") from e
    except sa_exc.DBAPIError as e:
        if _retryable(e):
            raise Conflict(f"concurrent change, retry: {_reason(e)}") from e
        raise StoreError(f"the database failed: {_reason(e)}") from e
    except sa_exc.SQLAlchemyError as e:
        raise StoreError(f"the database failed: {e}") from e


def _retryable(error: sa_exc.DBAPIError) -> bool:
    message = str(error.orig).lower()
    sqlstate = getattr(error.orig, "sqlstate", None)
    return sqlstate in ("40001", "40P01", "55P03") or "database is locked" in message


def _reason(error: sa_exc.DBAPIError) -> str:
    return str(error.orig).strip().splitlines()[0] if error.orig is not None else str(error)


# Statements of the hot paths, built once: building a statement costs more than
# running it on SQLite. Values are bound at execution.
_GET_WORKSPACE = sa.select(workspaces).where(workspaces.c.id == sa.bindparam("ws"))
_GET_WORKSPACE_FOR_UPDATE = _GET_WORKSPACE.with_for_update()
_TOUCH_WORKSPACE = (
    sa.update(workspaces)
    .where(workspaces.c.id == sa.bindparam("ws"))
    .values(version=workspaces.c.version)
)
_FIND_BY_SUBSCRIPTION = (
    sa.select(workspaces.c.id).where(workspaces.c.subscription_ref == sa.bindparam("ref")).limit(1)
)
_MEMBERS = (
    sa.select(members)
    .where(members.c.workspace_id == sa.bindparam("ws"))
    .order_by(members.c.added_at, members.c.seq, members.c.user)
)


def _update_where(table: sa.Table, *keys: str) -> sa.Update:
    """Every column set from its own parameter, the row found by ``b_<key>`` ones."""
    return (
        sa.update(table)
        .where(*(table.c[key] == sa.bindparam(f"b_{key}") for key in keys))
        .values({c.name: sa.bindparam(c.name) for c in table.columns})
    )


_SAVE_WORKSPACE = _update_where(workspaces, "id", "version")
_SAVE_MEMBER = _update_where(members, "workspace_id", "user")
_INSERT_MEMBER = sa.insert(members)
_INSERT_ONCE = {
    (dialect, table.name): insert(table)
    .on_conflict_do_nothing()
    .returning(next(iter(table.primary_key.columns)))
    for dialect, insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
    for table in (trials, webhook_events)
}


class _SQLUnitOfWork:
    def __init__(self, conn: Connection, dialect: str, read_only: bool, *, lock_on_read: bool):
        self._conn = conn
        self._dialect = dialect
        self._read_only = read_only
        self._lock_on_read = lock_on_read

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
        return _workspace(row) if row is not None else None

    def find_workspace_id(self, *, subscription_ref: str) -> str | None:
        return self._conn.execute(_FIND_BY_SUBSCRIPTION, {"ref": subscription_ref}).scalar()

    def add_workspace(self, workspace: Workspace) -> None:
        self._write()
        exists = sa.select(workspaces.c.id).where(workspaces.c.id == workspace.id)
        if self._conn.execute(exists).first() is not None:
            raise Conflict(f"workspace {workspace.id!r} already exists")
        self._conn.execute(sa.insert(workspaces).values(_workspace_row(workspace)))

    def save_workspace(self, workspace: Workspace) -> Workspace:
        self._write()
        saved = attrs.evolve(workspace, version=workspace.version + 1)
        row = {**_workspace_row(saved), "b_id": workspace.id, "b_version": workspace.version}
        done = self._conn.execute(_SAVE_WORKSPACE, row)
        if done.rowcount != 1:
            raise Conflict(f"workspace {workspace.id!r} changed since it was read, or is gone")
        return saved

    # ------------------------------------------------------------------ members

    def members(self, workspace_id: str) -> list[Member]:
        rows = self._conn.execute(_MEMBERS, {"ws": workspace_id}).mappings()
        return [_member(row) for row in rows]

    def save_member(self, member: Member) -> None:
        self._write()
        row = _member_row(member)
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
        if not new:
            return []
        if self._dialect == "postgresql":
            cursors = self._postgres_cursors(len(new))
            rows = [{**_event_row(e), "cursor": c} for e, c in zip(new, cursors, strict=True)]
            self._conn.execute(sa.insert(events), rows)
            return [attrs.evolve(e, cursor=c) for e, c in zip(new, cursors, strict=True)]
        # SQLite has one writer at a time: this transaction's events are the next
        # rows, so a plain batched insert, then their cursors, is all it takes.
        last = self._conn.execute(sa.select(sa.func.coalesce(sa.func.max(events.c.cursor), 0)))
        before = int(last.scalar_one())
        self._conn.execute(sa.insert(events), [_event_row(e) for e in new])
        found = self._conn.execute(
            sa.select(events.c.cursor)
            .where(events.c.cursor > before)
            .order_by(events.c.cursor)
            .limit(len(new))
        ).scalars()
        return [attrs.evolve(e, cursor=c) for e, c in zip(new, found, strict=True)]

    def _postgres_cursors(self, count: int) -> list[int]:
        """Cursors that an outbox reader can never skip, without serializing writers.

        A cursor is the writing transaction's id, shifted, plus the event's position
        in it. ``events_after`` returns only events of transactions older than every
        transaction still running, so an event that becomes visible later always
        has a higher cursor than any event already read.
        """
        xid = int(
            self._conn.execute(sa.text("SELECT pg_current_xact_id()::text::bigint")).scalar_one()
        )
        first, end = xid << _TX_BITS, (xid + 1) << _TX_BITS
        used = self._conn.execute(  # earlier units of work of one host transaction
            sa.select(sa.func.max(events.c.cursor)).where(
                events.c.cursor >= first, events.c.cursor < end
            )
        ).scalar_one()
        start = int(used) if used is not None else first
        if start + count >= end:
            raise StoreError(f"at most {(1 << _TX_BITS) - 1} events per transaction")
        return list(range(start + 1, start + 1 + count))

    def events_after(self, cursor: int, limit: int) -> list[Event]:
        query = sa.select(events).where(events.c.cursor > cursor)
        if self._dialect == "postgresql":
            horizon = sa.text(
                f"(pg_snapshot_xmin(pg_current_snapshot())::text::bigint << {_TX_BITS})"
            )
            query = query.where(events.c.cursor < horizon)
        query = query.order_by(events.c.cursor).limit(limit)
        return [_event(row) for row in self._conn.execute(query).mappings()]

    def due_workspace_ids(self, now: datetime, limit: int) -> list[str]:
        query = (
            sa.select(workspaces.c.id)
            .where(workspaces.c.due_at.is_not(None), workspaces.c.due_at <= now)
            .order_by(workspaces.c.due_at, workspaces.c.id)
            .limit(limit)
        )
        return list(self._conn.execute(query).scalars())

    def claim_due(
        self, now: datetime, limit: int, *, after: tuple[datetime, str] | None = None
    ) -> list[Workspace]:
        self._write()
        query = sa.select(workspaces).where(
            workspaces.c.due_at.is_not(None), workspaces.c.due_at <= now
        )
        if after is not None:
            query = query.where(sa.tuple_(workspaces.c.due_at, workspaces.c.id) > sa.tuple_(*after))
        query = query.order_by(workspaces.c.due_at, workspaces.c.id).limit(limit)
        if self._dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return [_workspace(row) for row in self._conn.execute(query).mappings()]

    def members_of(self, workspace_ids: Sequence[str]) -> dict[str, list[Member]]:
        found: dict[str, list[Member]] = {ws_id: [] for ws_id in workspace_ids}
        if not workspace_ids:
            return found
        query = (
            sa.select(members)
            .where(members.c.workspace_id.in_(list(workspace_ids)))
            .order_by(members.c.workspace_id, members.c.added_at, members.c.seq, members.c.user)
        )
        for row in self._conn.execute(query).mappings():
            found[row["workspace_id"]].append(_member(row))
        return found

    def active_member_counts(self, workspace_ids: Sequence[str]) -> dict[str, int]:
        counts = dict.fromkeys(workspace_ids, 0)
        if not workspace_ids:
            return counts
        query = (
            sa.select(members.c.workspace_id, sa.func.count())
            .where(
                members.c.workspace_id.in_(list(workspace_ids)),
                members.c.status == MemberStatus.ACTIVE.value,
            )
            .group_by(members.c.workspace_id)
        )
        counts.update({row[0]: int(row[1]) for row in self._conn.execute(query)})
        return counts

    def save_workspaces(self, many: Sequence[Workspace]) -> list[Workspace]:
        self._write()
        if not many:
            return []
        saved = [attrs.evolve(ws, version=ws.version + 1) for ws in many]
        rows = [
            {**_workspace_row(new), "b_id": old.id, "b_version": old.version}
            for old, new in zip(many, saved, strict=True)
        ]
        done = self._conn.execute(_SAVE_WORKSPACE, rows)
        if done.rowcount != len(many):
            raise Conflict("a workspace changed since it was read: nothing of the batch was saved")
        return saved

    def save_members(self, many: Sequence[Member]) -> None:
        self._write()
        if not many:
            return
        statement = (
            sa.update(members)
            .where(
                members.c.workspace_id == sa.bindparam("b_workspace_id"),
                members.c.user == sa.bindparam("b_user"),
            )
            .values({c.name: sa.bindparam(c.name) for c in members.columns})
        )
        rows = [
            {**_member_row(m), "b_workspace_id": m.workspace_id, "b_user": m.user} for m in many
        ]
        done = self._conn.execute(statement, rows)
        if done.rowcount != len(many):  # some are new: fall back to one upsert each
            for member in many:
                self.save_member(member)

    def subscribed_workspace_ids(self, *, after: str | None, limit: int) -> list[str]:
        query = sa.select(workspaces.c.id).where(
            workspaces.c.subscription_ref.is_not(None),
            workspaces.c.status.in_(["active", "past_due"]),
        )
        if after is not None:
            query = query.where(workspaces.c.id > after)
        return list(self._conn.execute(query.order_by(workspaces.c.id).limit(limit)).scalars())

    def snapshot(self) -> StoreSnapshot:
        conn = self._conn
        return StoreSnapshot(
            workspaces=tuple(
                _workspace(r)
                for r in conn.execute(sa.select(workspaces).order_by(workspaces.c.id)).mappings()
            ),
            members=tuple(
                _member(r)
                for r in conn.execute(
                    sa.select(members).order_by(members.c.workspace_id, members.c.user)
                ).mappings()
            ),
            events=tuple(
                _event(r)
                for r in conn.execute(sa.select(events).order_by(events.c.cursor)).mappings()
            ),
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


# ------------------------------------------------------------------ row mapping


def _workspace_row(ws: Workspace) -> dict[str, Any]:
    sub = ws.subscription
    return {
        "id": ws.id,
        "name": ws.name,
        "owner": ws.owner,
        "created_at": ws.created_at,
        "member_seq": ws.member_seq,
        "version": ws.version,
        "due_at": ws.due_at,
        "plan": sub.plan,
        "status": sub.status.value,
        "seats": sub.seats,
        "interval": sub.interval.value if sub.interval else None,
        "pending_seats": sub.pending_seats,
        "trial_ends_at": sub.trial_ends_at,
        "period_start": sub.period_start,
        "period_end": sub.period_end,
        "anchor": sub.anchor,
        "cancel_at_period_end": sub.cancel_at_period_end,
        "past_due_since": sub.past_due_since,
        "unit_amount": sub.unit_amount.amount if sub.unit_amount else None,
        "unit_currency": sub.unit_amount.currency if sub.unit_amount else None,
        "customer_ref": sub.customer_ref,
        "subscription_ref": sub.subscription_ref,
    }


def _workspace(row: sa.RowMapping) -> Workspace:
    unit = (
        Money(row["unit_amount"], row["unit_currency"]) if row["unit_amount"] is not None else None
    )
    sub = Subscription(
        plan=row["plan"],
        status=SubscriptionStatus(row["status"]),
        seats=row["seats"],
        interval=Interval(row["interval"]) if row["interval"] else None,
        pending_seats=row["pending_seats"],
        trial_ends_at=row["trial_ends_at"],
        period_start=row["period_start"],
        period_end=row["period_end"],
        anchor=row["anchor"],
        cancel_at_period_end=bool(row["cancel_at_period_end"]),
        past_due_since=row["past_due_since"],
        unit_amount=unit,
        customer_ref=row["customer_ref"],
        subscription_ref=row["subscription_ref"],
    )
    return Workspace(
        id=row["id"],
        name=row["name"],
        owner=row["owner"],
        created_at=row["created_at"],
        subscription=sub,
        member_seq=row["member_seq"],
        version=row["version"],
        due_at=row["due_at"],
    )


def _member_row(m: Member) -> dict[str, Any]:
    return {
        "workspace_id": m.workspace_id,
        "user": m.user,
        "role": m.role.value,
        "status": m.status.value,
        "added_at": m.added_at,
        "active_since": m.active_since,
        "seq": m.seq,
        "deactivated_at": m.deactivated_at,
    }


def _member(row: sa.RowMapping) -> Member:
    return Member(
        workspace_id=row["workspace_id"],
        user=row["user"],
        role=Role(row["role"]),
        status=MemberStatus(row["status"]),
        added_at=row["added_at"],
        active_since=row["active_since"],
        seq=row["seq"],
        deactivated_at=row["deactivated_at"],
    )


def _event_row(e: Event) -> dict[str, Any]:
    return {
        "type": e.type.value,
        "workspace_id": e.workspace_id,
        "at": e.at,
        "actor": e.actor,
        "subject": e.subject,
        "before": dict(e.before),
        "after": dict(e.after),
        "data": dict(e.data),
    }


def _event(row: sa.RowMapping) -> Event:
    return Event(
        type=EventType(row["type"]),
        workspace_id=row["workspace_id"],
        at=row["at"],
        actor=row["actor"],
        subject=row["subject"],
        before=row["before"],
        after=row["after"],
        data=row["data"],
        cursor=row["cursor"],
    )
