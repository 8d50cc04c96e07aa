"""What the local provider keeps as JSON in its rows: the first answer of each
idempotent write, what paying a waiting payment will grant, and the card a
checkout waits to authenticate.

A replay must answer exactly what the first call answered (as a real
provider's idempotency does), even from another process or after a restart,
so the answer is kept whole: a customer reference, a checkout, a subscription
view, or the page of a payment still waiting for the customer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ...catalog import Interval
from ...errors import PaymentActionRequired
from ...money import Money
from ...provider_values import Checkout, PaymentMethod, ProviderStatus, ProviderSubscription
from ..simulated import Grant, GrantKind
from .cards import CardBehaviour, TestCard

__all__ = [
    "card_from_json",
    "card_json",
    "decode_result",
    "encode_result",
    "grant_from_json",
    "grant_json",
]


def card_json(card: TestCard) -> str:
    return json.dumps({"method": card.method.to_dict(), "behaviour": card.behaviour.value})


def card_from_json(text: str) -> TestCard:
    data: Mapping[str, Any] = json.loads(text)
    return TestCard(PaymentMethod(**data["method"]), CardBehaviour(data["behaviour"]))


def grant_json(grant: Grant) -> str:
    money = grant.unit_amount
    return json.dumps(
        {
            "kind": grant.kind.value,
            "seats": grant.seats,
            "plan": grant.plan,
            "interval": None if grant.interval is None else grant.interval.value,
            "unit_amount": None if money is None else [money.amount, money.currency],
        }
    )


def grant_from_json(text: str) -> Grant:
    data: Mapping[str, Any] = json.loads(text)
    interval, money = data["interval"], data["unit_amount"]
    return Grant(
        kind=GrantKind(data["kind"]),
        seats=data["seats"],
        plan=data["plan"],
        interval=None if interval is None else Interval(interval),
        unit_amount=None if money is None else Money(*money),
    )


def encode_result(value: object) -> str:
    """A write's answer as JSON, kept against its idempotency key."""
    if isinstance(value, str):
        return json.dumps({"text": value})
    if isinstance(value, Checkout):
        return json.dumps({"checkout": [value.id, value.url]})
    if isinstance(value, PaymentActionRequired):
        return json.dumps({"waiting": [value.message, value.url]})
    assert isinstance(value, ProviderSubscription)
    card = value.payment_method
    view = {
        "ref": value.ref,
        "customer_ref": value.customer_ref,
        "workspace_id": value.workspace_id,
        "plan": value.plan,
        "interval": value.interval.value,
        "seats": value.seats,
        "status": value.status.value,
        "period_start": value.period_start.isoformat(),
        "period_end": value.period_end.isoformat(),
        "unit_amount": [value.unit_amount.amount, value.unit_amount.currency],
        "pending_seats": value.pending_seats,
        "cancel_at_period_end": value.cancel_at_period_end,
        "action_url": value.action_url,
        "payment_method": None if card is None else card.to_dict(),
    }
    return json.dumps({"view": view})


def decode_result(text: str) -> object:
    """The answer ``encode_result`` kept; a payment still waiting comes back as the
    ``PaymentActionRequired`` to raise again."""
    data: Mapping[str, Any] = json.loads(text)
    if "text" in data:
        return str(data["text"])
    if "checkout" in data:
        return Checkout(*data["checkout"])
    if "waiting" in data:
        message, url = data["waiting"]
        return PaymentActionRequired(message, url=url)
    view = dict(data["view"])
    return _view(view, view.pop("payment_method"))


def _view(view: dict[str, Any], card: Mapping[str, Any] | None) -> ProviderSubscription:
    return ProviderSubscription(
        ref=view["ref"],
        customer_ref=view["customer_ref"],
        workspace_id=view["workspace_id"],
        plan=view["plan"],
        interval=Interval(view["interval"]),
        seats=view["seats"],
        status=ProviderStatus(view["status"]),
        period_start=datetime.fromisoformat(view["period_start"]),
        period_end=datetime.fromisoformat(view["period_end"]),
        unit_amount=Money(*view["unit_amount"]),
        pending_seats=view["pending_seats"],
        cancel_at_period_end=view["cancel_at_period_end"],
        action_url=view["action_url"],
        payment_method=None if card is None else PaymentMethod(**card),
    )
