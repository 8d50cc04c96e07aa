"""What Billing returns to show a workspace's subscription, price previews and reports."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import attrs

from .catalog import Catalog, Entitlements, Interval
from .events import EventType
from .invitation import Invitation, pending
from .jsonable import JSONDict, dicts, enum_value, iso_or_none, maybe
from .money import Money
from .provider_values import PaymentMethod
from .renewal import RenewalPreview, preview
from .subscription import Subscription, SubscriptionStatus
from .workspace import Member, Workspace, active_count

__all__ = [
    "PricePreview",
    "ReconcileReport",
    "RenewalReport",
    "SubscriptionOverview",
    "WebhookResult",
    "entitlements_of",
    "overview_of",
]


@attrs.frozen
class SubscriptionOverview:
    """Everything the subscription screen shows (R3)."""

    workspace_id: str
    plan: str
    plan_name: str
    status: SubscriptionStatus
    interval: Interval | None
    seats: int
    seats_used: int
    """Seats held: the active members, owner included, and the pending invitations (R8)."""
    invitations_pending: int
    """How many of ``seats_used`` are held by invitations not yet accepted."""
    pending_seats: int | None
    pending_seats_at: datetime | None
    trial_ends_at: datetime | None
    period_start: datetime | None
    renews_at: datetime | None
    cancel_at_period_end: bool
    grace_ends_at: datetime | None
    price_per_seat: Money | None
    total: Money | None
    """The recurring amount in force: price per seat times seats."""
    next_total: Money | None
    """The recurring amount from the next renewal (after a scheduled decrease)."""
    features: Entitlements
    preview: RenewalPreview
    payment_method: PaymentMethod | None = None
    """The card on file that pays the subscription (brand, last four digits,
    expiry), as last mirrored from the provider: shown without a provider call.
    ``None`` on the trial, the fallback and a negotiated plan."""

    @property
    def seats_available(self) -> int:
        return max(self.seats - self.seats_used, 0)

    def to_dict(self) -> JSONDict:
        """JSON-ready for a billing page: the attributes by name, ``features``,
        ``preview`` and ``payment_method`` nested, plus the derived
        ``seats_available`` (docs/json.md)."""
        return {
            "workspace_id": self.workspace_id,
            "plan": self.plan,
            "plan_name": self.plan_name,
            "status": self.status.value,
            "interval": enum_value(self.interval),
            "seats": self.seats,
            "seats_used": self.seats_used,
            "invitations_pending": self.invitations_pending,
            "seats_available": self.seats_available,
            "pending_seats": self.pending_seats,
            "pending_seats_at": iso_or_none(self.pending_seats_at),
            "trial_ends_at": iso_or_none(self.trial_ends_at),
            "period_start": iso_or_none(self.period_start),
            "renews_at": iso_or_none(self.renews_at),
            "cancel_at_period_end": self.cancel_at_period_end,
            "grace_ends_at": iso_or_none(self.grace_ends_at),
            "price_per_seat": maybe(self.price_per_seat),
            "total": maybe(self.total),
            "next_total": maybe(self.next_total),
            "features": self.features.to_dict(),
            "preview": self.preview.to_dict(),
            "payment_method": maybe(self.payment_method),
        }


@attrs.frozen
class PricePreview:
    """The price of a change before it is confirmed (R18)."""

    plan: str
    interval: Interval
    seats: int
    due_now: Money
    """Charged when the change is confirmed (prorated by the provider)."""
    recurring: Money
    """Charged at each renewal after the change."""
    applies_at: datetime | None
    """When ``seats`` applies: None as soon as it is paid; the renewal date for a
    decrease (R9), a plan change to fewer seats included."""
    seats_now: int = attrs.field(
        default=attrs.Factory(lambda self: self.seats, takes_self=True), kw_only=True
    )
    """The seats ``due_now`` pays for, in force once the change is confirmed: the
    seats in force for a decrease (the plan applies at once, the count at renewal)."""
    deactivate: tuple[Member, ...] = attrs.field(default=(), kw_only=True)
    """Who R11 would deactivate if the change were confirmed, last added first,
    never the owner: at the payment (from the trial or free plan) or at the
    renewal that applies a decrease."""
    revoke: tuple[Invitation, ...] = attrs.field(default=(), kw_only=True)
    """The pending invitations R11 would revoke for it, newest first: before any
    member is deactivated, so an invitation never costs a member their seat."""

    def to_dict(self) -> JSONDict:
        """JSON-ready: amounts as money, ``deactivate`` and ``revoke`` as dicts (docs/json.md)."""
        return {
            "plan": self.plan,
            "interval": self.interval.value,
            "seats": self.seats,
            "due_now": self.due_now.to_dict(),
            "recurring": self.recurring.to_dict(),
            "applies_at": iso_or_none(self.applies_at),
            "seats_now": self.seats_now,
            "deactivate": dicts(self.deactivate),
            "revoke": dicts(self.revoke),
        }


@attrs.frozen
class RenewalReport:
    """What one ``run_renewals`` did."""

    examined: int = 0
    changed: int = 0
    deactivated: int = 0
    waiting: tuple[str, ...] = ()
    """Due workspaces whose provider has not renewed yet; the next run looks again."""
    failed: tuple[tuple[str, str], ...] = ()
    """(workspace id, error code) of workspaces left for the next run."""
    noticed: int = 0
    """Advance notices recorded (``trial_ending``, ``renewal_upcoming``): one per
    workspace and boundary, whichever run or worker records it."""
    revoked: int = 0
    """Pending invitations revoked by R11 at the boundaries applied (before anyone
    was deactivated)."""
    expired: int = 0
    """Invitations past their ``expires_at``, deleted and recorded as expired."""

    def to_dict(self) -> JSONDict:
        """JSON-ready: ``failed`` as ``[workspace id, error code]`` pairs."""
        return {
            "examined": self.examined,
            "changed": self.changed,
            "deactivated": self.deactivated,
            "waiting": list(self.waiting),
            "failed": [[ws, code] for ws, code in self.failed],
            "noticed": self.noticed,
            "revoked": self.revoked,
            "expired": self.expired,
        }


@attrs.frozen
class ReconcileReport:
    """What one ``reconcile`` did."""

    examined: int = 0
    repaired: tuple[tuple[str, tuple[EventType, ...]], ...] = ()
    """(workspace id, the events the repair recorded) for each workspace that drifted."""
    failed: tuple[tuple[str, str], ...] = ()
    """(workspace id, error code) of workspaces left for the next run."""

    def to_dict(self) -> JSONDict:
        """JSON-ready: ``repaired`` as ``[workspace id, [event types]]`` pairs."""
        return {
            "examined": self.examined,
            "repaired": [[ws, [t.value for t in types]] for ws, types in self.repaired],
            "failed": [[ws, code] for ws, code in self.failed],
        }


@attrs.frozen
class WebhookResult:
    """What one webhook delivery did: each event is applied, a duplicate, or ignored."""

    applied: int = 0
    duplicates: int = 0
    ignored: int = 0

    def to_dict(self) -> JSONDict:
        return {"applied": self.applied, "duplicates": self.duplicates, "ignored": self.ignored}


def entitlements_of(sub: Subscription, catalog: Catalog, now: datetime) -> Entitlements:
    """What the workspace may use at ``now``: a trial or a grace period that ended
    grants the fallback's features at once, even before the renewal job applies it."""
    due = sub.next_boundary(catalog)
    lapsing = sub.status in (SubscriptionStatus.TRIALING, SubscriptionStatus.PAST_DUE)
    if lapsing and due is not None and due <= now:
        sub = Subscription.fallback(catalog)
    return catalog.entitlements(sub.plan, expired=sub.status is SubscriptionStatus.EXPIRED)


def overview_of(
    ws: Workspace,
    members: list[Member],
    catalog: Catalog,
    now: datetime,
    invitations: Sequence[Invitation] = (),
) -> SubscriptionOverview:
    """The subscription screen of ``ws`` at ``now`` (R3), its R11 preview included;
    the invitations pending at ``now`` hold seats beside the active members."""
    sub = ws.subscription
    held = pending(invitations, now)
    plan = catalog.plan(sub.plan)
    next_seats = sub.pending_seats if sub.pending_seats is not None else sub.seats
    return SubscriptionOverview(
        workspace_id=ws.id,
        plan=sub.plan,
        plan_name=plan.name,
        status=sub.status,
        interval=sub.interval,
        seats=sub.seats,
        seats_used=active_count(members) + len(held),
        invitations_pending=len(held),
        pending_seats=sub.pending_seats,
        pending_seats_at=sub.period_end if sub.pending_seats is not None else None,
        trial_ends_at=sub.trial_ends_at,
        period_start=sub.period_start,
        renews_at=None if sub.cancel_at_period_end else sub.period_end,
        cancel_at_period_end=sub.cancel_at_period_end,
        grace_ends_at=sub.grace_ends_at(catalog),
        price_per_seat=sub.unit_amount,
        total=sub.recurring_total(),
        next_total=sub.recurring_total(next_seats),
        features=entitlements_of(sub, catalog, now),
        preview=preview(ws, members, catalog, held),
        payment_method=sub.payment_method,
    )
