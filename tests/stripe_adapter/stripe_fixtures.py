"""Stripe's objects as the pinned API version returns them, in one place.

Each builder follows the shape of Stripe's own example object of that resource
(``openapi/fixtures3.json`` in github.com/stripe/openapi): periods on the
subscription items, an invoice's subscription under ``parent.subscription_details``,
its payments as ``invoice_payment`` objects, proration lines flagged under
``parent.subscription_item_details``, schedule phases carrying read-only fields
(an item's expanded ``plan``, ``automatic_tax.disabled_reason``) that an update
must not send back, invoices with their number, PDF, page and lines whose
``period`` is the service period, payment methods with their ``card``. Only the
fields the adapter reads, or must not trip over, are filled in; values are this
suite's.
"""

from __future__ import annotations

from typing import Any

import stripe

PERIOD_START = 1_767_261_600  # 2026-01-01 10:00 UTC
PERIOD_END = 1_769_940_000  # 2026-02-01 10:00 UTC
NEXT_END = PERIOD_END + 2_419_200  # 2026-03-01 10:00 UTC
AMOUNTS = {"price_month": 1200, "price_year": 12000, "price_month_2024": 1000}
INTERVALS = {"price_month": "month", "price_year": "year", "price_month_2024": "month"}
OURS = {"workspace_id": "ws_1", "wb_installation": "default"}


def price_json(
    price: str = "price_month", *, active: bool = True, **changes: Any
) -> dict[str, Any]:
    found = {
        "id": price,
        "object": "price",
        "active": active,
        "billing_scheme": "per_unit",
        "currency": "eur",
        "livemode": False,
        "product": "prod_seats",
        "recurring": {
            "interval": INTERVALS.get(price, "month"),
            "interval_count": 1,
            "meter": None,
            "usage_type": "licensed",
            "trial_period_days": None,
        },
        "type": "recurring",
        "unit_amount": AMOUNTS.get(price, 1200),
        "unit_amount_decimal": str(AMOUNTS.get(price, 1200)),
    }
    return found | changes


def item_json(
    quantity: int, price: str, *, start: int = PERIOD_START, end: int = PERIOD_END
) -> dict[str, Any]:
    return {
        "id": "si_1",
        "object": "subscription_item",
        "current_period_start": start,
        "current_period_end": end,
        "discounts": [],
        "metadata": {},
        "price": price_json(price),
        "quantity": quantity,
        "subscription": "sub_1",
        "tax_rates": [],
    }


def subscription_json(
    *,
    quantity: int = 5,
    price: str = "price_month",
    interval: str | None = None,
    status: str = "active",
    schedule: Any = None,
    cancel_at_period_end: bool = False,
    cancel_at: int | None = None,
    metadata: dict[str, str] | None = None,
    latest_invoice: Any = "in_0",
    pending_update: dict[str, Any] | None = None,
    start: int = PERIOD_START,
    end: int = PERIOD_END,
    sub_id: str = "sub_1",
    created: int = PERIOD_START,
    discounts: list[str] | None = None,
) -> dict[str, Any]:
    if interval == "year" and price == "price_month":
        price = "price_year"
    return {
        "id": sub_id,
        "object": "subscription",
        "automatic_tax": {
            "enabled": False,
            "liability": {"type": "account"},
            "disabled_reason": None,
        },
        "billing_cycle_anchor": start,
        "cancel_at": cancel_at,
        "cancel_at_period_end": cancel_at_period_end,
        "collection_method": "charge_automatically",
        "created": created,
        "currency": "eur",
        "customer": "cus_1",
        "default_payment_method": None,
        "default_tax_rates": [],
        "discounts": discounts or [],
        "items": {
            "object": "list",
            "data": [item_json(quantity, price, start=start, end=end)],
            "has_more": False,
            "url": f"/v1/subscription_items?subscription={sub_id}",
        },
        "latest_invoice": latest_invoice,
        "livemode": False,
        "metadata": dict(OURS if metadata is None else metadata),
        "pending_update": pending_update,
        "schedule": schedule,
        "start_date": start,
        "status": status,
        "test_clock": None,
    }


def phase_json(
    quantity: int,
    *,
    start: int = PERIOD_START,
    end: int | None = PERIOD_END,
    price: str = "price_month",
    discounts: list[dict[str, Any]] | None = None,
    tax_rates: list[str] | None = None,
    automatic_tax: bool = False,
) -> dict[str, Any]:
    """A phase as Stripe returns it; tax rates come expanded, as objects."""
    rates = [{"id": t, "object": "tax_rate", "percentage": 20.0} for t in tax_rates or []]
    return {
        "add_invoice_items": [],
        "application_fee_percent": None,
        "automatic_tax": {
            "enabled": automatic_tax,
            "liability": {"type": "self"} if automatic_tax else None,
            "disabled_reason": None,
        },
        "billing_cycle_anchor": None,
        "collection_method": None,
        "currency": "eur",
        "default_payment_method": None,
        "default_tax_rates": rates,
        "description": None,
        "discounts": discounts or [],
        "end_date": end,
        "invoice_settings": None,
        "items": [
            {
                "discounts": [],
                "metadata": {},
                "plan": {"id": price, "object": "plan", "amount": AMOUNTS.get(price, 1200)},
                "price": price,
                "quantity": quantity,
                "tax_rates": [],
            }
        ],
        "metadata": {},
        "on_behalf_of": None,
        "proration_behavior": "create_prorations",
        "start_date": start,
        "transfer_data": None,
        "trial_end": None,
    }


def schedule_json(
    phases: list[dict[str, Any]], *, schedule_id: str = "sub_sched_1"
) -> dict[str, Any]:
    return {
        "id": schedule_id,
        "object": "subscription_schedule",
        "current_phase": {"start_date": PERIOD_START, "end_date": PERIOD_END},
        "customer": "cus_1",
        "end_behavior": "release",
        "metadata": {},
        "phases": phases,
        "status": "active",
        "subscription": "sub_1",
    }


def line_json(
    amount: int, *, proration: bool, start: int, end: int, description: str = ""
) -> dict[str, Any]:
    return {
        "id": f"il_{abs(amount)}_{int(proration)}",
        "object": "line_item",
        "amount": amount,
        "currency": "eur",
        "description": description,
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "parent": {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": proration,
                "proration_details": {"credited_items": None},
                "subscription": "sub_1",
                "subscription_item": "si_1",
            },
            "type": "subscription_item_details",
        },
        "period": {"start": start, "end": end},
        "quantity": 1,
        "taxes": [],
    }


def invoice_json(
    invoice_id: str,
    *,
    status: str = "paid",
    amount: int = 0,
    lines: list[dict[str, Any]] | None = None,
    metadata: dict[str, str] | None = None,
    billing_reason: str = "subscription_update",
    created: int = PERIOD_START,
) -> dict[str, Any]:
    """An invoice; ``period_start``/``period_end`` are Stripe's window for adding
    items (for a renewal, the period before the one its lines bill)."""
    finalized = status != "draft"
    sequence = int(invoice_id.rsplit("_", 1)[-1]) + 1 if invoice_id[-1].isdigit() else 1
    return {
        "id": invoice_id,
        "object": "invoice",
        "amount_due": amount,
        "amount_paid": amount if status == "paid" else 0,
        "amount_remaining": amount if status == "open" else 0,
        "billing_reason": billing_reason,
        "collection_method": "charge_automatically",
        "created": created,
        "currency": "eur",
        "customer": "cus_1",
        "hosted_invoice_url": f"https://invoice.stripe.com/i/acct_1/{invoice_id}"
        if finalized
        else None,
        "invoice_pdf": f"https://pay.stripe.com/invoice/acct_1/{invoice_id}/pdf"
        if finalized
        else None,
        "number": f"A1B2C3D4-{sequence:04d}" if finalized else None,
        "period_end": created,
        "period_start": created - 2_678_400 if billing_reason == "subscription_cycle" else created,
        "lines": {
            "object": "list",
            "data": lines or [],
            "has_more": False,
            "url": f"/v1/invoices/{invoice_id}/lines",
        },
        "livemode": False,
        "metadata": {},
        "parent": {
            "quote_details": None,
            "subscription_details": {
                "metadata": dict(OURS if metadata is None else metadata),
                "subscription": "sub_1",
            },
            "type": "subscription_details",
        },
        "status": status,
        "subtotal": amount,
        "total": amount,
    }


def payment_method_json(
    method_id: str = "pm_1", *, kind: str = "card", last4: str = "4242", brand: str = "visa"
) -> dict[str, Any]:
    """A PaymentMethod: a card (Stripe's example shape), or another ``kind``."""
    found: dict[str, Any] = {
        "id": method_id,
        "object": "payment_method",
        "billing_details": {"address": None, "email": None, "name": None, "phone": None},
        "created": PERIOD_START,
        "customer": "cus_1",
        "livemode": False,
        "metadata": {},
        "type": kind,
    }
    if kind == "card":
        found["card"] = {
            "brand": brand,
            "checks": {"cvc_check": "pass"},
            "country": "US",
            "display_brand": brand,
            "exp_month": 8,
            "exp_year": 2030,
            "fingerprint": "AOB934RVNwzk6xtn",
            "funding": "credit",
            "last4": last4,
            "networks": {"available": [brand], "preferred": None},
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        }
    else:
        found[kind] = {"last4": last4, "country": "DE"}
    return found


def payment_intent_json(
    intent_id: str, status: str, *, amount: int, decline: str | None = None
) -> dict[str, Any]:
    error = None
    if decline:
        error = {"type": "card_error", "code": "card_declined", "decline_code": decline}
    return {
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount,
        "currency": "eur",
        "last_payment_error": error,
        "next_action": {"type": "use_stripe_sdk"} if status == "requires_action" else None,
        "status": status,
    }


def invoice_payment_json(invoice_id: str, intent: Any, *, status: str = "open") -> dict[str, Any]:
    return {
        "id": f"inpay_{invoice_id}",
        "object": "invoice_payment",
        "amount_paid": None,
        "amount_requested": 0,
        "created": PERIOD_START,
        "currency": "eur",
        "invoice": invoice_id,
        "is_default": True,
        "livemode": False,
        "payment": {"type": "payment_intent", "payment_intent": intent},
        "status": status,
    }


def list_json(url: str, data: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": False, "url": url}


def event_json(kind: str, obj: dict[str, Any], event_id: str = "evt_1") -> bytes:
    import json

    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": kind,
            "api_version": stripe.api_version,
            "created": PERIOD_START,
            "data": {"object": obj},
        }
    ).encode()
