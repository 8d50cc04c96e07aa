"""Input checks, lookups and idempotency keys shared by every part of Billing.

All pure but ``get_workspace``, which reads through the unit of work it is
given: a refusal raised here happens before anything is written (R17).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

from ..catalog import Catalog, Plan, SeatFloor
from ..errors import InvalidRequest, NotFound
from ..ports import UnitOfWork
from ..workspace import Member, Role, Workspace, active_count

MAX_ID = 64
"""Workspace ids: the column is 64 characters."""
MAX_REF = 255
"""User ids and every other identifier."""
MAX_NAME = 200
MAX_MESSAGE = 5000
MAX_URL = 2000
MAX_PAGE = 10_000
"""The most rows one call reads or claims (``events``, sweep batches, pages)."""
MAX_CURSOR = 2**63 - 1
"""Event cursors are 64-bit integers in every store."""


def _unstorable(value: str, *, control: bool) -> str | None:
    """Why no store could keep ``value`` the same way, or None.

    Lone surrogates cannot be encoded as UTF-8 (SQL stores would fail), NUL
    cannot be stored by PostgreSQL; identifiers refuse every control character
    (they end up in logs, URLs and idempotency keys), text keeps tabs and
    newlines. The in-memory store applies the same rule, so a host's tests
    fail where production would.
    """
    if value.isascii() and value.isprintable():  # the usual id, at once: none of the above
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode text (a lone surrogate)"
    if "\x00" in value:
        return "contains a NUL character"
    if control and any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in value):
        return "contains a control character"
    return None


def get_workspace(uow: UnitOfWork, workspace_id: str, *, for_update: bool = False) -> Workspace:
    """The workspace, or ``NotFound``; an id no workspace can have is not looked up."""
    check_workspace_id(workspace_id)
    return found(workspace_id, uow.get_workspace(workspace_id, for_update=for_update))


def check_workspace_id(workspace_id: object) -> None:
    """``InvalidRequest`` for an id that is not a string, ``NotFound`` for one no
    workspace can have: such ids are never looked up."""
    if not isinstance(workspace_id, str):
        raise InvalidRequest(
            f"a workspace id is a string, not {type(workspace_id).__name__}", code="invalid_id"
        )
    if len(workspace_id) > MAX_ID or _unstorable(workspace_id, control=True):
        raise NotFound("no such workspace: the id is not one a workspace can have")


def plain_id(value: object) -> bool:
    """Whether ``value`` is an id a store can look up as given (a member's user id,
    an actor): a string of at most 255 characters without control characters.
    Other values name no member: the members are then read whole."""
    return isinstance(value, str) and len(value) <= MAX_REF and not _unstorable(value, control=True)


def found(workspace_id: str, ws: Workspace | None) -> Workspace:
    """``ws``, or ``NotFound`` for the id that found nothing."""
    if ws is None:
        raise NotFound(f"no workspace {workspace_id!r}")
    return ws


def role_of(role: Role | str) -> Role:
    if not isinstance(role, str):
        raise InvalidRequest(
            f"a role is 'admin' or 'member', not {type(role).__name__}", code="unknown_role"
        )
    try:
        parsed = Role(role)
    except ValueError:
        raise InvalidRequest(
            f"unknown role {role!r}: use 'admin' or 'member'", code="unknown_role"
        ) from None
    if parsed is Role.OWNER:
        raise InvalidRequest(
            "a workspace has one owner, set when it is created", code="role_not_assignable"
        )
    return parsed


def identifier(what: str, value: object) -> str:
    """An id the host chose (workspace, user, operator): 1 to 255 characters
    (64 for a workspace), not blank, no control character, valid Unicode."""
    limit = MAX_ID if what == "workspace_id" else MAX_REF
    return _checked_string(what, value, limit, control=True, code="invalid_id")


def text(what: str, value: object, limit: int) -> str:
    """Free text (a name, a message, a URL): not blank, at most ``limit``
    characters, valid Unicode without NUL."""
    return _checked_string(what, value, limit, control=False, code="invalid_text")


def _checked_string(what: str, value: object, limit: int, *, control: bool, code: str) -> str:
    """The one rule for strings a store keeps (docs/integration.md's table)."""
    if not isinstance(value, str) or not value.strip():
        shown = repr(value) if isinstance(value, str) else type(value).__name__
        raise InvalidRequest(f"{what} must be a non-empty string, not {shown}", code=code)
    if len(value) > limit:
        raise InvalidRequest(f"{what} is at most {limit} characters", code=code)
    problem = _unstorable(value, control=control)
    if problem:
        raise InvalidRequest(f"{what} {problem}", code=code)
    return value


def count(what: str, value: object, *, least: int = 1, most: int = MAX_PAGE) -> int:
    """A whole number in ``least..most`` (a limit, a batch or page size)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(
            f"{what} must be a whole number, not {type(value).__name__}", code="invalid_number"
        )
    if not least <= value <= most:
        raise InvalidRequest(
            f"{what} must be between {least} and {most}, not {value}", code="invalid_number"
        )
    return value


def flag(what: str, value: object, *, optional: bool = False) -> bool | None:
    """``True`` or ``False`` (or ``None`` when ``optional``): never a truthy string."""
    if value is None and optional:
        return None
    if not isinstance(value, bool):
        allowed = "True, False or None" if optional else "True or False"
        raise InvalidRequest(f"{what} must be {allowed}, not {value!r}", code="invalid_flag")
    return value


def intent_key(ws: Workspace, action: str, *parts: object) -> str:
    """An idempotency key for a provider write: the same intent at the same
    workspace version gives the same key, so a retried request never charges twice."""
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:24]
    return f"wb:{ws.id}:{ws.version}:{action}:{digest}"


def iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


def check_seats(
    catalog: Catalog, plan: Plan, seats: object, members: Iterable[Member], *, floor: bool = True
) -> int:
    """A seat count the plan allows (at least the owner's seat, at most
    ``max_seats``; not below the seats in use when the catalog sets that floor)."""
    if isinstance(seats, bool) or not isinstance(seats, int):
        raise InvalidRequest(f"seats must be a whole number, not {seats!r}", code="seats_not_whole")
    if seats < 1:
        raise InvalidRequest(
            "seats must be at least 1: the owner holds a seat", code="seats_below_minimum"
        )
    if seats > plan.max_seats:
        raise InvalidRequest(
            f"at most {plan.max_seats} seats can be bought on {plan.code!r}; "
            "contact sales for more",
            code="seats_above_maximum",
            max_seats=plan.max_seats,
        )
    used = active_count(members)
    if floor and catalog.seat_floor is SeatFloor.SEATS_IN_USE and seats < used:
        raise InvalidRequest(
            f"{used} members are active: remove members before going below {used} seats",
            code="seats_below_in_use",
            seats_used=used,
        )
    return seats
