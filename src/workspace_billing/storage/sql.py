"""A ``Store`` on SQLAlchemy Core: SQLite (the embedded default) and PostgreSQL.

Install with ``pip install "workspace-billing[sql]"`` (SQLite, standard
library driver) or ``"workspace-billing[postgres]"`` (psycopg 3).

Writers to one workspace are serialized the way each engine does it best:
SQLite takes the database's write lock when a writing transaction begins
(``BEGIN IMMEDIATE``, WAL mode, a busy timeout), PostgreSQL locks the
workspace row (``SELECT ... FOR UPDATE``) before seats are counted. Webhook
event ids and trial owners are unique in the database, so a racing duplicate
is a no-op rather than an error. Every driver error is translated here into
the library's errors; none reaches the host. No message or repr shows the
database password: URLs are rendered with it hidden and driver messages are
scrubbed of it.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import datetime
from types import TracebackType
from typing import Any

try:
    import sqlalchemy as sa
    from sqlalchemy import exc as sa_exc
    from sqlalchemy.engine import Connection, Engine
except ImportError as missing:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'the SQL store needs SQLAlchemy: pip install "workspace-billing[sql]" '
        '(or "workspace-billing[postgres]" for PostgreSQL)'
    ) from missing

from ..errors import InvalidRequest
from ..ports import StoreSnapshot
from ..workspace import Member, Workspace
from . import schema
from .driver import Prepared, Runner, end_transaction, execute_text, read_one, watched
from .engine import (
    BEGIN_OPTION,
    SQLITE_BUSY_TIMEOUT_S,
    configure_sqlite,
    raise_translated,
    redacted,
    secrets_of,
    shown,
    transactions_watched,
    translated,
)
from .rows import decoder_for
from .schema import metadata
from .sql_uow import _SQLUnitOfWork
from .sqlite_threads import SQLiteThreads, Writer
from .statements import GET_WORKSPACE, WORKSPACE_FOR

__all__ = ["SQLStore", "metadata"]


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
        self._decoder = decoder_for(self._dialect)
        self._secrets = secrets_of(engine.url)
        self._threads: SQLiteThreads | None = None
        if self._dialect == "sqlite":
            configure_sqlite(engine)

    @classmethod
    def from_url(cls, url: str, *, create_schema: bool = False, **engine_options: Any) -> SQLStore:
        """A store on its own engine; ``create_schema=True`` runs ``upgrade`` first."""
        try:
            parsed = sa.make_url(url)
        except (sa_exc.ArgumentError, ValueError, TypeError):
            # Not echoed, nor chained: an unparsable URL cannot have its password hidden.
            raise InvalidRequest(
                "not a database URL (dialect+driver://user@host:port/database); "
                "it is not shown, as it may hold a password"
            ) from None
        if parsed.get_backend_name() == "sqlite":
            if parsed.database in (None, "", ":memory:"):
                raise InvalidRequest(
                    "an in-memory SQLite database lives and dies with one connection: "
                    "use a file (sqlite:///billing.db), or InMemoryStore for tests"
                )
            engine_options.setdefault("connect_args", {}).setdefault(
                "timeout", SQLITE_BUSY_TIMEOUT_S
            )
        else:
            engine_options.setdefault("pool_pre_ping", True)
        secrets = secrets_of(parsed)
        with translated(secrets):
            try:
                engine = sa.create_engine(parsed, **engine_options)
            except (ImportError, sa_exc.NoSuchModuleError) as e:
                reason = redacted(str(e), secrets)
                raise InvalidRequest(f"no database driver for {shown(parsed)}: {reason}") from None
            store = cls(engine)
            if store._dialect == "sqlite" and _plain(engine_options):
                # Its own engine: no host listener to honour.
                threads = SQLiteThreads(engine, engine_options["connect_args"])
                store._threads = threads
                weakref.finalize(store, threads.close)  # a store dropped without dispose()
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
        store._decoder = decoder_for(store._dialect)
        store._secrets = secrets_of(connection.engine.url)
        store._threads = None
        return store

    @property
    def dialect(self) -> str:
        return self._dialect

    def create_schema(self) -> int:
        """Create or migrate the schema (see ``workspace_billing.storage.schema.upgrade``)."""
        with translated(self._secrets):
            bind = self._connection if self._connection is not None else self._engine
            assert bind is not None
            return schema.upgrade(bind)

    def schema_version(self) -> int:
        """The schema version recorded in the database (0 before ``create_schema``)."""
        with translated(self._secrets):
            if self._connection is not None:
                return schema.schema_version(self._connection)
            assert self._engine is not None
            with self._engine.connect() as conn:
                return schema.schema_version(conn)

    def dispose(self) -> None:
        """Close the pooled connections of an engine this store created or was given."""
        if self._threads is not None:
            self._threads.close()
        if self._engine is not None:
            self._engine.dispose()

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        bind = self._engine if self._engine is not None else self._connection
        assert bind is not None
        return shown(bind.engine.url)

    def __repr__(self) -> str:
        return f"SQLStore({self.url!r})"

    def unit_of_work(self, *, read_only: bool = False) -> AbstractContextManager[_SQLUnitOfWork]:
        threads, engine = self._threads, self._engine
        if threads is not None and engine is not None and not transactions_watched(engine):
            return _OnThread(self, threads, read_only)
        return self._pooled_unit_of_work(read_only)

    @contextmanager
    def _pooled_unit_of_work(self, read_only: bool) -> Iterator[_SQLUnitOfWork]:
        with translated(self._secrets):
            if self._connection is not None:
                conn = self._connection
                tx = conn.begin_nested() if conn.in_transaction() else conn.begin()
                with tx:
                    yield _SQLUnitOfWork(conn, self._dialect, read_only, lock_on_read=True)
                return
            assert self._engine is not None
            with self._engine.connect() as conn:
                if transactions_watched(conn):
                    if self._dialect == "sqlite":
                        begin = "BEGIN" if read_only else "BEGIN IMMEDIATE"
                        conn.execution_options(**{BEGIN_OPTION: begin})
                    with conn.begin():
                        yield _SQLUnitOfWork(conn, self._dialect, read_only, lock_on_read=False)
                    return
                # Begun and ended on the driver: SQLAlchemy's transaction object
                # cost a request more than SQLite's own BEGIN and COMMIT.
                if self._dialect == "sqlite":  # PostgreSQL's driver begins by itself
                    execute_text(conn, "BEGIN" if read_only else "BEGIN IMMEDIATE")
                run = Runner(conn, is_watched=False)
                try:
                    yield _SQLUnitOfWork(
                        conn, self._dialect, read_only, lock_on_read=False, run=run
                    )
                except BaseException:
                    with suppress(Exception):  # the error that ended it is the one to see
                        end_transaction(conn, commit=False)
                    raise
                end_transaction(conn, commit=True)

    def snapshot(self) -> StoreSnapshot:
        with self.unit_of_work(read_only=True) as uow:
            return uow.snapshot()

    def _read_one(self, prepared: Prepared, values: Mapping[str, Any]) -> Any:
        """One statement's first row, outside any transaction; on the store's own
        per-thread SQLite connections unless the host watches its statements."""
        assert self._engine is not None
        if self._threads is not None and not watched(self._engine):
            return self._threads.read_one(self._engine, prepared, values)
        return read_one(self._engine, prepared, values)

    def read_workspace(self, workspace_id: str) -> Workspace | None:
        """The workspace as last committed, read by one statement outside any
        transaction (one statement is its own consistent snapshot): what a read
        of one workspace needs, without a transaction's two round trips."""
        if self._connection is not None:  # inside the host's transaction, as it sees it
            with self.unit_of_work(read_only=True) as uow:
                return uow.get_workspace(workspace_id)
        assert self._engine is not None
        try:  # what ``translated`` does, without a context manager's cost on this path
            row = self._read_one(GET_WORKSPACE, {"ws": workspace_id})
        except sa_exc.SQLAlchemyError as e:
            raise_translated(e, self._secrets)
        return self._decoder.workspace(row) if row is not None else None

    def read_workspace_for(
        self, workspace_id: str, user: str, now: datetime
    ) -> tuple[Workspace, int, int, Member | None] | None:
        """The workspace, how many of its members are active, how many invitations
        are pending at ``now`` and ``user``'s membership, by one statement outside
        any transaction (see ``read_workspace``)."""
        if self._connection is not None:
            with self.unit_of_work(read_only=True) as uow:
                ws = uow.get_workspace(workspace_id)
                if ws is None:
                    return None
                found = uow.members(workspace_id)
                active = sum(1 for m in found if m.is_active)
                held = uow.invitation_counts([workspace_id], now)[workspace_id]
                return ws, active, held, next((m for m in found if m.user == user), None)
        assert self._engine is not None
        params = {"ws": workspace_id, "user": user, "now": self._decoder.codec.datetime_out(now)}
        with translated(self._secrets):
            row = self._read_one(WORKSPACE_FOR, params)
        if row is None:
            return None
        decoder = self._decoder
        width = len(metadata.tables["wb_workspaces"].columns)
        ws = decoder.workspace(row[:width])
        member = row[width + 2 :]
        mine = decoder.members([member])[0] if member[0] is not None else None
        return ws, int(row[width]), int(row[width + 1]), mine


class _OnThread:
    """``SQLStore.unit_of_work`` on the calling thread's own connection (SQLite,
    ``from_url``): a class rather than a generator, as every SQLite request
    takes this path; a unit of work opened inside another on the same thread
    takes the pool's."""

    __slots__ = ("_nested", "_read_only", "_store", "_threads", "_writer")

    def __init__(self, store: SQLStore, threads: SQLiteThreads, read_only: bool) -> None:
        self._store = store
        self._threads = threads
        self._read_only = read_only
        self._writer: Writer | None = None
        self._nested: AbstractContextManager[_SQLUnitOfWork] | None = None

    def __enter__(self) -> _SQLUnitOfWork:
        store = self._store
        try:
            writer = self._threads.take_writer()
        except sa_exc.SQLAlchemyError as e:
            raise_translated(e, store._secrets)
        if writer is None:
            self._nested = store._pooled_unit_of_work(self._read_only)
            return self._nested.__enter__()
        self._writer = writer
        try:
            writer.runner.begin("BEGIN" if self._read_only else "BEGIN IMMEDIATE")
            return _SQLUnitOfWork(writer.conn, "sqlite", self._read_only, lock_on_read=False,
                                  run=writer.runner)  # fmt: skip
        except BaseException as e:  # an interrupt too: the write lock must not stay held
            with suppress(Exception):
                end_transaction(writer.conn, commit=False)
            self._threads.give_back(writer)
            if isinstance(e, sa_exc.SQLAlchemyError):
                raise_translated(e, store._secrets)
            raise

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        if self._nested is not None:
            return self._nested.__exit__(kind, error, tb)
        writer = self._writer
        assert writer is not None
        try:
            if error is None:
                end_transaction(writer.conn, commit=True)
                return None
            with suppress(Exception):  # the error that ended it is the one to see
                end_transaction(writer.conn, commit=False)
            if isinstance(error, sa_exc.SQLAlchemyError):
                raise_translated(error, self._store._secrets)
            return None
        except sa_exc.SQLAlchemyError as e:  # the commit failed
            raise_translated(e, self._store._secrets)
        finally:
            self._threads.give_back(writer)


_POOL_OPTIONS = frozenset(
    {"connect_args", "pool_size", "max_overflow", "pool_timeout", "pool_recycle",
     "pool_pre_ping", "pool_use_lifo", "pool_reset_on_return"}
)  # fmt: skip


def _plain(engine_options: Mapping[str, Any]) -> bool:
    """Whether ``from_url`` was given nothing but connect arguments and pool
    settings: anything else (``echo``, a ``creator``, execution options) is for
    the engine to apply, so the per-thread connections are not used."""
    return engine_options.keys() <= _POOL_OPTIONS
