"""The Stripe adapter at the SDK's HTTP boundary: the exact endpoint, parameters and
idempotency key of every request, against responses shaped like the pinned API version.

These cover the flows localstripe cannot serve (Checkout, the portal, subscription
schedules, invoice previews, prices), and every other request too.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from stripe_doubles import (
    PERIOD_END,
    SECRET_KEY,
    RecordingHTTPClient,
    Request,
    event_json,
    provider,
    schedule_json,
    sign,
    subscription_json,
    with_schedule,
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
    QuoteRequest,
    WebhookVerificationError,
)


@pytest.fixture(name="http")
def http_fixture() -> RecordingHTTPClient:
    http = RecordingHTTPClient()
    state: dict[str, Any] = {"sub": subscription_json()}
    http.routes["GET /v1/subscriptions/sub_1"] = lambda r: (200, state["sub"])

    def update(request: Request) -> tuple[int, dict[str, Any]]:
        if "items[0][quantity]" in request.params:
            state["sub"] = subscription_json(quantity=int(request.params["items[0][quantity]"]))
        if "cancel_at_period_end" in request.params:
            flag = request.params["cancel_at_period_end"] == "true"
            state["sub"] = subscription_json(cancel_at_period_end=flag)
        return 200, state["sub"]

    http.routes["POST /v1/subscriptions/sub_1"] = update
    http.routes["GET /v1/customers/cus_1"] = lambda r: (200, state["customer"])
    state["customer"] = {
        "id": "cus_1",
        "object": "customer",
        "invoice_settings": {"default_payment_method": "pm_1"},
    }
    http.state = state  # type: ignore[attr-defined]
    return http


def declined(_: Request) -> tuple[int, dict[str, Any]]:
    error = {"type": "card_error", "code": "card_declined", "message": "Your card was declined."}
    return 402, {"error": error}


class TestWrites:
    """Each write is one Stripe call with the intent's idempotency key (R6, R9, R13)."""

    def test_a_customer_carries_its_workspace(self, http: RecordingHTTPClient) -> None:
        http.routes["POST /v1/customers"] = lambda r: (200, {"id": "cus_1", "object": "customer"})
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
        }

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
            "subscription_data[metadata][workspace_id]": "ws_1",
        }

    def test_an_increase_is_invoiced_at_once_and_refused_unless_paid(
        self, http: RecordingHTTPClient
    ) -> None:
        """Rule R9: always_invoice + error_if_incomplete."""
        view = provider(http).increase_seats("sub_1", 7, idempotency_key="k2")
        assert view.seats == 7
        (call,) = http.writes()
        assert (call.path, call.idempotency_key) == ("/v1/subscriptions/sub_1", "k2:pm:pm_1")
        assert call.params == {
            "items[0][id]": "si_1",
            "items[0][quantity]": "7",
            "proration_behavior": "always_invoice",
            "payment_behavior": "error_if_incomplete",
        }
        assert http.requests[0].params == {}

    def test_a_declined_increase_is_payment_failed_with_the_request_id(
        self, http: RecordingHTTPClient
    ) -> None:
        http.routes["POST /v1/subscriptions/sub_1"] = declined
        with pytest.raises(PaymentFailed, match="card_declined") as failed:
            provider(http).increase_seats("sub_1", 7, idempotency_key="k3")
        assert failed.value.request_id is not None
        assert failed.value.request_id.startswith("req_")

    def test_a_declined_increase_keeps_the_scheduled_decrease(
        self, http: RecordingHTTPClient
    ) -> None:
        """Rule R9: PaymentFailed leaves everything as it was, the pending decrease included."""
        http.state["sub"] = with_schedule(http, 3)  # type: ignore[attr-defined]
        http.routes["POST /v1/subscriptions/sub_1"] = declined
        with pytest.raises(PaymentFailed):
            provider(http).increase_seats("sub_1", 6, idempotency_key="k")
        assert [w.path for w in http.writes()] == ["/v1/subscriptions/sub_1"]
        assert provider(http).fetch_subscription("sub_1").pending_seats == 3

    def test_a_new_card_gives_a_declined_change_a_new_key(self, http: RecordingHTTPClient) -> None:
        """Stripe replays a 402 for its key: after the card is fixed the retry must be new."""
        http.routes["POST /v1/subscriptions/sub_1"] = declined
        stripe_provider = provider(http)
        for _ in range(2):
            with pytest.raises(PaymentFailed):
                stripe_provider.increase_seats("sub_1", 7, idempotency_key="k")
        http.state["customer"]["invoice_settings"]["default_payment_method"] = "pm_2"  # type: ignore[attr-defined]
        with pytest.raises(PaymentFailed):
            stripe_provider.increase_seats("sub_1", 7, idempotency_key="k")
        keys = [r.idempotency_key for r in http.writes()]
        assert keys == ["k:pm:pm_1", "k:pm:pm_1", "k:pm:pm_2"]

    def test_an_increase_releases_a_scheduled_decrease_once_paid(
        self, http: RecordingHTTPClient
    ) -> None:
        http.state["sub"] = with_schedule(http, 3)  # type: ignore[attr-defined]
        http.routes["POST /v1/subscription_schedules/sub_sched_1/release"] = lambda r: (
            200,
            {"id": "sub_sched_1"},
        )
        provider(http).increase_seats("sub_1", 6, idempotency_key="k4")
        update, release = http.writes()
        assert (release.path, release.idempotency_key) == (
            "/v1/subscription_schedules/sub_sched_1/release",
            "k4:release",
        )
        assert update.idempotency_key == "k4:pm:pm_1"

    def test_a_decrease_is_a_schedule_phase_from_the_period_end(
        self, http: RecordingHTTPClient
    ) -> None:
        """Rule R9: Stripe renews at the lower quantity; the pending decrease is read back."""
        http.routes["POST /v1/subscription_schedules"] = lambda r: (
            200,
            {"id": "sub_sched_1", "phases": []},
        )

        def phases(request: Request) -> tuple[int, dict[str, Any]]:
            http.state["sub"] = with_schedule(http, 3)  # type: ignore[attr-defined]
            return 200, schedule_json(3)

        http.routes["POST /v1/subscription_schedules/sub_sched_1"] = phases
        view = provider(http).schedule_seat_decrease("sub_1", 3, idempotency_key="k5")
        assert (view.seats, view.pending_seats) == (5, 3)
        create, update = http.writes()
        assert create.params == {"from_subscription": "sub_1"}
        assert create.idempotency_key == "k5:schedule"
        assert update.idempotency_key == "k5:phases"
        assert update.params["end_behavior"] == "release"
        assert update.params["phases[0][items][0][quantity]"] == "5"
        assert update.params["phases[0][end_date]"] == str(PERIOD_END)
        assert update.params["phases[1][items][0][quantity]"] == "3"
        assert update.params["phases[1][duration][interval]"] == "month"

    def test_asking_for_the_seats_in_force_releases_the_schedule(
        self, http: RecordingHTTPClient
    ) -> None:
        http.state["sub"] = with_schedule(http, 3)  # type: ignore[attr-defined]

        def release(request: Request) -> tuple[int, dict[str, Any]]:
            http.state["sub"] = subscription_json()  # type: ignore[attr-defined]
            return 200, {"id": "sub_sched_1"}

        http.routes["POST /v1/subscription_schedules/sub_sched_1/release"] = release
        view = provider(http).schedule_seat_decrease("sub_1", 5, idempotency_key="k6")
        assert (view.seats, view.pending_seats) == (5, None)
        (call,) = http.writes()
        assert call.path.endswith("/release")

    def test_a_plan_change_swaps_the_price_and_is_paid_at_once(
        self, http: RecordingHTTPClient
    ) -> None:
        provider(http).change_plan(
            "sub_1", plan="business", interval=Interval.YEAR, seats=5,
            unit_amount=Money(12000, "EUR"), idempotency_key="k7",
        )  # fmt: skip
        (call,) = http.writes()
        assert call.params["items[0][price]"] == "price_year"
        assert call.params["payment_behavior"] == "error_if_incomplete"

    def test_cancel_at_period_end_resume_and_cancel_now(self, http: RecordingHTTPClient) -> None:
        """Rule R13."""
        stripe_provider = provider(http)
        assert stripe_provider.cancel(
            "sub_1", at_period_end=True, idempotency_key="k8"
        ).cancel_at_period_end
        assert not stripe_provider.resume("sub_1", idempotency_key="k9").cancel_at_period_end
        http.routes["DELETE /v1/subscriptions/sub_1"] = lambda r: (
            200,
            subscription_json(status="canceled"),
        )
        http.state["sub"] = subscription_json(status="canceled")  # type: ignore[attr-defined]
        view = stripe_provider.cancel("sub_1", at_period_end=False, idempotency_key="k10")
        assert view.status is ProviderStatus.CANCELED
        calls = [(c.method, c.params, c.idempotency_key) for c in http.writes()]
        assert calls == [
            ("POST", {"cancel_at_period_end": "true"}, "k8"),
            ("POST", {"cancel_at_period_end": "false"}, "k9"),
            ("DELETE", {}, "k10"),
        ]

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
    """The subscription's view, and prices shown before they are paid (R18)."""

    def test_the_view_reads_the_item_period_price_and_metadata(
        self, http: RecordingHTTPClient
    ) -> None:
        view = provider(http).fetch_subscription("sub_1")
        assert (view.ref, view.customer_ref, view.workspace_id) == ("sub_1", "cus_1", "ws_1")
        assert (view.plan, view.interval, view.seats) == ("business", Interval.MONTH, 5)
        assert view.unit_amount == Money(1200, "EUR")
        assert int(view.period_end.timestamp()) == PERIOD_END
        assert view.status is ProviderStatus.ACTIVE

    @pytest.mark.parametrize(
        ("stripe_status", "status"),
        [
            ("active", ProviderStatus.ACTIVE),
            ("past_due", ProviderStatus.PAST_DUE),
            ("unpaid", ProviderStatus.PAST_DUE),
            ("canceled", ProviderStatus.CANCELED),
            ("incomplete", ProviderStatus.INCOMPLETE),
            ("incomplete_expired", ProviderStatus.CANCELED),
        ],
    )
    def test_stripe_statuses_map_to_neutral_ones(
        self, http: RecordingHTTPClient, stripe_status: str, status: ProviderStatus
    ) -> None:
        http.state["sub"] = subscription_json(status=stripe_status)  # type: ignore[attr-defined]
        assert provider(http).fetch_subscription("sub_1").status is status

    def test_an_unknown_price_is_refused(self, http: RecordingHTTPClient) -> None:
        http.state["sub"] = subscription_json(price="price_other")  # type: ignore[attr-defined]
        with pytest.raises(ProviderError, match="unknown price"):
            provider(http).fetch_subscription("sub_1")

    def test_an_increase_is_quoted_by_an_invoice_preview(self, http: RecordingHTTPClient) -> None:
        http.routes["POST /v1/invoices/create_preview"] = lambda r: (
            200,
            {"object": "invoice", "amount_due": 1161},
        )
        quote = provider(http).quote(
            QuoteRequest("business", Interval.MONTH, 7, Money(1200, "EUR"), "sub_1")
        )
        assert (quote.due_now, quote.recurring) == (Money(1161, "EUR"), Money(8400, "EUR"))
        call = http.writes()[0]
        assert call.params == {
            "customer": "cus_1",
            "subscription": "sub_1",
            "subscription_details[items][0][id]": "si_1",
            "subscription_details[items][0][price]": "price_month",
            "subscription_details[items][0][quantity]": "7",
            "subscription_details[proration_behavior]": "always_invoice",
        }

    def test_a_new_subscription_is_quoted_without_a_call(self, http: RecordingHTTPClient) -> None:
        quote = provider(http).quote(
            QuoteRequest("business", Interval.YEAR, 3, Money(12000, "EUR"))
        )
        assert quote.due_now == Money(36000, "EUR")
        assert http.requests == []


class TestStartUpCheck:
    """A missing or mismatched price fails at start-up, not at the first customer."""

    @staticmethod
    def price(
        interval: str = "month", amount: int = 1200, usage: str = "licensed"
    ) -> dict[str, Any]:
        return {
            "id": f"price_{interval}",
            "object": "price",
            "currency": "eur",
            "unit_amount": amount,
            "billing_scheme": "per_unit",
            "recurring": {"interval": interval, "usage_type": usage},
        }

    def test_matching_prices_pass(self, http: RecordingHTTPClient) -> None:
        http.routes["GET /v1/prices/price_month"] = lambda r: (200, self.price())
        http.routes["GET /v1/prices/price_year"] = lambda r: (200, self.price("year", 12000))
        provider(http).verify(Catalog.default())

    @pytest.mark.parametrize(
        ("month", "problem"),
        [
            ({"amount": 999}, "charges 999, not 1200"),
            ({"interval": "week"}, "bills every week"),
            ({"usage": "metered"}, "metered"),
        ],
    )
    def test_a_mismatched_price_is_a_configuration_error(
        self, http: RecordingHTTPClient, month: dict[str, Any], problem: str
    ) -> None:
        bad = self.price(**month)
        http.routes["GET /v1/prices/price_month"] = lambda r: (200, bad)
        with pytest.raises(CatalogError, match=problem):
            provider(http).verify(Catalog.default())

    def test_a_missing_price_is_a_configuration_error(self, http: RecordingHTTPClient) -> None:
        import stripe

        from workspace_billing.providers.stripe import StripePrice, StripeProvider

        client = stripe.StripeClient(SECRET_KEY, http_client=http, max_network_retries=0)
        only_month = StripeProvider(
            client,
            prices=[StripePrice("business", "month", "price_month")],
            webhook_secret="whsec_x",
        )
        http.routes["GET /v1/prices/price_month"] = lambda r: (200, self.price())
        with pytest.raises(
            CatalogError, match="no Stripe price configured for plan 'business' \\(yearly\\)"
        ):
            only_month.verify(Catalog.default())


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


class TestWebhooks:
    """Rule R14: verified with the SDK, turned into neutral events naming the subscription."""

    @pytest.mark.parametrize(
        ("kind", "obj", "expected"),
        [
            (
                "checkout.session.completed",
                {"id": "cs_1", "subscription": "sub_1", "client_reference_id": "ws_1"},
                ProviderEventType.CHECKOUT_COMPLETED,
            ),
            (
                "customer.subscription.updated",
                {"id": "sub_1", "metadata": {"workspace_id": "ws_1"}},
                ProviderEventType.SUBSCRIPTION_UPDATED,
            ),
            (
                "customer.subscription.deleted",
                {"id": "sub_1"},
                ProviderEventType.SUBSCRIPTION_DELETED,
            ),
            (
                "invoice.paid",
                {"id": "in_1", "parent": {"subscription_details": {"subscription": "sub_1"}}},
                ProviderEventType.INVOICE_PAID,
            ),
            (
                "invoice.payment_failed",
                {"id": "in_1", "subscription": "sub_1"},
                ProviderEventType.INVOICE_PAYMENT_FAILED,
            ),
        ],
    )
    def test_handled_events_name_their_subscription(
        self, http: RecordingHTTPClient, kind: str, obj: dict[str, Any], expected: ProviderEventType
    ) -> None:
        payload = event_json(kind, obj)
        (event,) = provider(http).parse_webhook(payload, sign(payload))
        assert (event.id, event.type, event.subscription_ref) == ("evt_1", expected, "sub_1")

    def test_other_events_are_acknowledged_as_other(self, http: RecordingHTTPClient) -> None:
        payload = event_json("customer.discount.created", {"id": "di_1"})
        (event,) = provider(http).parse_webhook(payload, sign(payload))
        assert event.type is ProviderEventType.OTHER

    def test_a_forged_altered_or_stale_webhook_is_refused(self, http: RecordingHTTPClient) -> None:
        payload = event_json("customer.subscription.updated", {"id": "sub_1"})
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
