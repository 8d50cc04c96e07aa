"""The payment provider contract, run against the shipped fake provider."""

from __future__ import annotations

from datetime import timedelta

import pytest

from workspace_billing.testing import FakeClock, FakePaymentProvider
from workspace_billing.testing.contracts import PaymentProviderContract, ProviderHarness


class TestFakePaymentProvider(PaymentProviderContract):
    @pytest.fixture(name="harness")
    def harness_fixture(self) -> ProviderHarness:
        clock = FakeClock()
        provider = FakePaymentProvider(clock=clock)

        def advance(delta: timedelta) -> None:
            clock.advance(delta)

        return ProviderHarness(
            provider=provider,
            clock=clock,
            complete_checkout=provider.complete_checkout,
            advance=advance,
            fail_next_payment=provider.fail_next_payment,
            take_webhooks=provider.take_webhooks,  # type: ignore[arg-type]
            require_action_next_payment=provider.require_action_next_payment,
            authenticate=provider.authenticate,
        )


class TestFakeProviderHelpers:
    """The test helpers hosts rely on behave like a provider would."""

    def test_deliver_hands_each_webhook_once_and_counts_them(self) -> None:
        clock = FakeClock()
        provider = FakePaymentProvider(clock=clock)
        received: list[bytes] = []
        assert provider.deliver(lambda payload, headers: received.append(payload)) == 0
        provider.create_customer(workspace_id="ws", name="A", owner="a", idempotency_key="k")
        assert received == []

    def test_a_webhook_whose_handler_fails_stays_queued(self) -> None:
        from workspace_billing import CheckoutRequest, Interval, Money

        clock = FakeClock()
        provider = FakePaymentProvider(clock=clock)
        customer = provider.create_customer(
            workspace_id="ws", name="A", owner="a", idempotency_key="k"
        )
        request = CheckoutRequest(
            "ws", customer, "business", Interval.MONTH, 1, Money(1, "EUR"), "u", "c"
        )
        provider.complete_checkout(provider.create_checkout(request, idempotency_key="c").id)

        def broken(payload: bytes, headers: object) -> None:
            raise ConnectionError("host down")

        with pytest.raises(ConnectionError):
            provider.deliver(broken)
        assert provider.deliver(lambda p, h: None) == 3

    def test_a_settled_subscription_that_is_not_past_due_is_refused(self) -> None:
        from workspace_billing import NotFound, ProviderError

        provider = FakePaymentProvider(clock=FakeClock())
        with pytest.raises(NotFound):
            provider.settle("sub_missing")
        customer = provider.create_customer(
            workspace_id="ws", name="A", owner="a", idempotency_key="k"
        )
        assert customer.startswith("cus_")
        with pytest.raises(ProviderError, match="idempotency key"):
            provider.create_customer(workspace_id="ws", name="A", owner="a", idempotency_key="")
