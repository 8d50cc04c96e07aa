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
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
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
from ...errors import (
    CatalogError,
    NotFound,
    PaymentFailed,
    ProviderError,
    WebhookVerificationError,
)
from ...money import Money
from ...ports import (
    Checkout,
    CheckoutRequest,
    ProviderEvent,
    ProviderEventType,
    ProviderStatus,
    ProviderSubscription,
    Quote,
    QuoteRequest,
)

__all__ = ["StripePrice", "StripeProvider"]

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

_STATUSES = {
    "active": ProviderStatus.ACTIVE,
    "trialing": ProviderStatus.ACTIVE,
    "past_due": ProviderStatus.PAST_DUE,
    "unpaid": ProviderStatus.PAST_DUE,
    "paused": ProviderStatus.PAST_DUE,
    "canceled": ProviderStatus.CANCELED,
    "incomplete_expired": ProviderStatus.CANCELED,
    "incomplete": ProviderStatus.INCOMPLETE,
}


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
        with _translated():
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
        with _translated():
            customer = self._client.v1.customers.create(
                params={"name": name, "metadata": {"workspace_id": workspace_id, "owner": owner}},
                options={"idempotency_key": idempotency_key},
            )
        return str(customer.id)

    def create_checkout(self, request: CheckoutRequest, *, idempotency_key: str) -> Checkout:
        price = self._price(request.plan, request.interval)
        metadata = {"workspace_id": request.workspace_id}
        with _translated():
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
        item = _item(current)
        with _translated():
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
        item = _item(current)
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
        item = _item(current)
        in_force = int(item["quantity"])
        if seats == in_force:
            self._release_schedule(current, f"{idempotency_key}:release")
            return self.fetch_subscription(subscription_ref)
        schedule = current.get("schedule")
        schedule_id = schedule["id"] if isinstance(schedule, Mapping) else schedule
        with _translated():
            if not schedule_id:
                created = self._client.v1.subscription_schedules.create(
                    params={"from_subscription": subscription_ref},
                    options={"idempotency_key": f"{idempotency_key}:schedule"},
                )
                schedule_id = str(created.id)
            price = _price_id(item)
            start, end = _period(current)
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
        changed: SubscriptionUpdateParamsItem = {"id": str(_item(current)["id"]), "quantity": seats}
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
        with _translated():
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
        with _translated():
            session = self._client.v1.billing_portal.sessions.create(
                params=params, options={"idempotency_key": idempotency_key}
            )
        return str(session.url)

    def fetch_subscription(self, subscription_ref: str) -> ProviderSubscription:
        return self._view(self._retrieve(subscription_ref))

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> Sequence[ProviderEvent]:
        signature = next(
            (v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), None
        )
        try:
            event = self._client.construct_event(
                payload, signature, self._secret, tolerance=self._tolerance
            )
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
        with _translated():
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
        with _translated():
            self._client.v1.subscriptions.update(
                subscription_ref, params=params, options={"idempotency_key": idempotency_key}
            )
        return self.fetch_subscription(subscription_ref)

    def _charging_key(self, current: Mapping[str, Any], idempotency_key: str) -> str:
        """The key of a write that charges: the intent's key and the card it charges."""
        method = current.get("default_payment_method")
        if not method:
            with _translated():
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
        with _translated():
            self._client.v1.subscription_schedules.release(
                str(schedule_id), options={"idempotency_key": idempotency_key}
            )

    def _view(self, sub: Mapping[str, Any]) -> ProviderSubscription:
        item = _item(sub)
        price_id = _price_id(item)
        if price_id not in self._plans:
            raise ProviderError(
                f"subscription {sub.get('id')!r} uses an unknown price {price_id!r}"
            )
        plan, interval = self._plans[price_id]
        start, end = _period(sub)
        seats = int(item.get("quantity", 1))
        price = item.get("price") or item.get("plan") or {}
        unit = Money(
            int(price.get("unit_amount", price.get("amount", 0)) or 0),
            str(price.get("currency", "")).upper(),
        )
        metadata = sub.get("metadata") or {}
        return ProviderSubscription(
            ref=str(sub["id"]),
            customer_ref=str(sub["customer"]),
            workspace_id=str(metadata.get("workspace_id", "")),
            plan=plan,
            interval=interval,
            seats=seats,
            status=_STATUSES.get(str(sub.get("status")), ProviderStatus.INCOMPLETE),
            period_start=start,
            period_end=end,
            unit_amount=unit,
            pending_seats=_scheduled_seats(sub, end, seats),
            cancel_at_period_end=bool(sub.get("cancel_at_period_end")),
        )


# ---------------------------------------------------------------------- helpers


def _item(sub: Mapping[str, Any]) -> Mapping[str, Any]:
    items = (sub.get("items") or {}).get("data") or []
    if len(items) != 1:
        raise ProviderError(
            f"subscription {sub.get('id')!r} has {len(items)} items; one per-seat item is expected"
        )
    item: Mapping[str, Any] = items[0]
    return item


def _price_id(item: Mapping[str, Any]) -> str:
    price = item.get("price") or item.get("plan") or {}
    return str(price.get("id") if isinstance(price, Mapping) else price)


def _timestamp(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value), UTC)


def _period(sub: Mapping[str, Any]) -> tuple[datetime, datetime]:
    """The current period: on the item since API 2025-03-31, on the subscription before."""
    item = _item(sub)
    start = item.get("current_period_start", sub.get("current_period_start"))
    end = item.get("current_period_end", sub.get("current_period_end"))
    if start is None or end is None:
        raise ProviderError(f"subscription {sub.get('id')!r} has no current period")
    return _timestamp(start), _timestamp(end)


def _one(sub: Mapping[str, Any]) -> SubscriptionScheduleUpdateParamsPhaseDuration:
    """One billing period of the subscription's price: the length of the next phase."""
    recurring = (_item(sub).get("price") or {}).get("recurring") or {}
    return {"interval": str(recurring.get("interval", "month")), "interval_count": 1}


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


@contextmanager
def _translated() -> Iterator[None]:
    """Stripe's errors become the library's, keeping Stripe's request id for support."""
    try:
        yield
    except stripe.CardError as e:
        raise PaymentFailed(
            f"the card was declined ({e.code or 'card_error'}): {e.user_message or ''}".strip(),
            request_id=e.request_id,
        ) from e
    except stripe.InvalidRequestError as e:
        if e.code == "resource_missing":
            raise NotFound(f"Stripe has no such object: {e.user_message or e.param}") from e
        raise ProviderError(
            f"Stripe refused the request: {e.user_message or e.code}", request_id=e.request_id
        ) from e
    except stripe.AuthenticationError as e:
        raise ProviderError(
            "Stripe refused the API key: check the key the StripeClient was given",
            request_id=e.request_id,
        ) from e
    except stripe.RateLimitError as e:
        raise ProviderError(
            "Stripe is rate limiting requests: retry later", request_id=e.request_id
        ) from e
    except stripe.APIConnectionError as e:
        raise ProviderError("Stripe could not be reached: retry later") from e
    except stripe.StripeError as e:
        raise ProviderError(
            f"Stripe failed the request ({type(e).__name__}): {e.user_message or e.code or ''}",
            request_id=e.request_id,
        ) from e
