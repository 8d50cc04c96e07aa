"""Test doubles at the Stripe SDK's HTTP boundary: every request the adapter makes is
recorded (method, path, decoded parameters, idempotency key) and answered with JSON
shaped like the pinned API version's (periods on subscription items)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import attrs
import stripe

from workspace_billing import Interval
from workspace_billing.providers.stripe import StripePrice, StripeProvider

SECRET_KEY = "sk_test_do_not_leak_51Hx"
WEBHOOK_SECRET = "whsec_test_secret"
PERIOD_START = 1_767_261_600  # 2026-01-01 10:00 UTC
PERIOD_END = 1_769_940_000  # 2026-02-01 10:00 UTC
PRICES = (
    StripePrice("business", Interval.MONTH, "price_month"),
    StripePrice("business", Interval.YEAR, "price_year"),
)


@attrs.frozen
class Request:
    method: str
    path: str
    params: dict[str, str]
    idempotency_key: str | None


Handler = Callable[[Request], tuple[int, dict[str, Any]]]


class RecordingHTTPClient(stripe.HTTPClient):
    """Answers from ``routes`` (``"POST /v1/customers"`` -> handler) and records everything."""

    name = "recording"

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[Request] = []
        self.routes: dict[str, Handler] = {}

    def request(  # type: ignore[override]
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        **_: Any,
    ) -> tuple[str, int, Mapping[str, str]]:
        parts = urlsplit(url)
        body = post_data.decode() if isinstance(post_data, bytes) else (post_data or "")
        params = dict(parse_qsl(parts.query)) | dict(parse_qsl(body))
        key = next((v for k, v in (headers or {}).items() if k.lower() == "idempotency-key"), None)
        request = Request(method.upper(), parts.path, params, key)
        self.requests.append(request)
        handler = self.routes.get(f"{request.method} {request.path}")
        if handler is None:
            return (
                json.dumps({"error": {"type": "invalid_request_error", "message": "no route"}}),
                404,
                {},
            )
        status, payload = handler(request)
        return json.dumps(payload), status, {"request-id": f"req_{len(self.requests)}"}

    def request_stream(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - unused
        raise NotImplementedError

    def close(self) -> None:
        pass

    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.method != "GET"]


def subscription_json(
    *,
    quantity: int = 5,
    price: str = "price_month",
    interval: str = "month",
    status: str = "active",
    schedule: str | None = None,
    cancel_at_period_end: bool = False,
) -> dict[str, Any]:
    return {
        "id": "sub_1",
        "object": "subscription",
        "customer": "cus_1",
        "status": status,
        "cancel_at_period_end": cancel_at_period_end,
        "metadata": {"workspace_id": "ws_1"},
        "schedule": schedule,
        "items": {
            "object": "list",
            "data": [
                {
                    "id": "si_1",
                    "object": "subscription_item",
                    "quantity": quantity,
                    "current_period_start": PERIOD_START,
                    "current_period_end": PERIOD_END,
                    "price": {
                        "id": price,
                        "object": "price",
                        "currency": "eur",
                        "unit_amount": 1200 if interval == "month" else 12000,
                        "billing_scheme": "per_unit",
                        "recurring": {"interval": interval, "usage_type": "licensed"},
                    },
                }
            ],
        },
    }


def with_schedule(http: RecordingHTTPClient, next_quantity: int) -> dict[str, Any]:
    """A subscription naming its schedule by id, as Stripe returns it unexpanded."""
    http.routes["GET /v1/subscription_schedules/sub_sched_1"] = lambda r: (
        200,
        schedule_json(next_quantity),
    )
    return subscription_json(schedule="sub_sched_1")


def schedule_json(next_quantity: int, *, current: int = 5) -> dict[str, Any]:
    return {
        "id": "sub_sched_1",
        "object": "subscription_schedule",
        "phases": [
            {
                "start_date": PERIOD_START,
                "end_date": PERIOD_END,
                "items": [{"price": "price_month", "quantity": current}],
            },
            {
                "start_date": PERIOD_END,
                "end_date": PERIOD_END + 2_678_400,
                "items": [{"price": "price_month", "quantity": next_quantity}],
            },
        ],
    }


def provider(http: RecordingHTTPClient, **options: Any) -> StripeProvider:
    client = stripe.StripeClient(SECRET_KEY, http_client=http, max_network_retries=0)
    return StripeProvider(client, prices=PRICES, webhook_secret=WEBHOOK_SECRET, **options)


def sign(payload: bytes, *, secret: str = WEBHOOK_SECRET, at: int | None = None) -> dict[str, str]:
    """Headers as Stripe signs a delivery: ``t=<unix>,v1=<hmac-sha256 of "t.payload">``."""
    timestamp = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return {"Stripe-Signature": f"t={timestamp},v1={digest.hexdigest()}"}


def event_json(kind: str, obj: dict[str, Any], event_id: str = "evt_1") -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": kind,
            "api_version": stripe.api_version,
            "created": PERIOD_START,
            "data": {"object": obj},
        }
    ).encode()
