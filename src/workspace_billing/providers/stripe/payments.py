"""What a charge did at Stripe, and what a change will cost: invoices, their
payments, the proration date a quote and its charge share, and the preview's lines.

Apart from the adapter because these readings change with the API version
(``invoice.payment_intent`` before 2025-03-31, ``invoice.payments`` since;
``line.proration`` before, ``line.parent.*_details.proration`` since) and are
where a quote and a charge can drift apart; the adapter's write paths only ask
"was it paid, does it wait for the customer, or was it declined".
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import attrs
import stripe

from ...errors import PaymentFailed, ProviderError
from .errors import translated

if TYPE_CHECKING:
    from stripe.params import SubscriptionUpdateParams

__all__ = [
    "InvoicePayment",
    "Outcome",
    "charge_update",
    "charging_key",
    "due_now",
    "invoice_payment",
    "proration_date",
    "stripe_now",
]

# PaymentIntent statuses that wait for the customer rather than for a new card.
_WAITING_FOR_CUSTOMER = frozenset({"requires_action", "requires_confirmation"})


class Outcome(enum.Enum):
    PAID = "paid"
    """Paid, or nothing to pay: the change is applied."""
    ACTION = "action"
    """The bank asks the customer to authenticate on the invoice's page."""
    FAILED = "failed"
    """Declined, or the payment was given up (the invoice voided)."""


@attrs.frozen
class InvoicePayment:
    """Where an invoice's payment stands, read live (never from a replayed answer)."""

    outcome: Outcome
    invoice_status: str
    url: str | None = None
    """The hosted invoice page, where the customer authenticates or pays."""
    decline: str | None = None
    """The decline code or reason of the last attempt, when there was one."""


def invoice_payment(client: stripe.StripeClient, invoice_ref: str) -> InvoicePayment:
    with translated():
        invoice = client.v1.invoices.retrieve(invoice_ref).to_dict()
    status = str(invoice.get("status"))
    url = invoice.get("hosted_invoice_url")
    if status == "paid":
        return InvoicePayment(Outcome.PAID, status, url)
    if status != "open":  # void or uncollectible: given up
        return InvoicePayment(Outcome.FAILED, status, url)
    intent = _payment_intent(client, invoice) or {}
    if intent.get("status") in _WAITING_FOR_CUSTOMER:
        return InvoicePayment(Outcome.ACTION, status, url)
    error = intent.get("last_payment_error") or {}
    decline = error.get("decline_code") or error.get("code")
    return InvoicePayment(Outcome.FAILED, status, url, str(decline) if decline else None)


def charge_update(
    client: stripe.StripeClient, ref: str, params: SubscriptionUpdateParams, key: str
) -> InvoicePayment | None:
    """Send a charging update (``pending_if_incomplete``) and say where it stands.

    ``None``: applied (paid, or nothing was due). An ``InvoicePayment`` whose
    outcome is ``ACTION``: kept pending until the customer confirms on its page.
    A declined card raises ``PaymentFailed`` once the invoice it left open is
    voided, which discards the pending update. The outcome is read from the
    invoice as it is now, so a replayed answer (same key, within Stripe's day)
    reports what happened since: paid after the customer confirmed, or voided.
    """
    try:
        with translated():
            response = client.v1.subscriptions.update(
                ref, params=params, options={"idempotency_key": key}
            )
    except PaymentFailed:
        _discard_pending(client, ref, key)
        raise
    updated = response.to_dict()
    request_id = response.last_response.request_id if response.last_response else None
    if not updated.get("pending_update"):
        return None
    invoice_ref = id_of(updated.get("latest_invoice"))
    if not invoice_ref:
        raise PaymentFailed(
            "Stripe kept the change pending without an invoice to pay", request_id=request_id
        )
    payment = invoice_payment(client, invoice_ref)
    if payment.outcome is Outcome.PAID:
        return None
    if payment.outcome is Outcome.ACTION:
        return payment
    if payment.invoice_status == "open":
        _void(client, invoice_ref, f"{key}:void")
    raise PaymentFailed(
        f"the card was declined ({payment.decline or 'payment_failed'}); the change was not made",
        request_id=request_id,
    )


def charging_key(client: stripe.StripeClient, current: Mapping[str, Any], key: str) -> str:
    """The key of a write that charges: the intent's key and the card it charges
    (read from the subscription's expanded customer, else fetched)."""
    method = current.get("default_payment_method")
    if not method:
        customer = current.get("customer")
        if not isinstance(customer, Mapping):
            with translated():
                customer = client.v1.customers.retrieve(str(customer)).to_dict()
        method = (customer.get("invoice_settings") or {}).get("default_payment_method")
    return f"{key}:pm:{id_of(method) or 'none'}"


def id_of(value: Any) -> str | None:
    """The id of a field Stripe returns either as an id or expanded."""
    if isinstance(value, Mapping):
        value = value.get("id")
    return str(value) if value else None


def _discard_pending(client: stripe.StripeClient, ref: str, key: str) -> None:
    """After a refused charge, void any invoice it left open, as far as it goes.

    The refusal is what the caller must see; a failure here only leaves what
    Stripe itself voids when the pending update expires (within 23 hours).
    """
    try:
        with translated():
            found = client.v1.subscriptions.retrieve(ref).to_dict()
            invoice_ref = id_of(found.get("latest_invoice"))
            if not (found.get("pending_update") and invoice_ref):
                return
            if client.v1.invoices.retrieve(invoice_ref).status == "open":
                _void(client, invoice_ref, f"{key}:void")
    except ProviderError:
        return


def _void(client: stripe.StripeClient, invoice_ref: str, key: str) -> None:
    with translated():
        client.v1.invoices.void_invoice(invoice_ref, options={"idempotency_key": key})


def _payment_intent(
    client: stripe.StripeClient, invoice: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The invoice's current PaymentIntent, in the shape of either API version."""
    with translated():
        if "payment_intent" in invoice:  # API versions before 2025-03-31
            found = invoice.get("payment_intent")
            if isinstance(found, str) and found:
                return client.v1.payment_intents.retrieve(found).to_dict()
            return dict(found) if isinstance(found, Mapping) else None
        payments = client.v1.invoice_payments.list(
            params={"invoice": str(invoice["id"]), "expand": ["data.payment.payment_intent"]}
        ).to_dict()
    rows = [p for p in payments.get("data") or [] if isinstance(p, Mapping)]
    rows.sort(key=lambda p: (bool(p.get("is_default")), int(p.get("created") or 0)), reverse=True)
    for row in rows:
        intent = (row.get("payment") or {}).get("payment_intent")
        if isinstance(intent, Mapping):
            return dict(intent)
        if isinstance(intent, str) and intent:
            with translated():
                return client.v1.payment_intents.retrieve(intent).to_dict()
    return None


def stripe_now(
    client: stripe.StripeClient, sub: Mapping[str, Any], response: stripe.StripeObject
) -> int:
    """Now, on the clock Stripe prorates with.

    A subscription on a test clock lives at that clock's time; any other at
    Stripe's, read from the ``Date`` header of the answer that brought the
    subscription (the host's clock may be off). The host's clock is the last
    resort, for a double that sends no header.
    """
    clock = sub.get("test_clock")
    if isinstance(clock, Mapping):
        clock = clock.get("id")
    if isinstance(clock, str) and clock:
        with translated():
            return int(client.v1.test_helpers.test_clocks.retrieve(clock).frozen_time)
    headers = response.last_response.headers if response.last_response else {}
    date = next((v for k, v in headers.items() if k.lower() == "date"), None)
    if date:
        try:
            return int(parsedate_to_datetime(date).timestamp())
        except (TypeError, ValueError):
            pass
    return int(time.time())


def proration_date(now: int, period_start: int, period_end: int) -> int:
    """The moment a change is prorated from, the same for its quote and its charge.

    The preview and the update are two requests, made when the host shows the
    price and when the admin confirms it. Truncated to the minute, both name the
    same moment when they fall in the same minute, so the charge is the quote.
    Stripe wants it within the current period.
    """
    minute = now - now % 60
    return min(max(minute, period_start), period_end - 1)


def due_now(preview: Mapping[str, Any], *, new_period: bool) -> int:
    """What the change charges now: the preview's prorations, after discounts and
    with the taxes added on top, never below zero (a credit is kept by Stripe).

    Stripe documents the proration lines as the way to read a change from a
    preview. When the change starts a new billing period (another interval), the
    new period is invoiced now too, so every line counts.
    """
    lines = (preview.get("lines") or {}).get("data") or []
    total = sum(_line_total(line) for line in lines if new_period or _is_proration(line))
    return max(total, 0)


def _is_proration(line: Mapping[str, Any]) -> bool:
    if "proration" in line:  # API versions before 2025-03-31
        return bool(line["proration"])
    parent = line.get("parent") or {}
    details = parent.get("subscription_item_details") or parent.get("invoice_item_details") or {}
    return bool(details.get("proration"))


def _line_total(line: Mapping[str, Any]) -> int:
    amount = int(line.get("amount") or 0)
    amount -= sum(int(d.get("amount") or 0) for d in line.get("discount_amounts") or [])
    for tax in line.get("taxes") or []:  # since 2025-03-31
        if tax.get("tax_behavior") == "exclusive":
            amount += int(tax.get("amount") or 0)
    for tax in line.get("tax_amounts") or []:  # before
        if not tax.get("inclusive", True):
            amount += int(tax.get("amount") or 0)
    return amount
