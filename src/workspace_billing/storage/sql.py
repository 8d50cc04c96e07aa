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

import json
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

from ..errors import Conflict, InvalidRequest, StoreError
from ..events import Event
from ..ports import StoreSnapshot
from ..renewal import Renewal
from ..workspace import Member, MemberStatus, Workspace
from . import schema
from .rows import (
    codec_for,
    event_from,
    event_row,
    member_from,
    member_row,
    raw_columns,
    raw_param,
    workspace_from,
    workspace_row,
)
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


def _recordset(table: sa.Table, names: Sequence[str]) -> sa.TableValuedAlias:
    """``json_to_recordset(CAST(:rows AS JSON)) AS v(a type, ...)``: a batch of rows
    sent as one JSON document and read as a relation, so that the batch is one
    statement on PostgreSQL. A ``b_<key>`` name is typed like its column."""
    columns = [sa.column(name, table.c[name.removeprefix("b_")].type) for name in names]
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
_INSERT_MEMBER = _insert(members)
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
        self._sqlite = sqlite_statement
        self._postgres = postgres_statement
        self._compiled: dict[tuple[str, str, str], tuple[str, tuple[str, ...] | None]] = {}

    def run(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Write ``rows`` (as ``rows.py`` builds them); the number of rows written."""
        if conn.dialect.name == "postgresql":
            document = json.dumps(rows, default=_json_datetime)
            return conn.execute(self._postgres, {"rows": document}).rowcount
        sql, order = self._compile(conn)
        if order is None:  # an engine made with paramstyle="named"
            return conn.exec_driver_sql(sql, [dict(row) for row in rows]).rowcount
        return conn.exec_driver_sql(sql, [tuple(row[n] for n in order) for row in rows]).rowcount

    def _compile(self, conn: Connection) -> tuple[str, tuple[str, ...] | None]:
        translate = conn.get_execution_options().get("schema_translate_map") or {}
        key = (
            conn.dialect.name,
            conn.dialect.paramstyle,
            repr(sorted(translate.items(), key=repr)),
        )
        if key not in self._compiled:
            if len(self._compiled) >= _COMPILED_LIMIT:  # one a schema map: bound it
                self._compiled.clear()
            compiled = self._sqlite.compile(
                dialect=conn.dialect,
                schema_translate_map=translate or None,
                render_schema_translate=bool(translate),
            )
            order = tuple(compiled.positiontup) if compiled.positiontup is not None else None
            self._compiled[key] = (compiled.string, order)
        return self._compiled[key]


_COMPILED_LIMIT = 256


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


class _SQLUnitOfWork:
    def __init__(self, conn: Connection, dialect: str, read_only: bool, *, lock_on_read: bool):
        self._conn = conn
        self._dialect = dialect
        self._codec = codec_for(dialect)
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
        return workspace_from(row, self._codec) if row is not None else None

    def find_workspace_id(self, *, subscription_ref: str) -> str | None:
        return self._conn.execute(_FIND_BY_SUBSCRIPTION, {"ref": subscription_ref}).scalar()

    def add_workspace(self, workspace: Workspace) -> None:
        self._write()
        exists = sa.select(workspaces.c.id).where(workspaces.c.id == workspace.id)
        if self._conn.execute(exists).first() is not None:
            raise Conflict(f"workspace {workspace.id!r} already exists")
        self._conn.execute(_INSERT_WORKSPACE, workspace_row(workspace, self._codec))

    def save_workspace(self, workspace: Workspace) -> Workspace:
        self._write()
        saved = attrs.evolve(workspace, version=workspace.version + 1)
        row = workspace_row(saved, self._codec)
        row.update(b_id=workspace.id, b_version=workspace.version)
        if self._conn.execute(_SAVE_WORKSPACE, row).rowcount != 1:
            raise Conflict(f"workspace {workspace.id!r} changed since it was read, or is gone")
        return saved

    # ------------------------------------------------------------------ members

    def members(self, workspace_id: str) -> list[Member]:
        rows = self._conn.execute(_MEMBERS, {"ws": workspace_id}).mappings()
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
        if self._dialect == "postgresql":
            given = self._postgres_cursors(len(new))
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
        query = sa.select(*raw_columns(events)).where(events.c.cursor > cursor)
        if self._dialect == "postgresql":
            horizon = sa.text(
                f"(pg_snapshot_xmin(pg_current_snapshot())::text::bigint << {_TX_BITS})"
            )
            query = query.where(events.c.cursor < horizon)
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
            raise Conflict("a workspace changed since it was read: nothing of the batch was saved")
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
            raise Conflict("a workspace changed since it was read: nothing of the batch was saved")
        self._insert_events([r.event for r in renewals], cursors=False)

    def subscribed_workspace_ids(self, *, after: str | None, limit: int) -> list[str]:
        query = sa.select(workspaces.c.id).where(
            workspaces.c.subscription_ref.is_not(None),
            workspaces.c.status.in_(["active", "past_due"]),
        )
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
