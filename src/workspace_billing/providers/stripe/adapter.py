"""``PaymentProvider`` on the official Stripe SDK, through an injected ``StripeClient``.

Choices, and why:

- Charges the merchant starts (a seat increase, a plan change) update the
  subscription item with ``proration_behavior="always_invoice"``,
  ``payment_behavior="pending_if_incomplete"`` and ``off_session=True``. The
  prorated invoice is charged at once with the card on file. When it is paid (or
  nothing is due: a zero or credit proration attempts no payment) the change is
  applied. When it is not, Stripe keeps the change aside in ``pending_update``
  and the subscription as it was (R9). ``error_if_incomplete`` would refuse the
  update outright, which suits a declined card but leaves nothing for a payment
  that needs the customer's authentication (3-D Secure): with a pending update
  the invoice's hosted page is that place, ``PaymentActionRequired`` names it,
  and once the customer confirms there Stripe applies the change and the
  subscription's webhook reports it. A declined card raises ``PaymentFailed``
  after the adapter voids the invoice, which discards the pending update: no
  unpaid open invoice is left behind (Cashier #1646).
- An increase or plan change releases a scheduled decrease once paid, and also
  when the payment waits for the customer: the admin asked for more seats, and a
  schedule left in place would renew at the lower quantity after they confirm.
  A declined card leaves the schedule as it was.
- Seat decreases are written to Stripe as a subscription schedule whose next
  phase, from the current period's end, has the lower quantity. Stripe then
  renews at the right quantity by itself, and the pending decrease is read back
  from the schedule; keeping it only locally would race Stripe's own renewal
  invoice. The phases are those Stripe returns with one number changed, so the
  discounts, tax rates and settings the subscription carries are kept.
- A quote and the charge it announces pass the same ``proration_date``: Stripe's
  time truncated to the minute (``payments.proration_date``).
- Every customer, checkout session and subscription this adapter creates carries
  ``wb_installation`` in its metadata; webhooks about objects without this
  installation's marker are read as ``OTHER`` before anything is fetched, so
  another product on the account never makes Stripe retry for days.
- Every write carries the caller's idempotency key; the key sent is that key
  and the step's name, so one intent that takes two calls never reuses a key
  with other parameters. Writes that charge also carry the customer's default
  payment method: Stripe replays a request's answer for its key for a day, so
  after the customer fixes their card the same change gets a new key and is
  really tried again, while a retry with the same card stays a replay (whose
  outcome is then read live from the invoice, never from the replayed answer).
- The secret key lives in the injected client only; this adapter never
  prints, logs or repeats it, and a Stripe message that names a key or secret
  is redacted before it becomes an error's (``errors``).
- Every subscription read expands its default payment method and its
  customer's (``views.EXPAND``): the card on file comes with the view, in the
  same request, and a charging key reads the card from it too.

Reading Stripe's subscriptions lives in ``views``, its invoices in
``invoices``, payments and prorations in ``payments``, schedule phases in
``phases``, the Checkout Session's parameters in ``checkout``, the price table
and its start-up check in ``prices``, webhooks in ``webhooks`` and the
translation of Stripe's errors in ``errors``; this module makes the SDK calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import islice
from typing import Any, Literal, cast

try:
    import stripe
except ImportError as missing:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'the Stripe adapter needs the stripe SDK: pip install "workspace-billing[stripe]"'
    ) from missing

from stripe.params import (
    CustomerCreateParams,
    InvoiceCreatePreviewParamsSubscriptionDetailsItem,
    SubscriptionScheduleUpdateParamsPhase,
    SubscriptionUpdateParams,
    SubscriptionUpdateParamsItem,
)
from stripe.params.billing_portal import SessionCreateParams as PortalSessionCreateParams

from ...catalog import Catalog, Interval
from ...errors import CatalogError, PaymentActionRequired
from ...money import Money
from ...ports import (
    Checkout,
    CheckoutRequest,
    Invoice,
    ProviderEvent,
    ProviderSubscription,
    Quote,
    QuoteRequest,
)
from .checkout import session_params
from .errors import translated
from .invoices import checked_limit, invoice_of
from .payments import (
    Outcome,
    charge_update,
    charging_key,
    due_now,
    id_of,
    invoice_payment,
    proration_date,
    stripe_now,
)
from .phases import one_period, phases_with_next_quantity
from .prices import PriceTable, StripePrice, verify_prices
from .views import (
    DEFAULT_INSTALLATION,
    EXPAND,
    INSTALLATION_KEY,
    belongs_to,
    item_of,
    period_of,
    price_id_of,
    view_of,
)
from .webhooks import (
    SIGNATURE_HEADER,  # noqa: F401 - still importable here
    checked_tolerance,
    parse_events,
)

__all__ = ["StripePrice", "StripeProvider"]

# Subscription states in which the latest invoice may wait for the customer.
_MAY_WAIT = frozenset({"past_due", "unpaid", "incomplete"})


class StripeProvider:
    """The ``PaymentProvider`` port on Stripe.

    ``client`` is a ``stripe.StripeClient`` built by the host (its API key, API
    version, retries and HTTP client are the host's). ``prices`` names the
    Stripe prices of each self-serve plan and interval; ``verify(catalog)``
    checks them against the catalog at start-up. ``installation`` tells this
    installation's Stripe objects from any other's on the same account (another
    product, a second app sharing a test-mode account): give each its own name.
    ``webhook_tolerance`` is how far, in seconds, a webhook's signed timestamp
    may be from now, past or future: from 1 to 3600 (``CatalogError`` otherwise,
    since 0 would turn replay protection off). ``allow_promotion_codes`` and
    ``automatic_tax`` (Stripe Tax, with the billing address it needs) are the
    Checkout Sessions' options when a ``CheckoutRequest`` leaves them ``None``;
    both off by default.
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
        installation: str = DEFAULT_INSTALLATION,
        allow_promotion_codes: bool = False,
        automatic_tax: bool = False,
    ) -> None:
        if not isinstance(webhook_secret, str) or not webhook_secret.strip():
            raise CatalogError("the Stripe webhook signing secret (whsec_...) is required")
        if not installation:
            raise CatalogError("the installation name may not be empty")
        self._client = client
        self._table = PriceTable(prices)
        self._secret = webhook_secret
        self._tolerance = checked_tolerance(webhook_tolerance)
        self._portal_configuration = portal_configuration
        self._price_field = price_field
        self._installation = installation
        self._checkout_options = {
            "allow_promotion_codes": allow_promotion_codes,
            "automatic_tax": automatic_tax,
        }

    def __repr__(self) -> str:
        return f"StripeProvider(prices={len(self._table)})"

    def verify(self, catalog: Catalog) -> None:
        """Check every price against Stripe and the catalog; ``CatalogError`` on a gap.

        Call it at start-up: a missing, archived, one-off, metered or mispriced
        price then fails the deploy instead of a customer's first upgrade.
        """
        verify_prices(self._client, self._table, catalog, price_field=self._price_field)

    # ---------------------------------------------------------------- the port

    def create_customer(
        self,
        *,
        workspace_id: str,
        name: str,
        owner: str,
        idempotency_key: str,
        email: str | None = None,
    ) -> str:
        metadata = {"workspace_id": workspace_id, "owner": owner}
        params: CustomerCreateParams = {"name": name, "metadata": metadata | self._marker()}
        if email:
            params["email"] = email
        with translated():
            customer = self._client.v1.customers.create(
                params=params, options={"idempotency_key": idempotency_key}
            )
        return str(customer.id)

    def subscriptions_of(self, customer_ref: str) -> Sequence[ProviderSubscription]:
        with translated():
            page = self._client.v1.subscriptions.list(
                params={"customer": customer_ref, "status": "all", "limit": 100,
                        "expand": [f"data.{path}" for path in EXPAND]}
            )  # fmt: skip
            found = [sub.to_dict() for sub in page.auto_paging_iter()]
        ours = [s for s in found if belongs_to(s.get("metadata"), self._installation)]
        ours.sort(key=lambda s: int(s.get("created") or 0), reverse=True)
        return [self._view(self._with_schedule(sub)) for sub in ours]

    def create_checkout(self, request: CheckoutRequest, *, idempotency_key: str) -> Checkout:
        price = self._table.current_price(request.plan, request.interval)
        params = session_params(request, price, self._marker(), **self._checkout_options)
        with translated():
            session = self._client.v1.checkout.sessions.create(
                params=params, options={"idempotency_key": idempotency_key}
            )
        return Checkout(id=str(session.id), url=session.url)

    def quote(self, request: QuoteRequest) -> Quote:
        currency = request.unit_amount.currency
        if request.subscription_ref is None:
            recurring = request.unit_amount * request.seats
            return Quote(due_now=recurring, recurring=recurring)
        current, now = self._retrieve_timed(request.subscription_ref)
        item = item_of(current)
        price, unit = self._target(item, request.plan, request.interval, request.unit_amount)
        recurring = unit * request.seats
        if price == price_id_of(item) and request.seats == int(item.get("quantity", 1)):
            return Quote(due_now=Money.zero(currency), recurring=recurring)
        changed: InvoiceCreatePreviewParamsSubscriptionDetailsItem = {
            "id": str(item["id"]),
            "quantity": request.seats,
        }
        changed[self._price_field] = price
        with translated():
            preview = self._client.v1.invoices.create_preview(
                params={
                    "customer": str(id_of(current["customer"])),
                    "subscription": request.subscription_ref,
                    "subscription_details": {
                        "items": [changed],
                        "proration_behavior": "always_invoice",
                        "proration_date": self._proration_date(current, now),
                    },
                }
            ).to_dict()
        new_period = self._table.plans[price][1] != self._interval_of(item)
        return Quote(
            due_now=Money(due_now(preview, new_period=new_period), currency), recurring=recurring
        )

    def increase_seats(
        self, subscription_ref: str, seats: int, *, idempotency_key: str
    ) -> ProviderSubscription:
        current, now = self._retrieve_timed(subscription_ref)
        changed: SubscriptionUpdateParamsItem = {
            "id": str(item_of(current)["id"]),
            "quantity": seats,
        }
        return self._charged_update(current, now, changed, idempotency_key)

    def schedule_seat_decrease(
        self, subscription_ref: str, seats: int, *, idempotency_key: str
    ) -> ProviderSubscription:
        current = self._retrieve(subscription_ref)
        if seats == int(item_of(current)["quantity"]):
            self._release_schedule(current, f"{idempotency_key}:release")
            return self.fetch_subscription(subscription_ref)
        start, end = period_of(current)
        with translated():
            schedule = current.get("schedule")
            if not isinstance(schedule, Mapping):
                schedule = self._client.v1.subscription_schedules.create(
                    params={"from_subscription": subscription_ref},
                    options={"idempotency_key": f"{idempotency_key}:schedule"},
                ).to_dict()
            phases = phases_with_next_quantity(
                schedule.get("phases") or [],
                period_start=int(start.timestamp()),
                period_end=int(end.timestamp()),
                quantity=seats,
                duration=one_period(current),
            )
            self._client.v1.subscription_schedules.update(
                str(schedule["id"]),
                params={
                    "end_behavior": "release",
                    "proration_behavior": "none",
                    "phases": cast("list[SubscriptionScheduleUpdateParamsPhase]", phases),
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
        current, now = self._retrieve_timed(subscription_ref)
        item = item_of(current)
        price, _ = self._target(item, plan, interval, unit_amount)
        if price == price_id_of(item) and seats == int(item.get("quantity", 1)):
            return self._view(current)  # nothing changes: nothing to charge, nothing to attempt
        changed: SubscriptionUpdateParamsItem = {"id": str(item["id"]), "quantity": seats}
        changed[self._price_field] = price
        return self._charged_update(current, now, changed, idempotency_key)

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
        """Clear the flag, or a cancellation by date (``cancel_at``) set in the
        Dashboard or the portal; one of the two, as Stripe takes one at a time."""
        current = self._retrieve(subscription_ref)
        params: SubscriptionUpdateParams = {"cancel_at_period_end": False}
        if current.get("cancel_at") and not current.get("cancel_at_period_end"):
            params = {"cancel_at": ""}
        return self._update(subscription_ref, params, idempotency_key)

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
        return self._view(self._retrieve(subscription_ref))

    def invoices(self, customer_ref: str, limit: int) -> Sequence[Invoice]:
        """The customer's invoices, newest first, as Stripe lists them (its pages
        followed past 100); ``invoices.invoice_of`` reads each."""
        with translated():
            page = self._client.v1.invoices.list(
                params={"customer": customer_ref, "limit": min(checked_limit(limit), 100)}
            )
            found = [invoice.to_dict() for invoice in islice(page.auto_paging_iter(), limit)]
        read = [invoice for invoice in map(invoice_of, found) if invoice is not None]
        return sorted(read, key=lambda invoice: invoice.created_at, reverse=True)

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> Sequence[ProviderEvent]:
        return parse_events(
            payload,
            headers,
            secret=self._secret,
            tolerance=self._tolerance,
            installation=self._installation,
        )

    # --------------------------------------------------------------- internals

    def _marker(self) -> dict[str, str]:
        return {INSTALLATION_KEY: self._installation}

    def _target(
        self, item: Mapping[str, Any], plan: str, interval: Interval, unit_amount: Money
    ) -> tuple[str, Money]:
        """The price a change to ``plan`` and ``interval`` lands on, and its amount.

        A subscription already on a price of that plan and interval keeps it (a
        legacy price stays with the customer who pays it), at its own amount;
        otherwise the plan's current price, at the catalog's.
        """
        price_id = price_id_of(item)
        if self._table.plans.get(price_id) == (plan, interval):
            price = item.get("price") or item.get("plan") or {}
            amount = (
                price.get("unit_amount", price.get("amount"))
                if isinstance(price, Mapping)
                else None
            )
            if amount is not None:
                return price_id, Money(int(amount), unit_amount.currency)
            return price_id, unit_amount
        return self._table.current_price(plan, interval), unit_amount

    def _interval_of(self, item: Mapping[str, Any]) -> Interval | None:
        known = self._table.plans.get(price_id_of(item))
        return known[1] if known else None

    def _retrieve(self, subscription_ref: str) -> dict[str, Any]:
        return self._retrieve_timed(subscription_ref, timed=False)[0]

    def _retrieve_timed(
        self, subscription_ref: str, *, timed: bool = True
    ) -> tuple[dict[str, Any], int]:
        """The subscription, with its schedule (if any) in place of the schedule's
        id, and Stripe's time when it answered (when ``timed``)."""
        with translated():
            response = self._client.v1.subscriptions.retrieve(
                subscription_ref, params={"expand": list(EXPAND)}
            )
            found = self._with_schedule(response.to_dict())
            now = stripe_now(self._client, found, response) if timed else 0
        return found, now

    def _with_schedule(self, found: dict[str, Any]) -> dict[str, Any]:
        """The schedule is fetched only when there is one, rather than expanded on
        every read: most subscriptions have none."""
        schedule = found.get("schedule")
        if isinstance(schedule, str) and schedule:
            with translated():
                found["schedule"] = self._client.v1.subscription_schedules.retrieve(
                    schedule
                ).to_dict()
        return found

    def _view(self, found: Mapping[str, Any]) -> ProviderSubscription:
        """The neutral view, with the page to send the customer to while the latest
        invoice waits for them (read only in the states where it may)."""
        action_url = None
        invoice_ref = id_of(found.get("latest_invoice"))
        if invoice_ref and (found.get("status") in _MAY_WAIT or found.get("pending_update")):
            payment = invoice_payment(self._client, invoice_ref)
            if payment.outcome is Outcome.ACTION:
                action_url = payment.url
        return view_of(found, self._table.plans, action_url=action_url)

    def _proration_date(self, current: Mapping[str, Any], now: int) -> int:
        start, end = period_of(current)
        return proration_date(now, int(start.timestamp()), int(end.timestamp()))

    def _update(
        self, subscription_ref: str, params: SubscriptionUpdateParams, idempotency_key: str
    ) -> ProviderSubscription:
        with translated():
            self._client.v1.subscriptions.update(
                subscription_ref, params=params, options={"idempotency_key": idempotency_key}
            )
        return self.fetch_subscription(subscription_ref)

    def _charged_update(
        self,
        current: Mapping[str, Any],
        now: int,
        changed: SubscriptionUpdateParamsItem,
        idempotency_key: str,
    ) -> ProviderSubscription:
        """Apply a change that charges the card on file off session; see the module
        docstring for why a pending update, and what each outcome leaves behind."""
        params: SubscriptionUpdateParams = {
            "items": [changed],
            "proration_behavior": "always_invoice",
            "payment_behavior": "pending_if_incomplete",
            "off_session": True,
            "proration_date": self._proration_date(current, now),
        }
        key = charging_key(self._client, current, idempotency_key)
        waiting = charge_update(self._client, str(current["id"]), params, key)
        # Paid, or waiting for the customer: the change replaces a scheduled
        # decrease. A declined card raised above and left the decrease as it was.
        self._release_schedule(current, f"{idempotency_key}:release")
        if waiting is not None:
            raise PaymentActionRequired(
                "the bank asks the customer to authenticate the payment; the change "
                "applies once they confirm it on the invoice's page",
                url=waiting.url or "",
            )
        return self.fetch_subscription(str(current["id"]))

    def _release_schedule(self, current: Mapping[str, Any], idempotency_key: str) -> None:
        schedule_id = id_of(current.get("schedule"))
        if not schedule_id:
            return
        with translated():
            self._client.v1.subscription_schedules.release(
                schedule_id, options={"idempotency_key": idempotency_key}
            )
