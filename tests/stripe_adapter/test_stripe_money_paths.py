"""The money paths at the SDK's HTTP boundary, against ``StripeDouble``.

localstripe answers HTTP 500 to ``payment_behavior`` on updates and knows no
3-D Secure for subscriptions, invoice previews that prorate, or schedules, so the
provider contract's 3-D Secure, decline and nothing-due cases are proven here,
over the real SDK and its HTTP stack, against answers shaped as Stripe documents
them: a charge waiting for the customer leaves the change in ``pending_update``
and the invoice open with its ``hosted_invoice_url``; confirming there applies
it; voiding the invoice discards it; a replayed key answers the first answer.
"""

from __future__ import annotations

from typing import Any

import pytest
from stripe_doubles import PRICES, RecordingHTTPClient, StripeDouble, provider, two_phases
from stripe_fixtures import PERIOD_END, PERIOD_START, invoice_json, line_json

from workspace_billing import (
    Interval,
    Money,
    PaymentActionRequired,
    PaymentFailed,
    ProviderStatus,
    QuoteRequest,
)
from workspace_billing.providers.stripe import StripePrice
from workspace_billing.providers.stripe.payments import proration_date

EUR = Money(1200, "EUR")
CHEAPER = (*PRICES, StripePrice("team", "month", "price_month_2024"))


@pytest.fixture(name="double")
def double_fixture() -> StripeDouble:
    return StripeDouble(RecordingHTTPClient())


def writes(double: StripeDouble) -> list[tuple[str, str | None]]:
    return [(w.path, w.idempotency_key) for w in double.http.writes()]


def schedule_decrease(double: StripeDouble, seats: int) -> None:
    schedule = two_phases(seats)
    double.schedules[schedule["id"]] = schedule
    double.sub["schedule"] = schedule["id"]


class TestThreeDSecure:
    """Rules R6, R9, R12 with a bank that asks the customer to authenticate."""

    def test_an_increase_needing_authentication_grants_nothing_until_confirmed(
        self, double: StripeDouble
    ) -> None:
        stripe_provider = provider(double.http)
        double.outcomes.append("action")
        with pytest.raises(PaymentActionRequired) as needed:
            stripe_provider.increase_seats("sub_1", 7, idempotency_key="k")
        url = needed.value.url
        assert url == double.invoices["in_1"]["hosted_invoice_url"]
        assert url.startswith("https://")
        waiting = stripe_provider.fetch_subscription("sub_1")
        assert (waiting.seats, waiting.status, waiting.action_url) == (
            5,
            ProviderStatus.ACTIVE,
            url,
        )
        assert writes(double) == [("/v1/subscriptions/sub_1", "k:pm:pm_1")]  # nothing voided

        double.authenticate(url)
        paid = stripe_provider.fetch_subscription("sub_1")
        assert (paid.seats, paid.action_url) == (7, None)
        again = stripe_provider.increase_seats("sub_1", 7, idempotency_key="k")  # a retry
        assert again.seats == 7
        assert double.attempts == 1

    def test_a_replay_while_waiting_names_the_same_page(self, double: StripeDouble) -> None:
        stripe_provider = provider(double.http)
        double.outcomes.append("action")
        urls = []
        for _ in range(2):
            with pytest.raises(PaymentActionRequired) as needed:
                stripe_provider.increase_seats("sub_1", 7, idempotency_key="k")
            urls.append(needed.value.url)
        assert urls[0] == urls[1]
        assert double.attempts == 1

    def test_a_plan_change_needing_authentication_keeps_the_plan_until_confirmed(
        self, double: StripeDouble
    ) -> None:
        stripe_provider = provider(double.http)
        double.outcomes.append("action")
        with pytest.raises(PaymentActionRequired) as needed:
            stripe_provider.change_plan(
                "sub_1", plan="business", interval=Interval.YEAR, seats=5,
                unit_amount=Money(12000, "EUR"), idempotency_key="k",
            )  # fmt: skip
        assert stripe_provider.fetch_subscription("sub_1").interval is Interval.MONTH
        double.authenticate(needed.value.url)
        assert stripe_provider.fetch_subscription("sub_1").interval is Interval.YEAR

    def test_a_renewal_needing_authentication_is_past_due_with_the_page(
        self, double: StripeDouble
    ) -> None:
        stripe_provider = provider(double.http)
        double.renew("action")
        waiting = stripe_provider.fetch_subscription("sub_1")
        assert waiting.status is ProviderStatus.PAST_DUE
        assert waiting.action_url == double.invoices["in_1"]["hosted_invoice_url"]
        double.authenticate(waiting.action_url)
        paid = stripe_provider.fetch_subscription("sub_1")
        assert (paid.status, paid.action_url) == (ProviderStatus.ACTIVE, None)

    def test_a_declined_renewal_is_past_due_with_no_page(self, double: StripeDouble) -> None:
        double.renew("decline")
        view = provider(double.http).fetch_subscription("sub_1")
        assert (view.status, view.action_url) == (ProviderStatus.PAST_DUE, None)

    def test_an_invoice_of_older_api_versions_names_its_payment_intent(
        self, double: StripeDouble
    ) -> None:
        """Before 2025-03-31 an invoice holds ``payment_intent``, not ``payments``."""
        double.renew("action")
        invoice = double.invoices["in_1"]
        del invoice["parent"]
        invoice |= {"payment_intent": "pi_in_1", "subscription": "sub_1"}
        view = provider(double.http).fetch_subscription("sub_1")
        assert view.action_url == invoice["hosted_invoice_url"]
        paths = [r.path for r in double.http.requests]
        assert "/v1/payment_intents/pi_in_1" in paths
        assert "/v1/invoice_payments" not in paths

    def test_an_increase_waiting_for_the_customer_withdraws_a_scheduled_decrease(
        self, double: StripeDouble
    ) -> None:
        """Left in place, the schedule would renew at the lower quantity once they confirm."""
        schedule_decrease(double, 3)
        double.outcomes.append("action")
        stripe_provider = provider(double.http)
        with pytest.raises(PaymentActionRequired) as needed:
            stripe_provider.increase_seats("sub_1", 7, idempotency_key="k")
        assert writes(double)[-1] == ("/v1/subscription_schedules/sub_sched_1/release", "k:release")
        view = stripe_provider.fetch_subscription("sub_1")
        assert (view.seats, view.pending_seats) == (5, None)
        double.authenticate(needed.value.url)
        double.renew()
        assert stripe_provider.fetch_subscription("sub_1").seats == 7


class TestDeclines:
    """Rule R9: a declined card grants nothing and leaves no unpaid invoice behind."""

    def test_a_declined_increase_voids_its_invoice_and_changes_nothing(
        self, double: StripeDouble
    ) -> None:
        stripe_provider = provider(double.http)
        double.outcomes.append("decline")
        with pytest.raises(PaymentFailed, match="insufficient_funds") as failed:
            stripe_provider.increase_seats("sub_1", 7, idempotency_key="k")
        assert failed.value.request_id is not None
        assert writes(double) == [
            ("/v1/subscriptions/sub_1", "k:pm:pm_1"),
            ("/v1/invoices/in_1/void", "k:pm:pm_1:void"),
        ]
        assert [i["status"] for i in double.invoices.values()] == ["paid", "void"]
        view = stripe_provider.fetch_subscription("sub_1")
        assert (view.seats, view.action_url) == (5, None)
        assert double.sub["pending_update"] is None

    def test_a_replayed_decline_is_refused_again_without_a_new_attempt(
        self, double: StripeDouble
    ) -> None:
        stripe_provider = provider(double.http)
        double.outcomes.append("decline")
        for _ in range(2):
            with pytest.raises(PaymentFailed):
                stripe_provider.increase_seats("sub_1", 7, idempotency_key="k")
        assert double.attempts == 1
        assert [p for p, _ in writes(double)].count("/v1/invoices/in_1/void") == 1

    def test_a_declined_increase_keeps_the_scheduled_decrease(self, double: StripeDouble) -> None:
        schedule_decrease(double, 3)
        double.outcomes.append("decline")
        stripe_provider = provider(double.http)
        with pytest.raises(PaymentFailed):
            stripe_provider.increase_seats("sub_1", 6, idempotency_key="k")
        assert not any(path.endswith("/release") for path, _ in writes(double))
        assert stripe_provider.fetch_subscription("sub_1").pending_seats == 3

    def test_a_declined_plan_change_keeps_the_plan(self, double: StripeDouble) -> None:
        double.outcomes.append("decline")
        stripe_provider = provider(double.http)
        with pytest.raises(PaymentFailed):
            stripe_provider.change_plan(
                "sub_1", plan="business", interval=Interval.YEAR, seats=5,
                unit_amount=Money(12000, "EUR"), idempotency_key="k",
            )  # fmt: skip
        view = stripe_provider.fetch_subscription("sub_1")
        assert (view.interval, view.unit_amount) == (Interval.MONTH, EUR)

    def test_a_refusal_that_left_an_invoice_open_voids_it(self, double: StripeDouble) -> None:
        """Should Stripe answer a 402 and still keep the change pending, it is discarded."""

        def refuse(request: Any) -> tuple[int, dict[str, Any]]:
            double.outcomes.append("decline")
            double.route(request)
            error = {"type": "card_error", "code": "card_declined", "message": "declined"}
            return 402, {"error": error}

        double.http.routes["POST /v1/subscriptions/sub_1"] = refuse
        with pytest.raises(PaymentFailed, match="card_declined"):
            provider(double.http).increase_seats("sub_1", 7, idempotency_key="k")
        assert double.invoices["in_1"]["status"] == "void"
        assert double.sub["pending_update"] is None


class TestNothingDue:
    """Rule R18: a change with nothing to pay attempts no payment and cannot be declined."""

    def test_the_same_plan_and_seats_attempt_nothing(self, double: StripeDouble) -> None:
        stripe_provider = provider(double.http)
        double.outcomes.append("decline")
        view = stripe_provider.change_plan(
            "sub_1", plan="business", interval=Interval.MONTH, seats=5,
            unit_amount=EUR, idempotency_key="k",
        )  # fmt: skip
        assert view.seats == 5
        assert writes(double) == []
        with pytest.raises(PaymentFailed):  # the decline is kept for a real charge
            stripe_provider.increase_seats("sub_1", 6, idempotency_key="k2")

    def test_a_change_to_a_cheaper_price_is_credited_without_a_payment(
        self, double: StripeDouble
    ) -> None:
        stripe_provider = provider(double.http, prices=CHEAPER)
        double.outcomes.append("decline")
        cheaper = Money(1000, "EUR")
        quote = stripe_provider.quote(QuoteRequest("team", Interval.MONTH, 5, cheaper, "sub_1"))
        assert quote.due_now == Money.zero("EUR")
        view = stripe_provider.change_plan(
            "sub_1", plan="team", interval=Interval.MONTH, seats=5,
            unit_amount=cheaper, idempotency_key="k",
        )  # fmt: skip
        assert (view.plan, view.unit_amount) == ("team", cheaper)
        assert double.attempts == 0
        assert double.outcomes == ["decline"]


class TestQuotes:
    """Rule R18: the quote is what the charge takes."""

    def test_quote_and_charge_share_one_proration_date_and_agree(
        self, double: StripeDouble
    ) -> None:
        stripe_provider = provider(double.http)
        double.now = PERIOD_START + 9 * 86_400 + 3_600 + 5  # 10:00:05, ten days in
        quote = stripe_provider.quote(QuoteRequest("business", Interval.MONTH, 7, EUR, "sub_1"))
        double.now += 40  # the admin confirms within the same minute
        stripe_provider.increase_seats("sub_1", 7, idempotency_key="k")
        (preview,) = double.previews
        (update,) = [w for w in double.http.writes() if w.path == "/v1/subscriptions/sub_1"]
        minute = PERIOD_START + 9 * 86_400 + 3_600
        assert preview["proration_date"] == int(update.params["proration_date"]) == minute
        charged = double.invoices["in_1"]["amount_paid"]
        assert quote.due_now == Money(charged, "EUR")
        assert Money.zero("EUR") < quote.due_now < EUR * 2
        assert quote.recurring == EUR * 7

    def test_the_proration_date_is_the_minute_within_the_period(self) -> None:
        assert proration_date(1_000_119, 1_000_000, 2_000_000) == 1_000_080
        assert proration_date(1_000_050, 1_000_045, 2_000_000) == 1_000_045  # not before it
        assert proration_date(2_000_100, 1_000_000, 2_000_000) == 1_999_999  # nor after

    def test_a_test_clock_subscription_prorates_at_the_clocks_time(
        self, double: StripeDouble
    ) -> None:
        double.sub["test_clock"] = "clock_1"
        frozen = PERIOD_START + 20 * 86_400 + 59
        clock = {"id": "clock_1", "object": "test_helpers.test_clock", "frozen_time": frozen}
        double.http.routes["GET /v1/test_helpers/test_clocks/clock_1"] = lambda r: (200, clock)
        provider(double.http).quote(QuoteRequest("business", Interval.MONTH, 7, EUR, "sub_1"))
        assert double.previews[0]["proration_date"] == frozen - 59

    def test_only_the_proration_lines_are_due_now(self, double: StripeDouble) -> None:
        """As Stripe documents reading a preview: the upcoming renewal is not due now."""
        proration = line_json(800, proration=True, start=PERIOD_START, end=PERIOD_END)
        proration["discount_amounts"] = [{"amount": 100, "discount": "di_1"}]
        proration["taxes"] = [
            {"amount": 140, "tax_behavior": "exclusive", "type": "tax_rate_details"},
            {"amount": 50, "tax_behavior": "inclusive", "type": "tax_rate_details"},
        ]
        renewal = line_json(8400, proration=False, start=PERIOD_END, end=PERIOD_END + 2_419_200)
        preview = invoice_json(
            "upcoming_in_1", status="draft", amount=9240, lines=[proration, renewal]
        )
        double.http.routes["POST /v1/invoices/create_preview"] = lambda r: (200, preview)
        quote = provider(double.http).quote(
            QuoteRequest("business", Interval.MONTH, 7, EUR, "sub_1")
        )
        assert quote.due_now == Money(800 - 100 + 140, "EUR")
        (call,) = double.http.writes()
        assert call.params == {
            "customer": "cus_1",
            "subscription": "sub_1",
            "subscription_details[items][0][id]": "si_1",
            "subscription_details[items][0][price]": "price_month",
            "subscription_details[items][0][quantity]": "7",
            "subscription_details[proration_behavior]": "always_invoice",
            "subscription_details[proration_date]": str(double.now - double.now % 60),
        }

    def test_an_interval_change_is_due_in_full_less_the_unused_time(
        self, double: StripeDouble
    ) -> None:
        yearly = Money(12000, "EUR")
        quote = provider(double.http).quote(
            QuoteRequest("business", Interval.YEAR, 5, yearly, "sub_1")
        )
        assert yearly * 4 < quote.due_now < yearly * 5
        assert quote.recurring == yearly * 5

    def test_a_legacy_subscription_is_quoted_at_its_own_price(self, double: StripeDouble) -> None:
        legacy = (*PRICES, StripePrice("business", "month", "price_month_2024", legacy=True))
        double.sub["items"]["data"][0]["price"] |= {"id": "price_month_2024", "unit_amount": 1000}
        quote = provider(double.http, prices=legacy).quote(
            QuoteRequest("business", Interval.MONTH, 7, EUR, "sub_1")
        )
        assert quote.recurring == Money(7000, "EUR")
        assert double.previews[0]["items"][0]["price"] == "price_month_2024"

    def test_no_change_and_new_subscriptions_are_quoted_without_a_preview(
        self, double: StripeDouble
    ) -> None:
        stripe_provider = provider(double.http)
        same = stripe_provider.quote(QuoteRequest("business", Interval.MONTH, 5, EUR, "sub_1"))
        assert (same.due_now, same.recurring) == (Money.zero("EUR"), EUR * 5)
        fresh = stripe_provider.quote(
            QuoteRequest("business", Interval.YEAR, 3, Money(12000, "EUR"))
        )
        assert fresh.due_now == fresh.recurring == Money(36000, "EUR")
        assert double.previews == []


class TestDecreasesKeepWhatThePhaseCarries:
    """A schedule update replaces every phase: rebuilding one would drop the coupon."""

    def test_a_decrease_keeps_discounts_tax_rates_and_settings(self) -> None:
        double = StripeDouble(RecordingHTTPClient(), discounts=["co_50"], tax_rates=["txr_1"])
        view = provider(double.http).schedule_seat_decrease("sub_1", 3, idempotency_key="k")
        assert (view.seats, view.pending_seats) == (5, 3)
        _, update = double.http.writes()
        for phase in (0, 1):
            assert update.params[f"phases[{phase}][discounts][0][coupon]"] == "co_50"
            assert update.params[f"phases[{phase}][default_tax_rates][0]"] == "txr_1"
            assert update.params[f"phases[{phase}][currency]"] == "eur"
        assert update.params["phases[1][items][0][quantity]"] == "3"
        assert "phases[1][start_date]" not in update.params  # it follows the current phase
        read_only = ("[plan]", "disabled_reason", "[percentage]", "[object]")
        assert not [k for k in update.params if any(r in k for r in read_only)]
        double.renew()
        renewed = provider(double.http).fetch_subscription("sub_1")
        assert (renewed.seats, renewed.pending_seats) == (3, None)
