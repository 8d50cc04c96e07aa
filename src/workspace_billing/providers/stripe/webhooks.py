"""Stripe's webhook deliveries, verified and read as the neutral ``ProviderEvent``.

Apart from the adapter because a webhook is the one way in that Stripe starts:
it needs the signing secret and the table of event types, not the price table
or the write paths, and what it may read of a payload (an event's id and type,
the subscription, customer and workspace it concerns, and whose object it is) is
kept narrow and in one place.

Ownership is decided here, from the payload, before anything is fetched: an
event about an object this installation did not make is acknowledged as
``OTHER``. Raising instead (say, a ``ProviderError`` for a subscription on an
unknown price) would answer Stripe with an error, and Stripe would retry it for
days.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import stripe

from ...errors import WebhookVerificationError
from ...ports import ProviderEvent, ProviderEventType
from .views import belongs_to

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
    "invoice.payment_action_required": ProviderEventType.PAYMENT_ACTION_REQUIRED,
    "customer.deleted": ProviderEventType.CUSTOMER_DELETED,
}


def parse_events(
    client: stripe.StripeClient,
    payload: bytes,
    headers: Mapping[str, str],
    *,
    secret: str,
    tolerance: int,
    installation: str,
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
    metadata = _owner_metadata(obj)
    if kind is ProviderEventType.OTHER or not belongs_to(metadata, installation):
        return (ProviderEvent(id=str(body["id"]), type=ProviderEventType.OTHER),)
    return (
        ProviderEvent(
            id=str(body["id"]),
            type=kind,
            subscription_ref=_subscription_of(kind, obj),
            workspace_id=_workspace_of(obj, metadata),
            customer_ref=_customer_of(kind, obj),
        ),
    )


def _owner_metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """The metadata that says whose object this is.

    A subscription, customer or checkout session carries its own. An invoice
    carries a copy of its subscription's: ``parent.subscription_details.metadata``
    since API 2025-03-31, ``subscription_details.metadata`` before. An invoice
    of no subscription (a one-off from the Dashboard) has none, and is not ours.
    """
    if obj.get("object") == "invoice":
        parent = obj.get("parent") or {}
        details = parent.get("subscription_details") or obj.get("subscription_details") or {}
        return details.get("metadata") or {}
    return obj.get("metadata") or {}


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


def _workspace_of(obj: Mapping[str, Any], metadata: Mapping[str, Any]) -> str | None:
    found = metadata.get("workspace_id") or obj.get("client_reference_id")
    return str(found) if found else None


def _customer_of(kind: ProviderEventType, obj: Mapping[str, Any]) -> str | None:
    found = obj.get("id") if kind is ProviderEventType.CUSTOMER_DELETED else obj.get("customer")
    if isinstance(found, Mapping):
        found = found.get("id")
    return str(found) if found else None
