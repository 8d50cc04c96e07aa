"""Stripe's webhook deliveries, verified and read as the neutral ``ProviderEvent``.

Apart from the adapter because a webhook is the one way in that Stripe starts:
it needs the signing secret and the table of event types, not the price table
or the write paths, and what it may read of a payload (an event's id and type,
the subscription and the workspace it concerns) is kept narrow and in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import stripe

from ...errors import WebhookVerificationError
from ...ports import ProviderEvent, ProviderEventType

__all__ = ["SIGNATURE_HEADER", "parse_events"]

SIGNATURE_HEADER = "Stripe-Signature"

_EVENT_TYPES = {
    "checkout.session.completed": ProviderEventType.CHECKOUT_COMPLETED,
    "customer.subscription.created": ProviderEventType.SUBSCRIPTION_UPDATED,
    "customer.subscription.updated": ProviderEventType.SUBSCRIPTION_UPDATED,
    "customer.subscription.paused": ProviderEventType.SUBSCRIPTION_UPDATED,
    "customer.subscription.resumed": ProviderEventType.SUBSCRIPTION_UPDATED,
    "customer.subscription.deleted": ProviderEventType.SUBSCRIPTION_DELETED,
    "customer.subscription.trial_will_end": ProviderEventType.TRIAL_WILL_END,
    "invoice.paid": ProviderEventType.INVOICE_PAID,
    "invoice.payment_failed": ProviderEventType.INVOICE_PAYMENT_FAILED,
}


def parse_events(
    client: stripe.StripeClient,
    payload: bytes,
    headers: Mapping[str, str],
    *,
    secret: str,
    tolerance: int,
) -> Sequence[ProviderEvent]:
    """The port's ``parse_webhook``: the signature checked by the SDK, then the event read."""
    signature = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), None)
    try:
        event = client.construct_event(payload, signature, secret, tolerance=tolerance)
    except stripe.SignatureVerificationError as e:
        raise WebhookVerificationError(
            f"the Stripe signature does not verify: {e.user_message or e}"
        ) from e
    except ValueError as e:
        raise WebhookVerificationError("the webhook body is not a Stripe event") from e
    body = event.to_dict()
    obj: Mapping[str, Any] = body.get("data", {}).get("object", {}) or {}
    kind = _EVENT_TYPES.get(str(body.get("type")), ProviderEventType.OTHER)
    return (
        ProviderEvent(
            id=str(body["id"]),
            type=kind,
            subscription_ref=_subscription_of(kind, obj),
            workspace_id=_workspace_of(obj),
        ),
    )


def _subscription_of(kind: ProviderEventType, obj: Mapping[str, Any]) -> str | None:
    if kind in (
        ProviderEventType.SUBSCRIPTION_UPDATED,
        ProviderEventType.SUBSCRIPTION_DELETED,
        ProviderEventType.TRIAL_WILL_END,
    ):
        return str(obj.get("id")) if obj.get("id") else None
    found = obj.get("subscription")
    if not found:  # invoices since API 2025-03-31: parent.subscription_details.subscription
        parent = obj.get("parent") or {}
        found = (parent.get("subscription_details") or {}).get("subscription")
    if isinstance(found, Mapping):
        found = found.get("id")
    return str(found) if found else None


def _workspace_of(obj: Mapping[str, Any]) -> str | None:
    metadata = obj.get("metadata") or {}
    found = metadata.get("workspace_id") or obj.get("client_reference_id")
    return str(found) if found else None
