"""The Stripe adapter against Stripe's test mode, with test clocks for renewals.

Runs only when ``STRIPE_TEST_SECRET_KEY`` (an ``sk_test_...`` key) is set, with
``STRIPE_TEST_PRICE_MONTH`` and ``STRIPE_TEST_PRICE_YEAR`` naming recurring,
licensed, per-unit EUR prices of 12.00 and 120.00 (Catalog.default()'s Business):

    STRIPE_TEST_SECRET_KEY=sk_test_... STRIPE_TEST_PRICE_MONTH=price_... \\
    STRIPE_TEST_PRICE_YEAR=price_... python -m pytest tests/stripe_adapter/test_stripe_live.py

It never runs in CI (no network there); docs/stripe.md tells hosts how to run it.
It proves against Stripe itself what test_stripe_money_paths.py and
test_stripe_contract.py prove against documented answers: 3-D Secure on an
increase, an increase replacing a scheduled decrease, a coupon kept by a
decrease, and a quote equal to the charge.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import stripe

from workspace_billing import (
    Catalog,
    Interval,
    Money,
    PaymentActionRequired,
    PaymentFailed,
    ProviderStatus,
    QuoteRequest,
)
from workspace_billing.providers.stripe import StripePrice, StripeProvider

KEY = os.environ.get("STRIPE_TEST_SECRET_KEY", "")
pytestmark = pytest.mark.skipif(
    not KEY.startswith("sk_test_"),
    reason="live Stripe test mode: set STRIPE_TEST_SECRET_KEY=sk_test_..., "
    "STRIPE_TEST_PRICE_MONTH and STRIPE_TEST_PRICE_YEAR (see docs/stripe.md)",
)


@pytest.fixture(name="live")
def live_fixture() -> tuple[stripe.StripeClient, StripeProvider]:
    client = stripe.StripeClient(KEY, max_network_retries=2)
    prices = [
        StripePrice("business", Interval.MONTH, os.environ["STRIPE_TEST_PRICE_MONTH"]),
        StripePrice("business", Interval.YEAR, os.environ["STRIPE_TEST_PRICE_YEAR"]),
    ]
    provider = StripeProvider(client, prices=prices, webhook_secret="whsec_unused_here")
    provider.verify(Catalog.default())
    return client, provider


@pytest.fixture(name="clock_id")
def clock_id_fixture(live: tuple[stripe.StripeClient, StripeProvider]) -> Iterator[str]:
    client, _ = live
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": int(time.time())})
    yield str(clock.id)
    client.v1.test_helpers.test_clocks.delete(str(clock.id))


def advance(client: stripe.StripeClient, clock_id: str, to: int) -> None:
    client.v1.test_helpers.test_clocks.advance(clock_id, params={"frozen_time": to})
    for _ in range(120):  # test clocks advance asynchronously: poll, bounded
        if client.v1.test_helpers.test_clocks.retrieve(clock_id).status == "ready":
            return
        time.sleep(1)
    raise AssertionError("the test clock did not finish advancing in 2 minutes")


OURS = {"workspace_id": "ws_live", "wb_installation": "default"}


def subscribe(
    client: stripe.StripeClient, clock_id: str, card: str, seats: int, coupon: str | None = None
) -> str:
    """What a paid Checkout leaves behind: a customer with a card, and the subscription."""
    customer = client.v1.customers.create(params={"test_clock": clock_id, "metadata": OURS})
    method = client.v1.payment_methods.attach(card, params={"customer": str(customer.id)})
    client.v1.customers.update(
        str(customer.id), params={"invoice_settings": {"default_payment_method": str(method.id)}}
    )
    params: dict[str, object] = {
        "customer": str(customer.id),
        "items": [{"price": os.environ["STRIPE_TEST_PRICE_MONTH"], "quantity": seats}],
        "metadata": OURS,
    }
    if coupon:
        params["discounts"] = [{"coupon": coupon}]
    created = client.v1.subscriptions.create(params=params)  # type: ignore[arg-type]
    return str(created.id)


def use_card(client: stripe.StripeClient, ref: str, card: str) -> None:
    """The customer's default card from now on (charges off session use it)."""
    customer = str(client.v1.subscriptions.retrieve(ref).customer)
    method = client.v1.payment_methods.attach(card, params={"customer": customer})
    client.v1.customers.update(
        customer, params={"invoice_settings": {"default_payment_method": str(method.id)}}
    )


def frozen(client: stripe.StripeClient, clock_id: str) -> int:
    return int(client.v1.test_helpers.test_clocks.retrieve(clock_id).frozen_time)


def test_seats_up_now_down_at_renewal(
    live: tuple[stripe.StripeClient, StripeProvider], clock_id: str
) -> None:
    """Rule R9 on real Stripe: an increase is paid at once, a decrease waits for the renewal."""
    client, provider = live
    ref = subscribe(client, clock_id, "pm_card_visa", seats=3)
    assert provider.increase_seats(ref, 5, idempotency_key=f"live:{ref}:inc").seats == 5
    view = provider.schedule_seat_decrease(ref, 2, idempotency_key=f"live:{ref}:dec")
    assert (view.seats, view.pending_seats) == (5, 2)
    advance(client, clock_id, int((view.period_end + timedelta(hours=2)).timestamp()))
    renewed = provider.fetch_subscription(ref)
    assert (renewed.seats, renewed.status) == (2, ProviderStatus.ACTIVE)


def test_a_declined_increase_changes_nothing(
    live: tuple[stripe.StripeClient, StripeProvider], clock_id: str
) -> None:
    """Rule R9 on real Stripe: error_if_incomplete refuses the update when the card fails."""
    client, provider = live
    ref = subscribe(client, clock_id, "pm_card_visa", seats=3)
    use_card(client, ref, "pm_card_chargeCustomerFail")
    with pytest.raises(PaymentFailed):
        provider.increase_seats(ref, 6, idempotency_key=f"live:{ref}:declined")
    assert provider.fetch_subscription(ref).seats == 3
    found = client.v1.subscriptions.retrieve(ref)
    assert found.pending_update is None  # the invoice was voided, the change discarded
    open_invoices = client.v1.invoices.list(params={"subscription": ref, "status": "open"})
    assert not open_invoices.data


def test_an_increase_needing_authentication_waits_for_the_customer(
    live: tuple[stripe.StripeClient, StripeProvider], clock_id: str
) -> None:
    """Rule R9 with 3-D Secure: the page to confirm on, and nothing granted until then."""
    client, provider = live
    ref = subscribe(client, clock_id, "pm_card_visa", seats=3)
    use_card(client, ref, "pm_card_authenticationRequired")
    with pytest.raises(PaymentActionRequired) as needed:
        provider.increase_seats(ref, 5, idempotency_key=f"live:{ref}:sca")
    assert needed.value.url.startswith("https://")
    waiting = provider.fetch_subscription(ref)
    assert (waiting.seats, waiting.action_url) == (3, needed.value.url)


def test_an_increase_replaces_a_scheduled_decrease(
    live: tuple[stripe.StripeClient, StripeProvider], clock_id: str
) -> None:
    """Rule R9: once paid, the increase is what renews."""
    client, provider = live
    ref = subscribe(client, clock_id, "pm_card_visa", seats=4)
    assert (
        provider.schedule_seat_decrease(ref, 2, idempotency_key=f"live:{ref}:dec").pending_seats
        == 2
    )
    view = provider.increase_seats(ref, 6, idempotency_key=f"live:{ref}:inc")
    assert (view.seats, view.pending_seats) == (6, None)
    advance(client, clock_id, int((view.period_end + timedelta(hours=2)).timestamp()))
    assert provider.fetch_subscription(ref).seats == 6


def test_a_decrease_keeps_the_coupon(
    live: tuple[stripe.StripeClient, StripeProvider], clock_id: str
) -> None:
    """The schedule's phases keep what the subscription carries: the renewal is discounted."""
    client, provider = live
    coupon = client.v1.coupons.create(params={"percent_off": 50, "duration": "forever"})
    ref = subscribe(client, clock_id, "pm_card_visa", seats=4, coupon=str(coupon.id))
    view = provider.schedule_seat_decrease(ref, 2, idempotency_key=f"live:{ref}:dec")
    advance(client, clock_id, int((view.period_end + timedelta(hours=2)).timestamp()))
    renewed = client.v1.subscriptions.retrieve(ref, params={"expand": ["latest_invoice"]})
    assert renewed.discounts, "the coupon was dropped by the schedule"
    assert renewed.latest_invoice.total == 2 * 1200 // 2  # type: ignore[union-attr]
    client.v1.coupons.delete(str(coupon.id))


def test_the_quote_is_the_charge(
    live: tuple[stripe.StripeClient, StripeProvider], clock_id: str
) -> None:
    """Rule R18: the preview and the update share one proration date."""
    client, provider = live
    ref = subscribe(client, clock_id, "pm_card_visa", seats=3)
    advance(client, clock_id, frozen(client, clock_id) + 10 * 86_400)
    unit = Money(1200, "EUR")
    quote = provider.quote(QuoteRequest("business", Interval.MONTH, 5, unit, ref))
    provider.increase_seats(ref, 5, idempotency_key=f"live:{ref}:inc")
    invoice = client.v1.subscriptions.retrieve(ref, params={"expand": ["latest_invoice"]})
    assert quote.due_now == Money(invoice.latest_invoice.amount_paid, "EUR")  # type: ignore[union-attr]
