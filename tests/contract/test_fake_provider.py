"""The payment provider contract, run against the shipped fake provider."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from workspace_billing import (
    CheckoutRequest,
    Interval,
    InvalidRequest,
    InvoiceStatus,
    Money,
    NotFound,
    PaymentActionRequired,
    PaymentFailed,
    PaymentMethod,
    ProviderError,
)
from workspace_billing.providers.fake import TEST_CARD
from workspace_billing.testing import FakeClock, FakeInvoice, FakePaymentProvider
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


class TestFakeInvoiceHistory:
    """What the fake's invoice history holds, charge by charge (see providers/fake_invoices.py)."""

    def _paid(self, seats: int = 3) -> tuple[FakeClock, FakePaymentProvider, str, str]:
        clock = FakeClock()
        provider = FakePaymentProvider(clock=clock)
        customer = provider.create_customer(
            workspace_id="ws", name="A", owner="a", idempotency_key="k"
        )
        request = CheckoutRequest(
            "ws", customer, "business", Interval.MONTH, seats, Money(1200, "EUR"), "u", "c"
        )
        ref = provider.complete_checkout(provider.create_checkout(request, idempotency_key="c").id)
        return clock, provider, customer, ref

    def test_a_checkout_is_a_numbered_paid_invoice_with_its_pages(self) -> None:
        _, provider, customer, ref = self._paid()
        view = provider.fetch_subscription(ref)
        (invoice,) = provider.invoices(customer, 24)
        assert (invoice.number, invoice.status, invoice.total) == (
            "FAKE-0001",
            InvoiceStatus.PAID,
            Money(3600, "EUR"),
        )
        assert (invoice.period_start, invoice.period_end) == (view.period_start, view.period_end)
        assert invoice.created_at == view.period_start
        assert invoice.pdf_url == f"https://fake-provider.invalid/invoices/{invoice.id}.pdf"
        assert invoice.hosted_url == f"https://fake-provider.invalid/invoices/{invoice.id}"

    def test_a_declined_change_is_void_and_one_waiting_for_the_customer_open(self) -> None:
        clock, provider, customer, ref = self._paid()
        clock.advance(timedelta(days=10))
        provider.fail_next_payment()
        with pytest.raises(PaymentFailed):
            provider.increase_seats(ref, 4, idempotency_key="inc:4")
        provider.require_action_next_payment()
        with pytest.raises(PaymentActionRequired) as waiting:
            provider.increase_seats(ref, 5, idempotency_key="inc:5")
        statuses = [(i.number, i.status) for i in provider.invoices(customer, 24)]
        assert statuses == [
            ("FAKE-0003", InvoiceStatus.OPEN),
            ("FAKE-0002", InvoiceStatus.VOID),
            ("FAKE-0001", InvoiceStatus.PAID),
        ]
        provider.authenticate(waiting.value.url)
        newest = provider.invoices(customer, 1)[0]
        assert (newest.number, newest.status) == ("FAKE-0003", InvoiceStatus.PAID)
        assert newest.period_end == provider.fetch_subscription(ref).period_end
        assert newest.period_start == clock.now()

    def test_a_declined_renewal_stays_open_until_settled(self) -> None:
        clock, provider, customer, ref = self._paid()
        end = provider.fetch_subscription(ref).period_end
        provider.fail_next_payment()
        clock.set(end + timedelta(days=2))
        renewal = provider.invoices(customer, 24)[0]
        assert (renewal.status, renewal.created_at, renewal.period_start) == (
            InvoiceStatus.OPEN,
            end,
            end,
        )
        provider.settle(ref)
        settled = provider.invoices(customer, 24)
        assert [(i.id, i.status) for i in settled[:1]] == [(renewal.id, InvoiceStatus.PAID)]
        assert len(settled) == 2  # the settlement paid the renewal's invoice, none was added
        assert [i.reason for i in provider.invoices] == ["checkout", "renewal", "settlement"]

    def test_a_renewal_waiting_for_the_customer_is_paid_once_they_confirm(self) -> None:
        clock, provider, customer, ref = self._paid()
        provider.require_action_next_payment()
        clock.set(provider.fetch_subscription(ref).period_end + timedelta(hours=1))
        url = provider.fetch_subscription(ref).action_url
        assert url is not None
        assert provider.invoices(customer, 1)[0].status is InvoiceStatus.OPEN
        provider.authenticate(url)
        assert provider.invoices(customer, 1)[0].status is InvoiceStatus.PAID

    def test_nothing_due_and_a_declined_checkout_leave_no_invoice(self) -> None:
        _, provider, customer, ref = self._paid()
        provider.change_plan(ref, plan="business", interval=Interval.MONTH, seats=3,
                             unit_amount=Money(1200, "EUR"), idempotency_key="same")  # fmt: skip
        other = CheckoutRequest("ws", customer, "business", Interval.MONTH, 2, Money(1200, "EUR"),
                                "u", "c")  # fmt: skip
        provider.fail_next_payment()
        with pytest.raises(PaymentFailed):
            provider.complete_checkout(provider.create_checkout(other, idempotency_key="c2").id)
        assert [i.number for i in provider.invoices(customer, 24)] == ["FAKE-0001"]
        assert [(i.reason, i.paid) for i in provider.invoices] == [
            ("checkout", True),
            ("plan_change", True),
            ("checkout", False),
        ]

    def test_the_history_is_the_customers_own_newest_first_and_limited(self) -> None:
        clock, provider, customer, ref = self._paid()
        for _ in range(3):
            clock.set(provider.fetch_subscription(ref).period_end + timedelta(hours=1))
        history = provider.invoices(customer, 24)
        assert [i.number for i in history] == ["FAKE-0004", "FAKE-0003", "FAKE-0002", "FAKE-0001"]
        assert list(provider.invoices(customer, 2)) == history[:2]
        other = provider.create_customer(workspace_id="w2", name="B", owner="b",
                                         idempotency_key="k2")  # fmt: skip
        assert provider.invoices(other, 24) == []
        with pytest.raises(InvalidRequest):
            provider.invoices(customer, 0)
        with pytest.raises(NotFound):
            provider.invoices("cus_missing", 24)

    def test_the_charges_attempted_are_still_a_list(self) -> None:
        """``invoices`` keeps being the list of ``FakeInvoice`` tests index and compare."""
        _, provider, _, ref = self._paid()
        assert isinstance(provider.invoices, list)
        assert provider.invoices == [FakeInvoice(ref, Money(3600, "EUR"), True, "checkout",
                                                 provider.invoices[0].at)]  # fmt: skip
        assert provider.invoices[-1].amount == Money(3600, "EUR")


class TestFakeCardAndCheckoutOptions:
    def test_a_completed_checkout_leaves_the_test_card_on_the_customers_views(self) -> None:
        clock = FakeClock()
        provider = FakePaymentProvider(clock=clock)
        customer = provider.create_customer(
            workspace_id="ws", name="A", owner="a", idempotency_key="k"
        )
        request = CheckoutRequest(
            "ws", customer, "business", Interval.MONTH, 2, Money(1200, "EUR"), "u", "c"
        )
        checkout = provider.create_checkout(request, idempotency_key="c")
        assert customer not in provider.payment_methods  # nothing before it is paid
        ref = provider.complete_checkout(checkout.id)
        card = PaymentMethod(brand="visa", last4="4242", exp_month=12, exp_year=2030)
        assert provider.fetch_subscription(ref).payment_method == card == TEST_CARD
        replaced = PaymentMethod(brand="mastercard", last4="4444", exp_month=1, exp_year=2031)
        provider.payment_methods[customer] = replaced  # changed in the portal
        assert provider.fetch_subscription(ref).payment_method == replaced
        provider.delete_customer(customer)
        assert provider.subscription(ref).payment_method is None

    def test_the_last_checkout_request_is_kept_with_its_options(self) -> None:
        provider = FakePaymentProvider(clock=FakeClock())
        assert provider.last_checkout_request is None
        customer = provider.create_customer(
            workspace_id="ws", name="A", owner="a", idempotency_key="k"
        )
        plain = CheckoutRequest(
            "ws", customer, "business", Interval.MONTH, 2, Money(1200, "EUR"), "u", "c"
        )
        provider.create_checkout(plain, idempotency_key="c1")
        assert provider.last_checkout_request == plain
        assert (plain.allow_promotion_codes, plain.automatic_tax) == (None, None)
        taxed = attrs.evolve(plain, allow_promotion_codes=True, automatic_tax=False)
        provider.create_checkout(taxed, idempotency_key="c2")
        assert provider.last_checkout_request == taxed
        with pytest.raises(ProviderError, match="idempotency key"):
            provider.create_checkout(taxed, idempotency_key="c1")  # other options, same key
