"""The local mirror of a workspace's subscription and its pure state helpers."""

from __future__ import annotations

import calendar
import enum
from datetime import datetime, timedelta

import attrs

from .catalog import Catalog, Interval
from .jsonable import JSONDict, enum_value, iso_or_none, maybe
from .money import Money
from .provider_values import PaymentMethod

__all__ = ["Subscription", "SubscriptionStatus", "add_interval"]


class SubscriptionStatus(enum.StrEnum):
    """Where a workspace stands commercially.

    There is no resting ``canceled`` status: a cancellation runs to the end of
    the paid period (``ACTIVE`` with ``cancel_at_period_end``) and the
    workspace then falls back to ``FREE`` or ``EXPIRED``, which say what the
    workspace may do now rather than how it got there.
    """

    TRIALING = "trialing"
    """On the free trial (R1): trial plan, trial member cap, no payment method."""
    ACTIVE = "active"
    """On a paid plan in good standing (self-serve or negotiated)."""
    PAST_DUE = "past_due"
    """A renewal payment failed; features stay until the grace period ends (R12)."""
    FREE = "free"
    """On the catalog's free fallback plan: nothing is paid."""
    EXPIRED = "expired"
    """Nothing is paid and the catalog's fallback grants no feature."""

    @property
    def is_paid(self) -> bool:
        return self in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)


@attrs.frozen
class Subscription:
    """What the workspace has now, as the library last learned it.

    ``seats`` is the capacity in force this period: seats bought on a per-seat
    plan, the member cap on the trial or the free plan. ``pending_seats`` is a
    decrease that applies at ``period_end`` (R9).
    """

    plan: str
    status: SubscriptionStatus
    seats: int
    interval: Interval | None = None
    pending_seats: int | None = None
    trial_ends_at: datetime | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None
    cancel_at_period_end: bool = False
    past_due_since: datetime | None = None
    unit_amount: Money | None = None
    customer_ref: str | None = None
    subscription_ref: str | None = None
    anchor: datetime | None = None
    """Where a negotiated plan's periods are counted from (the library renews it)."""
    payment_method: PaymentMethod | None = None
    """The card that pays the provider subscription, mirrored from the provider's
    view with the rest, so the billing page shows it without a provider call.
    ``None`` when nothing is paid through the provider: the trial, the fallback
    (a subscription that ended drops it: no view keeps it fresh any more) and a
    negotiated plan, invoiced outside the provider."""

    @property
    def is_provider_managed(self) -> bool:
        return self.subscription_ref is not None and self.status.is_paid

    @property
    def is_sales_managed(self) -> bool:
        """A negotiated plan applied by an operator (R7), invoiced outside the provider."""
        return self.subscription_ref is None and self.status.is_paid

    def grace_ends_at(self, catalog: Catalog) -> datetime | None:
        if self.status is not SubscriptionStatus.PAST_DUE or self.past_due_since is None:
            return None
        return self.past_due_since + catalog.grace_period

    def next_boundary(self, catalog: Catalog) -> datetime | None:
        """When the next trial end, renewal or end of grace falls due, if any."""
        if self.status is SubscriptionStatus.TRIALING:
            return self.trial_ends_at
        if self.status is SubscriptionStatus.ACTIVE:
            return self.period_end
        if self.status is SubscriptionStatus.PAST_DUE:
            return self.grace_ends_at(catalog)
        return None

    def to_dict(self) -> JSONDict:
        """JSON-ready: the attributes by name, ``unit_amount`` as money and
        ``payment_method`` as its dict (docs/json.md)."""
        return {
            "plan": self.plan,
            "status": self.status.value,
            "seats": self.seats,
            "interval": enum_value(self.interval),
            "pending_seats": self.pending_seats,
            "trial_ends_at": iso_or_none(self.trial_ends_at),
            "period_start": iso_or_none(self.period_start),
            "period_end": iso_or_none(self.period_end),
            "cancel_at_period_end": self.cancel_at_period_end,
            "past_due_since": iso_or_none(self.past_due_since),
            "unit_amount": maybe(self.unit_amount),
            "customer_ref": self.customer_ref,
            "subscription_ref": self.subscription_ref,
            "anchor": iso_or_none(self.anchor),
            "payment_method": maybe(self.payment_method),
        }

    def recurring_total(self, seats: int | None = None) -> Money | None:
        if self.unit_amount is None:
            return None
        return self.unit_amount * (self.seats if seats is None else seats)

    @classmethod
    def trial(cls, catalog: Catalog, now: datetime) -> Subscription:
        return cls(
            plan=catalog.trial.plan,
            status=SubscriptionStatus.TRIALING,
            seats=catalog.trial.member_cap,
            trial_ends_at=now + catalog.trial.length,
        )

    @classmethod
    def fallback(
        cls,
        catalog: Catalog,
        customer_ref: str | None = None,
        subscription_ref: str | None = None,
    ) -> Subscription:
        """Nothing paid. ``subscription_ref`` keeps the last provider subscription, ended,
        so that a late view of it is recognised and never revives the plan."""
        plan = catalog.fallback_plan
        assert plan.member_cap is not None  # checked by the catalog
        return cls(
            plan=plan.code,
            status=SubscriptionStatus.EXPIRED
            if catalog.fallback_expires
            else SubscriptionStatus.FREE,
            seats=plan.member_cap,
            customer_ref=customer_ref,
            subscription_ref=subscription_ref,
        )


def add_interval(anchor: datetime, interval: Interval, count: int = 1) -> datetime:
    """``anchor`` moved by ``count`` months or years, the day clamped to the month's end.

    Periods are computed from one anchor, not chained, so a subscription that
    starts on the 31st renews on the last day of short months and on the 31st
    again afterwards.
    """
    months = count * (12 if interval is Interval.YEAR else 1)
    index = anchor.month - 1 + months
    year, month = anchor.year + index // 12, index % 12 + 1
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return anchor.replace(year=year, month=month, day=day)


def elapsed_fraction(start: datetime, end: datetime, now: datetime) -> tuple[int, int]:
    """(remaining, whole) seconds of a period, for integer proration."""
    whole = max(int((end - start) / timedelta(seconds=1)), 1)
    remaining = min(max(int((end - now) / timedelta(seconds=1)), 0), whole)
    return remaining, whole
