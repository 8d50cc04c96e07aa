"""A deterministic, in-memory payment provider for demos and host test suites.

It behaves like a real provider where the library depends on it: payments
can fail, increases are charged prorated at once and granted only when paid,
decreases wait for the period end, renewals happen when the shared clock
passes the period end, and every change is announced by a signed webhook that
the host delivers (``deliver``) in any order, as often as it likes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import attrs

from ..catalog import Interval
from ..errors import NotFound, ProviderError
from ..money import Money
from ..ports import (
    Checkout,
    CheckoutRequest,
    InvoiceStatus,
    PaymentMethod,
    ProviderEvent,
    ProviderStatus,
    ProviderSubscription,
    Quote,
    QuoteRequest,
)
from . import simulated
from .fake_invoices import FakeInvoices
from .fake_state import TEST_CARD, FakeInvoice, FakeProviderState, _Checkout
from .simulated_webhooks import WebhookHandler, parse, sign, verify

__all__ = [
    "SIGNATURE_HEADER",
    "TEST_CARD",
    "FakeInvoice",
    "FakeInvoices",
    "FakePaymentProvider",
    "WebhookHandler",
]

SIGNATURE_HEADER = "Fake-Signature"
"""The header that carries the fake's webhook signatures."""


class FakePaymentProvider(FakeProviderState):
    """The ``PaymentProvider`` port, in memory, on the host's clock.

    Test helpers: ``complete_checkout(id)`` pays a checkout as a user would,
    ``fail_next_payment()`` makes the next charge fail,
    ``require_action_next_payment()`` makes the next off-session charge need
    3-D Secure and ``authenticate(url)`` completes it, ``deliver(handler)``
    hands every queued webhook to ``handler(payload, headers)`` and returns
    how many, ``take_webhooks()`` removes them for a test to deliver itself
    (shuffled, twice...), ``settle(ref)`` pays an overdue renewal,
    ``pause``/``unpause`` and ``delete_customer`` act as the dashboard would.

    What it remembers, for assertions: ``invoices`` (every charge attempted, a
    list of ``FakeInvoice``; called as ``invoices(customer_ref, limit)``, the
    port's invoice history, see ``fake_invoices``), ``payment_methods`` (the
    card on file of each customer: ``TEST_CARD`` after a completed checkout),
    ``customer_emails`` and ``last_checkout_request``.
    """

    # ------------------------------------------------------------ the port

    def create_customer(
        self,
        *,
        workspace_id: str,
        name: str,
        owner: str,
        idempotency_key: str,
        email: str | None = None,
    ) -> str:
        def create() -> str:
            ref = self._new_id("cus")
            self._customers[ref] = workspace_id
            self.customer_emails[ref] = email
            return ref

        params = ("customer", workspace_id, name, owner, email)
        return self._once(idempotency_key, params, create)

    def subscriptions_of(self, customer_ref: str) -> Sequence[ProviderSubscription]:
        with self._lock:
            self._catch_up()
            self._customer(customer_ref)
            found = [s for s in self._subscriptions.values() if s.customer_ref == customer_ref]
            return [s.view() for s in reversed(found)]

    def create_checkout(self, request: CheckoutRequest, *, idempotency_key: str) -> Checkout:
        def create() -> Checkout:
            self._customer(request.customer_ref)
            checkout = _Checkout(self._new_id("cs"), request)
            self._checkouts[checkout.id] = checkout
            self.last_checkout_request = request
            return Checkout(checkout.id, f"https://fake-provider.invalid/pay/{checkout.id}")

        return self._once(idempotency_key, ("checkout", request), create)

    def quote(self, request: QuoteRequest) -> Quote:
        with self._lock:
            self._catch_up()
            ref = request.subscription_ref
            sub = None if ref is None else self._sub(ref)
            return simulated.quote(sub, request, self._clock.now())

    def increase_seats(
        self, subscription_ref: str, seats: int, *, idempotency_key: str
    ) -> ProviderSubscription:
        def increase() -> ProviderSubscription:
            sub = self._live(subscription_ref)
            simulated.increase_seats(self._ledger, sub, seats, key=idempotency_key)
            return sub.view()

        return self._once(idempotency_key, ("increase", subscription_ref, seats), increase)

    def schedule_seat_decrease(
        self, subscription_ref: str, seats: int, *, idempotency_key: str
    ) -> ProviderSubscription:
        def schedule() -> ProviderSubscription:
            sub = self._live(subscription_ref)
            simulated.schedule_decrease(self._ledger, sub, seats)
            return sub.view()

        return self._once(idempotency_key, ("decrease", subscription_ref, seats), schedule)

    def change_plan(
        self,
        subscription_ref: str,
        *,
        plan: str,
        interval: Interval,
        seats: int,
        unit_amount: Money,
        idempotency_key: str,
    ) -> ProviderSubscription:
        def change() -> ProviderSubscription:
            sub = self._live(subscription_ref)
            simulated.change_plan(self._ledger, sub, plan=plan, interval=interval, seats=seats,
                                  unit_amount=unit_amount, key=idempotency_key)  # fmt: skip
            return sub.view()

        key = ("plan", subscription_ref, plan, interval, seats, unit_amount)
        return self._once(idempotency_key, key, change)

    def cancel(
        self, subscription_ref: str, *, at_period_end: bool, idempotency_key: str
    ) -> ProviderSubscription:
        def cancel() -> ProviderSubscription:
            sub = self._sub(subscription_ref)
            simulated.cancel(self._ledger, sub, at_period_end=at_period_end)
            return sub.view()

        return self._once(idempotency_key, ("cancel", subscription_ref, at_period_end), cancel)

    def resume(self, subscription_ref: str, *, idempotency_key: str) -> ProviderSubscription:
        def resume() -> ProviderSubscription:
            sub = self._live(subscription_ref)
            simulated.resume(self._ledger, sub)
            return sub.view()

        return self._once(idempotency_key, ("resume", subscription_ref), resume)

    def portal_url(self, customer_ref: str, *, return_url: str, idempotency_key: str) -> str:
        def portal() -> str:
            self._customer(customer_ref)
            return f"https://fake-provider.invalid/portal/{self._new_id('bps')}"

        return self._once(idempotency_key, ("portal", customer_ref, return_url), portal)

    def fetch_subscription(self, subscription_ref: str) -> ProviderSubscription:
        with self._lock:
            self._catch_up()
            return self._sub(subscription_ref).view()

    invoices: FakeInvoices
    """The port's ``invoices(customer_ref, limit)``, and the list of every charge
    attempted (``FakeInvoice``) that tests index: see ``FakeProviderState``."""

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> Sequence[ProviderEvent]:
        now = self._clock.now()
        verify(self._secret, self._tolerance, payload, headers, now, header=SIGNATURE_HEADER)
        return (parse(payload),)

    # ------------------------------------------------------------ test helpers

    def complete_checkout(self, checkout_id: str) -> str:
        """Pay a checkout as its user would; returns the new subscription's reference."""
        with self._lock:
            self._catch_up()
            checkout = self._checkouts.get(checkout_id)
            if checkout is None:
                raise NotFound(f"no checkout {checkout_id!r}")
            if checkout.subscription_ref is not None:
                return checkout.subscription_ref
            req, ref = checkout.request, self._new_id("sub")
            sub = simulated.start_subscription(self._ledger, ref, req, cards=self.payment_methods)
            self.payment_methods[req.customer_ref] = TEST_CARD  # the card it was paid with
            self._subscriptions[ref] = sub
            self._soonest_end = None
            checkout.subscription_ref = ref
            simulated.announce_start(self._ledger, sub, checkout.id)
            return ref

    def fail_next_payment(self, count: int = 1) -> None:
        """Make the next ``count`` charges fail (a declined card)."""
        with self._lock:
            self._failures += count

    def require_action_next_payment(self, count: int = 1) -> None:
        """Make the next ``count`` off-session charges need the customer's
        authentication (3-D Secure), as a card issuer may ask at any time.

        The charge raises ``PaymentActionRequired`` (a renewal goes past due
        with ``action_url`` set instead) and grants nothing until
        ``authenticate(url)``. Checkout payments are made on the provider's page,
        where the customer authenticates as they pay, so they never need it.
        """
        with self._lock:
            self._actions_needed += count

    def authenticate(self, url: str) -> None:
        """Complete a payment that needed the customer, as they would on ``url``:
        the charge is paid and what it was for is granted, announced by webhooks."""
        with self._lock:
            action = self._actions.pop(url, None)
            if action is None:
                raise NotFound(f"no payment waiting for authentication at {url!r}")
            invoice = self.invoices[action.invoice]
            self.invoices[action.invoice] = attrs.evolve(invoice, paid=True)
            self._ledger.pay_bills([action.bill])
            sub = self._sub(action.ref)
            simulated.authenticated(self._ledger, sub, action.grant)
            if action.key is not None:
                fingerprint, _ = self._idempotency[action.key]
                self._idempotency[action.key] = (fingerprint, sub.view())

    def delete_customer(self, customer_ref: str) -> None:
        """Delete a customer as from the provider's dashboard: its subscriptions
        end at once, and ``customer.deleted`` is announced."""
        with self._lock:
            workspace_id = self._customer(customer_ref)
            for sub in self._subscriptions.values():
                if sub.customer_ref == customer_ref and sub.status is not ProviderStatus.CANCELED:
                    sub.status = ProviderStatus.CANCELED
                    self._announce("subscription.deleted", sub)
            del self._customers[customer_ref]
            self.payment_methods.pop(customer_ref, None)
            self._queue("customer.deleted", None, workspace_id, customer=customer_ref)

    def update_card(self, customer_ref: str, card: PaymentMethod | None) -> None:
        """Change (or remove) the customer's default card as in the provider's portal,
        and announce ``customer.updated``: no subscription event says so."""
        with self._lock:
            workspace_id = self._customer(customer_ref)
            if card is None:
                self.payment_methods.pop(customer_ref, None)
            else:
                self.payment_methods[customer_ref] = card
            self._queue("customer.updated", None, workspace_id, customer=customer_ref)

    def pause(self, subscription_ref: str) -> None:
        """Pause collection as the provider may (no invoices, no renewals) until ``unpause``."""
        with self._lock:
            sub = self._live(subscription_ref)
            sub.status = ProviderStatus.PAUSED
            self._announce("subscription.updated", sub)

    def unpause(self, subscription_ref: str) -> None:
        """Resume a paused subscription: active again, its periods where they were."""
        with self._lock:
            sub = self._sub(subscription_ref)
            if sub.status is not ProviderStatus.PAUSED:
                raise ProviderError(f"subscription {subscription_ref!r} is not paused")
            sub.status = ProviderStatus.ACTIVE
            self._soonest_end = None
            self._announce("subscription.updated", sub)

    def settle(self, subscription_ref: str) -> None:
        """Pay an overdue renewal: the subscription is active again."""
        with self._lock:
            sub = self._sub(subscription_ref)
            overdue = [b.id for b in self._bills if b.subscription_ref == sub.ref
                       and b.reason == "renewal" and b.status is InvoiceStatus.OPEN]  # fmt: skip
            simulated.settle(self._ledger, sub, overdue)
            self._soonest_end = None

    def deliver(self, handler: WebhookHandler) -> int:
        """Hand every queued webhook to ``handler``, oldest first; returns how many.

        Each is signed when it is handed over, as a provider signs each delivery
        attempt. A webhook whose handler raises stays queued (providers retry),
        and the error propagates.
        """
        delivered = 0
        while True:
            with self._lock:
                self._catch_up()
                if not self._webhooks:
                    return delivered
                payload = self._webhooks[0]
            handler(payload, self.sign(payload))
            with self._lock:
                self._webhooks.remove(payload)
            delivered += 1

    def take_webhooks(self) -> list[tuple[bytes, dict[str, str]]]:
        """Remove and return the queued webhooks, for a test to deliver as it likes."""
        with self._lock:
            self._catch_up()
            taken, self._webhooks = self._webhooks, []
            return [(payload, self.sign(payload)) for payload in taken]

    def sign(self, payload: bytes, *, at: datetime | None = None) -> dict[str, str]:
        """Headers that authenticate ``payload`` as if this provider sent it."""
        return sign(self._secret, payload, at or self._clock.now(), header=SIGNATURE_HEADER)

    def subscription(self, subscription_ref: str) -> ProviderSubscription:
        """The provider's view without catching up with the clock (for assertions)."""
        with self._lock:
            return self._sub(subscription_ref).view()
