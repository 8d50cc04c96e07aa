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
MAX_NAME = 200
MAX_MESSAGE = 5000


def get_workspace(uow: UnitOfWork, workspace_id: str, *, for_update: bool = False) -> Workspace:
    if not isinstance(workspace_id, str):
        raise InvalidRequest(f"a workspace id is a string, not {workspace_id!r}")
    ws = uow.get_workspace(workspace_id, for_update=for_update)
    if ws is None:
        raise NotFound(f"no workspace {workspace_id!r}")
    return ws


def role_of(role: Role | str) -> Role:
    try:
        parsed = Role(role)
    except ValueError:
        raise InvalidRequest(f"unknown role {role!r}: use 'admin' or 'member'") from None
    if parsed is Role.OWNER:
        raise InvalidRequest("a workspace has one owner, set when it is created")
    return parsed


def identifier(what: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"{what} must be a non-empty string, not {value!r}")
    if len(value) > MAX_ID and what == "workspace_id":
        raise InvalidRequest(f"{what} is at most {MAX_ID} characters")
    if len(value) > 255:
        raise InvalidRequest(f"{what} is at most 255 characters")
    return value


def text(what: str, value: object, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"{what} must be a non-empty string")
    if len(value) > limit:
        raise InvalidRequest(f"{what} is at most {limit} characters")
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
        raise InvalidRequest(f"seats must be a whole number, not {seats!r}")
    if seats < 1:
        raise InvalidRequest("seats must be at least 1: the owner holds a seat")
    if seats > plan.max_seats:
        raise InvalidRequest(
            f"at most {plan.max_seats} seats can be bought on {plan.code!r}; contact sales for more"
        )
    used = active_count(members)
    if floor and catalog.seat_floor is SeatFloor.SEATS_IN_USE and seats < used:
        raise InvalidRequest(
            f"{used} members are active: remove members before going below {used} seats"
        )
    return seats
