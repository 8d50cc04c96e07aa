"""The ``PaymentProvider`` contract suite, in its own module so each suite reads on its own.

It holds ``ProviderHarness`` (the provider under test plus the levers the port
does not offer) and ``PaymentProviderContract``. It was split out of
``contracts`` to keep each module short; hosts still import both from
``workspace_billing.testing.contracts``, which re-exports them. It imports
pytest, so ``workspace_billing.testing`` never imports this module itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta

import attrs
import pytest

from ..catalog import Interval
from ..errors import PaymentActionRequired, PaymentFailed, ProviderError, WebhookVerificationError
from ..money import Money
from ..ports import (
    CheckoutRequest,
    Clock,
    InvoiceStatus,
    PaymentProvider,
    ProviderEventType,
    ProviderStatus,
    QuoteRequest,
)

__all__ = ["PaymentProviderContract", "ProviderHarness"]


@attrs.frozen
class ProviderHarness:
    """A provider under test and the levers a test needs that the port does not offer.

    ``complete_checkout`` pays a checkout as its user would and returns the
    subscription's reference. A test double without hosted checkout gives
    ``subscribe`` instead: it creates the subscription a paid checkout would
    (customer, plan, interval, seats, workspace) and returns its reference.
    ``advance`` moves the provider's time forward;
    ``take_webhooks`` returns the signed webhooks sent since the last call.
    ``require_action_next_payment`` makes the next off-session charge need the
    customer's authentication (3-D Secure) and ``authenticate(url)`` completes
    it as the customer would on that page; a harness without them skips the
    3-D Secure cases, saying so.
    ``gaps`` names contract tests the provider's test double cannot serve,
    with the reason, so they are skipped with that reason.
    """

    provider: PaymentProvider
    clock: Clock
    complete_checkout: Callable[[str], str]
    advance: Callable[[timedelta], None]
    fail_next_payment: Callable[[], None]
    take_webhooks: Callable[[], list[tuple[bytes, Mapping[str, str]]]]
    subscribe: Callable[[CheckoutRequest], str] | None = None
    require_action_next_payment: Callable[[], None] | None = None
    authenticate: Callable[[str], None] | None = None
    unit_amount: Money = attrs.field(factory=lambda: Money(1200, "EUR"))
    plan: str = "business"
    gaps: Mapping[str, str] = attrs.field(factory=dict)


class PaymentProviderContract:
    """What every ``PaymentProvider`` guarantees. Provide a fixture named ``harness``."""

    @pytest.fixture(autouse=True)
    def _skip_gaps(self, request: pytest.FixtureRequest, harness: ProviderHarness) -> None:
        reason = harness.gaps.get(request.node.originalname)
        if reason:
            pytest.skip(reason)

    def _customer(self, h: ProviderHarness, ws: str = "ws_1") -> str:
        return h.provider.create_customer(
            workspace_id=ws, name="Acme", owner="alice", idempotency_key=f"test:{ws}:customer"
        )

    def _subscribe(self, h: ProviderHarness, seats: int = 3) -> str:
        request = CheckoutRequest(
            workspace_id="ws_1",
            customer_ref=self._customer(h),
            plan=h.plan,
            interval=Interval.MONTH,
            seats=seats,
            unit_amount=h.unit_amount,
            success_url="https://host.example/ok",
            cancel_url="https://host.example/cancel",
        )
        if h.subscribe is not None:
            return h.subscribe(request)
        checkout = h.provider.create_checkout(request, idempotency_key="test:ws_1:checkout")
        return h.complete_checkout(checkout.id)

    def test_a_checkout_opens_a_payment_page(self, harness: ProviderHarness) -> None:
        """Rule R6: upgrading starts at the provider's hosted payment page."""
        request = CheckoutRequest(
            workspace_id="ws_1",
            customer_ref=self._customer(harness),
            plan=harness.plan,
            interval=Interval.MONTH,
            seats=2,
            unit_amount=harness.unit_amount,
            success_url="https://host.example/ok",
            cancel_url="https://host.example/cancel",
        )
        checkout = harness.provider.create_checkout(request, idempotency_key="test:checkout")
        assert checkout.id
        assert checkout.url is not None
        assert checkout.url.startswith("https://")

    def test_a_customer_write_is_idempotent(self, harness: ProviderHarness) -> None:
        assert self._customer(harness) == self._customer(harness)

    def test_a_key_reused_with_other_parameters_is_refused(self, harness: ProviderHarness) -> None:
        self._customer(harness)
        with pytest.raises(ProviderError):
            harness.provider.create_customer(
                workspace_id="ws_2", name="Other", owner="bob", idempotency_key="test:ws_1:customer"
            )

    def test_a_completed_checkout_is_an_active_subscription(self, harness: ProviderHarness) -> None:
        """Rule R6: the plan exists at the provider once payment is confirmed."""
        ref = self._subscribe(harness, seats=3)
        view = harness.provider.fetch_subscription(ref)
        assert view.status is ProviderStatus.ACTIVE
        assert (view.plan, view.interval, view.seats) == (harness.plan, Interval.MONTH, 3)
        assert view.workspace_id == "ws_1"
        assert view.period_start <= harness.clock.now() < view.period_end
        assert view.pending_seats is None

    def test_an_increase_is_granted_at_once(self, harness: ProviderHarness) -> None:
        """Rule R9: an increase takes effect when paid."""
        ref = self._subscribe(harness)
        view = harness.provider.increase_seats(ref, 5, idempotency_key="test:inc:5")
        assert view.seats == 5
        assert harness.provider.fetch_subscription(ref).seats == 5

    def test_an_unpaid_increase_changes_nothing(self, harness: ProviderHarness) -> None:
        """Rule R9: seats are granted only when the payment is confirmed."""
        ref = self._subscribe(harness)
        harness.fail_next_payment()
        with pytest.raises(PaymentFailed):
            harness.provider.increase_seats(ref, 5, idempotency_key="test:inc:fail")
        assert harness.provider.fetch_subscription(ref).seats == 3

    def test_a_decrease_waits_for_the_renewal(self, harness: ProviderHarness) -> None:
        """Rule R9: a decrease never applies mid-period."""
        ref = self._subscribe(harness, seats=4)
        view = harness.provider.schedule_seat_decrease(ref, 2, idempotency_key="test:dec:2")
        assert (view.seats, view.pending_seats) == (4, 2)
        harness.advance(view.period_end - harness.clock.now() + timedelta(hours=1))
        renewed = harness.provider.fetch_subscription(ref)
        assert (renewed.seats, renewed.pending_seats) == (2, None)
        assert renewed.period_start >= view.period_end

    def test_asking_for_the_seats_in_force_withdraws_a_decrease(
        self, harness: ProviderHarness
    ) -> None:
        ref = self._subscribe(harness, seats=4)
        harness.provider.schedule_seat_decrease(ref, 2, idempotency_key="test:dec:2")
        view = harness.provider.schedule_seat_decrease(ref, 4, idempotency_key="test:dec:4")
        assert (view.seats, view.pending_seats) == (4, None)

    def test_cancel_at_period_end_then_resume(self, harness: ProviderHarness) -> None:
        """Rule R13."""
        ref = self._subscribe(harness)
        assert harness.provider.cancel(
            ref, at_period_end=True, idempotency_key="test:cancel"
        ).cancel_at_period_end
        assert not harness.provider.resume(ref, idempotency_key="test:resume").cancel_at_period_end

    def test_a_cancellation_ends_the_subscription_at_period_end(
        self, harness: ProviderHarness
    ) -> None:
        """Rule R13."""
        ref = self._subscribe(harness)
        view = harness.provider.cancel(ref, at_period_end=True, idempotency_key="test:cancel")
        harness.advance(view.period_end - harness.clock.now() + timedelta(hours=1))
        assert harness.provider.fetch_subscription(ref).status is ProviderStatus.CANCELED

    def test_a_cancellation_now_ends_the_subscription_at_once(
        self, harness: ProviderHarness
    ) -> None:
        """Rule R13, ``Billing.cancel(now=True)``: canceled at once, in the answer and
        when fetched again; no later renewal charges it."""
        ref = self._subscribe(harness)
        view = harness.provider.cancel(ref, at_period_end=False, idempotency_key="test:end")
        assert view.status is ProviderStatus.CANCELED
        assert harness.provider.fetch_subscription(ref).status is ProviderStatus.CANCELED

    def test_a_failed_renewal_is_past_due(self, harness: ProviderHarness) -> None:
        """Rule R12."""
        ref = self._subscribe(harness)
        view = harness.provider.fetch_subscription(ref)
        harness.fail_next_payment()
        harness.advance(view.period_end - harness.clock.now() + timedelta(hours=1))
        assert harness.provider.fetch_subscription(ref).status is ProviderStatus.PAST_DUE

    def test_a_quote_prices_without_changing(self, harness: ProviderHarness) -> None:
        """Rule R18: new subscriptions pay the full period; increases are prorated."""
        unit = harness.unit_amount
        fresh = harness.provider.quote(QuoteRequest(harness.plan, Interval.MONTH, 3, unit))
        assert fresh.due_now == unit * 3
        assert fresh.recurring == unit * 3
        ref = self._subscribe(harness)
        harness.advance(timedelta(days=10))
        quote = harness.provider.quote(QuoteRequest(harness.plan, Interval.MONTH, 5, unit, ref))
        assert Money.zero(unit.currency) < quote.due_now < unit * 2
        assert quote.recurring == unit * 5
        assert harness.provider.fetch_subscription(ref).seats == 3

    def test_webhooks_parse_into_verified_events(self, harness: ProviderHarness) -> None:
        """Rule R14: each webhook names its event and subscription."""
        ref = self._subscribe(harness)
        webhooks = harness.take_webhooks()
        assert webhooks
        events = [e for p, h in webhooks for e in harness.provider.parse_webhook(p, h)]
        assert len({e.id for e in events}) == len(events)
        assert any(
            e.subscription_ref == ref and e.type is not ProviderEventType.OTHER for e in events
        )

    def test_an_altered_webhook_is_refused(self, harness: ProviderHarness) -> None:
        """Rule R14/R17: one changed byte fails the signature."""
        self._subscribe(harness)
        payload, headers = harness.take_webhooks()[0]
        altered = payload[:-1] + bytes([payload[-1] ^ 1])
        with pytest.raises(WebhookVerificationError):
            harness.provider.parse_webhook(altered, headers)
        with pytest.raises(WebhookVerificationError):
            harness.provider.parse_webhook(payload, {})

    def test_a_stale_webhook_is_refused(self, harness: ProviderHarness) -> None:
        """Rule R14: a replayed webhook outside the timestamp tolerance is refused."""
        self._subscribe(harness)
        payload, headers = harness.take_webhooks()[0]
        harness.advance(timedelta(hours=1))
        with pytest.raises(WebhookVerificationError):
            harness.provider.parse_webhook(payload, headers)

    def test_the_portal_is_a_url(self, harness: ProviderHarness) -> None:
        url = harness.provider.portal_url(
            self._customer(harness), return_url="https://host.example/billing",
            idempotency_key="test:portal",
        )  # fmt: skip
        assert url.startswith("https://")

    # ------------------------------------------------------------ money paths

    def _sca(self, h: ProviderHarness) -> tuple[Callable[[], None], Callable[[str], None]]:
        if h.require_action_next_payment is None or h.authenticate is None:
            pytest.skip("the harness cannot ask for 3-D Secure (require_action_next_payment)")
        return h.require_action_next_payment, h.authenticate

    def test_an_increase_needing_authentication_grants_nothing_until_confirmed(
        self, harness: ProviderHarness
    ) -> None:
        """Rule R9 with 3-D Secure: the page to confirm on, then the seats."""
        require_action, authenticate = self._sca(harness)
        ref = self._subscribe(harness)
        require_action()
        with pytest.raises(PaymentActionRequired) as needed:
            harness.provider.increase_seats(ref, 5, idempotency_key="test:inc:sca")
        assert needed.value.url.startswith("https://")
        assert harness.provider.fetch_subscription(ref).seats == 3
        authenticate(needed.value.url)
        assert harness.provider.fetch_subscription(ref).seats == 5

    def test_a_plan_change_needing_authentication_keeps_the_plan_until_confirmed(
        self, harness: ProviderHarness
    ) -> None:
        """Rule R6 with 3-D Secure."""
        require_action, authenticate = self._sca(harness)
        ref = self._subscribe(harness, seats=2)
        require_action()
        with pytest.raises(PaymentActionRequired) as needed:
            harness.provider.change_plan(
                ref, plan=harness.plan, interval=Interval.MONTH, seats=4,
                unit_amount=harness.unit_amount, idempotency_key="test:plan:sca",
            )  # fmt: skip
        assert harness.provider.fetch_subscription(ref).seats == 2
        authenticate(needed.value.url)
        assert harness.provider.fetch_subscription(ref).seats == 4

    def test_a_renewal_needing_authentication_is_past_due_with_the_page(
        self, harness: ProviderHarness
    ) -> None:
        """Rule R12 with 3-D Secure: past due, and the page to send the customer to."""
        require_action, authenticate = self._sca(harness)
        ref = self._subscribe(harness)
        view = harness.provider.fetch_subscription(ref)
        require_action()
        harness.advance(view.period_end - harness.clock.now() + timedelta(hours=1))
        waiting = harness.provider.fetch_subscription(ref)
        assert waiting.status is ProviderStatus.PAST_DUE
        assert waiting.action_url is not None
        authenticate(waiting.action_url)
        paid = harness.provider.fetch_subscription(ref)
        assert (paid.status, paid.action_url) == (ProviderStatus.ACTIVE, None)

    def test_nothing_due_attempts_no_payment(self, harness: ProviderHarness) -> None:
        """Rule R18: a change with nothing due cannot be declined."""
        ref = self._subscribe(harness, seats=3)
        harness.fail_next_payment()
        view = harness.provider.change_plan(
            ref, plan=harness.plan, interval=Interval.MONTH, seats=3,
            unit_amount=harness.unit_amount, idempotency_key="test:plan:same",
        )  # fmt: skip
        assert view.seats == 3
        with pytest.raises(PaymentFailed):  # the queued decline is kept for a real charge
            harness.provider.increase_seats(ref, 4, idempotency_key="test:inc:declined")

    def test_a_customer_lists_the_subscriptions_it_paid_for(self, harness: ProviderHarness) -> None:
        """A checkout whose webhooks were all lost is found from its customer."""
        ref = self._subscribe(harness)
        customer = harness.provider.fetch_subscription(ref).customer_ref
        assert [v.ref for v in harness.provider.subscriptions_of(customer)] == [ref]

    # ------------------------------------------------------------ billing page

    def test_a_paid_checkout_is_a_paid_invoice(self, harness: ProviderHarness) -> None:
        """The customer's invoices hold the checkout's payment: paid, for the seats
        bought, billing the subscription's first period."""
        ref = self._subscribe(harness, seats=3)
        view = harness.provider.fetch_subscription(ref)
        invoices = harness.provider.invoices(view.customer_ref, 24)
        assert any(
            i.status is InvoiceStatus.PAID
            and i.total == harness.unit_amount * 3
            and (i.period_start, i.period_end) == (view.period_start, view.period_end)
            for i in invoices
        )
        for invoice in invoices:
            assert invoice.id
            assert invoice.created_at.tzinfo is not None
            assert invoice.period_start <= invoice.period_end
        assert len(harness.provider.invoices(view.customer_ref, 1)) == 1

    def test_invoices_are_listed_newest_first_and_limited(self, harness: ProviderHarness) -> None:
        """A later charge (an increase, prorated to the period's end) comes first."""
        ref = self._subscribe(harness, seats=3)
        view = harness.provider.fetch_subscription(ref)
        harness.advance(timedelta(days=10))
        harness.provider.increase_seats(ref, 5, idempotency_key="test:inc:invoiced")
        invoices = harness.provider.invoices(view.customer_ref, 24)
        assert len(invoices) >= 2
        created = [i.created_at for i in invoices]
        assert created == sorted(created, reverse=True)
        newest = invoices[0]
        assert newest.status is InvoiceStatus.PAID
        assert Money.zero(harness.unit_amount.currency) < newest.total < harness.unit_amount * 2
        assert newest.period_end == view.period_end
        assert list(harness.provider.invoices(view.customer_ref, 1)) == [newest]

    def test_a_paid_checkout_leaves_a_card_on_file(self, harness: ProviderHarness) -> None:
        """The view names the card that pays the subscription, never its number."""
        ref = self._subscribe(harness)
        view = harness.provider.fetch_subscription(ref)
        card = view.payment_method
        assert card is not None
        assert card.brand
        assert len(card.last4) == 4
        assert 1 <= card.exp_month <= 12
        assert card.exp_year >= 2000
        listed = harness.provider.subscriptions_of(view.customer_ref)
        assert [v.payment_method for v in listed] == [card]
