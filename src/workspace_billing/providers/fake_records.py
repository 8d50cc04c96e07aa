"""What the fake provider remembers: its subscriptions, checkouts, invoices and
payments waiting for the customer.

Plain records, apart from the provider's behaviour so that each reads on its
own; ``FakeInvoice`` is public (tests assert amounts on it), the others are the
provider's own.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import attrs

from ..catalog import Interval
from ..money import Money
from ..ports import CheckoutRequest, ProviderStatus, ProviderSubscription
from ..subscription import add_interval

__all__ = ["FakeInvoice"]


@attrs.frozen
class FakeInvoice:
    """A charge the fake provider attempted, for tests to assert amounts on."""

    subscription_ref: str
    amount: Money
    paid: bool
    reason: str
    at: datetime


@attrs.define
class _Subscription:
    ref: str
    customer_ref: str
    workspace_id: str
    plan: str
    interval: Interval
    seats: int
    unit_amount: Money
    anchor: datetime
    period_index: int = 0
    pending_seats: int | None = None
    status: ProviderStatus = ProviderStatus.ACTIVE
    cancel_at_period_end: bool = False
    action_url: str | None = None

    @property
    def period_start(self) -> datetime:
        return add_interval(self.anchor, self.interval, self.period_index)

    @property
    def period_end(self) -> datetime:
        return add_interval(self.anchor, self.interval, self.period_index + 1)

    def view(self) -> ProviderSubscription:
        return ProviderSubscription(
            ref=self.ref,
            customer_ref=self.customer_ref,
            workspace_id=self.workspace_id,
            plan=self.plan,
            interval=self.interval,
            seats=self.seats,
            status=self.status,
            period_start=self.period_start,
            period_end=self.period_end,
            unit_amount=self.unit_amount,
            pending_seats=self.pending_seats,
            cancel_at_period_end=self.cancel_at_period_end,
            action_url=self.action_url,
        )


@attrs.define
class _Action:
    """A payment waiting for the customer: what authenticating it grants."""

    invoice: int
    grant: Callable[[], None]
    key: str | None = None


@attrs.define
class _Checkout:
    id: str
    request: CheckoutRequest
    subscription_ref: str | None = None
