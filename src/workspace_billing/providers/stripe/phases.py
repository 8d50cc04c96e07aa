"""A subscription schedule's phases, as Stripe returns them, turned back into the
phases of a schedule update with only the next phase's quantity changed.

Apart from the adapter because this is where a seat decrease could silently
drop what the customer pays under: an update replaces every phase, so a phase
rebuilt from the price and quantity alone would lose the discounts, coupons,
tax rates, automatic tax, payment method and invoice settings that Stripe copied
from the subscription. Starting from the phases as returned, and changing one
number, keeps them. Pure: it reads dictionaries and calls nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, cast

from ...errors import ProviderError
from .views import item_of

__all__ = ["as_params", "one_period", "phases_with_next_quantity"]

# What an update takes back of a returned phase, key by key (``None``: a value,
# or a list of values or of objects taken by id; ``ANY``: kept whole). A
# returned phase also holds read-only figures (``disabled_reason``, an item's
# expanded ``plan``...) that Stripe would refuse as unknown parameters.
ANY: Mapping[str, Any] = {}
_DISCOUNT = {"coupon": None, "discount": None, "promotion_code": None}
_MOMENT = {"timestamp": None, "type": None}
_ITEM = {
    "billing_thresholds": {"usage_gte": None},
    "discounts": _DISCOUNT,
    "metadata": ANY,
    "price": None,
    "quantity": None,
    "tax_rates": None,
}
_PHASE: Mapping[str, Any] = {
    "add_invoice_items": {
        "discountable": None,
        "discounts": _DISCOUNT,
        "metadata": ANY,
        "period": {"start": _MOMENT, "end": _MOMENT},
        "price": None,
        "quantity": None,
        "tax_rates": None,
    },
    "application_fee_percent": None,
    "automatic_tax": {"enabled": None, "liability": {"account": None, "type": None}},
    "billing_cycle_anchor": None,
    "billing_thresholds": {"amount_gte": None, "reset_billing_cycle_anchor": None},
    "collection_method": None,
    "currency": None,
    "default_payment_method": None,
    "default_tax_rates": None,
    "description": None,
    "discounts": _DISCOUNT,
    "end_date": None,
    "invoice_settings": {
        "account_tax_ids": None,
        "custom_fields": ANY,
        "days_until_due": None,
        "description": None,
        "footer": None,
        "issuer": {"account": None, "type": None},
    },
    "items": _ITEM,
    "metadata": ANY,
    "on_behalf_of": None,
    "proration_behavior": None,
    "start_date": None,
    "transfer_data": {"amount_percent": None, "destination": None},
    "trial_end": None,
}


def phases_with_next_quantity(
    phases: Sequence[Mapping[str, Any]],
    *,
    period_start: int,
    period_end: int,
    quantity: int,
    duration: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """The update's ``phases``: every phase as it is, the next one at ``quantity``.

    The next phase is the one that starts when the current period ends. When the
    schedule has none yet (just made ``from_subscription``), it is the phase in
    force carried on, settings and all, for ``duration`` at the new quantity.
    Phases that ended before this period are left out, as Stripe allows: they
    cannot change, and their dates would be refused as moving the past.
    """
    kept = [
        as_params(phase)
        for phase in phases
        if phase.get("end_date") is None or int(phase["end_date"]) > period_start
    ]
    for phase in kept:
        if int(phase.get("start_date") or 0) >= period_end:
            _set_quantity(phase, quantity)
            return kept
    current = _phase_in_force(kept, period_end)
    following = copy.deepcopy(current)
    following.pop("start_date", None)
    following.pop("end_date", None)
    following.pop("add_invoice_items", None)  # one-off charges of that phase, not this one
    following.pop("trial_end", None)
    following["duration"] = dict(duration)
    _set_quantity(following, quantity)
    return [*kept, following]


def one_period(sub: Mapping[str, Any]) -> dict[str, Any]:
    """One billing period of the subscription's price: the length of a next phase."""
    price = item_of(sub).get("price") or item_of(sub).get("plan") or {}
    interval = (price.get("recurring") or {}).get("interval") or price.get("interval") or "month"
    return {"interval": str(interval), "interval_count": 1}


def as_params(phase: Mapping[str, Any]) -> dict[str, Any]:
    """A returned phase as an update takes it back."""
    kept = _kept(phase, _PHASE)
    return cast("dict[str, Any]", kept) if isinstance(kept, dict) else {}


def _kept(value: Any, schema: Mapping[str, Any] | None) -> Any:
    """``value`` reduced to what ``schema`` allows: expanded objects by their id,
    and null or empty values left out (an update would read them as "unset")."""
    if isinstance(value, list):
        kept = [_kept(v, schema) for v in value]
        return [v for v in kept if v is not None and v != {}]
    if isinstance(value, Mapping):
        if "id" in value and "object" in value:
            return str(value["id"])
        if schema is None or schema is ANY:
            return dict(value) if schema is ANY else None
        out = {}
        for key, inner_schema in schema.items():
            inner = _kept(value.get(key), inner_schema)
            if inner is not None and inner not in ([], {}):
                out[key] = inner
        return out
    return value


def _phase_in_force(phases: list[dict[str, Any]], period_end: int) -> dict[str, Any]:
    started = [p for p in phases if int(p.get("start_date") or 0) < period_end]
    if not started:
        raise ProviderError("the subscription schedule has no phase in force to carry on")
    return started[-1]


def _set_quantity(phase: dict[str, Any], quantity: int) -> None:
    items = phase.get("items") or []
    if items:
        items[0]["quantity"] = quantity
