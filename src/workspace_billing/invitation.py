"""Invitations: a seat held for someone invited by email until they answer (R5, R8, R11).

An owner or admin invites an email address (``Billing.invite``); until the
invitation is accepted, revoked or expires, it holds one seat. A seat picker
that showed seats as free while invitations waited for them would sell the
same seat twice: the invited person would find the workspace full when they
accept. So everywhere a seat is counted, the seats in use are the active
members plus the pending invitations (``seats_in_use``), and accepting turns
the invitation's seat into the member's without a second seat check.

An invitation is pending while ``now < expires_at``. One that has expired
holds no seat from that instant, even before ``run_renewals`` deletes it and
records its expiry: every count here takes ``now``.

Pure values and functions; the service layer (``service/invitations.py``)
reads, lets these decide, and writes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import datetime, timedelta

import attrs

from .errors import InvalidRequest, SeatLimitReached
from .events import Event, EventType, Scalar
from .jsonable import JSONDict, iso
from .workspace import Member, Role, Workspace, active_count

__all__ = [
    "DEFAULT_TTL",
    "MAX_EMAIL",
    "MAX_TTL",
    "Invitation",
    "check_ttl",
    "invitation_event",
    "newest_first",
    "normalized_email",
    "pending",
    "require_free_seat",
    "require_seat",
    "seats_in_use",
]

MAX_EMAIL = 320
"""The longest address (RFC 3696's 64 + 1 + 255), the column's width."""
DEFAULT_TTL = timedelta(days=7)
"""How long an invitation holds its seat unless ``Billing(invitation_ttl=...)`` says."""
MAX_TTL = timedelta(days=90)
"""The longest ``invitation_ttl``: a seat held for months is a seat nobody can use."""


@attrs.frozen
class Invitation:
    """An invitation to join a workspace, holding a seat while it is pending.

    ``id`` is the secret the invited person's link carries (at least 128
    random bits): whoever holds it may accept, so send it only to ``email``.
    ``seq`` comes from the workspace's member sequence: with ``created_at`` it
    orders invitations, so "newest first" (R11) is defined even when two were
    created in the same instant.
    """

    id: str
    workspace_id: str
    email: str
    role: Role
    invited_by: str
    created_at: datetime
    expires_at: datetime
    seq: int

    def is_pending(self, now: datetime) -> bool:
        """Whether it still holds its seat at ``now``."""
        return now < self.expires_at

    def to_dict(self) -> JSONDict:
        """JSON-ready: the attributes by name, datetimes as UTC strings (docs/json.md)."""
        return {
            "id": self.id,
            "workspace_id": self.workspace_id,
            "email": self.email,
            "role": self.role.value,
            "invited_by": self.invited_by,
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
            "seq": self.seq,
        }


def normalized_email(value: object) -> str:
    """``value`` trimmed and lower-cased, when it is an address a store can keep and
    a mailer can use; ``InvalidRequest`` (code ``invalid_email``) otherwise.

    The check is deliberately plain (one ``@`` between a local part and a
    domain, no space or control character, at most 320 characters): whether
    the address exists is only known by sending to it, which is the host's
    part. Lower-casing makes ``Bob@Example.com`` and ``bob@example.com`` one
    invitee, so the same person cannot hold two seats.
    """
    if not isinstance(value, str):
        raise InvalidRequest(
            f"an email address is a string, not {type(value).__name__}", code="invalid_email"
        )
    email = value.strip().lower()
    if not email:
        raise InvalidRequest("the email address is empty", code="invalid_email")
    if len(email) > MAX_EMAIL:
        raise InvalidRequest(
            f"an email address is at most {MAX_EMAIL} characters", code="invalid_email"
        )
    if any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in email):
        raise InvalidRequest(
            "an email address holds no space, control or invisible character",
            code="invalid_email",
        )
    local, at, domain = email.partition("@")
    if not at or not local or not domain or "@" in domain:
        raise InvalidRequest(
            f"{email!r} is not an email address (name@domain)", code="invalid_email"
        )
    return email


def check_ttl(ttl: object) -> timedelta:
    """How long invitations hold their seat: more than 0, at most ``MAX_TTL``.

    Checked when ``Billing`` is built, so a wrong setting fails the wiring, not
    an owner's request (``InvalidRequest``, code ``invalid_duration``).
    """
    if not isinstance(ttl, timedelta):
        raise InvalidRequest(
            f"invitation_ttl is a timedelta, not {type(ttl).__name__}", code="invalid_duration"
        )
    if not timedelta(0) < ttl <= MAX_TTL:
        raise InvalidRequest(
            f"invitation_ttl must be more than 0 and at most {MAX_TTL.days} days, not {ttl}",
            code="invalid_duration",
        )
    return ttl


def pending(invitations: Iterable[Invitation], now: datetime) -> list[Invitation]:
    """The invitations that hold a seat at ``now``, oldest first."""
    return sorted(
        (i for i in invitations if i.is_pending(now)), key=lambda i: (i.created_at, i.seq)
    )


def newest_first(invitations: Iterable[Invitation]) -> list[Invitation]:
    """R11's order for invitations: the most recently created first (then ``seq``)."""
    return sorted(invitations, key=lambda i: (i.created_at, i.seq), reverse=True)


def seats_in_use(
    members: Iterable[Member], invitations: Iterable[Invitation], now: datetime
) -> int:
    """R8: the seats held at ``now``: one per active member, owner included, and one
    per pending invitation."""
    return active_count(members) + sum(1 for i in invitations if i.is_pending(now))


def require_seat(
    ws: Workspace, members: Iterable[Member], invitations: Iterable[Invitation], now: datetime
) -> None:
    """R8: a free seat, or ``SeatLimitReached`` with the seats in use (pending
    invitations included) and the seats bought."""
    require_free_seat(ws, seats_in_use(members, invitations, now))


def require_free_seat(ws: Workspace, held: int) -> None:
    """R8 on the seats held (``seats_in_use``), counted by the store or from the lists."""
    if held >= ws.subscription.seats:
        raise SeatLimitReached(seats_used=held, seats=ws.subscription.seats)


def invitation_event(
    kind: EventType,
    invitation: Invitation,
    now: datetime,
    actor: str | None,
    *,
    subject: str | None = None,
    **data: Scalar,
) -> Event:
    """An event about ``invitation``: its ``subject`` is the email invited unless
    another is given (the user who accepted), ``data`` holds its ``role`` and more.
    The invitation's id is never recorded: it is the secret that lets one join."""
    return Event(
        type=kind,
        workspace_id=invitation.workspace_id,
        at=now,
        actor=actor,
        subject=invitation.email if subject is None else subject,
        data={"role": invitation.role.value, **data},
    )
