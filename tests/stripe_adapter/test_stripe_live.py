"""The Stripe adapter against Stripe's test mode, with test clocks for renewals.

Runs only when ``STRIPE_TEST_SECRET_KEY`` (an ``sk_test_...`` key) is set, with
``STRIPE_TEST_PRICE_MONTH`` and ``STRIPE_TEST_PRICE_YEAR`` naming recurring,
licensed, per-unit EUR prices of 12.00 and 120.00 (Catalog.default()'s Business):

    STRIPE_TEST_SECRET_KEY=sk_test_... STRIPE_TEST_PRICE_MONTH=price_... \\
    STRIPE_TEST_PRICE_YEAR=price_... python -m pytest tests/stripe_adapter/test_stripe_live.py

It never runs in CI (no network there); docs/stripe.md tells hosts how to run it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import stripe

from workspace_billing import Catalog, Interval, PaymentFailed, ProviderStatus
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


def subscribe(client: stripe.StripeClient, clock_id: str, card: str, seats: int) -> str:
    customer = client.v1.customers.create(
        params={"test_clock": clock_id, "metadata": {"workspace_id": "ws_live"}}
    )
    method = client.v1.payment_methods.attach(card, params={"customer": str(customer.id)})
    client.v1.customers.update(
        str(customer.id), params={"invoice_settings": {"default_payment_method": str(method.id)}}
    )
    created = client.v1.subscriptions.create(
        params={
            "customer": str(customer.id),
            "items": [{"price": os.environ["STRIPE_TEST_PRICE_MONTH"], "quantity": seats}],
            "metadata": {"workspace_id": "ws_live"},
        }
    )
    return str(created.id)


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
    customer = str(client.v1.subscriptions.retrieve(ref).customer)
    failing = client.v1.payment_methods.attach(
        "pm_card_chargeCustomerFail", params={"customer": customer}
    )
    client.v1.customers.update(
        customer, params={"invoice_settings": {"default_payment_method": str(failing.id)}}
    )
    with pytest.raises(PaymentFailed):
        provider.increase_seats(ref, 6, idempotency_key=f"live:{ref}:declined")
    assert provider.fetch_subscription(ref).seats == 3
