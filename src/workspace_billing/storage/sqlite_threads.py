"""Per-thread SQLite connections for a store that opened its file itself
(``SQLStore.from_url``): what a request on SQLite costs is mostly Python around
the driver, and checking a connection out of SQLAlchemy's pool (the proxy, the
connection object, the reset on return) was the largest part of it.

Each thread that reads or writes keeps, for as long as it lives, one driver
connection for single-statement reads (in autocommit: a read holds no
transaction, so a writer or a checkpoint never waits for it) and one
SQLAlchemy connection for its units of work (begun with ``BEGIN IMMEDIATE``
on the driver, as the pool's were). They are set up as the pool's are
(``setup_sqlite_connection``: autocommit, WAL, foreign keys), never count
against the pool's size (a host with fifty worker threads does not exhaust
it), and are closed when their thread ends, at ``close``
(``SQLStore.dispose``) or when the store is collected.

A connection in use is never closed under its user: closing a SQLite
connection while another thread runs a statement on it crashes the process.
``close`` closes the idle ones and retires the busy ones, which their thread
closes when it is done with them; at interpreter exit, connections of threads
still running are left to the operating system. A process forked after using
one opens its own: SQLite connections must not cross a fork, and the child
never closes its parent's.

A host engine (``SQLStore(engine)``) may have connect listeners of its own (an
encryption key, functions): it keeps its pool. So does a store whose host
watches statements or transactions (``echo``, listeners), so that its
instrumentation sees them all.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Mapping
from contextlib import suppress
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from .driver import Prepared, Runner, _cursor_run
from .engine import configure_sqlite, setup_sqlite_connection

__all__ = ["SQLiteThreads", "Writer"]

_LEFT_BY_PARENT: list[object] = []
"""Connections a forked child inherited: kept, never closed nor collected there
(closing one could disturb the parent's)."""


class _Held:
    """One thread's connection and whether it is in use or retired (to be closed
    once free), both changed under the owner's lock."""

    __slots__ = ("__weakref__", "busy", "conn", "pid", "retired")

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.pid = os.getpid()
        self.busy = True  # taken by the thread that opened it
        self.retired = False


class Writer(_Held):
    """One thread's connection for units of work, and the runner on it."""

    __slots__ = ("runner",)

    def __init__(self, conn: Connection) -> None:
        super().__init__(conn)
        self.runner = Runner(conn, is_watched=False)


class SQLiteThreads:
    """The per-thread connections of one store (see the module's docstring)."""

    def __init__(self, engine: Engine, connect_args: Mapping[str, Any]) -> None:
        cargs, cparams = engine.dialect.create_connect_args(engine.url)
        options = {**cparams, **connect_args, "check_same_thread": False}
        self._connect = partial(engine.dialect.loaded_dbapi.connect, *cargs, **options)
        # The units of work's connections come from an engine of their own, of
        # the same dialect, that pools nothing: closing one closes its file.
        self._engine = sa.create_engine(engine.url, creator=self._connect, poolclass=NullPool)
        configure_sqlite(self._engine)
        self._local = threading.local()
        self._all: weakref.WeakSet[_Held] = weakref.WeakSet()
        self._lock = threading.Lock()
        _INSTANCES.add(self)

    @property
    def engine(self) -> Engine:
        """The engine the units of work's connections come from."""
        return self._engine

    def read_one(self, engine: Engine, prepared: Prepared, values: Mapping[str, Any]) -> Any:
        """The first row of one statement, on this thread's read connection."""
        reader = self._take("reader")
        if reader is None:
            reader = self._keep("reader", _Held(self._opened()))
        compiled = prepared.compiled(engine)
        try:
            cursor = _cursor_run(reader.conn, engine.dialect, self._lost_reader, compiled.sql,
                                 compiled.params(values), many=False)  # fmt: skip
            try:
                return cursor.fetchone()
            finally:
                cursor.close()  # the statement ends here: no read lock outlives the call
        finally:
            self._give_back(reader, broken=False)

    def take_writer(self) -> Writer | None:
        """This thread's connection for a unit of work, marked busy; None when the
        thread is in one already (a unit of work opened inside another)."""
        held: Writer | None = getattr(self._local, "writer", None)
        if held is not None:
            with self._lock:
                if not held.retired and held.pid == os.getpid():
                    if held.busy:
                        return None
                    held.busy = True
                    return held
        writer = Writer(self._engine.connect())
        self._keep("writer", writer)
        return writer

    def give_back(self, writer: Writer) -> None:
        """End ``writer``'s use; one left in a transaction or invalidated (its
        rollback failed, its file went away) is closed, and its thread opens anew."""
        try:
            broken = writer.conn.invalidated or writer.runner.dbapi.in_transaction
        except Exception:  # noqa: BLE001 - closed under it: nothing left to ask it
            broken = True
        self._give_back(writer, broken=broken)

    def close(self) -> None:
        """Close every thread's idle connections, and retire those in use (closed
        by their thread when it is done); each thread's next use opens anew."""
        with self._lock:
            held, self._all = list(self._all), weakref.WeakSet()
            idle = [one for one in held if not one.busy]
            for one in held:
                one.retired = True
        for one in idle:
            if one.pid == os.getpid():
                _close(one.conn)
        self._engine.dispose()

    def _take(self, slot: str) -> _Held | None:
        """This thread's connection in ``slot``, marked busy; None when there is
        none to use (never opened, retired, or its parent process's)."""
        held: _Held | None = getattr(self._local, slot, None)
        if held is None:
            return None
        with self._lock:
            if held.retired or held.busy or held.pid != os.getpid():
                return None
            held.busy = True
        return held

    def _give_back(self, held: _Held, *, broken: bool) -> None:
        with self._lock:
            held.busy = False
            held.retired = held.retired or broken
            closing = held.retired
        if closing and held.pid == os.getpid():
            _close(held.conn)

    def _keep(self, slot: str, new: _Held) -> _Held:
        """``new`` as this thread's connection in ``slot``, busy; the one it replaces
        is closed by its finalizer (in a forked child: kept, not closed)."""
        with self._lock:
            self._all.add(new)
        # Closed when the thread ends: its locals go, and the holder with them.
        # Not at interpreter exit: a thread still running may be using it.
        weakref.finalize(new, _close_unless_forked, new.conn, new.pid).atexit = False
        setattr(self._local, slot, new)
        return new

    def _opened(self) -> Any:
        dbapi = self._engine.dialect.loaded_dbapi
        try:
            conn = self._connect()
        except dbapi.Error as e:  # as ``engine.connect()`` raises it: translated
            raise sa_exc.DBAPIError.instance(None, None, e, dbapi.Error) from e
        setup_sqlite_connection(conn, None)
        return conn

    def _lost_reader(self, _error: BaseException) -> None:
        """A read found this thread's connection lost: close it once free."""
        with self._lock:
            self._local.reader.retired = True

    def _after_fork(self) -> None:
        # A lock another thread of the parent held at the fork stays held here.
        self._lock = threading.Lock()
        self._all = weakref.WeakSet()


_INSTANCES: weakref.WeakSet[SQLiteThreads] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for threads in list(_INSTANCES):
        threads._after_fork()


os.register_at_fork(after_in_child=_reset_after_fork)


def _close_unless_forked(conn: Any, pid: int) -> None:
    if pid == os.getpid():
        _close(conn)
    else:
        _LEFT_BY_PARENT.append(conn)


def _close(conn: Any) -> None:
    with suppress(Exception):  # closing is all that is left to do with it
        conn.close()
