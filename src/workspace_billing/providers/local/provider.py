"""``LocalPaymentProvider``: a payment provider for development servers.

Pay's fake processor for Rails is the idea: a provider that behaves like a
real one (it charges, declines, asks for 3-D Secure, renews, invoices, sends
signed webhooks) without leaving the machine. Unlike the in-memory
``FakePaymentProvider`` it keeps its state in SQL tables beside the store's
(``wb_local_*``), so paid workspaces survive a restart of the development
server and the ``workspace-billing`` command (``--app``) sees the same
subscriptions; and it serves its own checkout and billing portal pages
(``pages()``) instead of URLs that lead nowhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ...catalog import Interval
from ...errors import NotFound, PaymentFailed
from ...money import Money
from ...ports import (
    Checkout,
    CheckoutRequest,
    Invoice,
    ProviderEvent,
    ProviderSubscription,
    Quote,
    QuoteRequest,
)
from .. import simulated
from ..simulated_webhooks import parse, verify
from .books import Books
from .cards import read_card
from .customer import CheckoutOutcome, CustomerActions
from .state import SIGNATURE_HEADER

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from ...ports import PaymentProvider

__all__ = ["LocalPaymentProvider"]


class LocalPaymentProvider(CustomerActions):
    """The ``PaymentProvider`` port on SQL tables, with its own pages and webhooks.

    Build it on the store's database: ``LocalPaymentProvider.from_url(url,
    clock=clock, base_url="http://127.0.0.1:8000/_local_billing",
    deliver_to="http://127.0.0.1:8000/billing/webhook", create_schema=True)``
    (or on an ``Engine``), and mount ``provider.pages()`` at ``base_url``.

    It charges, prorates, invoices and renews by the same rules as the fake
    (``providers/simulated.py``). Payments follow the card used: the checkout
    page takes Stripe's test numbers (``cards.TEST_CARDS``: 4242... succeeds,
    ...0002 is declined, ...3155 asks to authenticate); off-session charges
    follow the card on file and the test levers below.

    Webhooks are signed (``Local-Billing-Signature``: HMAC-SHA256 over the
    timestamp and the body with ``webhook_secret``) and queued in the
    database; they go to ``deliver_to`` (the host's endpoint URL, or a callable
    such as ``billing.handle_webhook``) after each write and page action when
    ``auto_deliver`` is on, and whenever ``deliver_pending()`` is called.

    Test levers, as on the fake: ``fail_next_payment()``,
    ``require_action_next_payment()``, ``authenticate(url)``,
    ``complete_checkout(id)``, ``take_webhooks()``; they are kept in the
    database too, so a lever pulled in one process applies in another.
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
        def create(books: Books) -> str:
            return books.add_customer(workspace_id, name, owner, email)

        params = ("customer", workspace_id, name, owner, email)
        return self._once(idempotency_key, params, create)

    def subscriptions_of(self, customer_ref: str) -> Sequence[ProviderSubscription]:
        def listed(books: Books) -> list[ProviderSubscription]:
            books.customer(customer_ref)
            return [sub.view() for sub in books.subscriptions_of(customer_ref)]

        return self._run(listed)

    def create_checkout(self, request: CheckoutRequest, *, idempotency_key: str) -> Checkout:
        def create(books: Books) -> Checkout:
            checkout = books.add_checkout(request)
            return Checkout(checkout, f"{self.base_url}/checkout/{checkout}")

        return self._once(idempotency_key, ("checkout", request), create)

    def quote(self, request: QuoteRequest) -> Quote:
        def price(books: Books) -> Quote:
            ref = request.subscription_ref
            sub = None if ref is None else books.subscription(ref)
            return simulated.quote(sub, request, books.now())

        return self._run(price)

    def increase_seats(
        self, subscription_ref: str, seats: int, *, idempotency_key: str
    ) -> ProviderSubscription:
        def increase(books: Books) -> ProviderSubscription:
            sub = books.live(subscription_ref)
            simulated.increase_seats(books, sub, seats, key=idempotency_key)
            return sub.view()

        return self._once(idempotency_key, ("increase", subscription_ref, seats), increase)

    def schedule_seat_decrease(
        self, subscription_ref: str, seats: int, *, idempotency_key: str
    ) -> ProviderSubscription:
        def schedule(books: Books) -> ProviderSubscription:
            sub = books.live(subscription_ref)
            simulated.schedule_decrease(books, sub, seats)
            books.save(sub)
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
        def change(books: Books) -> ProviderSubscription:
            sub = books.live(subscription_ref)
            simulated.change_plan(books, sub, plan=plan, interval=interval, seats=seats,
                                  unit_amount=unit_amount, key=idempotency_key)  # fmt: skip
            return sub.view()

        params = ("plan", subscription_ref, plan, interval, seats, unit_amount)
        return self._once(idempotency_key, params, change)

    def cancel(
        self, subscription_ref: str, *, at_period_end: bool, idempotency_key: str
    ) -> ProviderSubscription:
        def cancel(books: Books) -> ProviderSubscription:
            sub = books.subscription(subscription_ref)
            simulated.cancel(books, sub, at_period_end=at_period_end)
            books.save(sub)
            return sub.view()

        params = ("cancel", subscription_ref, at_period_end)
        return self._once(idempotency_key, params, cancel)

    def resume(self, subscription_ref: str, *, idempotency_key: str) -> ProviderSubscription:
        def resume(books: Books) -> ProviderSubscription:
            sub = books.live(subscription_ref)
            simulated.resume(books, sub)
            books.save(sub)
            return sub.view()

        return self._once(idempotency_key, ("resume", subscription_ref), resume)

    def portal_url(self, customer_ref: str, *, return_url: str, idempotency_key: str) -> str:
        def open_session(books: Books) -> str:
            return f"{self.base_url}/portal/{books.add_portal_session(customer_ref, return_url)}"

        params = ("portal", customer_ref, return_url)
        return self._once(idempotency_key, params, open_session)

    def fetch_subscription(self, subscription_ref: str) -> ProviderSubscription:
        return self._run(lambda books: books.subscription(subscription_ref).view())

    def invoices(self, customer_ref: str, limit: int) -> Sequence[Invoice]:
        simulated.check_limit(limit)
        return self._run(lambda books: books.invoices_of(customer_ref, limit))

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> Sequence[ProviderEvent]:
        now = self._clock.now()
        verify(self._secret, self._tolerance, payload, headers, now, header=SIGNATURE_HEADER)
        return (parse(payload),)

    # ------------------------------------------------------------ test levers

    def complete_checkout(self, checkout_id: str, card: str = "4242 4242 4242 4242") -> str:
        """Pay a checkout as its user would on its page, with ``card`` (expiry
        12/30, code 123); a card whose bank asks is authenticated. Returns the
        new subscription's reference; ``PaymentFailed`` when it is declined."""
        typed = read_card(card, "12/30", "123", self._clock.now())
        outcome = self.pay_checkout(checkout_id, typed)
        if outcome is CheckoutOutcome.AUTHENTICATE:
            outcome = self.authenticate_checkout(checkout_id, confirmed=True)
        if outcome is not CheckoutOutcome.PAID:
            raise PaymentFailed(f"the card was declined (checkout {checkout_id!r})")
        ref = self.checkout_page(checkout_id).subscription_ref
        assert ref is not None
        return ref

    def fail_next_payment(self, count: int = 1) -> None:
        """Make the next ``count`` charges fail (a declined card)."""
        self._run(lambda books: books.add_lever("declines", count))

    def require_action_next_payment(self, count: int = 1) -> None:
        """Make the next ``count`` off-session charges need the customer's
        authentication (3-D Secure): ``PaymentActionRequired`` with the page
        (``/authenticate/...`` under ``base_url``) where they confirm it."""
        self._run(lambda books: books.add_lever("actions", count))

    def authenticate(self, url: str) -> None:
        """Confirm the waiting payment at ``url`` as the customer would on that page."""
        prefix = f"{self.base_url}/authenticate/"
        action = url.removeprefix(prefix) if url.startswith(prefix) else ""
        if not action or not self.confirm_payment(action):
            raise NotFound(f"no payment waiting for authentication at {url!r}")

    def pages(self) -> Starlette:
        """The checkout, portal, authentication and invoice pages: an ASGI app
        (Starlette) for the host to mount at ``base_url``'s path. Needs the
        ``local`` extra: ``pip install "workspace-billing[local]"``."""
        from .pages import build_app  # noqa: PLC0415 - Starlette only when pages are served

        return build_app(self)


if TYPE_CHECKING:

    def _is_a_payment_provider(local: LocalPaymentProvider) -> PaymentProvider:
        return local  # mypy --strict checks the port is implemented whole
