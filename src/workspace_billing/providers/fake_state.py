"""What the fake provider remembers, and how its state moves on its own: charges
(declined, needing the customer, or nothing due), renewals as the clock
passes period ends, idempotent writes and the webhooks that announce it all.

Apart from ``FakePaymentProvider`` so that its public face (the port and the
test levers) reads on its own; ``FakeInvoice`` (from ``fake_invoices``, with the
invoice history) is public, the rest is the provider's own.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

import attrs

from ..catalog import Interval
from ..errors import InvalidRequest, NotFound, PaymentActionRequired, PaymentFailed, ProviderError
from ..money import Money
from ..ports import (
    CheckoutRequest,
    Clock,
    Invoice,
    InvoiceStatus,
    PaymentMethod,
    ProviderStatus,
    ProviderSubscription,
    QuoteRequest,
)
from ..subscription import add_interval, elapsed_fraction
from .fake_invoices import FakeInvoice, FakeInvoices, _Bill
from .fake_webhooks import webhook_body

__all__ = ["TEST_CARD", "FakeInvoice"]

_T = TypeVar("_T")

TEST_CARD = PaymentMethod(brand="visa", last4="4242", exp_month=12, exp_year=2030)
"""The card a completed checkout leaves on file: Stripe's test Visa."""


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
    cards: Mapping[str, PaymentMethod] = attrs.field(factory=dict, eq=False, repr=False)
    """The provider's cards on file by customer (read live: a card changed later shows)."""

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
            payment_method=self.cards.get(self.customer_ref),
        )


@attrs.define
class _Action:
    """A payment waiting for the customer: what authenticating it grants."""

    invoice: int
    grant: Callable[[], None]
    key: str | None = None
    bill: _Bill | None = None


@attrs.define
class _Checkout:
    id: str
    request: CheckoutRequest
    subscription_ref: str | None = None


class FakeProviderState:
    """The fake provider's memory and its internal steps (see ``FakePaymentProvider``)."""

    def __init__(
        self,
        *,
        clock: Clock,
        webhook_secret: str = "whsec_fake",
        tolerance: timedelta = timedelta(minutes=5),
    ) -> None:
        self._clock = clock
        self._secret = webhook_secret.encode()
        self._tolerance = tolerance
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._customers: dict[str, str] = {}
        self._checkouts: dict[str, _Checkout] = {}
        self._subscriptions: dict[str, _Subscription] = {}
        self._idempotency: dict[str, tuple[str, object]] = {}
        self._webhooks: list[bytes] = []
        self._failures = 0
        self._actions_needed = 0
        self._actions: dict[str, _Action] = {}
        self._soonest_end: datetime | None = None
        self._bills: list[_Bill] = []
        self.invoices = FakeInvoices(self._invoice_history)
        """Every charge attempted (``FakeInvoice``), oldest first; called as
        ``invoices(customer_ref, limit)``, the port's invoice history."""
        self.customer_emails: dict[str, str | None] = {}
        """The email each customer was created with (``None`` when the host gave none)."""
        self.payment_methods: dict[str, PaymentMethod] = {}
        """The card on file of each customer: a completed checkout leaves ``TEST_CARD``;
        change or delete an entry as the customer would in the provider's portal."""
        self.last_checkout_request: CheckoutRequest | None = None
        """What the last checkout created asked for (its promotion codes and tax included)."""

    def __repr__(self) -> str:
        return f"FakePaymentProvider(subscriptions={len(self._subscriptions)})"

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06d}"

    def _once(self, key: str, params: object, action: Callable[[], _T]) -> _T:
        """Run ``action`` once per idempotency key; a replay returns the first result.

        A failed payment is not remembered, so the same change can be retried
        once the card is fixed. A payment waiting for the customer is: a replay
        answers with the same page until they authenticate, then with the result.
        """
        if not key or len(key) > 255:
            raise ProviderError("an idempotency key of 1 to 255 characters is required")
        fingerprint = repr(params)
        with self._lock:
            self._catch_up()
            if key in self._idempotency:
                seen, result = self._idempotency[key]
                if seen != fingerprint:
                    raise ProviderError(f"idempotency key {key!r} was used with other parameters")
                if isinstance(result, PaymentActionRequired):
                    raise result  # still waiting for the customer: the same page
                return result  # type: ignore[return-value]
            try:
                value = action()
            except PaymentActionRequired as waiting:
                self._idempotency[key] = (fingerprint, waiting)
                raise
            self._idempotency[key] = (fingerprint, value)
            return value

    def _customer(self, ref: str) -> str:
        if ref not in self._customers:
            raise NotFound(f"no customer {ref!r}")
        return self._customers[ref]

    def _sub(self, ref: str) -> _Subscription:
        try:
            return self._subscriptions[ref]
        except KeyError:
            raise NotFound(f"no subscription {ref!r}") from None

    def _live(self, ref: str) -> _Subscription:
        sub = self._sub(ref)
        if sub.status is ProviderStatus.CANCELED:
            raise ProviderError(f"subscription {ref!r} is canceled")
        return sub

    def _due_now(self, sub: _Subscription, request: QuoteRequest) -> Money:
        """Prorated difference for the rest of the period, never negative.

        A change of interval starts a new period now: the full new price less
        the unused part of the old one.
        """
        new_total = request.unit_amount * request.seats
        old_total = sub.unit_amount * sub.seats
        remaining, whole = elapsed_fraction(sub.period_start, sub.period_end, self._clock.now())
        if request.interval is not sub.interval:
            due = new_total - old_total.prorate(remaining, whole)
        else:
            due = (new_total - old_total).prorate(remaining, whole)
        return due if due.amount > 0 else Money.zero(due.currency)

    def _charge(
        self,
        ref: str,
        amount: Money,
        reason: str,
        grant: Callable[[], None] | None = None,
        *,
        on_session: bool = False,
        key: str | None = None,
        period: tuple[datetime, datetime] | None = None,
        customer: str | None = None,
        pays: Sequence[_Bill] = (),
    ) -> None:
        """Collect ``amount``, then ``grant`` what it pays for.

        Nothing due attempts no payment (as Stripe on a zero or credit invoice):
        a queued failure or authentication is kept for a real charge. A declined
        card raises ``PaymentFailed`` and grants nothing; an off-session charge
        that needs the customer raises ``PaymentActionRequired`` and grants only
        once ``authenticate`` is called with its page.

        Each attempt is a ``FakeInvoice``, and an invoice of the history (see
        ``fake_invoices``) for ``period`` (the subscription's current one by
        default) of ``customer`` (the subscription's by default); a payment
        that ``pays`` open invoices marks them paid instead of adding one.
        """
        now = self._clock.now()
        if amount.amount <= 0:
            self.invoices.append(FakeInvoice(ref, Money.zero(amount.currency), True, reason, now))
        elif self._failures:
            self._failures -= 1
            self.invoices.append(FakeInvoice(ref, amount, False, reason, now))
            if not on_session:  # a change is given up; a renewal stays open, retried
                status = InvoiceStatus.OPEN if reason == "renewal" else InvoiceStatus.VOID
                self._bill(ref, amount, reason, status, period, customer)
            raise PaymentFailed(f"the card was declined ({amount} for {reason})")
        elif self._actions_needed and not on_session:
            self._actions_needed -= 1
            self.invoices.append(FakeInvoice(ref, amount, False, reason, now))
            bill = self._bill(ref, amount, reason, InvoiceStatus.OPEN, period, customer)
            url = f"https://fake-provider.invalid/authenticate/{self._new_id('pi')}"
            self._actions[url] = _Action(len(self.invoices) - 1, grant or (lambda: None), key, bill)
            raise PaymentActionRequired(
                f"the bank asks the customer to authenticate {amount} for {reason}", url=url
            )
        else:
            self.invoices.append(FakeInvoice(ref, amount, True, reason, now))
            for bill in pays:
                bill.status = InvoiceStatus.PAID
            if not pays:
                self._bill(ref, amount, reason, InvoiceStatus.PAID, period, customer)
        if grant is not None:
            grant()

    def _bill(
        self,
        ref: str,
        total: Money,
        reason: str,
        status: InvoiceStatus,
        period: tuple[datetime, datetime] | None,
        customer: str | None,
    ) -> _Bill:
        """Add an invoice to the history. A renewal's is dated at the boundary it
        renews at, as a provider invoices then, even when the clock jumped past it."""
        sub, now = self._subscriptions.get(ref), self._clock.now()
        if period is None:
            period = (sub.period_start, sub.period_end) if sub else (now, now)
        start, end = period
        created = start if reason == "renewal" else now
        sequence = len(self._bills) + 1  # its own count: the other ids stay as they were
        bill = _Bill(
            id=f"in_{sequence:06d}",
            number=f"FAKE-{sequence:04d}",
            customer_ref=customer or (sub.customer_ref if sub else ""),
            subscription_ref=ref,
            reason=reason,
            total=total,
            created_at=created,
            period_start=start,
            period_end=end,
            status=status,
        )
        self._bills.append(bill)
        return bill

    def _invoice_history(self, customer_ref: str, limit: int) -> Sequence[Invoice]:
        """The port's ``invoices``: the customer's invoices, newest first (the later
        made first when two share a time)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidRequest(
                f"limit must be a whole number of at least 1, not {limit!r}", code="invalid_number"
            )
        with self._lock:
            self._catch_up()
            self._customer(customer_ref)
            mine = [b for b in reversed(self._bills) if b.customer_ref == customer_ref]
            mine.sort(key=lambda b: b.created_at, reverse=True)
            return [b.neutral() for b in mine[:limit]]

    def _catch_up(self) -> None:
        """Renew every subscription whose period ended by now, as a provider would.

        Skips the scan while the clock is before the soonest period end; a
        subscription's period only ends later after a change, never earlier,
        except for a new one or a new anchor, which reset the soonest end.
        """
        now = self._clock.now()
        if self._soonest_end is not None and now < self._soonest_end:
            return
        for sub in self._subscriptions.values():
            while sub.status is ProviderStatus.ACTIVE and sub.period_end <= now:
                if sub.cancel_at_period_end:
                    sub.status = ProviderStatus.CANCELED
                    self._announce("subscription.deleted", sub)
                    break
                if sub.pending_seats is not None:
                    sub.seats, sub.pending_seats = sub.pending_seats, None
                sub.period_index += 1
                try:
                    self._charge(sub.ref, sub.unit_amount * sub.seats, "renewal")
                except PaymentFailed:
                    sub.status = ProviderStatus.PAST_DUE
                    self._announce("invoice.payment_failed", sub)
                except PaymentActionRequired as waiting:
                    sub.status, sub.action_url = ProviderStatus.PAST_DUE, waiting.url
                    self._actions[waiting.url].grant = self._recovery(sub)
                    self._announce("invoice.payment_action_required", sub)
                else:
                    self._announce("invoice.paid", sub)
                self._announce("subscription.updated", sub)
        live = [
            s.period_end for s in self._subscriptions.values() if s.status is ProviderStatus.ACTIVE
        ]
        self._soonest_end = min(live, default=None)

    def _recovery(self, sub: _Subscription) -> Callable[[], None]:
        """What paying an overdue renewal grants: the subscription is active again."""

        def recover() -> None:
            sub.status, sub.action_url = ProviderStatus.ACTIVE, None
            self._soonest_end = None
            self._announce("subscription.updated", sub)

        return recover

    def _announce(self, kind: str, sub: _Subscription, **extra: str) -> None:
        event_id, now = self._new_id("evt"), self._clock.now()
        body = webhook_body(event_id, kind, sub.ref, sub.workspace_id, now, **extra)
        self._webhooks.append(body)
