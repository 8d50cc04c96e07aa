"""Members: add, remove, reactivate, change a role (R5, R8, R10, R11)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

import attrs

from ..errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    SeatLimitReached,
)
from ..events import Event, EventType
from ..permissions import require_manager
from ..renewal import (
    Change,
)
from ..workspace import Member, MemberStatus, Role, Workspace
from .base import ServiceBase
from .checks import active_count, identifier, role_of


class MemberActions(ServiceBase):
    # ---------------------------------------------------------------- members

    def add_member(
        self, workspace_id: str, *, actor: str, user: str, role: Role | str = Role.MEMBER
    ) -> Member:
        """Add a member in a free seat (R8, R10); ``SeatLimitReached`` when none is free."""
        user = identifier("user", user)
        role = role_of(role)
        now = self._clock.now()

        def add(ws: Workspace, members: list[Member]) -> Change:
            require_manager(ws.id, members, actor)
            existing = _find(members, user)
            if existing is not None:
                hint = "" if existing.is_active else ": reactivate them instead"
                raise Conflict(f"{user!r} is already a member of {ws.id!r}{hint}")
            _require_seat(ws, members)
            seq = ws.member_seq + 1
            member = Member(ws.id, user, role, MemberStatus.ACTIVE, now, now, seq)
            event = _member_event(
                EventType.MEMBER_ADDED, ws, member, actor, now, after={"role": role}
            )
            return Change(attrs.evolve(ws, member_seq=seq), (member,), (event,))

        return _member_named(self._member_action(workspace_id, add), user)

    def remove_member(self, workspace_id: str, *, actor: str, user: str) -> None:
        """Remove a member for good, freeing their seat; the owner cannot be removed."""
        now = self._clock.now()

        def remove(ws: Workspace, members: list[Member]) -> Change:
            require_manager(ws.id, members, actor)
            member = _member(ws, members, user)
            if member.is_owner:
                raise InvalidRequest("the owner cannot be removed from their workspace")
            before = {"role": member.role.value, "status": member.status.value}
            event = _member_event(EventType.MEMBER_REMOVED, ws, member, actor, now, before=before)
            return Change(ws, events=(event,), removed=(member.user,))

        self._member_action(workspace_id, remove)

    def reactivate_member(self, workspace_id: str, *, actor: str, user: str) -> Member:
        """Bring back a deactivated member into a free seat; they count as just added (R11)."""
        now = self._clock.now()

        def reactivate(ws: Workspace, members: list[Member]) -> Change:
            require_manager(ws.id, members, actor)
            member = _member(ws, members, user)
            if member.is_active:
                raise Conflict(f"{user!r} is already active in {ws.id!r}")
            _require_seat(ws, members)
            seq = ws.member_seq + 1
            back = attrs.evolve(
                member, status=MemberStatus.ACTIVE, active_since=now, seq=seq, deactivated_at=None
            )
            event = _member_event(
                EventType.MEMBER_REACTIVATED, ws, back, actor, now,
                before={"status": "deactivated"}, after={"status": "active"},
            )  # fmt: skip
            return Change(attrs.evolve(ws, member_seq=seq), (back,), (event,))

        return _member_named(self._member_action(workspace_id, reactivate), user)

    def change_role(self, workspace_id: str, *, actor: str, user: str, role: Role | str) -> Member:
        """Make a member an admin or a plain member; the owner's role never changes."""
        role = role_of(role)
        now = self._clock.now()

        def change(ws: Workspace, members: list[Member]) -> Change:
            require_manager(ws.id, members, actor)
            member = _member(ws, members, user)
            if member.is_owner:
                raise InvalidRequest("the owner's role cannot change")
            if member.role is role:
                return Change(ws)
            changed = attrs.evolve(member, role=role)
            event = _member_event(
                EventType.ROLE_CHANGED, ws, changed, actor, now,
                before={"role": member.role.value}, after={"role": role.value},
            )  # fmt: skip
            return Change(ws, (changed,), (event,))

        return _member_named(self._member_action(workspace_id, change), user)


def _member_named(members: Iterable[Member], user: str) -> Member:
    member = _find(members, user)
    assert member is not None
    return member


def _find(members: Iterable[Member], user: str) -> Member | None:
    return next((m for m in members if m.user == user), None)


def _member(ws: Workspace, members: Iterable[Member], user: str) -> Member:
    member = _find(members, user)
    if member is None:
        raise NotFound(f"{user!r} is not a member of {ws.id!r}")
    return member


def _require_seat(ws: Workspace, members: Iterable[Member]) -> None:
    used = active_count(members)
    if used >= ws.subscription.seats:
        raise SeatLimitReached(seats_used=used, seats=ws.subscription.seats)


def _member_event(
    kind: EventType,
    ws: Workspace,
    member: Member,
    actor: str,
    now: datetime,
    *,
    before: Mapping[str, str] | None = None,
    after: Mapping[str, str] | None = None,
) -> Event:
    return Event(
        type=kind,
        workspace_id=ws.id,
        at=now,
        actor=actor,
        subject=member.user,
        before=dict(before or {}),
        after=dict(after or {}),
        data={"seq": member.seq},
    )
