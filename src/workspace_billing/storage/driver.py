"""Statements run on the driver's own cursor: the store's request paths.

SQLAlchemy's handling of one execution (its execution context, events, result
object) cost more than the database's own work on a request: about 20 µs a
statement on SQLite, where the statement itself takes 3 to 8, and as much as
the round trip on PostgreSQL. The statements of the request paths are
therefore compiled once (per dialect, parameter style and schema map) and run
on the cursor of the DBAPI connection the unit of work holds, inside its
transaction. A driver error is wrapped the way SQLAlchemy wraps it, so the
store translates it like any other, and a lost connection is invalidated.

When the host watches statements (``echo``, or listeners for the execute,
cursor-execute or error events), they go through SQLAlchemy instead, so its
instrumentation sees every statement.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn, Protocol

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Dialect, Engine

__all__ = [
    "Prepared",
    "Rows",
    "Runner",
    "end_transaction",
    "execute",
    "execute_many",
    "execute_text",
    "read_one",
    "watched",
]

_COMPILED_LIMIT = 256
"""Compiled forms kept per statement: one a schema map, so it is bounded."""


class Rows(Protocol):
    """What both a DBAPI cursor and SQLAlchemy's result give: enough for the store."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> Sequence[Any]: ...


class Prepared:
    """A statement compiled once per dialect, parameter style and schema map.

    Columns are read and parameters bound raw (``rows.raw_columns``,
    ``rows.raw_param``): nothing is left for SQLAlchemy to process, so the SQL
    text and the parameters are all the driver needs. Values the statement
    carries itself (a literal compared with, a ``LIMIT``) are bound with the
    caller's.
    """

    def __init__(self, statement: sa.Executable) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, str, str], _Compiled] = {}
        self._last: tuple[Engine, _Compiled] | None = None

    def compiled(self, bind: Connection | Engine, key: _Key | None = None) -> _Compiled:
        """The SQL text and parameters for ``bind``'s dialect and schema map
        (``key``, when the caller has it)."""
        last = self._last
        if last is not None and last[0] is bind:  # an engine's options are fixed
            return last[1]
        found = self._compiled.get(key or compile_key(bind))
        if found is None:
            found = self._compile(bind)
        if isinstance(bind, Engine):
            self._last = (bind, found)
        return found

    def _compile(self, bind: Connection | Engine) -> _Compiled:
        translate = bind.get_execution_options().get("schema_translate_map") or {}
        if len(self._compiled) >= _COMPILED_LIMIT:
            self._compiled.clear()
        compiled = self.statement.compile(  # type: ignore[attr-defined]
            dialect=bind.dialect,
            schema_translate_map=translate or None,
            render_schema_translate=bool(translate),
        )
        if "POSTCOMPILE" in compiled.string:
            raise TypeError("a prepared statement cannot expand parameters when run")
        order = tuple(compiled.positiontup) if compiled.positiontup is not None else None
        fixed = {
            name: param.effective_value
            for param, name in compiled.bind_names.items()
            if param.value is not None or param.callable is not None
        }
        found = self._compiled[compile_key(bind)] = _Compiled(compiled.string, order, fixed)
        return found


_Key = tuple[str, str, str]


def compile_key(bind: Connection | Engine) -> _Key:
    """What a compiled statement depends on: the dialect, its parameter style, the
    schema map."""
    translate = bind.get_execution_options().get("schema_translate_map")
    dialect = bind.dialect
    shown = repr(sorted(translate.items(), key=repr)) if translate else ""
    return (dialect.name, dialect.paramstyle, shown)


class _Compiled:
    __slots__ = ("fixed", "order", "sql")

    def __init__(self, sql: str, order: tuple[str, ...] | None, fixed: dict[str, Any]) -> None:
        self.sql = sql
        self.order = order
        """The parameter names in order; None for a named parameter style."""
        self.fixed = fixed

    def params(self, values: Mapping[str, Any]) -> Any:
        if self.fixed:
            values = {**self.fixed, **values}
        if self.order is None:
            return dict(values)
        return tuple([values[name] for name in self.order])


def watched(bind: Connection | Engine) -> bool:
    """Whether the host sees statements: echo, or execute, cursor or error listeners."""
    if isinstance(bind, Connection):
        if bind._echo:  # the flag SQLAlchemy itself reads on every execution
            return True
        # A connection has listeners of its own only when some were added to it.
        d = bind.dispatch if bind._has_events else bind.engine.dispatch
    else:
        if bind._should_log_info():
            return True
        d = bind.dispatch
    return bool(
        d.before_cursor_execute
        or d.after_cursor_execute
        or d.before_execute
        or d.after_execute
        or bind.dialect.dispatch.handle_error
    )


class Runner:
    """``execute`` on one connection while a unit of work holds it: what it looks
    up for every statement (whether the host watches, the compiled forms' key)
    is looked up once."""

    __slots__ = ("_conn", "_dbapi", "_dialect", "_key", "_watched")

    def __init__(self, conn: Connection, *, is_watched: bool | None = None) -> None:
        self._conn = conn
        self._dialect = conn.dialect
        self._key = compile_key(conn)
        self._watched = watched(conn) if is_watched is None else is_watched
        self._dbapi: Any = None if self._watched else conn.connection.dbapi_connection

    def execute(self, prepared: Prepared, values: Mapping[str, Any]) -> Rows:
        conn = self._conn
        compiled = prepared.compiled(conn, self._key)
        params = compiled.params(values)
        if self._watched:
            return conn.exec_driver_sql(compiled.sql, params)
        cursor = None
        try:
            cursor = self._dbapi.cursor()
            cursor.execute(compiled.sql, params)
        except self._dialect.loaded_dbapi.Error as e:
            _raise_wrapped(e, self._dbapi, cursor, self._dialect, conn.invalidate,
                           compiled.sql, params)  # fmt: skip
        rows: Rows = cursor
        return rows

    @property
    def dbapi(self) -> Any:
        """The driver's connection (None when the host watches statements)."""
        return self._dbapi

    def begin(self, sql: str) -> None:
        """``BEGIN`` or ``BEGIN IMMEDIATE`` on the driver (SQLite)."""
        if self._watched:
            self._conn.exec_driver_sql(sql)
            return
        _cursor_run(self._dbapi, self._dialect, self._conn.invalidate, sql, (), many=False)


def execute(conn: Connection, prepared: Prepared, values: Mapping[str, Any]) -> Rows:
    """Run ``prepared`` with ``values`` on ``conn``, in its transaction if one is open."""
    compiled = prepared.compiled(conn)
    return _run(conn, compiled.sql, compiled.params(values), many=False)


def execute_many(conn: Connection, prepared: Prepared, rows: Sequence[Mapping[str, Any]]) -> int:
    """Run ``prepared`` once per row (the driver's ``executemany``); rows written."""
    compiled = prepared.compiled(conn)
    return _run(conn, compiled.sql, [compiled.params(row) for row in rows], many=True).rowcount


def execute_text(conn: Connection, sql: str) -> None:
    """Run a statement without parameters (``BEGIN IMMEDIATE``)."""
    _run(conn, sql, (), many=False)


def end_transaction(conn: Connection, *, commit: bool) -> None:
    """Commit or roll back the transaction begun on the driver; SQLAlchemy's, when a
    statement that went through it joined the transaction."""
    if conn.invalidated:
        return
    if conn.in_transaction():
        if commit:
            conn.commit()
        else:
            conn.rollback()
        return
    dbapi_conn = conn.connection.dbapi_connection
    assert dbapi_conn is not None
    dialect = conn.dialect
    try:
        if commit:
            dbapi_conn.commit()
        else:
            dbapi_conn.rollback()
    except dialect.loaded_dbapi.Error as e:
        lost = dialect.is_disconnect(e, dbapi_conn, None)
        if lost:
            conn.invalidate(e)
        raise sa_exc.DBAPIError.instance(
            "COMMIT" if commit else "ROLLBACK", None, e, dialect.loaded_dbapi.Error,
            connection_invalidated=lost, dialect=dialect,
        ) from e  # fmt: skip


def read_one(engine: Engine, prepared: Prepared, values: Mapping[str, Any]) -> Any:
    """The first row ``prepared`` reads, by one statement in its own transaction on a
    pooled connection (or None).

    No transaction is begun around it: on PostgreSQL the driver runs it in
    autocommit, which spares the ``BEGIN`` and the ``ROLLBACK`` (two round
    trips); SQLite connections are in autocommit already (the store sends
    ``BEGIN`` itself).
    """
    if watched(engine):
        with engine.connect() as conn, _autocommit(conn.connection.dbapi_connection, conn.dialect):
            return execute(conn, prepared, values).fetchone()
    compiled = prepared.compiled(engine)
    dialect = engine.dialect
    try:
        pooled = engine.raw_connection()
    except dialect.loaded_dbapi.Error as e:  # as ``engine.connect()`` raises it
        raise sa_exc.DBAPIError.instance(
            None, None, e, dialect.loaded_dbapi.Error, dialect=dialect
        ) from e
    try:
        dbapi_conn = pooled.dbapi_connection
        params = compiled.params(values)
        if dialect.name != "postgresql":
            return _cursor_run(
                dbapi_conn, dialect, pooled.invalidate, compiled.sql, params, many=False
            ).fetchone()
        with _autocommit(dbapi_conn, dialect):
            return _cursor_run(
                dbapi_conn, dialect, pooled.invalidate, compiled.sql, params, many=False
            ).fetchone()
    finally:
        pooled.close()


@contextmanager
def _autocommit(dbapi_conn: Any, dialect: Dialect) -> Iterator[None]:
    if dialect.name != "postgresql" or dbapi_conn is None:
        yield
        return
    dbapi_conn.autocommit = True
    try:
        yield
    finally:
        if not dbapi_conn.closed:
            dbapi_conn.autocommit = False


def _run(conn: Connection, sql: str, params: Any, *, many: bool) -> Rows:
    if watched(conn):  # a list of parameter sets is an executemany there too
        return conn.exec_driver_sql(sql, params)
    dbapi_conn = conn.connection.dbapi_connection
    assert dbapi_conn is not None
    cursor: Rows = _cursor_run(dbapi_conn, conn.dialect, conn.invalidate, sql, params, many=many)
    return cursor


def _cursor_run(
    dbapi_conn: Any,
    dialect: Dialect,
    invalidate: Callable[[BaseException], None],
    sql: str,
    params: Any,
    *,
    many: bool,
) -> Any:
    cursor = None
    try:
        cursor = dbapi_conn.cursor()  # a closed connection refuses here
        if many:
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)
    except dialect.loaded_dbapi.Error as e:
        _raise_wrapped(e, dbapi_conn, cursor, dialect, invalidate, sql, params)
    return cursor


def _raise_wrapped(
    e: Any,  # the driver's Error
    dbapi_conn: Any,
    cursor: Any,
    dialect: Dialect,
    invalidate: Callable[[BaseException], None],
    sql: str,
    params: Any,
) -> NoReturn:
    """Raise a driver error as SQLAlchemy raises it: the store translates it like any
    other; a lost connection is invalidated."""
    lost = dialect.is_disconnect(e, dbapi_conn, cursor)
    if lost:
        invalidate(e)
    raise sa_exc.DBAPIError.instance(
        sql, params, e, dialect.loaded_dbapi.Error, connection_invalidated=lost, dialect=dialect
    ) from e
