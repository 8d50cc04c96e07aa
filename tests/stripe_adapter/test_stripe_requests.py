"""The Stripe adapter at the SDK's HTTP boundary: the exact endpoint, parameters and
idempotency key of every request, against responses shaped like the pinned API version.

These cover the flows localstripe cannot serve (Checkout, the portal, subscription
schedules, invoice previews, prices), and every other request too. The money
paths (3-D Secure, declines, nothing due, quotes) are in test_stripe_money_paths.py.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from stripe_doubles import (
    PRICES,
    SECRET_KEY,
    RecordingHTTPClient,
    Request,
    StripeDouble,
    provider,
    sign,
    two_phases,
)
from stripe_fixtures import (
    PERIOD_END,
    PERIOD_START,
    event_json,
    payment_method_json,
    price_json,
    subscription_json,
)

from workspace_billing import (
    Catalog,
    CatalogError,
    CheckoutRequest,
    Interval,
    Money,
    NotFound,
    PaymentFailed,
    ProviderError,
    ProviderEventType,
    ProviderStatus,
    WebhookVerificationError,
)
from workspace_billing.providers.stripe import StripePrice


@pytest.fixture(name="double")
def double_fixture() -> StripeDouble:
    return StripeDouble(RecordingHTTPClient())


@pytest.fixture(name="http")
def http_fixture(double: StripeDouble) -> RecordingHTTPClient:
    return double.http


def declined(_: Request) -> tuple[int, dict[str, Any]]:
    error = {"type": "card_error", "code": "card_declined", "message": "Your card was declined."}
    return 402, {"error": error}


def scheduled(double: StripeDouble, next_quantity: int) -> None:
    """A decrease to ``next_quantity`` already scheduled on sub_1."""
    schedule = two_phases(next_quantity)
    double.schedules[schedule["id"]] = schedule
    double.sub["schedule"] = schedule["id"]


class TestWrites:
    """Each write is one Stripe call with the intent's idempotency key (R6, R9, R13)."""

    def test_a_customer_carries_its_workspace_and_installation(
        self, http: RecordingHTTPClient
    ) -> None:
        ref = provider(http).create_customer(
            workspace_id="ws_1", name="Acme", owner="alice", idempotency_key="wb:ws_1:customer"
        )
        assert ref == "cus_1"
        (call,) = http.writes()
        assert (call.path, call.idempotency_key) == ("/v1/customers", "wb:ws_1:customer")
        assert call.params == {
            "name": "Acme",
            "metadata[workspace_id]": "ws_1",
            "metadata[owner]": "alice",
            "metadata[wb_installation]": "default",
        }

    def test_a_customer_reaches_the_owner_at_their_email(self, http: RecordingHTTPClient) -> None:
        provider(http, installation="blue").create_customer(
            workspace_id="ws_1", name="Acme", owner="alice", idempotency_key="k",
            email="alice@acme.example",
        )  # fmt: skip
        (call,) = http.writes()
        assert call.params["email"] == "alice@acme.example"
        assert call.params["metadata[wb_installation]"] == "blue"

    def test_a_checkout_is_a_subscription_session_for_the_seats(
        self, http: RecordingHTTPClient
    ) -> None:
        session = {
            "id": "cs_1",
            "object": "checkout.session",
            "url": "https://checkout.stripe.com/c/cs_1",
        }
        http.routes["POST /v1/checkout/sessions"] = lambda r: (200, session)
        request = CheckoutRequest(
            "ws_1",
            "cus_1",
            "business",
            Interval.YEAR,
            3,
            Money(12000, "EUR"),
            "https://h/ok",
            "https://h/no",
        )
        checkout = provider(http).create_checkout(request, idempotency_key="k1")
        assert (checkout.id, checkout.url) == ("cs_1", "https://checkout.stripe.com/c/cs_1")
        (call,) = http.writes()
        assert call.idempotency_key == "k1"
        assert call.params == {
            "mode": "subscription",
            "customer": "cus_1",
            "client_reference_id": "ws_1",
            "line_items[0][price]": "price_year",
            "line_items[0][quantity]": "3",
            "success_url": "https://h/ok",
            "cancel_url": "https://h/no",
            "metadata[workspace_id]": "ws_1",
            "metadata[wb_installation]": "default",
            "subscription_data[metadata][workspace_id]": "ws_1",
            "subscription_data[metadata][wb_installation]": "default",
        }

    def test_an_increase_is_invoiced_at_once_off_session_and_applied_when_paid(
        self, http: RecordingHTTPClient, double: StripeDouble
    ) -> None:
        """Rule R9: always_invoice + pending_if_incomplete, charged off session."""
        view = provider(http).increase_seats("sub_1", 7, idempotency_key="k2")
        assert view.seats == 7
        (call,) = http.writes()
        assert (call.path, call.idempotency_key) == ("/v1/subscriptions/sub_1", "k2:pm:pm_1")
        assert call.params == {
            "items[0][id]": "si_1",
            "items[0][quantity]": "7",
            "proration_behavior": "always_invoice",
            "payment_behavior": "pending_if_incomplete",
            "off_session": "true",
            "proration_date": str(double.now - double.now % 60),
        }
        assert double.attempts == 1

    def test_a_refused_increase_is_payment_failed_with_the_request_id(
        self, http: RecordingHTTPClient
    ) -> None:
        http.routes["POST /v1/subscriptions/sub_1"] = declined
        with pytest.raises(PaymentFailed, match="card_declined") as failed:
            provider(http).increase_seats("sub_1", 7, idempotency_key="k3")
        assert failed.value.request_id is not None
        assert failed.value.request_id.startswith("req_")
        assert [w.path for w in http.writes()] == ["/v1/subscriptions/sub_1"]  # nothing to void

    def test_a_new_card_gives_a_declined_change_a_new_key(
        self, http: RecordingHTTPClient, double: StripeDouble
    ) -> None:
        """Stripe replays an answer for its key: after the card is fixed the retry must be new."""
        http.routes["POST /v1/subscriptions/sub_1"] = declined
        stripe_provider = provider(http)
        for _ in range(2):
            with pytest.raises(PaymentFailed):
                stripe_provider.increase_seats("sub_1", 7, idempotency_key="k")
        double.payment_methods["pm_2"] = payment_method_json("pm_2", last4="5556")
        double.customer["invoice_settings"]["default_payment_method"] = "pm_2"
        with pytest.raises(PaymentFailed):
            stripe_provider.increase_seats("sub_1", 7, idempotency_key="k")
        keys = [r.idempotency_key for r in http.writes()]
        assert keys == ["k:pm:pm_1", "k:pm:pm_1", "k:pm:pm_2"]

    def test_an_increase_releases_a_scheduled_decrease_once_paid(
        self, http: RecordingHTTPClient, double: StripeDouble
    ) -> None:
        scheduled(double, 3)
        view = provider(http).increase_seats("sub_1", 6, idempotency_key="k4")
        assert (view.seats, view.pending_seats) == (6, None)
        update, release = http.writes()
        assert (release.path, release.idempotency_key) == (
            "/v1/subscription_schedules/sub_sched_1/release",
            "k4:release",
        )
        assert update.idempotency_key == "k4:pm:pm_1"

    def test_a_decrease_is_the_next_phase_of_a_schedule_from_the_subscription(
        self, http: RecordingHTTPClient
    ) -> None:
        """Rule R9: Stripe renews at the lower quantity; the pending decrease is read back."""
        view = provider(http).schedule_seat_decrease("sub_1", 3, idempotency_key="k5")
        assert (view.seats, view.pending_seats) == (5, 3)
        create, update = http.writes()
        assert create.params == {"from_subscription": "sub_1"}
        assert create.idempotency_key == "k5:schedule"
        assert update.idempotency_key == "k5:phases"
        assert update.params["end_behavior"] == "release"
        assert update.params["phases[0][items][0][quantity]"] == "5"
        assert update.params["phases[0][start_date]"] == str(PERIOD_START)
        assert update.params["phases[0][end_date]"] == str(PERIOD_END)
        assert update.params["phases[1][items][0][quantity]"] == "3"
        assert update.params["phases[1][items][0][price]"] == "price_month"
        assert update.params["phases[1][duration][interval]"] == "month"

    def test_a_second_decrease_changes_only_the_next_phase_quantity(
        self, http: RecordingHTTPClient, double: StripeDouble
    ) -> None:
        scheduled(double, 3)
        view = provider(http).schedule_seat_decrease("sub_1", 2, idempotency_key="k")
        assert (view.seats, view.pending_seats) == (5, 2)
        (update,) = http.writes()
        assert update.path == "/v1/subscription_schedules/sub_sched_1"
        assert update.params["phases[0][items][0][quantity]"] == "5"
        assert update.params["phases[1][items][0][quantity]"] == "2"
        assert update.params["phases[1][start_date]"] == str(PERIOD_END)
        assert not any("[plan]" in k or "disabled_reason" in k for k in update.params)

    def test_asking_for_the_seats_in_force_releases_the_schedule(
        self, http: RecordingHTTPClient, double: StripeDouble
    ) -> None:
        scheduled(double, 3)
        view = provider(http).schedule_seat_decrease("sub_1", 5, idempotency_key="k6")
        assert (view.seats, view.pending_seats) == (5, None)
        (call,) = http.writes()
        assert call.path.endswith("/release")

    def test_a_plan_change_swaps_the_price_and_is_paid_at_once(
        self, http: RecordingHTTPClient, double: StripeDouble
    ) -> None:
        view = provider(http).change_plan(
            "sub_1", plan="business", interval=Interval.YEAR, seats=5,
            unit_amount=Money(12000, "EUR"), idempotency_key="k7",
        )  # fmt: skip
        assert (view.interval, view.seats, view.unit_amount) == (
            Interval.YEAR,
            5,
            Money(12000, "EUR"),
        )
        (call,) = http.writes()
        assert call.params["items[0][price]"] == "price_year"
        assert call.params["payment_behavior"] == "pending_if_incomplete"
        assert call.params["off_session"] == "true"

    def test_cancel_at_period_end_resume_and_cancel_now(
        self, http: RecordingHTTPClient, double: StripeDouble
    ) -> None:
        """Rule R13."""
        stripe_provider = provider(http)
        assert stripe_provider.cancel(
            "sub_1", at_period_end=True, idempotency_key="k8"
        ).cancel_at_period_end
        assert not stripe_provider.resume("sub_1", idempotency_key="k9").cancel_at_period_end
        view = stripe_provider.cancel("sub_1", at_period_end=False, idempotency_key="k10")
        assert view.status is ProviderStatus.CANCELED
        calls = [(c.method, c.params, c.idempotency_key) for c in http.writes()]
        assert calls == [
            ("POST", {"cancel_at_period_end": "true"}, "k8"),
            ("POST", {"cancel_at_period_end": "false"}, "k9"),
            ("DELETE", {}, "k10"),
        ]

    def test_resume_clears_a_cancellation_by_date(
        self, http: RecordingHTTPClient, double: StripeDouble
    ) -> None:
        """Rule R13: the Dashboard and the portal cancel by date (cancel_at)."""
        double.sub["cancel_at"] = PERIOD_END
        stripe_provider = provider(http)
        assert stripe_provider.fetch_subscription("sub_1").cancel_at_period_end
        assert not stripe_provider.resume("sub_1", idempotency_key="k").cancel_at_period_end
        (call,) = http.writes()
        assert call.params == {"cancel_at": ""}

    def test_the_portal_session_uses_the_configured_portal(self, http: RecordingHTTPClient) -> None:
        session = {
            "id": "bps_1",
            "object": "billing_portal.session",
            "url": "https://billing.stripe.com/p/1",
        }
        http.routes["POST /v1/billing_portal/sessions"] = lambda r: (200, session)
        url = provider(http, portal_configuration="bpc_1").portal_url(
            "cus_1", return_url="https://h/billing", idempotency_key="k11"
        )
        assert url == "https://billing.stripe.com/p/1"
        (call,) = http.writes()
        assert call.params == {
            "customer": "cus_1",
            "return_url": "https://h/billing",
            "configuration": "bpc_1",
        }


class TestReads:
    """The subscription's view (R3)."""

    def test_the_view_reads_the_item_period_price_and_metadata(
        self, http: RecordingHTTPClient
    ) -> None:
        view = provider(http).fetch_subscription("sub_1")
        assert (view.ref, view.customer_ref, view.workspace_id) == ("sub_1", "cus_1", "ws_1")
        assert (view.plan, view.interval, view.seats) == ("business", Interval.MONTH, 5)
        assert view.unit_amount == Money(1200, "EUR")
        assert int(view.period_end.timestamp()) == PERIOD_END
        assert (view.status, view.action_url) == (ProviderStatus.ACTIVE, None)

    @pytest.mark.parametrize(
        ("stripe_status", "status"),
        [
            ("active", ProviderStatus.ACTIVE),
            ("trialing", ProviderStatus.ACTIVE),
            ("past_due", ProviderStatus.PAST_DUE),
            ("unpaid", ProviderStatus.PAST_DUE),
            ("paused", ProviderStatus.PAUSED),
            ("canceled", ProviderStatus.CANCELED),
            ("incomplete", ProviderStatus.INCOMPLETE),
            ("incomplete_expired", ProviderStatus.CANCELED),
        ],
    )
    def test_stripe_statuses_map_to_neutral_ones(
        self, http: RecordingHTTPClient, double: StripeDouble, stripe_status: str,
        status: ProviderStatus,
    ) -> None:  # fmt: skip
        double.sub["status"] = stripe_status
        assert provider(http).fetch_subscription("sub_1").status is status

    @pytest.mark.parametrize(
        ("cancel_at", "ends"),
        [(PERIOD_END, True), (PERIOD_END - 60, True), (PERIOD_END + 1, False)],
    )
    def test_a_cancellation_by_date_within_the_period_ends_with_it(
        self, http: RecordingHTTPClient, double: StripeDouble, cancel_at: int, ends: bool
    ) -> None:
        double.sub["cancel_at"] = cancel_at
        assert provider(http).fetch_subscription("sub_1").cancel_at_period_end is ends

    def test_an_unknown_price_is_refused(
        self, http: RecordingHTTPClient, double: StripeDouble
    ) -> None:
        double.sub = subscription_json(price="price_other")
        with pytest.raises(ProviderError, match="unknown price"):
            provider(http).fetch_subscription("sub_1")

    def test_a_customers_subscriptions_are_this_installations_newest_first(
        self, http: RecordingHTTPClient, double: StripeDouble
    ) -> None:
        """Found from the customer when every webhook of a paid checkout was lost."""
        double.others = [
            subscription_json(sub_id="sub_0", created=PERIOD_START - 10, status="canceled"),
            subscription_json(sub_id="sub_2", created=PERIOD_START + 10),
            subscription_json(
                sub_id="sub_9", metadata={"wb_installation": "other", "workspace_id": "w"}
            ),
            subscription_json(sub_id="sub_x", metadata={}, price="price_other"),  # another product
            subscription_json(sub_id="sub_old", metadata={"workspace_id": "ws_1"}, created=1),
        ]
        found = provider(http).subscriptions_of("cus_1")
        assert [v.ref for v in found] == ["sub_2", "sub_1", "sub_0", "sub_old"]
        (listed,) = [r for r in http.requests if r.path == "/v1/subscriptions"]
        assert listed.params == {
            "customer": "cus_1",
            "status": "all",
            "limit": "100",
            "expand[0]": "data.default_payment_method",
            "expand[1]": "data.customer.invoice_settings.default_payment_method",
        }
        other = provider(http, installation="other").subscriptions_of("cus_1")
        assert [v.ref for v in other] == ["sub_9"]  # the unmarked ones are the default's only


class TestPrices:
    """Legacy prices, and a missing or mismatched price failing at start-up."""

    LEGACY = (*PRICES, StripePrice("business", "month", "price_month_2024", legacy=True))

    def routes(self, http: RecordingHTTPClient, **month: Any) -> None:
        http.routes["GET /v1/prices/price_month"] = lambda r: (200, price_json() | month)
        http.routes["GET /v1/prices/price_year"] = lambda r: (200, price_json("price_year"))
        http.routes["GET /v1/prices/price_month_2024"] = lambda r: (
            200,
            price_json("price_month_2024"),
        )

    def test_matching_prices_pass(self, http: RecordingHTTPClient) -> None:
        self.routes(http)
        provider(http).verify(Catalog.default())
        provider(http, prices=self.LEGACY).verify(Catalog.default())  # its own amount is fine

    @pytest.mark.parametrize(
        ("month", "problem"),
        [
            ({"unit_amount": 999}, "charges 999, not 1200"),
            ({"recurring": {"interval": "week", "usage_type": "licensed"}}, "bills every week"),
            ({"recurring": {"interval": "month", "usage_type": "metered"}}, "metered"),
            ({"billing_scheme": "tiered"}, "tiered"),
            ({"currency": "usd"}, "is in usd, not EUR"),
            ({"active": False}, "archived"),
        ],
    )
    def test_a_mismatched_price_is_a_configuration_error(
        self, http: RecordingHTTPClient, month: dict[str, Any], problem: str
    ) -> None:
        self.routes(http, **month)
        with pytest.raises(CatalogError, match=problem):
            provider(http).verify(Catalog.default())

    def test_a_legacy_price_is_checked_but_for_its_amount_and_archiving(
        self, http: RecordingHTTPClient
    ) -> None:
        self.routes(http)
        old = price_json("price_month_2024", active=False)
        http.routes["GET /v1/prices/price_month_2024"] = lambda r: (200, old)
        provider(http, prices=self.LEGACY).verify(Catalog.default())
        yearly = price_json(
            "price_month_2024", recurring={"interval": "year", "usage_type": "licensed"}
        )
        http.routes["GET /v1/prices/price_month_2024"] = lambda r: (200, yearly)
        with pytest.raises(
            CatalogError, match=r"legacy Stripe price 'price_month_2024'.*every year"
        ):
            provider(http, prices=self.LEGACY).verify(Catalog.default())

    def test_a_missing_price_is_a_configuration_error(self, http: RecordingHTTPClient) -> None:
        self.routes(http)
        only_month = provider(http, prices=[StripePrice("business", "month", "price_month")])
        with pytest.raises(
            CatalogError, match="no Stripe price configured for plan 'business' \\(yearly\\)"
        ):
            only_month.verify(Catalog.default())

    @pytest.mark.parametrize(
        "prices",
        [
            [StripePrice("business", "month", "a"), StripePrice("business", "month", "b")],
            [StripePrice("business", "month", "a", legacy=True)],
            [StripePrice("business", "month", "a"), StripePrice("business", "year", "a")],
        ],
    )
    def test_one_current_price_per_plan_and_interval(
        self, http: RecordingHTTPClient, prices: list[StripePrice]
    ) -> None:
        with pytest.raises(CatalogError):
            provider(http, prices=prices)

    def test_a_legacy_subscription_reads_and_keeps_its_own_price(
        self, http: RecordingHTTPClient, double: StripeDouble
    ) -> None:
        double.sub = subscription_json(price="price_month_2024")
        stripe_provider = provider(http, prices=self.LEGACY)
        view = stripe_provider.fetch_subscription("sub_1")
        assert (view.plan, view.unit_amount) == ("business", Money(1000, "EUR"))
        view = stripe_provider.change_plan(
            "sub_1", plan="business", interval=Interval.MONTH, seats=6,
            unit_amount=Money(1200, "EUR"), idempotency_key="k",
        )  # fmt: skip
        assert (view.seats, view.unit_amount) == (6, Money(1000, "EUR"))
        (call,) = http.writes()
        assert call.params["items[0][price]"] == "price_month_2024"


class TestErrors:
    """Stripe's errors become the library's; the secret key never shows."""

    @pytest.mark.parametrize(
        ("status", "error", "expected", "text"),
        [
            (
                429,
                {"type": "invalid_request_error", "code": "rate_limit"},
                ProviderError,
                "rate limiting",
            ),
            (
                401,
                {
                    "type": "invalid_request_error",
                    "message": f"Invalid API Key provided: {SECRET_KEY}",
                },
                ProviderError,
                "API key",
            ),
            (
                404,
                {"type": "invalid_request_error", "code": "resource_missing", "param": "id"},
                NotFound,
                "no such object",
            ),
            (
                400,
                {"type": "invalid_request_error", "code": "parameter_invalid"},
                ProviderError,
                "refused",
            ),
            (500, {"type": "api_error"}, ProviderError, "failed"),
        ],
    )
    def test_errors_are_mapped_and_never_show_the_key(
        self,
        http: RecordingHTTPClient,
        status: int,
        error: dict[str, Any],
        expected: type[Exception],
        text: str,
    ) -> None:
        http.routes["GET /v1/subscriptions/sub_1"] = lambda r: (status, {"error": error})
        with pytest.raises(expected, match=text) as raised:
            provider(http).fetch_subscription("sub_1")
        assert SECRET_KEY not in str(raised.value)
        assert SECRET_KEY not in repr(raised.value)

    def test_an_unreachable_stripe_is_a_provider_error(self) -> None:
        class Down(RecordingHTTPClient):
            def request(self, *args: Any, **kwargs: Any) -> Any:
                import stripe

                raise stripe.APIConnectionError("connection refused")

        with pytest.raises(ProviderError, match="could not be reached"):
            provider(Down()).fetch_subscription("sub_1")

    def test_the_provider_repr_holds_no_secret(self, http: RecordingHTTPClient) -> None:
        assert SECRET_KEY not in repr(provider(http))
        assert "whsec" not in repr(provider(http))


OURS = {"workspace_id": "ws_1", "wb_installation": "default"}
INVOICE_OF_OURS = {"subscription_details": {"subscription": "sub_1", "metadata": OURS}}


class TestWebhooks:
    """Rule R14: verified with the SDK, turned into neutral events naming the subscription."""

    @pytest.mark.parametrize(
        ("kind", "obj", "expected"),
        [
            (
                "checkout.session.completed",
                {"id": "cs_1", "object": "checkout.session", "subscription": "sub_1",
                 "client_reference_id": "ws_1", "metadata": OURS},
                ProviderEventType.CHECKOUT_COMPLETED,
            ),
            (
                "customer.subscription.updated",
                {"id": "sub_1", "object": "subscription", "metadata": OURS},
                ProviderEventType.SUBSCRIPTION_UPDATED,
            ),
            (
                "customer.subscription.deleted",
                {"id": "sub_1", "object": "subscription", "metadata": {"workspace_id": "ws_1"}},
                ProviderEventType.SUBSCRIPTION_DELETED,
            ),
            (
                "invoice.paid",
                {"id": "in_1", "object": "invoice", "parent": INVOICE_OF_OURS},
                ProviderEventType.INVOICE_PAID,
            ),
            (
                "invoice.payment_failed",  # before 2025-03-31: subscription, details at the top
                {"id": "in_1", "object": "invoice", "subscription": "sub_1",
                 "subscription_details": {"metadata": OURS}},
                ProviderEventType.INVOICE_PAYMENT_FAILED,
            ),
            (
                "invoice.payment_action_required",
                {"id": "in_1", "object": "invoice", "customer": "cus_1", "parent": INVOICE_OF_OURS},
                ProviderEventType.PAYMENT_ACTION_REQUIRED,
            ),
        ],
    )  # fmt: skip
    def test_handled_events_name_their_subscription(
        self, http: RecordingHTTPClient, kind: str, obj: dict[str, Any], expected: ProviderEventType
    ) -> None:
        payload = event_json(kind, obj)
        (event,) = provider(http).parse_webhook(payload, sign(payload))
        assert (event.id, event.type, event.subscription_ref) == ("evt_1", expected, "sub_1")
        assert event.workspace_id == "ws_1"

    def test_a_deleted_customer_is_named(self, http: RecordingHTTPClient) -> None:
        obj = {"id": "cus_1", "object": "customer", "metadata": OURS | {"owner": "alice"}}
        payload = event_json("customer.deleted", obj)
        (event,) = provider(http).parse_webhook(payload, sign(payload))
        assert (event.type, event.customer_ref, event.workspace_id) == (
            ProviderEventType.CUSTOMER_DELETED,
            "cus_1",
            "ws_1",
        )
        assert event.subscription_ref is None

    def test_an_updated_customer_is_named(self, http: RecordingHTTPClient) -> None:
        """A new default card set in the portal comes as ``customer.updated`` alone."""
        obj = {"id": "cus_1", "object": "customer", "metadata": OURS,
               "invoice_settings": {"default_payment_method": "pm_2"}}  # fmt: skip
        payload = event_json("customer.updated", obj)
        (event,) = provider(http).parse_webhook(payload, sign(payload))
        assert (event.type, event.customer_ref, event.subscription_ref) == (
            ProviderEventType.CUSTOMER_UPDATED, "cus_1", None,
        )  # fmt: skip
        theirs = event_json("customer.updated", {"id": "cus_9", "object": "customer",
                                                 "metadata": {}})  # fmt: skip
        (other,) = provider(http).parse_webhook(theirs, sign(theirs))
        assert other.type is ProviderEventType.OTHER

    @pytest.mark.parametrize(
        ("kind", "obj"),
        [
            ("customer.subscription.updated",
             {"id": "sub_9", "object": "subscription", "metadata": {}}),
            ("customer.subscription.created",
             {"id": "sub_9", "object": "subscription", "metadata": {"wb_installation": "staging"}}),
            ("customer.deleted", {"id": "cus_9", "object": "customer", "metadata": {}}),
            ("checkout.session.completed",
             {"id": "cs_9", "object": "checkout.session", "subscription": "sub_9", "metadata": {}}),
            ("invoice.paid", {"id": "in_9", "object": "invoice", "parent": {
                "subscription_details": {"subscription": "sub_9", "metadata": {}}}}),
            ("invoice.payment_failed", {"id": "in_9", "object": "invoice", "parent": None}),
            ("customer.discount.created", {"id": "di_1", "object": "discount"}),
        ],
    )  # fmt: skip
    def test_what_is_not_this_installations_is_acknowledged_as_other(
        self, http: RecordingHTTPClient, kind: str, obj: dict[str, Any]
    ) -> None:
        """Another product on the account, an item added in the Dashboard, another app:
        ignored, never an error that makes Stripe retry for days, and nothing fetched."""
        payload = event_json(kind, obj)
        (event,) = provider(http).parse_webhook(payload, sign(payload))
        assert (event.type, event.subscription_ref, event.customer_ref) == (
            ProviderEventType.OTHER,
            None,
            None,
        )
        assert http.requests == []

    def test_unmarked_objects_belong_to_the_default_installation_only(
        self, http: RecordingHTTPClient
    ) -> None:
        """Subscriptions made before the marker carry workspace_id alone."""
        obj = {"id": "sub_1", "object": "subscription", "metadata": {"workspace_id": "ws_1"}}
        payload = event_json("customer.subscription.updated", obj)
        (mine,) = provider(http).parse_webhook(payload, sign(payload))
        (theirs,) = provider(http, installation="blue").parse_webhook(payload, sign(payload))
        assert (mine.type, theirs.type) == (
            ProviderEventType.SUBSCRIPTION_UPDATED,
            ProviderEventType.OTHER,
        )

    def test_a_forged_altered_or_stale_webhook_is_refused(self, http: RecordingHTTPClient) -> None:
        payload = event_json("customer.subscription.updated", {"id": "sub_1", "metadata": OURS})
        stripe_provider = provider(http, webhook_tolerance=300)
        cases = [
            (payload.replace(b"sub_1", b"sub_2"), sign(payload)),
            (payload, sign(payload, secret="whsec_other")),
            (payload, sign(payload, at=int(time.time()) - 301)),
            (payload, {}),
            (b"not json", sign(b"not json")),
        ]
        for body, headers in cases:
            with pytest.raises(WebhookVerificationError):
                stripe_provider.parse_webhook(body, headers)
        assert json.loads(payload)["id"] == "evt_1"
