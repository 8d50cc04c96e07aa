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

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, NoReturn
from urllib.parse import quote, quote_plus

try:
    import sqlalchemy as sa
    from sqlalchemy import event as sa_event
    from sqlalchemy import exc as sa_exc
    from sqlalchemy.engine import URL, Connection, Engine
except ImportError as missing:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'the SQL store needs SQLAlchemy: pip install "workspace-billing[sql]" '
        '(or "workspace-billing[postgres]" for PostgreSQL)'
    ) from missing

from ..errors import Conflict, InvalidRequest, StoreBusy, StoreError
from ..ports import StoreSnapshot
from ..workspace import Member, Workspace
from . import schema
from .driver import end_transaction, execute_text, read_one, watched
from .rows import decoder_for
from .schema import metadata
from .sql_uow import _SQLUnitOfWork
from .statements import GET_WORKSPACE, WORKSPACE_FOR

__all__ = ["SQLStore", "metadata"]

_BEGIN_OPTION = "workspace_billing_begin"
_SQLITE_BUSY_TIMEOUT_S = 30.0
_URL_PASSWORD = re.compile(r"(://[^/\s:@]*:)[^\s@/]*@")  # scheme://user:PASSWORD@host
_KEYWORD_PASSWORD = re.compile(r"(password\s*=\s*)('[^']*'|[^\s&]+)", re.IGNORECASE)


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
        self._secrets = _secrets_of(engine.url)
        if self._dialect == "sqlite":
            _configure_sqlite(engine)

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
                "timeout", _SQLITE_BUSY_TIMEOUT_S
            )
        else:
            engine_options.setdefault("pool_pre_ping", True)
        secrets = _secrets_of(parsed)
        with _translated(secrets):
            try:
                engine = sa.create_engine(parsed, **engine_options)
            except (ImportError, sa_exc.NoSuchModuleError) as e:
                reason = _redacted(str(e), secrets)
                raise InvalidRequest(f"no database driver for {_shown(parsed)}: {reason}") from None
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
        store._decoder = decoder_for(store._dialect)
        store._secrets = _secrets_of(connection.engine.url)
        return store

    @property
    def dialect(self) -> str:
        return self._dialect

    def create_schema(self) -> int:
        """Create or migrate the schema (see ``workspace_billing.storage.schema.upgrade``)."""
        with _translated(self._secrets):
            bind = self._connection if self._connection is not None else self._engine
            assert bind is not None
            return schema.upgrade(bind)

    def schema_version(self) -> int:
        """The schema version recorded in the database (0 before ``create_schema``)."""
        with _translated(self._secrets):
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
        return _shown(bind.engine.url)

    def __repr__(self) -> str:
        return f"SQLStore({self.url!r})"

    @contextmanager
    def unit_of_work(self, *, read_only: bool = False) -> Iterator[_SQLUnitOfWork]:
        with _translated(self._secrets):
            if self._connection is not None:
                conn = self._connection
                tx = conn.begin_nested() if conn.in_transaction() else conn.begin()
                with tx:
                    yield _SQLUnitOfWork(conn, self._dialect, read_only, lock_on_read=True)
                return
            assert self._engine is not None
            with self._engine.connect() as conn:
                begin = "BEGIN" if read_only else "BEGIN IMMEDIATE"
                if _transactions_watched(conn):
                    if self._dialect == "sqlite":
                        conn.execution_options(**{_BEGIN_OPTION: begin})
                    with conn.begin():
                        yield _SQLUnitOfWork(conn, self._dialect, read_only, lock_on_read=False)
                    return
                # Begun and ended on the driver: SQLAlchemy's transaction object
                # cost a request more than SQLite's own BEGIN and COMMIT.
                if self._dialect == "sqlite":
                    execute_text(conn, begin)  # PostgreSQL's driver begins by itself
                try:
                    yield _SQLUnitOfWork(conn, self._dialect, read_only, lock_on_read=False)
                except BaseException:
                    with suppress(Exception):  # the error that ended it is the one to see
                        end_transaction(conn, commit=False)
                    raise
                end_transaction(conn, commit=True)

    def snapshot(self) -> StoreSnapshot:
        with self.unit_of_work(read_only=True) as uow:
            return uow.snapshot()

    def read_workspace(self, workspace_id: str) -> Workspace | None:
        """The workspace as last committed, read by one statement outside any
        transaction (one statement is its own consistent snapshot): what a read
        of one workspace needs, without a transaction's two round trips."""
        if self._connection is not None:  # inside the host's transaction, as it sees it
            with self.unit_of_work(read_only=True) as uow:
                return uow.get_workspace(workspace_id)
        assert self._engine is not None
        try:  # what ``_translated`` does, without a context manager's cost on this path
            row = read_one(self._engine, GET_WORKSPACE, {"ws": workspace_id})
        except sa_exc.SQLAlchemyError as e:
            _raise_translated(e, self._secrets)
        return self._decoder.workspace(row) if row is not None else None

    def read_workspace_for(
        self, workspace_id: str, user: str
    ) -> tuple[Workspace, int, Member | None] | None:
        """The workspace, how many of its members are active and ``user``'s
        membership, by one statement outside any transaction (see ``read_workspace``)."""
        if self._connection is not None:
            with self.unit_of_work(read_only=True) as uow:
                ws = uow.get_workspace(workspace_id)
                if ws is None:
                    return None
                found = uow.members(workspace_id)
                active = sum(1 for m in found if m.is_active)
                return ws, active, next((m for m in found if m.user == user), None)
        assert self._engine is not None
        with _translated(self._secrets):
            row = read_one(self._engine, WORKSPACE_FOR, {"ws": workspace_id, "user": user})
        if row is None:
            return None
        decoder = self._decoder
        width = len(metadata.tables["wb_workspaces"].columns)
        ws = decoder.workspace(row[:width])
        member = row[width + 1 :]
        return ws, int(row[width]), decoder.members([member])[0] if member[0] is not None else None


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
    dbapi_conn = conn.connection.dbapi_connection
    if dbapi_conn is not None and dbapi_conn.in_transaction:
        return  # begun by the store on the driver; a statement through SQLAlchemy joins it
    execute_text(conn, conn.get_execution_options().get(_BEGIN_OPTION, "BEGIN"))


def _transactions_watched(conn: Connection) -> bool:
    """Whether the host sees statements or transactions (its own listeners for
    begin, commit or rollback): then they all go through SQLAlchemy."""
    if watched(conn):
        return True
    d = conn.dispatch if conn._has_events else conn.engine.dispatch
    return bool(d.commit or d.rollback or any(fn is not _sqlite_begin for fn in d.begin))


@contextmanager
def _translated(secrets: Sequence[str] = ()) -> Iterator[None]:
    """Driver errors become the library's, chained so the cause stays visible.

    The message is scrubbed of the password; a driver error that shows it is
    not chained (a host's traceback would print it).
    """
    try:
        yield
    except sa_exc.SQLAlchemyError as e:
        _raise_translated(e, secrets)


def _raise_translated(e: sa_exc.SQLAlchemyError, secrets: Sequence[str]) -> NoReturn:
    error = _library_error(e, secrets)
    leaks = _redacted(f"{e} {e!r}", secrets) != f"{e} {e!r}"
    raise error from (None if leaks else e)


def _library_error(e: sa_exc.SQLAlchemyError, secrets: Sequence[str]) -> StoreError | Conflict:
    """A driver error as the library's: a duplicate is ``Conflict``; a lock wait,
    a serialization failure or a deadlock ``StoreBusy`` (retry); the rest
    ``StoreError``."""
    if not isinstance(e, sa_exc.DBAPIError):
        return StoreError(f"the database failed: {_redacted(str(e), secrets)}")
    reason = _reason(e, secrets)
    if isinstance(e, sa_exc.IntegrityError):
        return Conflict(f"the change collides with stored data: {reason}")
    if not _retryable(e):
        return StoreError(f"the database failed: {reason}")
    if isinstance(e, sa_exc.OperationalError):
        return StoreBusy(f"the database is busy, retry: {reason}")
    return StoreBusy(f"concurrent change, retry: {reason}")


def _retryable(error: sa_exc.DBAPIError) -> bool:
    message = str(error.orig).lower()
    sqlstate = getattr(error.orig, "sqlstate", None)
    return sqlstate in ("40001", "40P01", "55P03") or "database is locked" in message


def _reason(error: sa_exc.DBAPIError, secrets: Sequence[str] = ()) -> str:
    text = str(error.orig).strip().splitlines()[0] if error.orig is not None else str(error)
    return _redacted(text, secrets)


def _secrets_of(url: URL) -> tuple[str, ...]:
    """The password of ``url`` (in its netloc or query), as written and URL-encoded."""
    found = [url.password] if isinstance(url.password, str) else []
    for key, value in url.query.items():
        if "password" in key.lower():
            found.extend([value] if isinstance(value, str) else value)
    return tuple({form for s in found if s for form in (s, quote(s, safe=""), quote_plus(s))})


def _shown(url: URL) -> str:
    """``url`` as text, password hidden (also one given as a query parameter)."""
    return _KEYWORD_PASSWORD.sub(r"\1***", url.render_as_string(hide_password=True))


def _redacted(text: str, secrets: Sequence[str] = ()) -> str:
    """``text`` with the known passwords, and anything shaped like one, as ``***``."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    text = _URL_PASSWORD.sub(r"\1***@", text)
    return _KEYWORD_PASSWORD.sub(r"\1***", text)
