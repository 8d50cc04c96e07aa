"""Stripe's webhook deliveries, verified and read as the neutral ``ProviderEvent``.

Apart from the adapter because a webhook is the one way in that Stripe starts:
it needs the signing secret and the table of event types, not the price table
or the write paths, and what it may read of a payload (an event's id and type,
the subscription, customer and workspace it concerns, and whose object it is) is
kept narrow and in one place.

A webhook endpoint is open to the internet, and a correctly signed body is still
only as well-formed as the code that built it: every field read here is checked
for its type before it is used, and anything that is not the shape Stripe sends
(not JSON, not an event, an id that is not a string, a nesting the parser cannot
follow, bytes that are not UTF-8) is ``WebhookVerificationError``, answered 400,
never an ``AttributeError`` or a ``RecursionError`` answered 500. The signature
is checked by the SDK; the timestamp is checked here, in both directions: the
SDK refuses only a signature older than the tolerance, and one dated ahead of
now by more than the tolerance is as much a replay risk.

Ownership is decided here, from the payload, before anything is fetched: an
event about an object this installation did not make is acknowledged as
``OTHER``. Raising instead (say, a ``ProviderError`` for a subscription on an
unknown price) would answer Stripe with an error, and Stripe would retry it for
days.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

import stripe

from ...errors import CatalogError, WebhookVerificationError
from ...ports import ProviderEvent, ProviderEventType
from .views import INSTALLATION_KEY, belongs_to

__all__ = ["MAX_TOLERANCE", "SIGNATURE_HEADER", "checked_tolerance", "parse_events"]

SIGNATURE_HEADER = "Stripe-Signature"
MAX_TOLERANCE = 3600
"""The widest ``webhook_tolerance`` accepted, in seconds: an hour."""

# Stripe's ids: a prefix and letters and digits (evt_1Q..., sub_1Q...). Anything
# else (a number, a path, a space) did not come from Stripe.
_STRIPE_ID = re.compile(r"[A-Za-z0-9_]{1,255}")

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
    "customer.updated": ProviderEventType.CUSTOMER_UPDATED,
}
_ABOUT_ITSELF = (  # events whose object is the subscription itself
    ProviderEventType.SUBSCRIPTION_UPDATED,
    ProviderEventType.SUBSCRIPTION_DELETED,
    ProviderEventType.TRIAL_WILL_END,
)


def checked_tolerance(value: object) -> int:
    """``webhook_tolerance`` as given, if it keeps replay protection on; else ``CatalogError``.

    The SDK turns its timestamp check off for a tolerance of 0, and a tolerance
    of days lets a captured delivery be replayed for days.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TOLERANCE:
        raise CatalogError(
            f"webhook_tolerance must be a whole number of seconds from 1 to {MAX_TOLERANCE} "
            f"(Stripe's default is 300), not {value!r}: it is what refuses replayed webhooks"
        )
    return value


def parse_events(
    payload: bytes,
    headers: Mapping[str, str],
    *,
    secret: str,
    tolerance: int,
    installation: str,
) -> Sequence[ProviderEvent]:
    """The port's ``parse_webhook``: the signature checked by the SDK, the timestamp
    within ``tolerance`` of now either way, then the event read.

    The event is read from the JSON, not built as an SDK object: that conversion
    recurses as deep as the body nests, and fails on a body that is not an object.
    """
    signature = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), None)
    text = _text(payload)
    try:
        stripe.WebhookSignature.verify_header(text, signature, secret, tolerance)
    except stripe.SignatureVerificationError as e:
        raise WebhookVerificationError(
            f"the Stripe signature does not verify: {e.user_message or e}"
        ) from None
    _check_timestamp(str(signature), tolerance)
    return (_event_of(_json(text), installation),)


# ------------------------------------------------------------ the delivery


def _text(payload: object) -> str:
    if not isinstance(payload, bytes | bytearray):
        raise WebhookVerificationError("pass the webhook's raw body as bytes")
    try:
        return bytes(payload).decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookVerificationError("the webhook body is not UTF-8") from None


def _check_timestamp(signature: str, tolerance: int) -> None:
    """Refuse a signed timestamp more than ``tolerance`` seconds from now, past or future.

    The header has verified, so it has a ``t=`` the SDK read; read the same one
    (the first) the same way.
    """
    try:
        parts = [item.split("=", 2) for item in signature.split(",")]
        signed_at = int(next(part[1] for part in parts if part[0] == "t"))
    except (StopIteration, IndexError, ValueError):
        raise WebhookVerificationError("the Stripe signature has no timestamp") from None
    now = time.time()  # compared, never subtracted: an int too large for a float is fine
    if not now - tolerance <= signed_at <= now + tolerance:
        when = "in the future" if signed_at > now else "in the past"
        raise WebhookVerificationError(
            f"the Stripe signature is dated {when} by more than the tolerance of "
            f"{tolerance} s: a replayed or misdated delivery"
        )


def _json(text: str) -> dict[str, Any]:
    try:
        body = json.loads(text)
    except ValueError:
        raise WebhookVerificationError("the webhook body is not JSON") from None
    except RecursionError:
        raise WebhookVerificationError("the webhook body nests too deep to be an event") from None
    if not isinstance(body, dict) or body.get("object") != "event":
        raise WebhookVerificationError("the webhook body is not a Stripe event")
    return body


# ------------------------------------------------------------- the event


def _event_of(body: Mapping[str, Any], installation: str) -> ProviderEvent:
    event_id = body.get("id")
    if not isinstance(event_id, str) or not _STRIPE_ID.fullmatch(event_id):
        raise WebhookVerificationError("the Stripe event has no id, or not a Stripe id")
    kind_name = body.get("type")
    if not isinstance(kind_name, str):
        raise WebhookVerificationError("the Stripe event's type is not a string")
    data = body.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        raise WebhookVerificationError("the Stripe event's data.object is not an object")
    kind = _EVENT_TYPES.get(kind_name, ProviderEventType.OTHER)
    if kind is ProviderEventType.OTHER:
        return ProviderEvent(id=event_id, type=kind)
    metadata = _owner_metadata(obj)
    if not belongs_to(metadata, installation):
        return ProviderEvent(id=event_id, type=ProviderEventType.OTHER)
    return ProviderEvent(
        id=event_id,
        type=kind,
        subscription_ref=_subscription_of(kind, obj),
        workspace_id=_workspace_of(obj, metadata),
        customer_ref=_customer_of(kind, obj),
    )


def _owner_metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """The metadata that says whose object this is.

    A subscription, customer or checkout session carries its own. An invoice
    carries a copy of its subscription's: ``parent.subscription_details.metadata``
    since API 2025-03-31, ``subscription_details.metadata`` before. An invoice
    of no subscription (a one-off from the Dashboard) has none, and is not ours.
    """
    if obj.get("object") == "invoice":
        parent = _object(obj, "parent")
        details = _object(parent, "subscription_details") or _object(obj, "subscription_details")
        metadata = _object(details, "metadata")
    else:
        metadata = _object(obj, "metadata")
    for key in (INSTALLATION_KEY, "workspace_id"):
        if metadata.get(key) is not None and not isinstance(metadata[key], str):
            raise WebhookVerificationError(f"the metadata's {key} is not a string")
    return metadata


def _subscription_of(kind: ProviderEventType, obj: Mapping[str, Any]) -> str | None:
    if kind in _ABOUT_ITSELF:
        return _stripe_id(obj.get("id"), "the subscription's id")
    found = obj.get("subscription")
    if found is None or found == "":  # invoices since 2025-03-31: under parent, see above
        found = _object(_object(obj, "parent"), "subscription_details").get("subscription")
    return _stripe_id(found, "the subscription")


def _workspace_of(obj: Mapping[str, Any], metadata: Mapping[str, Any]) -> str | None:
    found = metadata.get("workspace_id") or obj.get("client_reference_id")
    if found is not None and not isinstance(found, str):
        raise WebhookVerificationError("the client_reference_id is not a string")
    return found or None


def _customer_of(kind: ProviderEventType, obj: Mapping[str, Any]) -> str | None:
    if kind in (ProviderEventType.CUSTOMER_DELETED, ProviderEventType.CUSTOMER_UPDATED):
        return _stripe_id(obj.get("id"), "the customer's id")
    return _stripe_id(obj.get("customer"), "the customer")


# --------------------------------------------------------------- readers


def _object(parent: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """``parent[key]``, an object or absent (``{}``); anything else is refused."""
    found = parent.get(key)
    if found is None:
        return {}
    if not isinstance(found, dict):
        raise WebhookVerificationError(f"the Stripe event's {key} is not an object")
    return found


def _stripe_id(value: object, what: str) -> str | None:
    """A Stripe id, given as the id or as the expanded object; ``None`` when absent."""
    if isinstance(value, dict):
        value = value.get("id")
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _STRIPE_ID.fullmatch(value):
        raise WebhookVerificationError(f"{what} is not a Stripe id")
    return value
