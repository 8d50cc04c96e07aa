"""Per-thread SQLite connections for a store that opened its file itself
(``SQLStore.from_url``): what a request on SQLite costs is mostly Python around
the driver, and checking a connection out of SQLAlchemy's pool (the proxy, the
connection object, the reset on return) was the largest part of it.

Each thread that reads or writes keeps, for as long as it lives, one driver
connection for single-statement reads (in autocommit: a read holds no
transaction, so a writer or a checkpoint never waits for it) and one
SQLAlchemy connection for its units of work (begun with ``BEGIN IMMEDIATE``
on the driver, as the pool's were). They are set up as the pool's are
(``setup``: autocommit, WAL, foreign keys), never count against the pool's
size (a host with fifty worker threads does not exhaust it), and are closed
when their thread ends, at ``close`` (``SQLStore.dispose``) or when the store
is collected. A process forked after using one opens its own: SQLite
connections must not cross a fork, and the child never closes its parent's.

A host engine (``SQLStore(engine)``) may have connect listeners of its own (an
encryption key, functions): it keeps its pool. So does a store whose host
watches statements or transactions (``echo``, listeners), so that its
instrumentation sees them all.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Mapping
from contextlib import suppress
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from .driver import Prepared, Runner, _cursor_run

__all__ = ["SQLiteThreads", "Writer"]

_LEFT_BY_PARENT: list[object] = []
"""Connections a forked child inherited: kept, never closed nor collected there
(closing one could disturb the parent's)."""


class Writer:
    """One thread's connection for units of work, and the runner on it."""

    __slots__ = ("__weakref__", "busy", "conn", "generation", "pid", "runner")

    def __init__(self, conn: Connection, generation: int) -> None:
        self.conn = conn
        self.runner = Runner(conn, is_watched=False)
        self.generation = generation
        self.pid = os.getpid()
        self.busy = False
        """In a unit of work: a nested one on the same thread takes the pool's."""


class _Reader:
    __slots__ = ("__weakref__", "conn", "generation", "pid")

    def __init__(self, conn: Any, generation: int) -> None:
        self.conn = conn
        self.generation = generation
        self.pid = os.getpid()


class SQLiteThreads:
    """The per-thread connections of one store (see the module's docstring)."""

    def __init__(
        self,
        engine: Engine,
        setup: Callable[[Any, Any], None],
        connect_args: Mapping[str, Any],
    ) -> None:
        cargs, cparams = engine.dialect.create_connect_args(engine.url)
        options = {**cparams, **connect_args, "check_same_thread": False}
        self._connect = partial(engine.dialect.loaded_dbapi.connect, *cargs, **options)
        self._setup = setup
        # The units of work's connections come from an engine of their own, of
        # the same dialect, that pools nothing: closing one closes its file.
        self._engine = sa.create_engine(engine.url, creator=self._opened, poolclass=NullPool)
        self._local = threading.local()
        self._all: weakref.WeakSet[Writer | _Reader] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._generation = 0
        """Grows at each ``close``: a thread's connection of an earlier one is closed."""

    @property
    def engine(self) -> Engine:
        """The engine the units of work's connections come from (set up like the
        store's: ``configure_sqlite``)."""
        return self._engine

    def read_one(self, engine: Engine, prepared: Prepared, values: Mapping[str, Any]) -> Any:
        """The first row of one statement, on this thread's read connection."""
        reader: _Reader | None = getattr(self._local, "reader", None)
        if reader is None or reader.generation != self._generation or reader.pid != os.getpid():
            reader = self._keep("reader", _Reader(self._opened(), self._generation), reader)
        compiled = prepared.compiled(engine)
        cursor = _cursor_run(reader.conn, engine.dialect, self._forget_reader, compiled.sql,
                             compiled.params(values), many=False)  # fmt: skip
        try:
            return cursor.fetchone()
        finally:
            cursor.close()  # the statement ends here: no read lock outlives the call

    def take_writer(self) -> Writer | None:
        """This thread's connection for a unit of work, marked busy; None when the
        thread is in one already (a unit of work opened inside another)."""
        writer: Writer | None = getattr(self._local, "writer", None)
        if writer is None or writer.generation != self._generation or writer.pid != os.getpid():
            writer = self._keep("writer", Writer(self._engine.connect(), self._generation), writer)
        elif writer.busy:
            return None
        writer.busy = True
        return writer

    def give_back(self, writer: Writer) -> None:
        """End ``writer``'s use; one left in a transaction or invalidated (its
        rollback failed, its file went away) is closed, and the next opens anew."""
        writer.busy = False
        conn = writer.conn
        if conn.invalidated or writer.runner.dbapi.in_transaction:
            self._local.writer = None
            _close(conn)

    def close(self) -> None:
        """Close every thread's connections; the next use opens new ones."""
        with self._lock:
            held, self._all = list(self._all), weakref.WeakSet()
            self._generation += 1
        for one in held:
            if one.pid == os.getpid():
                _close(one.conn)
        self._engine.dispose()

    def _keep(self, slot: str, new: Writer | _Reader, old: Writer | _Reader | None) -> Any:
        del old  # closed by its finalizer (in a forked child: kept, not closed)
        with self._lock:
            self._all.add(new)
        # Closed when the thread ends: its locals go, and the holder with them.
        weakref.finalize(new, _close_unless_forked, new.conn, new.pid)
        setattr(self._local, slot, new)
        return new

    def _opened(self) -> Any:
        conn = self._connect()
        self._setup(conn, None)
        return conn

    def _forget_reader(self, _error: BaseException) -> None:
        self._local.reader = None


def _close_unless_forked(conn: Any, pid: int) -> None:
    if pid == os.getpid():
        _close(conn)
    else:
        _LEFT_BY_PARENT.append(conn)


def _close(conn: Any) -> None:
    with suppress(Exception):  # closing is all that is left to do with it
        conn.close()
