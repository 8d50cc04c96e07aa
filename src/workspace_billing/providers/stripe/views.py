"""Stripe's subscription objects, read as the neutral ``ProviderSubscription``.

Apart from the adapter because this reading is pure: it maps the dictionaries
Stripe returned and calls nothing, so it can be read, and changed, without the
SDK calls around it. It is also where the differences between API versions
(the period on the item since 2025-03-31, ``price`` or the older ``plan``) are
absorbed, once, for every caller, and where the rule lives that says which
objects this installation made (read by the webhooks and by ``subscriptions_of``
alike, so the two never disagree).

The card on file is read from what the adapter asks Stripe to expand on every
subscription it reads (``EXPAND``): the subscription's ``default_payment_method``,
which Stripe charges first, else its customer's
``invoice_settings.default_payment_method``. Only a card maps to
``PaymentMethod``; another kind of method (a SEPA debit, a bank account) is
``None``, and so is a method left unexpanded. Legacy sources
(``default_source``) are not read.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ...catalog import Interval
from ...errors import ProviderError
from ...money import Money
from ...ports import PaymentMethod, ProviderStatus, ProviderSubscription

__all__ = [
    "DEFAULT_INSTALLATION",
    "EXPAND",
    "INSTALLATION_KEY",
    "belongs_to",
    "card_of",
    "item_of",
    "payment_method_of",
    "period_of",
    "price_id_of",
    "view_of",
]

INSTALLATION_KEY = "wb_installation"
DEFAULT_INSTALLATION = "default"
EXPAND = ("default_payment_method", "customer.invoice_settings.default_payment_method")
"""What every subscription read expands (prefixed ``data.`` for a list): the card on file."""

_STATUSES = {
    "active": ProviderStatus.ACTIVE,
    "trialing": ProviderStatus.ACTIVE,
    "past_due": ProviderStatus.PAST_DUE,
    "unpaid": ProviderStatus.PAST_DUE,
    "paused": ProviderStatus.PAUSED,
    "canceled": ProviderStatus.CANCELED,
    "incomplete_expired": ProviderStatus.CANCELED,
    "incomplete": ProviderStatus.INCOMPLETE,
}


def belongs_to(metadata: Mapping[str, Any] | None, installation: str) -> bool:
    """Whether an object carrying ``metadata`` was made by this installation.

    Objects made since the marker exists carry it. Older ones carry only
    ``workspace_id``: they can only be the first installation's, so they belong
    to the ``default`` one and to no other.
    """
    found = metadata or {}
    marker = found.get(INSTALLATION_KEY)
    if marker is not None:
        return str(marker) == installation
    return installation == DEFAULT_INSTALLATION and bool(found.get("workspace_id"))


def view_of(
    sub: Mapping[str, Any],
    plans: Mapping[str, tuple[str, Interval]],
    *,
    action_url: str | None = None,
) -> ProviderSubscription:
    """The subscription in the port's terms; ``plans`` maps each known price id to its plan.

    ``action_url`` is read by the caller (it takes another request): the page of
    the latest invoice while its payment waits for the customer.
    """
    item = item_of(sub)
    price_id = price_id_of(item)
    if price_id not in plans:
        raise ProviderError(f"subscription {sub.get('id')!r} uses an unknown price {price_id!r}")
    plan, interval = plans[price_id]
    start, end = period_of(sub)
    seats = int(item.get("quantity", 1))
    price = item.get("price") or item.get("plan") or {}
    unit = Money(
        int(price.get("unit_amount", price.get("amount", 0)) or 0),
        str(price.get("currency", "")).upper(),
    )
    metadata = sub.get("metadata") or {}
    return ProviderSubscription(
        ref=str(sub["id"]),
        customer_ref=_id(sub["customer"]),
        workspace_id=str(metadata.get("workspace_id", "")),
        plan=plan,
        interval=interval,
        seats=seats,
        status=_STATUSES.get(str(sub.get("status")), ProviderStatus.INCOMPLETE),
        period_start=start,
        period_end=end,
        unit_amount=unit,
        pending_seats=_scheduled_seats(sub, end, seats),
        cancel_at_period_end=_ends_with_period(sub, end),
        action_url=action_url,
        payment_method=payment_method_of(sub),
    )


def payment_method_of(sub: Mapping[str, Any]) -> PaymentMethod | None:
    """The card that pays the subscription: its own default method, which Stripe
    charges first, else its (expanded) customer's default for invoices."""
    method = sub.get("default_payment_method")
    if not method:
        customer = sub.get("customer")
        settings = customer.get("invoice_settings") if isinstance(customer, Mapping) else None
        method = settings.get("default_payment_method") if isinstance(settings, Mapping) else None
    return card_of(method)


def card_of(method: Any) -> PaymentMethod | None:
    """An expanded PaymentMethod of type ``card`` as the neutral value; else ``None``."""
    if not isinstance(method, Mapping) or method.get("type") != "card":
        return None
    card = method.get("card")
    if not isinstance(card, Mapping):
        return None
    try:
        return PaymentMethod(
            brand=str(card["brand"]),
            last4=str(card["last4"]),
            exp_month=int(card["exp_month"]),
            exp_year=int(card["exp_year"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _id(value: Any) -> str:
    """The id of a field Stripe returns as an id or, expanded, as the object."""
    return str(value.get("id") if isinstance(value, Mapping) else value)


def _ends_with_period(sub: Mapping[str, Any], period_end: datetime) -> bool:
    """Flagged, or canceled by a date (``cancel_at``) that falls within this period.

    The Dashboard, the portal and newer API versions cancel by date; a date at or
    before the period's end means the subscription does not renew, which is what
    the flag says too.
    """
    if sub.get("cancel_at_period_end"):
        return True
    cancel_at = sub.get("cancel_at")
    return cancel_at is not None and _timestamp(cancel_at) <= period_end


def item_of(sub: Mapping[str, Any]) -> Mapping[str, Any]:
    items = (sub.get("items") or {}).get("data") or []
    if len(items) != 1:
        raise ProviderError(
            f"subscription {sub.get('id')!r} has {len(items)} items; one per-seat item is expected"
        )
    item: Mapping[str, Any] = items[0]
    return item


def price_id_of(item: Mapping[str, Any]) -> str:
    price = item.get("price") or item.get("plan") or {}
    return str(price.get("id") if isinstance(price, Mapping) else price)


def _timestamp(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value), UTC)


def period_of(sub: Mapping[str, Any]) -> tuple[datetime, datetime]:
    """The current period: on the item since API 2025-03-31, on the subscription before."""
    item = item_of(sub)
    start = item.get("current_period_start", sub.get("current_period_start"))
    end = item.get("current_period_end", sub.get("current_period_end"))
    if start is None or end is None:
        raise ProviderError(f"subscription {sub.get('id')!r} has no current period")
    return _timestamp(start), _timestamp(end)


def _scheduled_seats(sub: Mapping[str, Any], period_end: datetime, seats: int) -> int | None:
    """The quantity of the schedule's phase that starts when this period ends."""
    schedule = sub.get("schedule")
    if not isinstance(schedule, Mapping):
        return None
    for phase in schedule.get("phases") or []:
        if phase.get("start_date") and _timestamp(phase["start_date"]) >= period_end:
            quantities = [int(i.get("quantity", 1)) for i in phase.get("items") or []]
            if quantities and quantities[0] != seats:
                return quantities[0]
            return None
    return None
