"""Advance notices: how long before a boundary the host is told, and what the
notice says (R9, R11, R16).

A notice is a pure decision like the boundary it announces: ``notice_for``
reads the workspace, its members and the host's ``Notices`` and returns the
event, built from what ``renewal.preview`` computes, so what a notice names is
what the boundary does if nothing changes meanwhile. The renewal job claims,
records and writes them (``service/renewals.py``); the store remembers which
boundary each workspace was told of, so each is announced once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from .catalog import Catalog
from .errors import InvalidRequest
from .events import Event, EventType, Scalar
from .invitation import Invitation
from .jsonable import iso
from .renewal import BoundaryKind, next_boundary_terms, select_deactivations, select_revocations
from .subscription import Subscription, SubscriptionStatus
from .workspace import Member, Workspace

__all__ = ["DEACTIVATE_SEPARATOR", "MAX_NOTICE_LEAD", "Notices", "notice_for"]

MAX_NOTICE_LEAD = timedelta(days=90)
"""The longest lead a notice may have: a host's typo (days for hours) fails at wiring."""

DEACTIVATE_SEPARATOR = "\n"
"""Joins the user ids of a notice's ``data["deactivate"]``: ids refuse control
characters (``checks.identifier``), so the joined text splits back unambiguously."""


def _check_lead(_: object, attribute: attrs.Attribute[Any], lead: object) -> None:
    if lead is None:
        return
    if not isinstance(lead, timedelta):
        raise InvalidRequest(
            f"Notices.{attribute.name} is a timedelta, or None to turn that notice off, "
            f"not {type(lead).__name__}",
            code="invalid_notices",
        )
    if not timedelta(0) < lead <= MAX_NOTICE_LEAD:
        raise InvalidRequest(
            f"Notices.{attribute.name} must be more than 0 and at most "
            f"{MAX_NOTICE_LEAD.days} days, not {lead}",
            code="invalid_notices",
        )


@attrs.frozen
class Notices:
    """How long before a boundary ``run_renewals`` records its advance notice.

    ``trial_ending`` comes before a trial ends (``EventType.TRIAL_ENDING``),
    ``renewal_upcoming`` before a paid plan renews (``EventType.RENEWAL_UPCOMING``),
    so the host can email the owner while there is time to act (upgrade, buy
    seats, reactivate someone else). ``None`` turns that notice off. A lead is
    more than 0 and at most 90 days, checked when the value is built
    (``InvalidRequest``, code ``invalid_notices``), like a catalog.
    """

    trial_ending: timedelta | None = attrs.field(default=timedelta(days=3), validator=_check_lead)
    renewal_upcoming: timedelta | None = attrs.field(
        default=timedelta(days=7), validator=_check_lead
    )

    def lead(self, sub: Subscription) -> timedelta | None:
        """The notice lead of ``sub``'s next boundary; None when it gets no notice.

        A cancellation at period end was the customer's own choice, and an end of
        grace follows the ``payment_failed`` event the host already emailed: only
        a trial's end and a renewal (provider-managed or negotiated) are announced.
        """
        if sub.status is SubscriptionStatus.TRIALING:
            return self.trial_ending
        if sub.status is SubscriptionStatus.ACTIVE and not sub.cancel_at_period_end:
            return self.renewal_upcoming
        return None


def notice_for(
    workspace: Workspace,
    members: Sequence[Member],
    now: datetime,
    catalog: Catalog,
    notices: Notices,
    *,
    active: int | None = None,
    invitations: Sequence[Invitation] = (),
) -> Event | None:
    """The advance notice of the workspace's next boundary, or None when none is due now.

    A boundary is announced once it is within its lead (``Notices.lead``) and
    still ahead: one already due is the sweep's to apply, not to announce.
    ``data`` says what the boundary will do, as ``preview`` does (R9, R11): ``at``,
    the ``plan`` and ``seats`` it leaves, and ``deactivate``, the user ids R11
    would deactivate, last added first, joined by ``DEACTIVATE_SEPARATOR`` (``""``
    for nobody; ``deactivate_count`` says how many); a renewal adds its ``amount``
    (minor units, at the plan's price: the provider's tax or discounts are its
    own) and ``currency``. ``members`` matter only where the boundary leaves
    fewer seats than active members (``active`` counts them where they were not
    read). ``revoke`` names the emails of the invitations still pending then
    that R11 revokes first, newest first, the same way (``revoke_count``).
    Whether this boundary was announced already is the store's to say
    (``UnitOfWork.claim_upcoming``).
    """
    sub = workspace.subscription
    due, lead = sub.next_boundary(catalog), notices.lead(sub)
    if due is None or lead is None or not now < due <= now + lead:
        return None
    kind, plan, seats = next_boundary_terms(sub, catalog)
    gone = select_deactivations(members, seats)
    revoked = select_revocations(invitations, members, seats, due, active=active)
    data: dict[str, Scalar] = {
        "at": iso(due),
        "plan": plan,
        "seats": seats,
        "deactivate": DEACTIVATE_SEPARATOR.join(m.user for m in gone),
        "deactivate_count": len(gone),
        "revoke": DEACTIVATE_SEPARATOR.join(i.email for i in revoked),
        "revoke_count": len(revoked),
    }
    if kind is BoundaryKind.TRIAL_END:
        return Event(type=EventType.TRIAL_ENDING, workspace_id=workspace.id, at=now, data=data)
    total = sub.recurring_total(seats)
    data["amount"] = total.amount if total is not None else None
    data["currency"] = total.currency if total is not None else None
    return Event(type=EventType.RENEWAL_UPCOMING, workspace_id=workspace.id, at=now, data=data)
