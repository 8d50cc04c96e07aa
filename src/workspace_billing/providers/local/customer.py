"""What a customer does on the local provider's pages, as provider operations.

The pages (``pages.py``) only read forms and render; every step they offer is
here, so a test (or a host's script) can take it without a browser: pay a
checkout with a test card, authenticate a payment the bank asked about,
change the licences of a subscription in the billing portal after seeing the
prorated price, cancel or resume it, put another card on file, pay an open
invoice. Each step changes the provider's state as its port writes do (the
same shared rules), announces it by webhook, and delivers those webhooks when
``auto_deliver`` is on.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import TypeVar

import attrs

from ...errors import InvalidRequest, NotFound, PaymentFailed
from ...money import Money
from ...provider_values import (
    CheckoutRequest,
    Invoice,
    InvoiceStatus,
    PaymentMethod,
    ProviderStatus,
    ProviderSubscription,
    Quote,
    QuoteRequest,
)
from .. import simulated
from .answers import card_from_json, card_json, encode_result, grant_from_json
from .books import Books, new_id
from .cards import CardBehaviour, TestCard
from .state import LocalProviderState

__all__ = [
    "CheckoutOutcome",
    "CheckoutPage",
    "CustomerActions",
    "InvoicePage",
    "PortalPage",
    "WaitingPayment",
]

_T = TypeVar("_T")


class CheckoutOutcome(enum.StrEnum):
    PAID = "paid"
    DECLINED = "declined"
    AUTHENTICATE = "authenticate"
    """The bank asks the customer to authenticate before the card is charged."""
    NOT_AUTHENTICATED = "not_authenticated"
    """The customer failed (or refused) the authentication: nothing was charged."""


@attrs.frozen
class CheckoutPage:
    id: str
    request: CheckoutRequest
    subscription_ref: str | None
    """Set once it is paid."""
    waiting_card: PaymentMethod | None
    """The card whose bank asked the customer to authenticate, while it waits."""


@attrs.frozen
class PortalPage:
    session_id: str
    customer_ref: str
    name: str
    return_url: str
    subscriptions: tuple[ProviderSubscription, ...]
    """The customer's subscriptions that have not ended, newest first."""
    card: PaymentMethod | None
    invoices: tuple[Invoice, ...]
    """The newest first, at most 24."""


@attrs.frozen
class WaitingPayment:
    id: str
    amount: Money
    reason: str
    """``seat_increase``, ``plan_change`` or ``renewal``."""
    done: bool
    return_url: str | None


@attrs.frozen
class InvoicePage:
    invoice: Invoice
    reason: str
    payable: bool
    """An overdue renewal that paying now settles."""
    waiting_payment: str | None
    """The page to authenticate it on, when its payment waits for the customer."""


class CustomerActions(LocalProviderState):
    """The steps of the local provider's pages (see ``pages.py``)."""

    def _act(self, work: Callable[[Books], _T]) -> _T:
        """A customer's step: one transaction, then its webhooks delivered."""
        try:
            return self._run(work)
        finally:
            self._after_write()

    # ------------------------------------------------------------ checkout

    def checkout_page(self, checkout_id: str) -> CheckoutPage:
        def read(books: Books) -> CheckoutPage:
            request, row = books.checkout(checkout_id)
            waiting = card_from_json(row.waiting_card).method if row.waiting_card else None
            return CheckoutPage(checkout_id, request, row.subscription_ref, waiting)

        return self._run(read)

    def pay_checkout(self, checkout_id: str, card: TestCard) -> CheckoutOutcome:
        """Pay with ``card`` as typed on the checkout page. A card whose bank asks
        to authenticate waits for ``authenticate_checkout``; a declined card
        (or a queued ``fail_next_payment``) is ``DECLINED`` and starts nothing."""

        def pay(books: Books) -> CheckoutOutcome:
            request, row = books.checkout(checkout_id)
            if row.subscription_ref is not None:
                return CheckoutOutcome.PAID  # paid already: a second click changes nothing
            asks = (CardBehaviour.AUTHENTICATE_ONCE, CardBehaviour.ALWAYS_AUTHENTICATE)
            if card.behaviour in asks:
                books.update_checkout(checkout_id, waiting_card=card_json(card))
                return CheckoutOutcome.AUTHENTICATE
            return self._start(books, checkout_id, request, card)

        try:
            return self._act(pay)
        except PaymentFailed:
            return CheckoutOutcome.DECLINED

    def authenticate_checkout(self, checkout_id: str, *, confirmed: bool) -> CheckoutOutcome:
        """The customer completes (``confirmed``) or fails the bank's check of the
        card they typed; only a completed one is charged."""

        def answer(books: Books) -> CheckoutOutcome:
            request, row = books.checkout(checkout_id)
            if row.subscription_ref is not None:
                return CheckoutOutcome.PAID
            if row.waiting_card is None:
                raise InvalidRequest("no card waits for authentication on this checkout")
            books.update_checkout(checkout_id, waiting_card=None)
            if not confirmed:
                return CheckoutOutcome.NOT_AUTHENTICATED
            return self._start(books, checkout_id, request, card_from_json(row.waiting_card))

        try:
            return self._act(answer)
        except PaymentFailed:
            return CheckoutOutcome.DECLINED

    def _start(
        self, books: Books, checkout_id: str, request: CheckoutRequest, card: TestCard
    ) -> CheckoutOutcome:
        books.paying_with = card
        paid_with = {request.customer_ref: card.method}  # kept on file once it paid
        sub = simulated.start_subscription(books, new_id("sub"), request, cards=paid_with)
        books.keep_card(request.customer_ref, card)
        books.insert(sub)
        books.update_checkout(checkout_id, subscription_ref=sub.ref)
        simulated.announce_start(books, sub, checkout_id)
        return CheckoutOutcome.PAID

    # ------------------------------------------------------------ portal

    def portal_page(self, session_id: str) -> PortalPage:
        def read(books: Books) -> PortalPage:
            session = books.portal_session(session_id)
            customer = books.customer(session.customer_ref)
            subs = [s.view() for s in books.subscriptions_of(customer.ref)]
            live = tuple(s for s in subs if s.status is not ProviderStatus.CANCELED)
            invoices = tuple(books.invoices_of(customer.ref, 24))
            card = books.card(customer.ref)
            return PortalPage(session_id, customer.ref, customer.name, session.return_url, live,
                              card, invoices)  # fmt: skip

        return self._run(read)

    def portal_quote(
        self, session_id: str, ref: str, seats: int
    ) -> tuple[ProviderSubscription, Quote]:
        """The subscription, and what ``seats`` licences would cost now and at each renewal."""

        def price(books: Books) -> tuple[ProviderSubscription, Quote]:
            sub = self._portal_sub(books, session_id, ref)
            self._check_seats(seats)
            request = QuoteRequest(sub.plan, sub.interval, seats, sub.unit_amount, sub.ref)
            # A decrease waits for the renewal: never negative, nothing is due now.
            return sub.view(), simulated.quote(sub, request, books.now())

        return self._run(price)

    def portal_change_seats(
        self, session_id: str, ref: str, seats: int, *, key: str
    ) -> ProviderSubscription:
        """Subscribe and pay: more licences are charged now (prorated) with the card
        on file, fewer apply from the renewal. ``PaymentFailed`` changes nothing;
        ``PaymentActionRequired`` sends the customer to authenticate, then back here."""
        self._check_seats(seats)

        def change(books: Books) -> ProviderSubscription:
            sub = self._portal_sub(books, session_id, ref)
            if sub.status is ProviderStatus.CANCELED:
                raise InvalidRequest("this subscription has ended")
            books.return_url = f"{self.base_url}/portal/{session_id}"
            if seats > sub.seats:
                simulated.increase_seats(books, sub, seats, key=key)
            else:
                simulated.schedule_decrease(books, sub, seats)
                books.save(sub)
            return sub.view()

        return self._once(key, ("portal-seats", session_id, ref, seats), change)

    def portal_cancel(self, session_id: str, ref: str, *, resume: bool = False) -> None:
        """Cancel at the end of the period, or (``resume``) withdraw that."""

        def flag(books: Books) -> None:
            sub = self._portal_sub(books, session_id, ref)
            if sub.status is ProviderStatus.CANCELED:
                raise InvalidRequest("this subscription has ended")
            if resume:
                simulated.resume(books, sub)
            else:
                simulated.cancel(books, sub, at_period_end=True)
            books.save(sub)

        self._act(flag)

    def portal_update_card(self, session_id: str, card: TestCard) -> None:
        """Put ``card`` on file; a card the bank declines is refused (``PaymentFailed``)."""
        if card.behaviour is CardBehaviour.DECLINED:
            raise PaymentFailed("the card was declined")

        def keep(books: Books) -> None:
            customer = books.portal_session(session_id).customer_ref
            books.keep_card(customer, card)
            # As Stripe: the customer's new default card is announced by itself.
            workspace_id = books.customer(customer).workspace_id
            books.queue_webhook("customer.updated", None, workspace_id, customer=customer)

        self._act(keep)

    def _portal_sub(self, books: Books, session_id: str, ref: str) -> simulated.SimSubscription:
        customer = books.portal_session(session_id).customer_ref
        sub = books.subscription(ref)
        if sub.customer_ref != customer:
            raise NotFound(f"no subscription {ref!r}")  # another customer's: not shown
        return sub

    def _check_seats(self, seats: int) -> None:
        if seats < 1:
            raise InvalidRequest(f"at least 1 licence, not {seats}", code="seats_below_minimum")
        if seats > self.max_seats:
            raise InvalidRequest(
                f"at most {self.max_seats:,} licences, not {seats:,}", code="seats_above_maximum"
            )

    # ------------------------------------------------------------ waiting payments

    def waiting_payment(self, action_id: str) -> WaitingPayment:
        def read(books: Books) -> WaitingPayment:
            row = books.action(action_id)
            invoice, bill = books.invoice(row.invoice_id)
            return WaitingPayment(action_id, invoice.total, bill.reason, row.done_at is not None,
                                  row.return_url)  # fmt: skip

        return self._run(read)

    def confirm_payment(self, action_id: str) -> bool:
        """The customer authenticates a waiting payment: its invoice is paid and what
        it paid for granted, announced by webhooks. False when it was done before."""

        def confirm(books: Books) -> bool:
            row = books.action(action_id)
            if row.done_at is not None:
                return False
            books.pay_bills([row.invoice_id])
            books.finish_action(action_id)
            sub = books.subscription(row.subscription_ref)
            simulated.authenticated(books, sub, grant_from_json(row.grant))
            books.save(sub)
            kept = books.remembered(row.idempotency_key) if row.idempotency_key else None
            if kept is not None:  # a replay of the write now answers with what it got
                books.remember(row.idempotency_key, kept[0], encode_result(sub.view()))
            return True

        return self._act(confirm)

    # ------------------------------------------------------------ invoices

    def invoice_page(self, invoice_id: str) -> InvoicePage:
        def read(books: Books) -> InvoicePage:
            invoice, row = books.invoice(invoice_id)
            waiting = books.action_waiting_for(invoice_id)
            overdue = row.reason == "renewal" and invoice.status is InvoiceStatus.OPEN
            payable = overdue and waiting is None
            return InvoicePage(invoice, row.reason, payable,
                               None if waiting is None else books.action_url(waiting))  # fmt: skip

        return self._run(read)

    def pay_invoice(self, invoice_id: str) -> None:
        """Pay an overdue renewal with the card on file (``PaymentFailed`` when it is
        declined again): the subscription is active again."""

        def pay(books: Books) -> None:
            invoice, row = books.invoice(invoice_id)
            if invoice.status is not InvoiceStatus.OPEN or row.reason != "renewal":
                raise InvalidRequest("this invoice is not waiting for a payment")
            sub = books.subscription(row.subscription_ref)
            simulated.settle(books, sub, books.open_renewals(sub.ref))
            books.save(sub)

        self._act(pay)
