"""A customer's invoices, the card on file and the Checkout options, at the SDK's HTTP boundary.

The answers are ``StripeDouble``'s, shaped as Stripe's own examples: invoices
with their number, PDF, hosted page and lines, whose ``period`` Stripe documents
as the service period (an invoice's own ``period_start``/``period_end`` is the
window for adding items, for a renewal the period before); payment methods with
their ``card``, reached by expanding the subscription's and its customer's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
from stripe_doubles import LENGTHS, RecordingHTTPClient, StripeDouble, provider
from stripe_fixtures import (
    PERIOD_END,
    PERIOD_START,
    invoice_json,
    line_json,
    payment_method_json,
    subscription_json,
)

from workspace_billing import (
    CheckoutRequest,
    Interval,
    InvalidRequest,
    InvoiceStatus,
    Money,
    PaymentFailed,
    PaymentMethod,
)
from workspace_billing.providers.stripe.invoices import invoice_of

MONTH = LENGTHS["month"]
VISA = PaymentMethod(brand="visa", last4="4242", exp_month=8, exp_year=2030)


def at(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


@pytest.fixture(name="double")
def double_fixture() -> StripeDouble:
    return StripeDouble(RecordingHTTPClient())


@pytest.fixture(name="http")
def http_fixture(double: StripeDouble) -> RecordingHTTPClient:
    return double.http


class TestInvoices:
    def test_a_customers_invoices_are_listed_newest_first_with_their_pages(
        self, http: RecordingHTTPClient, double: StripeDouble
    ) -> None:
        double.renew()
        renewal, first = provider(http).invoices("cus_1", 24)
        (listed,) = [r for r in http.requests if r.path == "/v1/invoices"]
        assert (listed.method, listed.params) == ("GET", {"customer": "cus_1", "limit": "24"})
        assert (first.id, renewal.id) == ("in_0", "in_1")
        assert renewal.number == "A1B2C3D4-0002"
        assert (renewal.status, renewal.total) == (InvoiceStatus.PAID, Money(6000, "EUR"))
        assert renewal.created_at == at(PERIOD_END)
        assert renewal.pdf_url == "https://pay.stripe.com/invoice/acct_1/in_1/pdf"
        assert renewal.hosted_url == "https://invoice.stripe.com/i/acct_1/in_1"

    def test_a_renewal_bills_the_period_it_pays_for_not_the_one_before(
        self, double: StripeDouble
    ) -> None:
        """The lines' period, as Stripe documents it, not the invoice's own window."""
        double.renew()
        invoice = double.invoices["in_1"]
        assert (invoice["period_start"], invoice["period_end"]) == (PERIOD_END - MONTH, PERIOD_END)
        renewal = provider(double.http).invoices("cus_1", 1)[0]
        period = (renewal.period_start, renewal.period_end)
        assert period == (at(PERIOD_END), at(PERIOD_END + MONTH))

    def test_a_prorated_change_bills_from_the_change_to_the_periods_end(
        self, double: StripeDouble
    ) -> None:
        stripe_provider = provider(double.http)
        stripe_provider.increase_seats("sub_1", 7, idempotency_key="k")
        change = stripe_provider.invoices("cus_1", 1)[0]
        moment = double.now - double.now % 60  # the proration date, to the minute
        assert (change.period_start, change.period_end) == (at(moment), at(PERIOD_END))
        assert change.created_at == at(double.now)
        assert Money(0, "EUR") < change.total < Money(2 * 1200, "EUR")

    def test_each_status_is_stripes(self, double: StripeDouble) -> None:
        """A declined renewal stays open; a declined change's invoice is voided by the adapter."""
        stripe_provider = provider(double.http)
        double.outcomes.append("decline")
        with pytest.raises(PaymentFailed):
            stripe_provider.increase_seats("sub_1", 7, idempotency_key="k")
        double.renew("decline")
        statuses = [i.status for i in stripe_provider.invoices("cus_1", 24)]
        assert statuses == [InvoiceStatus.OPEN, InvoiceStatus.VOID, InvoiceStatus.PAID]

    def test_a_draft_has_no_number_nor_pages_and_an_unknown_status_is_left_out(self) -> None:
        draft = invoice_of(invoice_json("in_7", status="draft", amount=500))
        assert draft is not None
        assert (draft.status, draft.number, draft.pdf_url, draft.hosted_url) == (
            InvoiceStatus.DRAFT,
            None,
            None,
            None,
        )
        written_off = invoice_of(invoice_json("in_8", status="uncollectible", amount=500))
        assert written_off is not None
        assert written_off.status is InvoiceStatus.UNCOLLECTIBLE
        assert invoice_of(invoice_json("in_9") | {"status": None}) is None
        assert invoice_of(invoice_json("in_9") | {"status": "deleted"}) is None

    def test_an_invoice_without_lines_keeps_its_own_period(self) -> None:
        found = invoice_json("in_3", amount=100, created=PERIOD_START)
        found |= {"period_start": PERIOD_START - 5, "period_end": PERIOD_START}
        invoice = invoice_of(found)
        assert invoice is not None
        assert (invoice.period_start, invoice.period_end) == (
            at(PERIOD_START - 5),
            at(PERIOD_START),
        )

    def test_the_period_spans_every_line(self) -> None:
        lines = [
            line_json(-500, proration=True, start=PERIOD_START + 60, end=PERIOD_END),
            line_json(900, proration=False, start=PERIOD_START + 60, end=PERIOD_END + MONTH),
        ]
        invoice = invoice_of(invoice_json("in_4", amount=400, lines=lines))
        assert invoice is not None
        assert (invoice.period_start, invoice.period_end) == (
            at(PERIOD_START + 60),
            at(PERIOD_END + MONTH),
        )

    def test_more_than_a_page_follows_stripes_pages(self, double: StripeDouble) -> None:
        for n in range(1, 131):
            double.invoices[f"in_{n}"] = invoice_json(f"in_{n}", amount=n, created=PERIOD_START + n)
        found = provider(double.http).invoices("cus_1", 120)
        assert [i.id for i in found] == [f"in_{n}" for n in range(130, 10, -1)]
        pages = [r.params for r in double.http.requests if r.path == "/v1/invoices"]
        assert pages == [
            {"customer": "cus_1", "limit": "100"},
            {"customer": "cus_1", "limit": "100", "starting_after": "in_31"},
        ]

    @pytest.mark.parametrize("limit", [0, -1, True, "3", 2.0])
    def test_a_limit_below_one_is_refused_before_any_request(
        self, http: RecordingHTTPClient, limit: Any
    ) -> None:
        with pytest.raises(InvalidRequest) as refused:
            provider(http).invoices("cus_1", limit)
        assert refused.value.code == "invalid_number"
        assert http.requests == []


class TestCardOnFile:
    def test_every_subscription_read_expands_the_card(
        self, http: RecordingHTTPClient, double: StripeDouble
    ) -> None:
        view = provider(http).fetch_subscription("sub_1")
        assert view.payment_method == VISA  # the customer's default for invoices
        assert view.customer_ref == "cus_1"
        (read,) = [r for r in http.requests if r.path == "/v1/subscriptions/sub_1"]
        assert read.params == {
            "expand[0]": "default_payment_method",
            "expand[1]": "customer.invoice_settings.default_payment_method",
        }

    def test_the_subscriptions_own_method_comes_first(self, double: StripeDouble) -> None:
        """Stripe charges the subscription's default before its customer's."""
        double.payment_methods["pm_9"] = payment_method_json("pm_9", brand="mastercard",
                                                             last4="4444")  # fmt: skip
        double.sub["default_payment_method"] = "pm_9"
        card = provider(double.http).fetch_subscription("sub_1").payment_method
        assert card == PaymentMethod(brand="mastercard", last4="4444", exp_month=8, exp_year=2030)

    def test_a_method_that_is_not_a_card_is_none(self, double: StripeDouble) -> None:
        """A SEPA debit pays the subscription: the customer's card is not what is charged."""
        double.payment_methods["pm_sepa"] = payment_method_json("pm_sepa", kind="sepa_debit")
        double.sub["default_payment_method"] = "pm_sepa"
        assert provider(double.http).fetch_subscription("sub_1").payment_method is None

    def test_no_method_is_none(self, double: StripeDouble) -> None:
        double.customer["invoice_settings"]["default_payment_method"] = None
        assert provider(double.http).fetch_subscription("sub_1").payment_method is None

    @pytest.mark.parametrize(
        "customer",
        [
            "cus_1",  # not expanded: nothing to read without another request
            {"id": "cus_1", "object": "customer", "deleted": True},
            {"id": "cus_1", "object": "customer", "invoice_settings": {"default_payment_method": {
                "id": "pm_1", "object": "payment_method", "type": "card", "card": {"brand": "visa"}
            }}},  # a card without its figures
        ],
    )  # fmt: skip
    def test_what_cannot_be_read_is_none(self, http: RecordingHTTPClient, customer: Any) -> None:
        answer = subscription_json() | {"customer": customer}
        http.routes["GET /v1/subscriptions/sub_1"] = lambda r: (200, answer)
        view = provider(http).fetch_subscription("sub_1")
        assert (view.customer_ref, view.payment_method) == ("cus_1", None)

    def test_subscriptions_of_shows_the_card_too(self, double: StripeDouble) -> None:
        (view,) = provider(double.http).subscriptions_of("cus_1")
        assert view.payment_method == VISA

    def test_a_charge_reads_its_card_from_the_expanded_customer(
        self, http: RecordingHTTPClient, double: StripeDouble
    ) -> None:
        provider(http).increase_seats("sub_1", 6, idempotency_key="k")
        assert [w.idempotency_key for w in http.writes()] == ["k:pm:pm_1"]
        assert all(r.path != "/v1/customers/cus_1" for r in http.requests)


REQUEST = CheckoutRequest(
    "ws_1", "cus_1", "business", Interval.MONTH, 3, Money(1200, "EUR"), "https://h/ok",
    "https://h/no",
)  # fmt: skip
TAX = {"automatic_tax[enabled]": "true", "customer_update[address]": "auto"}
CODES = {"allow_promotion_codes": "true"}


class TestCheckoutOptions:
    def session(self, http: RecordingHTTPClient, request: CheckoutRequest, **options: Any) -> Any:
        provider(http, **options).create_checkout(request, idempotency_key="k")
        (call,) = http.writes()
        return call.params

    def test_off_by_default_and_then_not_sent(self, http: RecordingHTTPClient) -> None:
        params = self.session(http, REQUEST)
        assert not {"allow_promotion_codes", "automatic_tax[enabled]"} & set(params)
        assert not any(key.startswith("customer_update") for key in params)

    def test_the_adapters_settings_apply_when_the_request_leaves_them(
        self, http: RecordingHTTPClient
    ) -> None:
        """Automatic tax comes with the address Checkout collects saved on the customer."""
        params = self.session(http, REQUEST, allow_promotion_codes=True, automatic_tax=True)
        assert params.items() >= (TAX | CODES).items()
        assert params["line_items[0][quantity]"] == "3"

    @pytest.mark.parametrize(
        ("adapter", "asked", "sent"),
        [(True, False, False), (False, True, True), (True, None, True), (False, None, False)],
    )
    def test_the_request_decides_when_it_names_an_option(
        self, http: RecordingHTTPClient, adapter: bool, asked: bool | None, sent: bool
    ) -> None:
        request = attrs.evolve(REQUEST, allow_promotion_codes=asked, automatic_tax=asked)
        params = self.session(http, request, allow_promotion_codes=adapter, automatic_tax=adapter)
        assert (params.items() >= CODES.items()) is sent
        assert (params.items() >= TAX.items()) is sent
