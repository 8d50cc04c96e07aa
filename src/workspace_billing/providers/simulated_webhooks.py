"""A simulated provider's webhooks: their body, their signature and their check.

The in-memory fake and the local provider sign alike, each under its own
header. Kept apart from their state because a host's test suite meets them on
their own: it signs bodies (``FakePaymentProvider.sign``) to drive its webhook
endpoint, and a forged or stale delivery must fail here the way a real
provider's would (an HMAC over the timestamp and the raw body, within a
tolerance), before any state is read.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from ..errors import WebhookVerificationError
from ..ports import ProviderEvent, ProviderEventType

__all__ = ["EVENT_TYPES", "WebhookHandler", "parse", "sign", "verify", "webhook_body"]

WebhookHandler = Callable[[bytes, Mapping[str, str]], object]
"""Takes a webhook as an endpoint would: the raw body and the headers."""

EVENT_TYPES = {
    "checkout.completed": ProviderEventType.CHECKOUT_COMPLETED,
    "subscription.created": ProviderEventType.SUBSCRIPTION_UPDATED,
    "subscription.updated": ProviderEventType.SUBSCRIPTION_UPDATED,
    "subscription.deleted": ProviderEventType.SUBSCRIPTION_DELETED,
    "invoice.paid": ProviderEventType.INVOICE_PAID,
    "invoice.payment_failed": ProviderEventType.INVOICE_PAYMENT_FAILED,
    "invoice.payment_action_required": ProviderEventType.PAYMENT_ACTION_REQUIRED,
    "customer.deleted": ProviderEventType.CUSTOMER_DELETED,
    "customer.updated": ProviderEventType.CUSTOMER_UPDATED,
}


def webhook_body(
    event_id: str,
    kind: str,
    subscription_ref: str | None,
    workspace_id: str,
    at: datetime,
    **extra: str,
) -> bytes:
    obj: dict[str, Any] = {"subscription": subscription_ref, "workspace_id": workspace_id, **extra}
    body = {"id": event_id, "type": kind, "created": int(at.timestamp()), "data": {"object": obj}}
    return json.dumps(body, sort_keys=True).encode()


def sign(secret: bytes, payload: bytes, at: datetime, *, header: str) -> dict[str, str]:
    """Headers that authenticate ``payload`` as sent at ``at``, under ``header``."""
    timestamp = int(at.timestamp())
    digest = hmac.new(secret, b"%d." % timestamp + payload, hashlib.sha256)
    return {header: f"t={timestamp},v1={digest.hexdigest()}"}


def verify(
    secret: bytes,
    tolerance: timedelta,
    payload: bytes,
    headers: Mapping[str, str],
    now: datetime,
    *,
    header: str,
) -> None:
    """``WebhookVerificationError`` unless ``payload`` was signed with ``secret``
    (under the signature ``header``, named in any case) within ``tolerance`` of ``now``."""
    signed = next((v for k, v in headers.items() if k.lower() == header.lower()), None)
    if signed is None:
        raise WebhookVerificationError(f"the {header} header is missing")
    try:
        parts = dict(item.split("=", 1) for item in signed.split(","))
        if not (parts["t"].isdecimal() and len(parts["t"]) <= 12):
            raise ValueError("the timestamp is not seconds since the epoch")
        timestamp = int(parts["t"])
        signature = parts["v1"]
    except (ValueError, KeyError) as e:
        raise WebhookVerificationError(f"the {header} header is malformed") from e
    expected = hmac.new(secret, b"%d." % timestamp + payload, hashlib.sha256)
    if not hmac.compare_digest(expected.hexdigest(), signature):
        raise WebhookVerificationError("the webhook signature does not match its body")
    age = abs(now.timestamp() - timestamp)
    if age > tolerance.total_seconds():
        raise WebhookVerificationError(
            f"the webhook timestamp is {int(age)} s away from now "
            f"(tolerance {int(tolerance.total_seconds())} s)"
        )


def parse(payload: bytes) -> ProviderEvent:
    """The neutral event of a verified body; ``WebhookVerificationError`` for any
    body this provider would not have sent (wrong shape, wrong types, too deep)."""
    try:
        body = json.loads(payload)
    except (ValueError, RecursionError) as e:
        raise WebhookVerificationError("the webhook body is not JSON this provider sends") from e
    if not isinstance(body, dict):
        raise WebhookVerificationError("the webhook body is not an event object")
    data = body.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    event_id, kind = body.get("id"), body.get("type")
    if not (isinstance(event_id, str) and event_id and isinstance(kind, str)):
        raise WebhookVerificationError("the webhook event has no id or type")
    if not isinstance(obj, dict):
        raise WebhookVerificationError("the webhook event's data.object is not an object")
    refs = {key: obj.get(key) for key in ("subscription", "workspace_id", "customer")}
    if any(value is not None and not isinstance(value, str) for value in refs.values()):
        raise WebhookVerificationError("the webhook event's references are not strings")
    return ProviderEvent(
        id=event_id,
        type=EVENT_TYPES.get(kind, ProviderEventType.OTHER),
        subscription_ref=refs["subscription"],
        workspace_id=refs["workspace_id"],
        customer_ref=refs["customer"],
    )
