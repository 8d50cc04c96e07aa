"""What Billing returns to show a workspace's subscription, price previews and reports."""

from __future__ import annotations

from datetime import datetime

import attrs

from .catalog import Entitlements, Interval
from .events import EventType
from .money import Money
from .renewal import RenewalPreview
from .subscription import SubscriptionStatus

__all__ = [
    "PricePreview",
    "ReconcileReport",
    "RenewalReport",
    "SubscriptionOverview",
    "WebhookResult",
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

    @property
    def seats_available(self) -> int:
        return max(self.seats - self.seats_used, 0)


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
    """None when the change applies as soon as it is paid; the renewal date for a decrease."""


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


@attrs.frozen
class ReconcileReport:
    """What one ``reconcile`` did."""

    examined: int = 0
    repaired: tuple[tuple[str, tuple[EventType, ...]], ...] = ()
    """(workspace id, the events the repair recorded) for each workspace that drifted."""
    failed: tuple[tuple[str, str], ...] = ()
    """(workspace id, error code) of workspaces left for the next run."""


@attrs.frozen
class WebhookResult:
    """What one webhook delivery did: each event is applied, a duplicate, or ignored."""

    applied: int = 0
    duplicates: int = 0
    ignored: int = 0
