"""The Stripe adapter over real HTTP, through the real SDK, against localstripe.

localstripe serves customers, plans, subscriptions (created, retrieved, listed
for a customer, flagged to cancel at period end, resumed, canceled) and signed
webhooks for ``customer.subscription.created`` and ``.deleted``. It has no
Prices, Checkout, billing portal, subscription schedules, prorating invoice
previews, test clocks, idempotency or 3-D Secure on subscription payments, and
it answers HTTP 500 to ``proration_behavior``, ``payment_behavior`` and
``off_session`` on updates: each contract case it cannot serve is skipped with
the gap named, and runs at the SDK's HTTP boundary instead
(test_stripe_contract.py, test_stripe_money_paths.py, test_stripe_requests.py).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import stripe
from tests.stripe_adapter.conftest import WEBHOOK_SECRET, Receiver

from workspace_billing import (
    Billing,
    Catalog,
    CatalogError,
    CheckoutRequest,
    Interval,
    Money,
    ProviderError,
    Role,
    SubscriptionStatus,
    SystemClock,
    WebhookVerificationError,
)
from workspace_billing.providers.stripe import StripePrice, StripeProvider
from workspace_billing.testing import InMemoryStore
from workspace_billing.testing.contracts import PaymentProviderContract, ProviderHarness

PLANS = (
    StripePrice("business", Interval.MONTH, "plan_month"),
    StripePrice("business", Interval.YEAR, "plan_year"),
)
URLS = {"success_url": "https://app.example/ok", "cancel_url": "https://app.example/cancel"}

NO_IDEMPOTENCY = (
    "localstripe ignores Idempotency-Key; the keys sent are checked in test_stripe_requests"
)
NO_PRORATION = (
    "localstripe answers HTTP 500 to proration_behavior/payment_behavior/off_session on updates"
)
NO_SCHEDULES = "localstripe has no subscription schedules"
NO_CLOCK = "localstripe has no test clocks: its periods never end"
GAPS = {
    "test_a_customer_write_is_idempotent": NO_IDEMPOTENCY,
    "test_a_key_reused_with_other_parameters_is_refused": NO_IDEMPOTENCY,
    "test_a_checkout_opens_a_payment_page": "localstripe has no Checkout Sessions",
    "test_an_increase_is_granted_at_once": NO_PRORATION,
    "test_an_unpaid_increase_changes_nothing": NO_PRORATION,
    "test_a_decrease_waits_for_the_renewal": NO_SCHEDULES,
    "test_asking_for_the_seats_in_force_withdraws_a_decrease": NO_SCHEDULES,
    "test_a_cancellation_ends_the_subscription_at_period_end": NO_CLOCK,
    "test_a_failed_renewal_is_past_due": NO_CLOCK,
    "test_a_quote_prices_without_changing": "localstripe's invoice previews do not prorate",
    "test_a_stale_webhook_is_refused": "the SDK checks timestamps on the real clock; "
    "test_stripe_requests signs stale ones",
    "test_the_portal_is_a_url": "localstripe has no billing portal",
    "test_nothing_due_attempts_no_payment": NO_PRORATION + "; the decline kept for a real "
    "charge is shown in test_stripe_money_paths",
    "test_invoices_are_listed_newest_first_and_limited": "a second invoice needs an increase "
    "after time passes: " + NO_PRORATION + ", and " + NO_CLOCK.removeprefix("localstripe "),
}


def stripe_provider(client: stripe.StripeClient) -> StripeProvider:
    return StripeProvider(client, prices=PLANS, webhook_secret=WEBHOOK_SECRET, price_field="plan")


def subscribe(client: stripe.StripeClient, request: CheckoutRequest) -> str:
    """What a paid Checkout Session leaves behind: a card on file and the subscription."""
    card = client.v1.payment_methods.attach(
        "pm_card_visa", params={"customer": request.customer_ref}
    )
    client.v1.customers.update(
        request.customer_ref, params={"invoice_settings": {"default_payment_method": card.id}}
    )
    plan = "plan_month" if request.interval is Interval.MONTH else "plan_year"
    created = client.v1.subscriptions.create(
        params={
            "customer": request.customer_ref,
            "items": [{"plan": plan, "quantity": request.seats}],
            "metadata": {"workspace_id": request.workspace_id, "wb_installation": "default"},
        }
    )
    return str(created.id)


class TestStripeProviderContract(PaymentProviderContract):
    """The provider contract, as far as localstripe serves it."""

    @pytest.fixture(name="harness")
    def harness_fixture(
        self, localstripe: stripe.StripeClient, receiver: Receiver
    ) -> ProviderHarness:
        created: list[str] = []

        def subscribe_and_remember(request: CheckoutRequest) -> str:
            created.append(subscribe(localstripe, request))
            return created[-1]

        def take_webhooks() -> list[tuple[bytes, dict[str, str]]]:
            return [receiver.wait_for("customer.subscription.created", ref) for ref in created]

        def unsupported(*_: object) -> str:
            raise NotImplementedError("not on localstripe")

        return ProviderHarness(
            provider=stripe_provider(localstripe),
            clock=SystemClock(),
            complete_checkout=unsupported,
            subscribe=subscribe_and_remember,
            advance=unsupported,
            fail_next_payment=unsupported,
            take_webhooks=take_webhooks,  # type: ignore[arg-type]
            gaps=GAPS,
        )


class TestBillingOnLocalstripe:
    """Billing end to end: the SDK, HTTP, localstripe's webhooks, verified and applied."""

    def test_the_configured_plans_pass_the_start_up_check(
        self, localstripe: stripe.StripeClient
    ) -> None:
        stripe_provider(localstripe).verify(Catalog.default())
        mispriced = StripeProvider(
            localstripe,
            prices=[
                StripePrice("business", "month", "plan_year"),
                StripePrice("business", "year", "plan_month"),
            ],
            webhook_secret=WEBHOOK_SECRET,
            price_field="plan",
        )
        with pytest.raises(CatalogError, match="bills every year, not every month"):
            mispriced.verify(Catalog.default())

    def test_a_paid_subscription_reaches_the_workspace_by_webhook(
        self, localstripe: stripe.StripeClient, receiver: Receiver
    ) -> None:
        """Rules R6, R8, R13, R14 over real HTTP."""
        billing = Billing(
            catalog=Catalog.default(), store=InMemoryStore(), provider=stripe_provider(localstripe)
        )
        ws = billing.create_workspace(owner="alice", name="Acme")
        with pytest.raises(ProviderError, match="Stripe"):  # no Checkout Sessions on localstripe
            billing.upgrade(ws.id, actor="alice", plan="business", seats=3, **URLS)
        customer = billing.workspace(ws.id).subscription.customer_ref
        assert customer is not None
        assert customer.startswith("cus_")
        request = CheckoutRequest(
            ws.id, customer, "business", Interval.MONTH, 3, Money(1200, "EUR"), "u", "c"
        )
        ref = subscribe(localstripe, request)

        payload, headers = receiver.wait_for("customer.subscription.created", ref)
        assert billing.handle_webhook(payload, headers).applied == 1
        assert billing.handle_webhook(payload, headers).duplicates == 1
        overview = billing.subscription(ws.id, actor="alice")
        assert (overview.plan, overview.status, overview.seats) == (
            "business",
            SubscriptionStatus.ACTIVE,
            3,
        )
        assert overview.price_per_seat == Money(1200, "EUR")
        assert overview.renews_at is not None
        assert overview.renews_at - overview.period_start >= timedelta(days=28)  # type: ignore[operator]

        billing.add_member(ws.id, actor="alice", user="bob", role=Role.ADMIN)
        billing.add_member(ws.id, actor="bob", user="carol")
        assert billing.subscription(ws.id, actor="bob").seats_used == 3

        assert billing.cancel(ws.id, actor="alice").cancel_at_period_end
        assert localstripe.v1.subscriptions.retrieve(ref).cancel_at_period_end
        assert not billing.resume(ws.id, actor="bob").cancel_at_period_end

        altered = payload.replace(b"active", b"activ3")
        with pytest.raises(WebhookVerificationError):
            billing.handle_webhook(altered, headers)

    def test_an_operator_contract_cancels_the_stripe_subscription(
        self, localstripe: stripe.StripeClient, receiver: Receiver
    ) -> None:
        """Rule R7: negotiated terms replace the self-serve subscription, canceled at Stripe."""
        provider = stripe_provider(localstripe)
        billing = Billing(catalog=Catalog.default(), store=InMemoryStore(), provider=provider)
        ws = billing.create_workspace(owner="alice", name="Acme")
        with pytest.raises(ProviderError, match="Stripe"):  # no Checkout Sessions on localstripe
            billing.upgrade(ws.id, actor="alice", plan="business", seats=2, **URLS)
        customer = billing.workspace(ws.id).subscription.customer_ref  # this installation's
        assert customer is not None
        request = CheckoutRequest(
            ws.id, customer, "business", Interval.YEAR, 2, Money(12000, "EUR"), "u", "c"
        )
        ref = subscribe(localstripe, request)
        billing.handle_webhook(*receiver.wait_for("customer.subscription.created", ref))
        assert billing.workspace(ws.id).subscription.interval is Interval.YEAR

        billing.apply_custom_terms(
            ws.id, operator="sales", seats=50, unit_amount=Money(900, "EUR"), interval="year"
        )
        assert localstripe.v1.subscriptions.retrieve(ref).status == "canceled"
        result = billing.handle_webhook(*receiver.wait_for("customer.subscription.deleted", ref))
        assert result.applied + result.ignored == 1
        sub = billing.workspace(ws.id).subscription
        assert (sub.plan, sub.seats, sub.status) == ("enterprise", 50, SubscriptionStatus.ACTIVE)

    def test_cancel_now_ends_the_stripe_subscription_and_the_workspace_falls_back(
        self, localstripe: stripe.StripeClient, receiver: Receiver
    ) -> None:
        """Rule R13: ``cancel(now=True)`` is Stripe's immediate cancel (no prorate, no
        refund); the canceled view is applied at once, the webhook after it changes nothing."""
        billing = Billing(
            catalog=Catalog.default(), store=InMemoryStore(), provider=stripe_provider(localstripe)
        )
        ws = billing.create_workspace(owner="alice", name="Acme")
        with pytest.raises(ProviderError, match="Stripe"):  # no Checkout Sessions on localstripe
            billing.upgrade(ws.id, actor="alice", plan="business", seats=3, **URLS)
        customer = billing.workspace(ws.id).subscription.customer_ref
        assert customer is not None
        request = CheckoutRequest(
            ws.id, customer, "business", Interval.MONTH, 3, Money(1200, "EUR"), "u", "c"
        )
        ref = subscribe(localstripe, request)
        billing.handle_webhook(*receiver.wait_for("customer.subscription.created", ref))
        billing.add_member(ws.id, actor="alice", user="bob")
        billing.add_member(ws.id, actor="alice", user="carol")

        overview = billing.cancel(ws.id, actor="alice", now=True)

        assert localstripe.v1.subscriptions.retrieve(ref).status == "canceled"
        assert (overview.plan, overview.status) == ("free", SubscriptionStatus.FREE)
        assert (overview.seats_used, overview.payment_method) == (2, None)  # R11: carol goes
        after = billing.workspace(ws.id)
        result = billing.handle_webhook(*receiver.wait_for("customer.subscription.deleted", ref))
        assert result.applied + result.ignored == 1
        assert billing.workspace(ws.id) == after
