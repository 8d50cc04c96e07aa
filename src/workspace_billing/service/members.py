"""Members: add, remove, reactivate, change a role (R5, R8, R10, R11).

Each action is a pure decision (``add``, ``remove``, ``reactivate``,
``change_role``) run by one locked transaction: the seat check and the insert
cannot race (R8), and a refusal rolls back with nothing written (R17). A seat
is free when the active members and the pending invitations leave one
(``invitation.require_free_seat``): adding and reactivating count both under
the workspace's lock, in one statement where the store offers ``seats_for``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import partial

import attrs

from ..errors import Conflict, InvalidRequest, NotFound
from ..events import Event, EventType
from ..invitation import require_free_seat
from ..permissions import require_manager
from ..renewal import Change
from ..workspace import Member, MemberStatus, Role, Workspace
from .base import ServiceBase
from .checks import identifier, role_of


class MemberActions(ServiceBase):
    def add_member(
        self, workspace_id: str, *, actor: str, user: str, role: Role | str = Role.MEMBER
    ) -> Member:
        """Add a member in a free seat (R8, R10); ``SeatLimitReached`` when none is free.

        ``PermissionDenied`` unless ``actor`` is an active owner or admin (R5);
        ``Conflict`` when ``user`` is already a member (reactivate a deactivated
        one instead); ``InvalidRequest`` for a malformed user or role.
        """
        user = identifier("user", user)
        decide = partial(add, actor=actor, user=user, role=role_of(role), now=self._clock.now())
        return self._seat_action(workspace_id, decide, needs=(actor, user)).members[0]

    def remove_member(self, workspace_id: str, *, actor: str, user: str) -> None:
        """Remove a member for good, freeing their seat; the owner cannot be removed.

        ``NotFound`` when ``user`` is not a member; ``InvalidRequest`` for the owner.
        """
        decide = partial(remove, actor=actor, user=user, now=self._clock.now())
        self._member_action(workspace_id, decide, needs=(actor, user))

    def reactivate_member(self, workspace_id: str, *, actor: str, user: str) -> Member:
        """Bring back a deactivated member into a free seat; they count as just added (R11).

        ``SeatLimitReached`` when no seat is free (pending invitations hold theirs);
        ``Conflict`` when already active.
        """
        decide = partial(reactivate, actor=actor, user=user, now=self._clock.now())
        return self._seat_action(workspace_id, decide, needs=(actor, user)).members[0]

    def change_role(self, workspace_id: str, *, actor: str, user: str, role: Role | str) -> Member:
        """Make a member an admin or a plain member; the owner's role never changes."""
        decide = partial(change_role, actor=actor, user=user, role=role_of(role),
                         now=self._clock.now())  # fmt: skip
        return member_named(self._member_action(workspace_id, decide, needs=(actor, user)), user)


# ----------------------------------------------------------------- decisions


def add(
    ws: Workspace,
    members: list[Member],
    held: int,
    *,
    actor: str,
    user: str,
    role: Role,
    now: datetime,
) -> Change:
    """R8: a new active member in a free seat, the newest for R11. ``members`` holds at
    least the actor's and ``user``'s memberships; ``held``, the seats held now."""
    require_manager(ws.id, members, actor)
    existing = find(members, user)
    if existing is not None:
        hint = "" if existing.is_active else ": reactivate them instead"
        raise Conflict(f"{user!r} is already a member of {ws.id!r}{hint}", code="already_member",
                       active=existing.is_active)  # fmt: skip
    require_free_seat(ws, held)
    seq = ws.member_seq + 1
    member = Member(ws.id, user, role, MemberStatus.ACTIVE, now, now, seq)
    event = member_event(EventType.MEMBER_ADDED, ws, member, actor, now, after={"role": role})
    return Change(attrs.evolve(ws, member_seq=seq), (member,), (event,))


def remove(ws: Workspace, members: list[Member], *, actor: str, user: str, now: datetime) -> Change:
    """The member leaves for good and frees their seat; never the owner."""
    require_manager(ws.id, members, actor)
    member = member_of(ws, members, user)
    if member.is_owner:
        raise InvalidRequest(
            "the owner cannot be removed from their workspace", code="owner_cannot_leave"
        )
    before = {"role": member.role.value, "status": member.status.value}
    event = member_event(EventType.MEMBER_REMOVED, ws, member, actor, now, before=before)
    return Change(ws, events=(event,), removed=(member.user,))


def reactivate(
    ws: Workspace, members: list[Member], held: int, *, actor: str, user: str, now: datetime
) -> Change:
    """A deactivated member back in a free seat, renewed as the newest for R11
    (``members`` and ``held`` as for ``add``)."""
    require_manager(ws.id, members, actor)
    member = member_of(ws, members, user)
    if member.is_active:
        raise Conflict(f"{user!r} is already active in {ws.id!r}", code="already_active")
    require_free_seat(ws, held)
    seq = ws.member_seq + 1
    back = attrs.evolve(
        member, status=MemberStatus.ACTIVE, active_since=now, seq=seq, deactivated_at=None
    )
    event = member_event(
        EventType.MEMBER_REACTIVATED, ws, back, actor, now,
        before={"status": "deactivated"}, after={"status": "active"},
    )  # fmt: skip
    return Change(attrs.evolve(ws, member_seq=seq), (back,), (event,))


def change_role(
    ws: Workspace, members: list[Member], *, actor: str, user: str, role: Role, now: datetime
) -> Change:
    """Admin or member; asking for the role a member has records nothing."""
    require_manager(ws.id, members, actor)
    member = member_of(ws, members, user)
    if member.is_owner:
        raise InvalidRequest("the owner's role cannot change", code="owner_role_fixed")
    if member.role is role:
        return Change(ws)
    changed = attrs.evolve(member, role=role)
    event = member_event(
        EventType.ROLE_CHANGED, ws, changed, actor, now,
        before={"role": member.role.value}, after={"role": role.value},
    )  # fmt: skip
    return Change(ws, (changed,), (event,))


def find(members: Iterable[Member], user: str) -> Member | None:
    return next((m for m in members if m.user == user), None)


def member_named(members: Iterable[Member], user: str) -> Member:
    """The member a successful action left behind (it is there by construction)."""
    member = find(members, user)
    assert member is not None
    return member


def member_of(ws: Workspace, members: Iterable[Member], user: str) -> Member:
    member = find(members, user)
    if member is None:
        raise NotFound(f"{user!r} is not a member of {ws.id!r}", code="not_a_member")
    return member


def member_event(
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
