"""``PaymentProvider`` on the official Stripe SDK, through an injected ``StripeClient``.

Choices, and why:

- Seat increases update the subscription item's quantity with
  ``proration_behavior="always_invoice"`` and ``payment_behavior=
  "error_if_incomplete"``: the prorated invoice is charged at once, and when
  the card is declined Stripe refuses the update (HTTP 402) and the
  subscription keeps its quantity. Nothing unpaid is left half-applied, which
  ``pending_if_incomplete`` would leave to mirror (R9; Cashier #1646).
- Seat decreases are written to Stripe as a subscription schedule whose next
  phase, from the current period's end, has the lower quantity. Stripe then
  renews at the right quantity by itself, and the pending decrease is read
  back from the schedule; keeping it only locally would race Stripe's own
  renewal invoice.
- Every write carries the caller's idempotency key; the key sent is that key
  and the step's name, so one intent that takes two calls never reuses a key
  with other parameters. Writes that charge also carry the customer's default
  payment method: Stripe replays a declined request's 402 for its key for a
  day, so after the customer fixes their card the same change gets a new key
  and is really tried again, while a retry with the same card stays a replay.
- The secret key lives in the injected client only; this adapter never
  prints, logs or repeats it.

Reading Stripe's objects lives in ``views``, webhooks in ``webhooks`` and the
translation of Stripe's errors in ``errors``; this module makes the SDK calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

try:
    import stripe
except ImportError as missing:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'the Stripe adapter needs the stripe SDK: pip install "workspace-billing[stripe]"'
    ) from missing

import attrs
from stripe.params import (
    SubscriptionScheduleUpdateParamsPhaseDuration,
    SubscriptionUpdateParams,
    SubscriptionUpdateParamsItem,
)
from stripe.params.billing_portal import SessionCreateParams as PortalSessionCreateParams

from ...catalog import Catalog, Interval
from ...errors import CatalogError
from ...money import Money
from ...ports import (
    Checkout,
    CheckoutRequest,
    ProviderEvent,
    ProviderSubscription,
    Quote,
    QuoteRequest,
)
from .errors import translated
from .views import item_of, period_of, price_id_of, view_of
from .webhooks import SIGNATURE_HEADER, parse_events  # noqa: F401 - still importable here

__all__ = ["StripePrice", "StripeProvider"]


@attrs.frozen
class StripePrice:
    """The Stripe price (per seat, recurring, licensed) of one plan and interval.

    ``id`` is a price id (``price_...``). Test doubles that only know the older
    Plans API (localstripe) take a plan id instead, with the provider's
    ``price_field="plan"``: the difference lives in configuration, not code.
    """

    plan: str
    interval: Interval = attrs.field(converter=Interval)
    id: str


class StripeProvider:
    """The ``PaymentProvider`` port on Stripe.

    ``client`` is a ``stripe.StripeClient`` built by the host (its API key, API
    version, retries and HTTP client are the host's). ``prices`` names the
    Stripe price of each self-serve plan and interval; ``verify(catalog)``
    checks them against the catalog at start-up.
    """

    def __init__(
        self,
        client: stripe.StripeClient,
        *,
        prices: Sequence[StripePrice],
        webhook_secret: str,
        webhook_tolerance: int = 300,
        portal_configuration: str | None = None,
        price_field: Literal["price", "plan"] = "price",
    ) -> None:
        if not webhook_secret:
            raise CatalogError("the Stripe webhook signing secret (whsec_...) is required")
        self._client = client
        self._prices = {(p.plan, p.interval): p.id for p in prices}
        self._plans = {p.id: (p.plan, p.interval) for p in prices}
        if len(self._plans) != len(self._prices):
            raise CatalogError("each Stripe price may serve one plan and interval only")
        self._secret = webhook_secret
        self._tolerance = webhook_tolerance
        self._portal_configuration = portal_configuration
        self._price_field = price_field

    def __repr__(self) -> str:
        return f"StripeProvider(prices={len(self._prices)})"

    # ---------------------------------------------------------------- start-up

    def verify(self, catalog: Catalog) -> None:
        """Check every self-serve plan's prices against Stripe; ``CatalogError`` on a gap.

        Call it at start-up: a missing, one-off, metered or mispriced price then
        fails the deploy instead of a customer's first upgrade.
        """
        for plan in catalog.plans:
            if not (plan.self_serve and plan.per_seat):
                continue
            for interval, amount in plan.prices.items():
                price_id = self._prices.get((plan.code, interval))
                if price_id is None:
                    raise CatalogError(
                        f"no Stripe price configured for plan {plan.code!r} ({interval.value}ly)"
                    )
                self._verify_price(plan.code, interval, amount, price_id)

    def _verify_price(self, plan: str, interval: Interval, amount: Money, price_id: str) -> None:
        where = f"Stripe {self._price_field} {price_id!r} of plan {plan!r} ({interval.value}ly)"
        with translated():
            found = (
                self._client.v1.plans.retrieve(price_id)
                if self._price_field == "plan"
                else self._client.v1.prices.retrieve(price_id)
            ).to_dict()
        recurring = found.get("recurring") or {
            "interval": found.get("interval"),
            "usage_type": found.get("usage_type"),
        }
        problems = []
        if recurring.get("interval") != interval.value:
            problems.append(f"bills every {recurring.get('interval')}, not every {interval.value}")
        if recurring.get("usage_type", "licensed") != "licensed":
            problems.append("is metered, not licensed per seat")
        if found.get("billing_scheme", "per_unit") != "per_unit":
            problems.append("is tiered, not per unit")
        if found.get("unit_amount", found.get("amount")) != amount.amount:
            problems.append(
                f"charges {found.get('unit_amount', found.get('amount'))}, not {amount.amount}"
            )
        if str(found.get("currency", "")).upper() != amount.currency:
            problems.append(f"is in {found.get('currency')}, not {amount.currency}")
        if problems:
            raise CatalogError(f"{where} " + "; ".join(problems))

    # ---------------------------------------------------------------- the port

    def create_customer(
        self, *, workspace_id: str, name: str, owner: str, idempotency_key: str
    ) -> str:
        with translated():
            customer = self._client.v1.customers.create(
                params={"name": name, "metadata": {"workspace_id": workspace_id, "owner": owner}},
                options={"idempotency_key": idempotency_key},
            )
        return str(customer.id)

    def create_checkout(self, request: CheckoutRequest, *, idempotency_key: str) -> Checkout:
        price = self._price(request.plan, request.interval)
        metadata = {"workspace_id": request.workspace_id}
        with translated():
            session = self._client.v1.checkout.sessions.create(
                params={
                    "mode": "subscription",
                    "customer": request.customer_ref,
                    "client_reference_id": request.workspace_id,
                    "line_items": [{"price": price, "quantity": request.seats}],
                    "success_url": request.success_url,
                    "cancel_url": request.cancel_url,
                    "metadata": metadata,
                    "subscription_data": {"metadata": metadata},
                },
                options={"idempotency_key": idempotency_key},
            )
        return Checkout(id=str(session.id), url=session.url)

    def quote(self, request: QuoteRequest) -> Quote:
        recurring = request.unit_amount * request.seats
        if request.subscription_ref is None:
            return Quote(due_now=recurring, recurring=recurring)
        current = self._retrieve(request.subscription_ref)
        item = item_of(current)
        with translated():
            preview = self._client.v1.invoices.create_preview(
                params={
                    "customer": str(current["customer"]),
                    "subscription": request.subscription_ref,
                    "subscription_details": {
                        "items": [
                            {
                                "id": str(item["id"]),
                                "price": self._price(request.plan, request.interval),
                                "quantity": request.seats,
                            }
                        ],
                        "proration_behavior": "always_invoice",
                    },
                }
            ).to_dict()
        due = int(preview.get("amount_due", 0))
        return Quote(due_now=Money(max(due, 0), request.unit_amount.currency), recurring=recurring)

    def increase_seats(
        self, subscription_ref: str, seats: int, *, idempotency_key: str
    ) -> ProviderSubscription:
        current = self._retrieve(subscription_ref)
        item = item_of(current)
        self._update(
            subscription_ref,
            {
                "items": [{"id": str(item["id"]), "quantity": seats}],
                "proration_behavior": "always_invoice",
                "payment_behavior": "error_if_incomplete",
            },
            self._charging_key(current, idempotency_key),
        )
        # Paid: the increase replaces a scheduled decrease. Released only now, so a
        # declined card leaves the decrease scheduled as it was.
        self._release_schedule(current, f"{idempotency_key}:release")
        return self.fetch_subscription(subscription_ref)

    def schedule_seat_decrease(
        self, subscription_ref: str, seats: int, *, idempotency_key: str
    ) -> ProviderSubscription:
        current = self._retrieve(subscription_ref)
        item = item_of(current)
        in_force = int(item["quantity"])
        if seats == in_force:
            self._release_schedule(current, f"{idempotency_key}:release")
            return self.fetch_subscription(subscription_ref)
        schedule = current.get("schedule")
        schedule_id = schedule["id"] if isinstance(schedule, Mapping) else schedule
        with translated():
            if not schedule_id:
                created = self._client.v1.subscription_schedules.create(
                    params={"from_subscription": subscription_ref},
                    options={"idempotency_key": f"{idempotency_key}:schedule"},
                )
                schedule_id = str(created.id)
            price = price_id_of(item)
            start, end = period_of(current)
            self._client.v1.subscription_schedules.update(
                str(schedule_id),
                params={
                    "end_behavior": "release",
                    "proration_behavior": "none",
                    "phases": [
                        {
                            "items": [{"price": price, "quantity": in_force}],
                            "start_date": int(start.timestamp()),
                            "end_date": int(end.timestamp()),
                        },
                        {"items": [{"price": price, "quantity": seats}], "duration": _one(current)},
                    ],
                },
                options={"idempotency_key": f"{idempotency_key}:phases"},
            )
        return self.fetch_subscription(subscription_ref)

    def change_plan(
        self,
        subscription_ref: str,
        *,
        plan: str,
        interval: Interval,
        seats: int,
        unit_amount: Money,
        idempotency_key: str,
    ) -> ProviderSubscription:
        current = self._retrieve(subscription_ref)
        changed: SubscriptionUpdateParamsItem = {
            "id": str(item_of(current)["id"]),
            "quantity": seats,
        }
        changed[self._price_field] = self._price(plan, interval)
        self._update(
            subscription_ref,
            {
                "items": [changed],
                "proration_behavior": "always_invoice",
                "payment_behavior": "error_if_incomplete",
            },
            self._charging_key(current, idempotency_key),
        )
        self._release_schedule(current, f"{idempotency_key}:release")  # only once paid
        return self.fetch_subscription(subscription_ref)

    def cancel(
        self, subscription_ref: str, *, at_period_end: bool, idempotency_key: str
    ) -> ProviderSubscription:
        if at_period_end:
            current = self._retrieve(subscription_ref)
            self._release_schedule(current, f"{idempotency_key}:release")
            return self._update(subscription_ref, {"cancel_at_period_end": True}, idempotency_key)
        with translated():
            self._client.v1.subscriptions.cancel(
                subscription_ref, options={"idempotency_key": idempotency_key}
            )
        return self.fetch_subscription(subscription_ref)

    def resume(self, subscription_ref: str, *, idempotency_key: str) -> ProviderSubscription:
        return self._update(subscription_ref, {"cancel_at_period_end": False}, idempotency_key)

    def portal_url(self, customer_ref: str, *, return_url: str, idempotency_key: str) -> str:
        params: PortalSessionCreateParams = {"customer": customer_ref, "return_url": return_url}
        if self._portal_configuration:
            params["configuration"] = self._portal_configuration
        with translated():
            session = self._client.v1.billing_portal.sessions.create(
                params=params, options={"idempotency_key": idempotency_key}
            )
        return str(session.url)

    def fetch_subscription(self, subscription_ref: str) -> ProviderSubscription:
        return view_of(self._retrieve(subscription_ref), self._plans)

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> Sequence[ProviderEvent]:
        return parse_events(
            self._client, payload, headers, secret=self._secret, tolerance=self._tolerance
        )

    # --------------------------------------------------------------- internals

    def _price(self, plan: str, interval: Interval) -> str:
        try:
            return self._prices[(plan, interval)]
        except KeyError:
            raise CatalogError(
                f"no Stripe price configured for plan {plan!r} ({interval.value}ly)"
            ) from None

    def _retrieve(self, subscription_ref: str) -> dict[str, Any]:
        """The subscription, with its schedule (if any) in place of the schedule's id.

        The schedule is fetched only when there is one, rather than expanded on
        every read: most subscriptions have none.
        """
        with translated():
            found = self._client.v1.subscriptions.retrieve(subscription_ref).to_dict()
            schedule = found.get("schedule")
            if isinstance(schedule, str) and schedule:
                found["schedule"] = self._client.v1.subscription_schedules.retrieve(
                    schedule
                ).to_dict()
        return found

    def _update(
        self, subscription_ref: str, params: SubscriptionUpdateParams, idempotency_key: str
    ) -> ProviderSubscription:
        with translated():
            self._client.v1.subscriptions.update(
                subscription_ref, params=params, options={"idempotency_key": idempotency_key}
            )
        return self.fetch_subscription(subscription_ref)

    def _charging_key(self, current: Mapping[str, Any], idempotency_key: str) -> str:
        """The key of a write that charges: the intent's key and the card it charges."""
        method = current.get("default_payment_method")
        if not method:
            with translated():
                customer = self._client.v1.customers.retrieve(str(current["customer"])).to_dict()
            method = (customer.get("invoice_settings") or {}).get("default_payment_method")
        if isinstance(method, Mapping):
            method = method.get("id")
        return f"{idempotency_key}:pm:{method or 'none'}"

    def _release_schedule(self, current: Mapping[str, Any], idempotency_key: str) -> None:
        schedule = current.get("schedule")
        schedule_id = schedule.get("id") if isinstance(schedule, Mapping) else schedule
        if not schedule_id:
            return
        with translated():
            self._client.v1.subscription_schedules.release(
                str(schedule_id), options={"idempotency_key": idempotency_key}
            )


# ---------------------------------------------------------------------- helpers


def _one(sub: Mapping[str, Any]) -> SubscriptionScheduleUpdateParamsPhaseDuration:
    """One billing period of the subscription's price: the length of the next phase."""
    recurring = (item_of(sub).get("price") or {}).get("recurring") or {}
    return {"interval": str(recurring.get("interval", "month")), "interval_count": 1}
