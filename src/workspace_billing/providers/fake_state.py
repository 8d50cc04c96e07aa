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
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

import attrs

from ..errors import NotFound, PaymentActionRequired, ProviderError
from ..money import Money
from ..ports import (
    CheckoutRequest,
    Clock,
    Invoice,
    InvoiceStatus,
    PaymentMethod,
    ProviderStatus,
)
from .fake_invoices import FakeInvoice, FakeInvoices, _Bill
from .simulated import Grant, SimSubscription, check_key, check_limit, fingerprint, renew, replay
from .simulated_webhooks import webhook_body

__all__ = ["TEST_CARD", "FakeInvoice"]

_T = TypeVar("_T")

TEST_CARD = PaymentMethod(brand="visa", last4="4242", exp_month=12, exp_year=2030)
"""The card a completed checkout leaves on file: Stripe's test Visa."""


@attrs.define
class _Action:
    """A payment waiting for the customer: what authenticating it grants."""

    invoice: int
    """Its attempt in ``FakePaymentProvider.invoices``."""
    bill: str
    """Its invoice in the history."""
    ref: str
    grant: Grant
    key: str | None = None


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
        self._subscriptions: dict[str, SimSubscription] = {}
        self._idempotency: dict[str, tuple[str, object]] = {}
        self._webhooks: list[bytes] = []
        self._failures = 0
        self._actions_needed = 0
        self._actions: dict[str, _Action] = {}
        self._soonest_end: datetime | None = None
        self._bills: list[_Bill] = []
        self._ledger = _MemoryLedger(self)
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
        check_key(key)
        seen_as = fingerprint(params)
        with self._lock:
            self._catch_up()
            if key in self._idempotency:
                seen, answer = self._idempotency[key]
                return replay(key, seen_as, seen, answer)  # type: ignore[return-value]
            try:
                value = action()
            except PaymentActionRequired as waiting:
                self._idempotency[key] = (seen_as, waiting)
                raise
            self._idempotency[key] = (seen_as, value)
            return value

    def _customer(self, ref: str) -> str:
        if ref not in self._customers:
            raise NotFound(f"no customer {ref!r}")
        return self._customers[ref]

    def _sub(self, ref: str) -> SimSubscription:
        try:
            return self._subscriptions[ref]
        except KeyError:
            raise NotFound(f"no subscription {ref!r}") from None

    def _live(self, ref: str) -> SimSubscription:
        sub = self._sub(ref)
        if sub.status is ProviderStatus.CANCELED:
            raise ProviderError(f"subscription {ref!r} is canceled")
        return sub

    def _invoice_history(self, customer_ref: str, limit: int) -> Sequence[Invoice]:
        """The port's ``invoices``: the customer's invoices, newest first (the later
        made first when two share a time)."""
        check_limit(limit)
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
            renew(self._ledger, sub)
        live = [
            s.period_end for s in self._subscriptions.values() if s.status is ProviderStatus.ACTIVE
        ]
        self._soonest_end = min(live, default=None)

    def _announce(self, kind: str, sub: SimSubscription, **extra: str) -> None:
        self._queue(kind, sub.ref, sub.workspace_id, **extra)

    def _queue(
        self, kind: str, subscription_ref: str | None, workspace_id: str, **extra: str
    ) -> None:
        """Queue a webhook of ``kind`` (``extra``: more references, ``customer=``...)."""
        event_id, now = self._new_id("evt"), self._clock.now()
        body = webhook_body(event_id, kind, subscription_ref, workspace_id, now, **extra)
        self._webhooks.append(body)


class _MemoryLedger:
    """The ``Ledger`` of the shared charge and renewal rules, on the fake's memory."""

    def __init__(self, state: FakeProviderState) -> None:
        self._state = state

    def now(self) -> datetime:
        return self._state._clock.now()

    def take_decline(self, customer: str) -> bool:
        if not self._state._failures:
            return False
        self._state._failures -= 1
        return True

    def take_action(self, customer: str) -> bool:
        if not self._state._actions_needed:
            return False
        self._state._actions_needed -= 1
        return True

    def attempted(self, ref: str, amount: Money, paid: bool, reason: str) -> None:
        self._state.invoices.append(FakeInvoice(ref, amount, paid, reason, self.now()))

    def add_bill(
        self,
        ref: str,
        total: Money,
        reason: str,
        status: InvoiceStatus,
        period: tuple[datetime, datetime],
        customer: str,
        created_at: datetime,
    ) -> str:
        bills = self._state._bills
        sequence = len(bills) + 1  # its own count: the other ids stay as they were
        bill = _Bill(
            id=f"in_{sequence:06d}",
            number=f"FAKE-{sequence:04d}",
            customer_ref=customer,
            subscription_ref=ref,
            reason=reason,
            total=total,
            created_at=created_at,
            period_start=period[0],
            period_end=period[1],
            status=status,
        )
        bills.append(bill)
        return bill.id

    def pay_bills(self, bill_ids: Sequence[str]) -> None:
        for bill in self._state._bills:
            if bill.id in bill_ids:
                bill.status = InvoiceStatus.PAID

    def hold(self, bill_id: str, ref: str, grant: Grant, key: str | None) -> str:
        url = f"https://fake-provider.invalid/authenticate/{self._state._new_id('pi')}"
        attempt = len(self._state.invoices) - 1
        self._state._actions[url] = _Action(attempt, bill_id, ref, grant, key)
        return url

    def granted(self, sub: SimSubscription) -> None:
        self._state._soonest_end = None  # a new anchor, or active again
        self._state._announce("subscription.updated", sub)

    def announce(self, kind: str, sub: SimSubscription, **extra: str) -> None:
        self._state._announce(kind, sub, **extra)
