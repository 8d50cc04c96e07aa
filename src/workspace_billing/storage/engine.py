"""What every SQL user of the library shares: SQLite made transactional, and driver
errors turned into the library's with any password scrubbed.

The SQL store and the local payment provider (its tables in the same
database) both open engines and run transactions; they do it the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn
from urllib.parse import quote, quote_plus

from sqlalchemy import event as sa_event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, Engine

from ..errors import Conflict, StoreBusy, StoreError
from .driver import execute_text, watched

__all__ = [
    "BEGIN_OPTION",
    "SQLITE_BUSY_TIMEOUT_S",
    "configure_sqlite",
    "raise_translated",
    "redacted",
    "secrets_of",
    "setup_sqlite_connection",
    "shown",
    "transactions_watched",
    "translated",
]

BEGIN_OPTION = "workspace_billing_begin"
"""The execution option naming the statement that begins a SQLite transaction
(``BEGIN IMMEDIATE`` for a writer)."""
SQLITE_BUSY_TIMEOUT_S = 30.0
_URL_PASSWORD = re.compile(r"(://[^/\s:@]*:)[^\s@/]*@")  # scheme://user:PASSWORD@host
_KEYWORD_PASSWORD = re.compile(r"(password\s*=\s*)('[^']*'|[^\s&]+)", re.IGNORECASE)


def configure_sqlite(engine: Engine) -> None:
    """Make pysqlite run real transactions, and writers take the lock at BEGIN.

    The driver's own transaction handling starts transactions lazily and never
    for reads; the SQLAlchemy-documented fix is to switch it off and emit
    BEGIN ourselves. Installed once per engine. How long a writer waits for the
    lock is the driver's ``timeout`` connect argument (30 s from ``from_url``).
    """
    if sa_event.contains(engine, "connect", setup_sqlite_connection):
        return
    sa_event.listen(engine, "connect", setup_sqlite_connection)
    sa_event.listen(engine, "begin", _sqlite_begin)


def setup_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    """Autocommit (the store sends ``BEGIN`` itself), WAL, ``synchronous=NORMAL``,
    foreign keys: every SQLite connection the library opens."""
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
    execute_text(conn, conn.get_execution_options().get(BEGIN_OPTION, "BEGIN"))


def transactions_watched(bind: Connection | Engine) -> bool:
    """Whether the host sees statements or transactions (its own listeners for
    begin, commit or rollback): then they all go through SQLAlchemy."""
    if watched(bind):
        return True
    if isinstance(bind, Engine):
        d = bind.dispatch
    else:
        d = bind.dispatch if bind._has_events else bind.engine.dispatch
    return bool(d.commit or d.rollback or any(fn is not _sqlite_begin for fn in d.begin))


@contextmanager
def translated(secrets: Sequence[str] = ()) -> Iterator[None]:
    """Driver errors become the library's, chained so the cause stays visible.

    The message is scrubbed of the password; a driver error that shows it is
    not chained (a host's traceback would print it).
    """
    try:
        yield
    except sa_exc.SQLAlchemyError as e:
        raise_translated(e, secrets)


def raise_translated(e: sa_exc.SQLAlchemyError, secrets: Sequence[str]) -> NoReturn:
    error = _library_error(e, secrets)
    leaks = redacted(f"{e} {e!r}", secrets) != f"{e} {e!r}"
    raise error from (None if leaks else e)


def _library_error(e: sa_exc.SQLAlchemyError, secrets: Sequence[str]) -> StoreError | Conflict:
    """A driver error as the library's: a duplicate is ``Conflict``; a lock wait,
    a serialization failure or a deadlock ``StoreBusy`` (retry); the rest
    ``StoreError``."""
    if not isinstance(e, sa_exc.DBAPIError):
        return StoreError(f"the database failed: {redacted(str(e), secrets)}")
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
    return redacted(text, secrets)


def secrets_of(url: URL) -> tuple[str, ...]:
    """The password of ``url`` (in its netloc or query), as written and URL-encoded."""
    found = [url.password] if isinstance(url.password, str) else []
    for key, value in url.query.items():
        if "password" in key.lower():
            found.extend([value] if isinstance(value, str) else value)
    return tuple({form for s in found if s for form in (s, quote(s, safe=""), quote_plus(s))})


def shown(url: URL) -> str:
    """``url`` as text, password hidden (also one given as a query parameter)."""
    return _KEYWORD_PASSWORD.sub(r"\1***", url.render_as_string(hide_password=True))


def redacted(text: str, secrets: Sequence[str] = ()) -> str:
    """``text`` with the known passwords, and anything shaped like one, as ``***``."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    text = _URL_PASSWORD.sub(r"\1***@", text)
    return _KEYWORD_PASSWORD.sub(r"\1***", text)
