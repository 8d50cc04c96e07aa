"""The Stripe prices the adapter sells and reads, and their start-up check.

Apart from the adapter because the price table has rules of its own that the
SDK calls never need to know: several prices may serve one plan and interval
(legacy prices kept for existing customers), but a checkout must know the one
price it sells, and a deploy whose prices disagree with the catalog should fail
before a customer meets them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import attrs
import stripe

from ...catalog import Catalog, Interval
from ...errors import CatalogError
from ...money import Money
from .errors import translated

__all__ = ["PriceTable", "StripePrice"]


@attrs.frozen
class StripePrice:
    """The Stripe price (per seat, recurring, licensed) of one plan and interval.

    ``id`` is a price id (``price_...``). Test doubles that only know the older
    Plans API (localstripe) take a plan id instead, with the provider's
    ``price_field="plan"``: the difference lives in configuration, not code.

    ``legacy=True`` marks a price kept for the customers who already pay it: its
    subscriptions are read (at their own amount) and keep it on seat changes,
    but new checkouts and plan changes use the plan's one current price.
    """

    plan: str
    interval: Interval = attrs.field(converter=Interval)
    id: str
    legacy: bool = False


class PriceTable:
    """Which price a checkout sells, and which plan any known price stands for."""

    def __init__(self, prices: Sequence[StripePrice]) -> None:
        self.plans: dict[str, tuple[str, Interval]] = {}
        self.legacy: dict[str, tuple[str, Interval]] = {}
        current: dict[tuple[str, Interval], list[str]] = {}
        for price in prices:
            if price.id in self.plans:
                raise CatalogError("each Stripe price may serve one plan and interval only")
            self.plans[price.id] = (price.plan, price.interval)
            if price.legacy:
                self.legacy[price.id] = (price.plan, price.interval)
            else:
                current.setdefault((price.plan, price.interval), []).append(price.id)
        for plan, interval in {*self.plans.values()}:
            found = current.get((plan, interval), [])
            if len(found) != 1:
                raise CatalogError(
                    f"plan {plan!r} ({interval.value}ly) needs exactly one current "
                    f"(non-legacy) Stripe price, not {len(found)}: {', '.join(found) or 'none'}"
                )
        self.current = {key: ids[0] for key, ids in current.items()}

    def __len__(self) -> int:
        return len(self.plans)

    def current_price(self, plan: str, interval: Interval) -> str:
        try:
            return self.current[(plan, interval)]
        except KeyError:
            raise CatalogError(
                f"no Stripe price configured for plan {plan!r} ({interval.value}ly)"
            ) from None


def verify_prices(
    client: stripe.StripeClient,
    table: PriceTable,
    catalog: Catalog,
    *,
    price_field: Literal["price", "plan"],
) -> None:
    """``StripeProvider.verify``: every price the table names, checked at Stripe.

    Current prices must match the catalog exactly and be active, since new
    checkouts use them. Legacy prices are checked for what keeps a seat count
    meaningful (interval, licensed, per unit, currency) but not for their amount,
    which is the point of keeping them, nor for being active: archiving a price
    kept only for existing customers is what Stripe recommends.
    """
    for plan in catalog.plans:
        if not (plan.self_serve and plan.per_seat):
            continue
        for interval, amount in plan.prices.items():
            price_id = table.current_price(plan.code, interval)
            _check(client, price_id, plan.code, interval, amount, price_field, legacy=False)
    for price_id, (code, interval) in table.legacy.items():
        prices = _plan_prices(catalog, code)
        if interval not in prices:
            raise CatalogError(
                f"legacy Stripe {price_field} {price_id!r} names plan {code!r} "
                f"({interval.value}ly), which the catalog does not sell"
            )
        _check(client, price_id, code, interval, prices[interval], price_field, legacy=True)


def _plan_prices(catalog: Catalog, code: str) -> Mapping[Interval, Money]:
    for plan in catalog.plans:
        if plan.code == code and plan.self_serve and plan.per_seat:
            return plan.prices
    return {}


def _check(
    client: stripe.StripeClient,
    price_id: str,
    plan: str,
    interval: Interval,
    amount: Money,
    price_field: str,
    *,
    legacy: bool,
) -> None:
    kind = "legacy " if legacy else ""
    where = f"{kind}Stripe {price_field} {price_id!r} of plan {plan!r} ({interval.value}ly)"
    with translated():
        found = (
            client.v1.plans.retrieve(price_id)
            if price_field == "plan"
            else client.v1.prices.retrieve(price_id)
        ).to_dict()
    problems = _problems(found, interval, amount, legacy=legacy)
    if problems:
        raise CatalogError(f"{where} " + "; ".join(problems))


def _problems(
    found: Mapping[str, Any], interval: Interval, amount: Money, *, legacy: bool
) -> list[str]:
    recurring = found.get("recurring") or {
        "interval": found.get("interval"),
        "usage_type": found.get("usage_type"),
    }
    problems = []
    if not legacy and found.get("active") is False:
        problems.append("is archived (active: false): new checkouts cannot use it")
    if recurring.get("interval") != interval.value:
        problems.append(f"bills every {recurring.get('interval')}, not every {interval.value}")
    if recurring.get("usage_type", "licensed") != "licensed":
        problems.append("is metered, not licensed per seat")
    if found.get("billing_scheme", "per_unit") != "per_unit":
        problems.append("is tiered, not per unit")
    charged = found.get("unit_amount", found.get("amount"))
    if not legacy and charged != amount.amount:
        problems.append(f"charges {charged}, not {amount.amount}")
    if str(found.get("currency", "")).upper() != amount.currency:
        problems.append(f"is in {found.get('currency')}, not {amount.currency}")
    return problems
