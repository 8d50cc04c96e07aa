"""What each part of the SQL unit of work is given: ``_SQLUnitOfWork`` (``sql_uow``)
is one class mixed from parts kept in modules of their own (events, notices,
invitations), as one module would be over its size limit."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from .driver import Runner
from .rows import Codec

__all__ = ["UnitOfWorkPart"]


class UnitOfWorkPart:
    """The connection, its runner, the dialect and its codec, and whether the unit
    of work may write; the unit of work sets them."""

    _conn: Connection
    _run: Runner
    _dialect: str
    _codec: Codec
    _read_only: bool

    def _write(self) -> None:
        if self._read_only:
            raise RuntimeError("this unit of work is read-only")
