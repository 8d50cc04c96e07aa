"""Invitations: invite by email, list, revoke, accept (R5, R8, R10, R11).

An invitation holds a seat from the moment it is created until it is accepted,
revoked or expires (``invitation.py``), so each action runs, like the member
actions, as one transaction under the workspace's lock with the workspace's
members and invitations read there: inviting checks the seat and the email
against what is held at that instant, and accepting turns the invitation's
seat into the member's, with no second seat check that a concurrent add could
win. A refusal raises before anything is written (R17) and records nothing,
an expired invitation's refusal included: it held no seat from its
``expires_at`` on, and ``run_renewals`` records its expiry.

The pure decisions are at the end of the module.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

import attrs

from ..errors import Conflict, InvalidRequest, NotFound
from ..events import Event, EventType
from ..invitation import Invitation, invitation_event, normalized_email, pending, require_seat
from ..jsonable import iso
from ..permissions import require_manager
from ..renewal import Change
from ..workspace import Member, MemberStatus, Role, Workspace
from .base import ServiceBase
from .checks import MAX_ID, get_workspace, identifier, role_of
from .members import find, member_event


class InvitationActions(ServiceBase):
    def invite(
        self, workspace_id: str, *, actor: str, email: str, role: Role | str = Role.MEMBER
    ) -> Invitation:
        """Invite ``email`` to join as a member or an admin; the invitation holds a seat
        until it is accepted, revoked or expires (``Billing(invitation_ttl=...)``,
        7 days by default). Send its ``id`` to that address only: it is the
        secret that lets one accept (``accept_invitation``).

        ``PermissionDenied`` unless ``actor`` is an active owner or admin (R5);
        ``SeatLimitReached`` when no seat is free, pending invitations counted
        (R8); ``Conflict`` (``already_invited``) when the email has a pending
        invitation to the workspace; ``InvalidRequest`` for a malformed email
        (``invalid_email``) or role. The address is trimmed and lower-cased.
        """
        email = normalized_email(email)
        decide = partial(
            invite,
            actor=actor,
            email=email,
            role=role_of(role),
            invitation_id=new_id(self._new_invitation_id),
            now=self._clock.now(),
            ttl=self._invitation_ttl,
        )
        return self._invited_action(workspace_id, decide).invited[0]

    def invitations(self, workspace_id: str) -> list[Invitation]:
        """The workspace's pending invitations, oldest first; ``NotFound`` for an
        unknown workspace. Their ids are the secrets that let one join: show them
        to the owner and admins only (to resend or revoke an invitation)."""
        with self._store.unit_of_work(read_only=True) as uow:
            invited = uow.invitations(get_workspace(uow, workspace_id).id)
        return pending(invited, self._clock.now())

    def revoke_invitation(self, workspace_id: str, *, actor: str, invitation_id: str) -> None:
        """Withdraw a pending invitation, freeing its seat (R5: owners and admins).

        ``NotFound`` (``invitation_not_found``) when the workspace has no such
        invitation; ``InvalidRequest`` (``invitation_expired``) when it expired
        already: it holds no seat, and ``run_renewals`` records its expiry.
        """
        invitation_id = identifier("invitation_id", invitation_id)
        decide = partial(revoke, actor=actor, invitation_id=invitation_id, now=self._clock.now())
        self._invited_action(workspace_id, decide)

    def accept_invitation(self, invitation_id: str, *, user: str) -> Member:
        """``user`` accepts an invitation and becomes an active member in the seat it
        held, with the role it names; returns the membership.

        The host checks first that ``user`` is the person the invitation was
        sent to (the one who opened the link sent to its email). A deactivated
        member who accepts is reactivated with the invitation's role, as if
        just added (R11). ``NotFound`` (``invitation_not_found``) for an id that
        names no pending invitation (accepted or revoked already: it can be
        accepted once); ``InvalidRequest`` (``invitation_expired``) once it
        expired; ``Conflict`` (``already_member``) when ``user`` is already an
        active member, and the invitation then stays pending for its owner or
        admins to revoke.
        """
        invitation_id = identifier("invitation_id", invitation_id)
        user = identifier("user", user)
        with self._store.unit_of_work(read_only=True) as uow:
            found = uow.invitation(invitation_id)
        if found is None:
            raise not_invited()
        decide = partial(accept, invitation_id=invitation_id, user=user, now=self._clock.now())
        return self._invited_action(found.workspace_id, decide).members[0]


# ----------------------------------------------------------------- decisions


def invite(
    ws: Workspace,
    members: list[Member],
    invitations: list[Invitation],
    *,
    actor: str,
    email: str,
    role: Role,
    invitation_id: str,
    now: datetime,
    ttl: timedelta,
) -> Change:
    """R8: a new invitation in a free seat; an expired one for the same email, not
    deleted yet, is replaced (its expiry recorded)."""
    require_manager(ws.id, members, actor)
    earlier = next((i for i in invitations if i.email == email), None)
    if earlier is not None and earlier.is_pending(now):
        raise Conflict(f"{email!r} already has a pending invitation to {ws.id!r}",
                       code="already_invited")  # fmt: skip
    require_seat(ws, members, invitations, now)
    seq = ws.member_seq + 1
    invitation = Invitation(invitation_id, ws.id, email, role, actor, now, now + ttl, seq)
    created = invitation_event(
        EventType.INVITATION_CREATED, invitation, now, actor, expires_at=iso(invitation.expires_at)
    )
    if earlier is None:
        return Change(attrs.evolve(ws, member_seq=seq), invited=(invitation,), events=(created,))
    expired = invitation_event(EventType.INVITATION_EXPIRED, earlier, now, None)
    return Change(
        attrs.evolve(ws, member_seq=seq),
        events=(expired, created),
        invited=(invitation,),
        uninvited=(earlier.id,),
    )


def revoke(
    ws: Workspace,
    members: list[Member],
    invitations: list[Invitation],
    *,
    actor: str,
    invitation_id: str,
    now: datetime,
) -> Change:
    """An owner or admin withdraws a pending invitation; its seat is free at once."""
    require_manager(ws.id, members, actor)
    invitation = held(invitations, invitation_id, now)
    event = invitation_event(EventType.INVITATION_REVOKED, invitation, now, actor)
    return Change(ws, events=(event,), uninvited=(invitation.id,))


def accept(
    ws: Workspace,
    members: list[Member],
    invitations: list[Invitation],
    *,
    invitation_id: str,
    user: str,
    now: datetime,
) -> Change:
    """The invitation's seat becomes ``user``'s: a new active member, or a
    deactivated one back (with the invitation's role), the newest for R11."""
    invitation = held(invitations, invitation_id, now)
    existing = find(members, user)
    if existing is not None and existing.is_active:
        raise Conflict(f"{user!r} is already a member of {ws.id!r}", code="already_member",
                       active=True)  # fmt: skip
    seq = ws.member_seq + 1
    accepted = invitation_event(
        EventType.INVITATION_ACCEPTED, invitation, now, user, subject=user, email=invitation.email
    )
    events: list[Event] = [accepted]
    if existing is None:
        member = Member(ws.id, user, invitation.role, MemberStatus.ACTIVE, now, now, seq)
        events.append(member_event(EventType.MEMBER_ADDED, ws, member, user, now,
                                   after={"role": invitation.role}))  # fmt: skip
    else:
        member = attrs.evolve(existing, role=invitation.role, status=MemberStatus.ACTIVE,
                              active_since=now, seq=seq, deactivated_at=None)  # fmt: skip
        events.append(member_event(
            EventType.MEMBER_REACTIVATED, ws, member, user, now,
            before={"status": "deactivated"}, after={"status": "active"},
        ))  # fmt: skip
        if existing.role is not invitation.role:
            events.append(member_event(
                EventType.ROLE_CHANGED, ws, member, invitation.invited_by, now,
                before={"role": existing.role.value}, after={"role": invitation.role.value},
            ))  # fmt: skip
    return Change(
        attrs.evolve(ws, member_seq=seq),
        (member,),
        tuple(events),
        uninvited=(invitation.id,),
    )


def held(invitations: list[Invitation], invitation_id: str, now: datetime) -> Invitation:
    """The pending invitation ``invitation_id`` of the workspace read; ``NotFound``
    when there is none, ``InvalidRequest`` when it expired."""
    invitation = next((i for i in invitations if i.id == invitation_id), None)
    if invitation is None:
        raise not_invited()
    if not invitation.is_pending(now):
        raise InvalidRequest(
            f"the invitation of {invitation.email!r} expired at {iso(invitation.expires_at)}",
            code="invitation_expired",
        )
    return invitation


def new_id(factory: Callable[[], str]) -> str:
    """A new invitation's id from the factory, checked as an id the stores keep
    (at most 64 characters, like a workspace's): a test's factory fails at once."""
    invitation_id = identifier("invitation_id", factory())
    if len(invitation_id) > MAX_ID:
        raise InvalidRequest(f"an invitation id is at most {MAX_ID} characters",
                             code="invalid_id")  # fmt: skip
    return invitation_id


def not_invited() -> NotFound:
    """One refusal for an id never given, accepted, revoked or expired and deleted:
    whoever holds an old link learns nothing more."""
    return NotFound(
        "no pending invitation has this id: it was accepted, revoked or expired",
        code="invitation_not_found",
    )
