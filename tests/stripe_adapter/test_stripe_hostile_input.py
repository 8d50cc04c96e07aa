"""The Stripe adapter against an adversary (issue 11): signed but malformed webhooks,
misdated signatures, a tolerance that would turn replay protection off, and Stripe
error messages that name a secret.

Webhooks are signed with the endpoint's secret as Stripe signs them, so what is
tested is the adapter's reading of the body, not the signature check. Everything
runs at the SDK's HTTP boundary (``stripe_doubles``); the last class drives
``Billing`` end to end on it, with its jobs' log lines captured.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from datetime import UTC, datetime
from typing import Any

import pytest
import stripe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stripe_doubles import (
    PRICES,
    SECRET_KEY,
    WEBHOOK_SECRET,
    RecordingHTTPClient,
    Request,
    StripeDouble,
    provider,
    sign,
)
from stripe_fixtures import PERIOD_START, event_json

from workspace_billing import (
    Billing,
    BillingError,
    Catalog,
    CatalogError,
    NotFound,
    PaymentFailed,
    ProviderError,
    ProviderEventType,
    WebhookVerificationError,
)
from workspace_billing.providers.stripe import StripeProvider
from workspace_billing.testing import InMemoryStore

OURS = {"workspace_id": "ws_1", "wb_installation": "default"}
SUB = {"id": "sub_1", "object": "subscription", "metadata": OURS}


def envelope(**fields: Any) -> dict[str, Any]:
    """A well-formed ``customer.subscription.updated`` of ours, with ``fields`` replaced."""
    body: dict[str, Any] = {
        "id": "evt_1",
        "object": "event",
        "type": "customer.subscription.updated",
        "created": PERIOD_START,
        "data": {"object": dict(SUB)},
    }
    return body | fields


def about(kind: str, obj: Any) -> dict[str, Any]:
    return envelope(type=kind, data={"object": obj})


def body_of(value: Any) -> bytes:
    return json.dumps(value).encode()


def nested(depth: int) -> bytes:
    """An event whose object holds ``depth`` levels of nested objects."""
    inner = '{"a":' * depth + "1" + "}" * depth
    head = body_of(envelope(type="customer.discount.created", data={"object": {}}))
    return head.replace(b'"data": {"object": {}}', b'"data": {"object": ' + inner.encode() + b"}")


INVOICE = {"id": "in_1", "object": "invoice"}
SESSION = {"id": "cs_1", "object": "checkout.session", "metadata": OURS}

MALFORMED: dict[str, bytes] = {
    "null": b"null",
    "a list": b'[{"id": "evt_1", "object": "event"}]',
    "a string": b'"evt_1"',
    "a number": b"42",
    "true": b"true",
    "an empty object": b"{}",
    "not an event": body_of(envelope(object="customer")),
    "a thin event": body_of(envelope(object="v2.core.event")),
    "no id": body_of({k: v for k, v in envelope().items() if k != "id"}),
    "an empty id": body_of(envelope(id="")),
    "a numeric id": body_of(envelope(id=123)),
    "a list id": body_of(envelope(id=["evt_1"])),
    "an object id": body_of(envelope(id={"id": "evt_1"})),
    "an id that is a path": body_of(envelope(id="../v1/customers")),
    "an id with a lone surrogate": b'{"id": "evt_\\ud800", "object": "event", "type": "x", '
    b'"data": {"object": {}}}',
    "a numeric type": body_of(envelope(type=7)),
    "no data": body_of({k: v for k, v in envelope().items() if k != "data"}),
    "data a string": body_of(envelope(data="sub_1")),
    "data a list": body_of(envelope(data=[SUB])),
    "data null": body_of(envelope(data=None)),
    "no data.object": body_of(envelope(data={})),
    "data.object a string": body_of(envelope(data={"object": "sub_1"})),
    "data.object a list": body_of(envelope(data={"object": [SUB]})),
    "data.object a number": body_of(envelope(data={"object": 5})),
    "data.object null": body_of(envelope(data={"object": None})),
    "a subscription id that is a number": body_of(envelope(data={"object": SUB | {"id": 7}})),
    "a subscription id that is a list": body_of(envelope(data={"object": SUB | {"id": ["sub_1"]}})),
    "metadata a string": body_of(envelope(data={"object": SUB | {"metadata": "ws_1"}})),
    "metadata a list": body_of(envelope(data={"object": SUB | {"metadata": [OURS]}})),
    "a numeric workspace id": body_of(
        envelope(data={"object": SUB | {"metadata": OURS | {"workspace_id": 5}}})
    ),
    "a numeric installation marker": body_of(
        envelope(data={"object": SUB | {"metadata": {"wb_installation": 1}}})
    ),
    "a checkout's subscription a number": body_of(
        about("checkout.session.completed", SESSION | {"subscription": 5})
    ),
    "a checkout's subscription a list": body_of(
        about("checkout.session.completed", SESSION | {"subscription": ["sub_1"]})
    ),
    "a checkout's subscription zero": body_of(
        about("checkout.session.completed", SESSION | {"subscription": 0})
    ),
    "a checkout's subscription false": body_of(
        about("checkout.session.completed", SESSION | {"subscription": False})
    ),
    "a checkout's expanded subscription with a numeric id": body_of(
        about("checkout.session.completed", SESSION | {"subscription": {"id": 5}})
    ),
    "a checkout's client_reference_id a number": body_of(
        about(
            "checkout.session.completed",
            SESSION | {"metadata": {"wb_installation": "default"}, "client_reference_id": 5},
        )
    ),
    "a checkout's customer a list": body_of(
        about("checkout.session.completed", SESSION | {"subscription": "sub_1", "customer": []})
    ),
    "an invoice's parent a string": body_of(about("invoice.paid", INVOICE | {"parent": "sub_1"})),
    "an invoice's subscription details a list": body_of(
        about("invoice.paid", INVOICE | {"parent": {"subscription_details": [OURS]}})
    ),
    "an invoice's subscription a number": body_of(
        about(
            "invoice.paid",
            INVOICE | {"parent": {"subscription_details": {"subscription": 12, "metadata": OURS}}},
        )
    ),
    "an invoice's metadata a list": body_of(
        about("invoice.paid", INVOICE | {"subscription_details": {"metadata": ["ws_1"]}})
    ),
    "a deleted customer's id a number": body_of(
        about("customer.deleted", {"id": 12, "object": "customer", "metadata": OURS})
    ),
    "a body nested beyond the parser": b"[" * 100_000 + b"]" * 100_000,
    "an object nested beyond the parser": nested(100_000),
    "invalid UTF-8": b'{"id": "evt_\xff\xfe", "object": "event"}',
    "a UTF-8 byte order mark": b"\xef\xbb\xbf" + body_of(envelope()),
    "not JSON": b"{'id': 'evt_1'}",
    "an empty body": b"",
}


KINDS = [
    "checkout.session.completed",
    "invoice.paid",
    "invoice.payment_action_required",
    "customer.deleted",
    "customer.subscription.deleted",
    "charge.refunded",
]


@pytest.fixture(name="http")
def http_fixture() -> RecordingHTTPClient:
    return StripeDouble(RecordingHTTPClient()).http


class TestMalformedWebhooks:
    """Finding 1: a signed body that is not Stripe's shape is a 400, never a 500."""

    @pytest.mark.parametrize("case", sorted(MALFORMED))
    def test_a_signed_malformed_body_is_refused(self, http: RecordingHTTPClient, case: str) -> None:
        payload = MALFORMED[case]
        with pytest.raises(WebhookVerificationError) as refused:
            provider(http).parse_webhook(payload, sign(payload))
        assert refused.value.code == "webhook_verification_failed"
        assert WEBHOOK_SECRET not in str(refused.value)
        assert http.requests == []

    def test_a_deep_but_parseable_object_is_read_without_recursing(
        self, http: RecordingHTTPClient
    ) -> None:
        """The event is read from the JSON, not converted into SDK objects level by level."""
        payload = nested(600)
        (event,) = provider(http).parse_webhook(payload, sign(payload))
        assert (event.id, event.type) == ("evt_1", ProviderEventType.OTHER)

    def test_the_well_formed_shapes_still_read(self, http: RecordingHTTPClient) -> None:
        """Expanded objects, absent optional fields and null parents are Stripe's own shapes."""
        cases = [
            about("checkout.session.completed",
                  SESSION | {"subscription": {"id": "sub_1", "object": "subscription"},
                             "customer": {"id": "cus_1"}, "client_reference_id": None}),
            about("invoice.paid", INVOICE | {"parent": {"subscription_details": {
                "subscription": "sub_1", "metadata": OURS}}, "subscription": None}),
            about("invoice.payment_failed", INVOICE | {"parent": None, "subscription": "sub_1",
                  "subscription_details": {"metadata": OURS}}),
        ]  # fmt: skip
        for body in cases:
            payload = body_of(body)
            (event,) = provider(http).parse_webhook(payload, sign(payload))
            assert (event.subscription_ref, event.workspace_id) == ("sub_1", "ws_1")

    @settings(
        max_examples=150,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(data=st.data())
    def test_any_signed_json_is_an_event_or_a_verification_error(
        self, http: RecordingHTTPClient, data: st.DataObject
    ) -> None:
        """Arbitrary JSON, alone or in place of any field the adapter reads."""
        scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
        junk = st.recursive(
            scalars,
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=5), inner, max_size=3)
            ),
            max_leaves=8,
        )
        kind = data.draw(st.sampled_from(KINDS))
        obj: dict[str, Any] = {
            "id": "x_1",
            "object": "invoice",
            "metadata": dict(OURS),
            "subscription": "sub_1",
            "customer": "cus_1",
            "client_reference_id": "ws_1",
            "parent": {"subscription_details": {"subscription": "sub_1", "metadata": dict(OURS)}},
        }
        body: Any = about(kind, obj)
        where = data.draw(st.sampled_from(["body", "id", "type", "data", "object", "metadata",
                                           "subscription", "customer", "parent", "details",
                                           "workspace"]))  # fmt: skip
        value = data.draw(junk)
        if where == "body":
            body = value
        elif where in ("id", "type", "data"):
            body[where] = value
        elif where == "object":
            body["data"]["object"] = value
        elif where in ("metadata", "subscription", "customer", "parent"):
            obj[where] = value
        elif where == "details":
            obj["parent"]["subscription_details"] = value
        else:
            obj["metadata"]["workspace_id"] = value
        payload = json.dumps(body).encode()
        try:
            events = provider(http).parse_webhook(payload, sign(payload))
        except WebhookVerificationError:
            return
        for event in events:
            assert isinstance(event.id, str)
            for ref in (event.subscription_ref, event.customer_ref, event.workspace_id):
                assert ref is None or isinstance(ref, str)


class TestTimestamps:
    """Finding 2: a signature too far from now, either way, is refused; and the tolerance
    cannot be set to a value that turns the check off."""

    @pytest.mark.parametrize(
        ("offset", "accepted"),
        [(0, True), (-250, True), (250, True), (-320, False), (320, False), (86_400, False),
         (10**10, False), (10**400, False), (-(10**400), False)],
    )  # fmt: skip
    def test_the_signed_timestamp_is_within_the_tolerance_either_way(
        self, http: RecordingHTTPClient, offset: int, accepted: bool
    ) -> None:
        payload = event_json("customer.subscription.updated", SUB)
        headers = sign(payload, at=int(time.time()) + offset)
        stripe_provider = provider(http, webhook_tolerance=300)
        if accepted:
            (event,) = stripe_provider.parse_webhook(payload, headers)
            assert event.subscription_ref == "sub_1"
        else:
            with pytest.raises(WebhookVerificationError, match="tolerance"):
                stripe_provider.parse_webhook(payload, headers)

    def test_a_future_signature_names_the_direction(self, http: RecordingHTTPClient) -> None:
        payload = event_json("customer.subscription.updated", SUB)
        headers = sign(payload, at=int(time.time()) + 3600)
        with pytest.raises(WebhookVerificationError, match="in the future"):
            provider(http, webhook_tolerance=60).parse_webhook(payload, headers)

    def test_the_first_timestamp_is_the_one_checked(self, http: RecordingHTTPClient) -> None:
        """A second ``t=`` appended to a future-dated header does not pass it off as fresh."""
        payload = event_json("customer.subscription.updated", SUB)
        future = sign(payload, at=int(time.time()) + 3600)["Stripe-Signature"]
        headers = {"Stripe-Signature": f"{future},t={int(time.time())}"}
        with pytest.raises(WebhookVerificationError):
            provider(http).parse_webhook(payload, headers)

    @pytest.mark.parametrize(
        "tolerance", [0, -1, -300, 3601, 10**9, 300.0, 0.5, "300", None, True, float("inf")]
    )
    def test_a_tolerance_that_would_weaken_replay_protection_is_refused(
        self, http: RecordingHTTPClient, tolerance: Any
    ) -> None:
        with pytest.raises(CatalogError, match="webhook_tolerance"):
            provider(http, webhook_tolerance=tolerance)

    @pytest.mark.parametrize("tolerance", [1, 300, 3600])
    def test_a_sensible_tolerance_is_taken(self, http: RecordingHTTPClient, tolerance: int) -> None:
        payload = event_json("customer.subscription.updated", SUB)
        stripe_provider = provider(http, webhook_tolerance=tolerance)
        assert stripe_provider.parse_webhook(payload, sign(payload))

    @pytest.mark.parametrize("secret", ["", "   ", None, b"whsec_bytes"])
    def test_a_blank_signing_secret_is_refused(
        self, http: RecordingHTTPClient, secret: Any
    ) -> None:
        client = stripe.StripeClient(SECRET_KEY, http_client=http)
        with pytest.raises(CatalogError, match="signing secret"):
            StripeProvider(client, prices=PRICES, webhook_secret=secret)


# ------------------------------------------------------------------- secrets

SECRETS = (
    SECRET_KEY,
    "sk_test_****abcd",
    "sk_live_51HxSECRETmaterial",
    "rk_live_51HxRESTRICTED",
    "rk_test_****wxyz",
    WEBHOOK_SECRET,
    "whsec_9f8e7d6c5b4a",
    "pi_3MtwBwLkdIwHu7ix28a3tqPa_secret_YrKJUKribcBjcG8HVhfZluoGH",
    "seti_1Mm8s8LkdIwHu7ixrsm_secret_NXDtqvKk4SoC7Fs",
    "ek_test_YWNjdF8xTTJKVGt",
)
LEAKY = (
    f"Invalid API Key provided: {SECRETS[1]}; the key {SECRET_KEY} or {SECRETS[2]} "
    f"or '{SECRETS[3]}' ({SECRETS[4]}), secret {WEBHOOK_SECRET} and {SECRETS[6]}, "
    f"client secrets {SECRETS[7]} and {SECRETS[8]}, ephemeral {SECRETS[9]}."
)
ERRORS = [
    (400, {"type": "invalid_request_error", "code": "parameter_invalid", "message": LEAKY},
     ProviderError),
    (402, {"type": "card_error", "code": "card_declined", "message": LEAKY}, PaymentFailed),
    (403, {"type": "invalid_request_error", "message": LEAKY}, ProviderError),
    (404, {"type": "invalid_request_error", "code": "resource_missing", "message": LEAKY},
     NotFound),
    (404, {"type": "invalid_request_error", "code": "resource_missing", "param": LEAKY},
     NotFound),
    (429, {"type": "invalid_request_error", "code": "rate_limit", "message": LEAKY},
     ProviderError),
    (500, {"type": "api_error", "message": LEAKY}, ProviderError),
    (500, {"type": "api_error", "code": LEAKY}, ProviderError),
    (401, {"type": "invalid_request_error", "message": LEAKY}, ProviderError),
    (409, {"type": "idempotency_error", "message": LEAKY}, ProviderError),
]  # fmt: skip


def leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def leaky(status: int, error: dict[str, Any]) -> Any:
    def answer(_: Request) -> tuple[int, dict[str, Any]]:
        return status, {"error": error}

    return answer


def everything_printed(error: BaseException) -> str:
    """What a host could see of an error: its text, its repr and a full traceback."""
    return "\n".join([str(error), repr(error), *traceback.format_exception(error)])


class TestNoSecretInErrors:
    """Finding 3: Stripe's message is redacted at the edge; its request id is kept."""

    @pytest.mark.parametrize(("status", "error", "expected"), ERRORS)
    def test_a_secret_in_stripes_answer_is_redacted(
        self,
        http: RecordingHTTPClient,
        status: int,
        error: dict[str, Any],
        expected: type[BillingError],
    ) -> None:
        http.routes["GET /v1/subscriptions/sub_1"] = leaky(status, error)
        with pytest.raises(expected) as raised:
            provider(http).fetch_subscription("sub_1")
        assert leaks(everything_printed(raised.value)) == []
        assert raised.value.__cause__ is None
        assert raised.value.__suppress_context__
        if isinstance(raised.value, ProviderError):
            assert raised.value.request_id == "req_1"
        if "message" in error and status not in (401, 429):
            assert "[redacted]" in str(raised.value)

    def test_a_declined_charge_names_no_client_secret(self, http: RecordingHTTPClient) -> None:
        """A decline on an increase, through the charge path that voids what it left open."""
        http.routes["POST /v1/subscriptions/sub_1"] = leaky(
            402, {"type": "card_error", "code": "card_declined", "message": LEAKY}
        )
        with pytest.raises(PaymentFailed) as raised:
            provider(http).increase_seats("sub_1", 7, idempotency_key="k")
        assert leaks(everything_printed(raised.value)) == []
        assert str(raised.value).startswith("the card was declined (card_declined): ")

    def test_ordinary_messages_are_kept(self, http: RecordingHTTPClient) -> None:
        """Only secrets go: ids, codes and Stripe's words stay for whoever debugs."""
        message = "No such price: 'price_1Qm'; a similar object exists in test mode"
        http.routes["GET /v1/subscriptions/sub_1"] = leaky(
            400, {"type": "invalid_request_error", "code": "parameter_invalid", "message": message}
        )
        with pytest.raises(ProviderError) as raised:
            provider(http).fetch_subscription("sub_1")
        assert str(raised.value) == f"Stripe refused the request: {message}"

    def test_the_provider_shows_no_secret(self, http: RecordingHTTPClient) -> None:
        stripe_provider = provider(http, webhook_tolerance=120)
        for text in (repr(stripe_provider), str(stripe_provider)):
            assert leaks(text) == []
            assert "whsec" not in text

    def test_a_refused_webhook_names_no_secret(self, http: RecordingHTTPClient) -> None:
        payload = event_json("customer.subscription.updated", SUB)
        for headers in (sign(payload, secret="whsec_other"), {}, {"Stripe-Signature": "t=1"}):
            with pytest.raises(WebhookVerificationError) as raised:
                provider(http).parse_webhook(payload, headers)
            assert leaks(everything_printed(raised.value)) == []


# ----------------------------------------------------------- Billing on top


class StripeClock:
    def __init__(self, double: StripeDouble) -> None:
        self._double = double

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._double.now, UTC)


URLS = {"success_url": "https://app.example/ok", "cancel_url": "https://app.example/cancel"}


@pytest.fixture(name="double")
def double_fixture() -> StripeDouble:
    return StripeDouble(RecordingHTTPClient(), subscribed=False)


@pytest.fixture(name="billing")
def billing_fixture(double: StripeDouble) -> Billing:
    return Billing(
        catalog=Catalog.default(),
        store=InMemoryStore(),
        provider=provider(double.http),
        clock=StripeClock(double),
    )


def paid(billing: Billing, double: StripeDouble) -> str:
    """A workspace on Business, its Checkout paid and its webhooks applied."""
    ws = billing.create_workspace(owner="alice", name="Acme")
    checkout = billing.upgrade(ws.id, actor="alice", plan="business", seats=3, **URLS)
    double.subscribe(checkout.id)
    for event in double.events:
        body = json.dumps(event).encode()
        billing.handle_webhook(body, sign(body))
    assert billing.workspace(ws.id).subscription.subscription_ref == "sub_1"
    return ws.id


def printed(records: list[logging.LogRecord]) -> str:
    """The log records as a handler with tracebacks would write them."""
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
    return "\n".join(formatter.format(record) for record in records)


class TestBillingOnStripe:
    """Finding 4: the same, through ``Billing`` on the adapter over the HTTP double."""

    @pytest.mark.parametrize("case", ["null", "a numeric id", "data.object a list",
                                      "a checkout's subscription a list", "invalid UTF-8",
                                      "a body nested beyond the parser"])  # fmt: skip
    def test_a_malformed_webhook_is_refused_and_changes_nothing(
        self, billing: Billing, double: StripeDouble, case: str
    ) -> None:
        ws_id = paid(billing, double)
        before = (billing.workspace(ws_id), billing.events())
        payload = MALFORMED[case]
        with pytest.raises(WebhookVerificationError):
            billing.handle_webhook(payload, sign(payload))
        assert (billing.workspace(ws_id), billing.events()) == before

    def test_a_future_dated_webhook_is_refused_then_taken_when_fresh(
        self, billing: Billing, double: StripeDouble
    ) -> None:
        """The refused delivery claims nothing: Stripe's next, well-dated one applies."""
        ws_id = paid(billing, double)
        double.sub["items"]["data"][0]["quantity"] = 8
        payload = event_json("customer.subscription.updated", double.sub, event_id="evt_99")
        with pytest.raises(WebhookVerificationError, match="in the future"):
            billing.handle_webhook(payload, sign(payload, at=int(time.time()) + 3600))
        assert billing.workspace(ws_id).subscription.seats == 3
        assert billing.handle_webhook(payload, sign(payload)).applied == 1
        assert billing.workspace(ws_id).subscription.seats == 8

    def test_a_webhook_whose_fetch_leaks_a_key_raises_without_it(
        self, billing: Billing, double: StripeDouble
    ) -> None:
        paid(billing, double)
        double.http.routes["GET /v1/subscriptions/sub_1"] = leaky(
            403, {"type": "invalid_request_error", "message": LEAKY}
        )
        payload = event_json("customer.subscription.updated", double.sub, event_id="evt_99")
        with pytest.raises(ProviderError) as raised:
            billing.handle_webhook(payload, sign(payload))
        assert leaks(everything_printed(raised.value)) == []

    @pytest.mark.parametrize(("status", "error", "expected"), ERRORS)
    def test_the_jobs_log_no_secret(
        self,
        billing: Billing,
        double: StripeDouble,
        caplog: pytest.LogCaptureFixture,
        status: int,
        error: dict[str, Any],
        expected: type[BillingError],
    ) -> None:
        """``reconcile`` and ``run_renewals`` log each failure, and nothing secret.

        Every record the library writes is checked, at any level, and every record
        at WARNING or above from any logger. (The SDK's own ``stripe`` logger writes
        Stripe's answers verbatim at INFO and DEBUG: docs/stripe.md says to keep it
        at WARNING.)
        """
        ws_id = paid(billing, double)
        double.http.routes["GET /v1/subscriptions/sub_1"] = leaky(status, error)
        with caplog.at_level(logging.DEBUG):
            report = billing.reconcile()
            double.now = double.sub["items"]["data"][0]["current_period_end"] + 60
            renewals = billing.run_renewals()
        assert report.failed == ((ws_id, expected.code),)
        assert (ws_id, expected.code) in renewals.failed
        ours = [r for r in caplog.records if r.name.split(".")[0] == "workspace_billing"]
        loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert [r.levelno for r in ours] == [logging.WARNING, logging.WARNING]
        assert all(record.exc_info is None for record in ours)
        assert leaks(printed(ours)) == []
        assert leaks(printed(loud)) == []
