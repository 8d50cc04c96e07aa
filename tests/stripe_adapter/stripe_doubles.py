"""Test doubles at the Stripe SDK's HTTP boundary.

``RecordingHTTPClient`` records every request the adapter makes (method, path,
decoded parameters, idempotency key) and answers it, from an exact route a test
sets or else from its ``fallback``. ``StripeDouble`` is such a fallback: a small
stateful Stripe for one customer, answering with the objects of
``stripe_fixtures`` and behaving as Stripe documents the flows the adapter uses:
an update with ``pending_if_incomplete`` applies when paid and otherwise parks
the change in ``pending_update`` with an open invoice; the customer's
authentication on the hosted invoice page applies it; voiding the invoice
discards it; ``from_subscription`` copies the subscription's current phase;
previews carry proration lines; a key reused with the same parameters replays
the first answer and with others is refused; ``expand[]`` replaces the ids it
names (the customer, payment methods) with their objects; invoices are listed
for their customer, newest first, in pages.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Mapping
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import attrs
import stripe
from stripe_fixtures import (
    AMOUNTS,
    INTERVALS,
    OURS,
    PERIOD_END,
    PERIOD_START,
    invoice_json,
    invoice_payment_json,
    line_json,
    list_json,
    payment_intent_json,
    payment_method_json,
    phase_json,
    schedule_json,
    subscription_json,
)

from workspace_billing import Interval
from workspace_billing.providers.stripe import StripePrice, StripeProvider

SECRET_KEY = "sk_test_do_not_leak_51Hx"
WEBHOOK_SECRET = "whsec_test_secret"
PRICES = (
    StripePrice("business", Interval.MONTH, "price_month"),
    StripePrice("business", Interval.YEAR, "price_year"),
)
LENGTHS = {"month": 2_678_400, "year": 31_536_000}


@attrs.frozen
class Request:
    method: str
    path: str
    params: dict[str, str]
    idempotency_key: str | None


Handler = Callable[[Request], tuple[int, dict[str, Any]]]


class RecordingHTTPClient(stripe.HTTPClient):
    """Answers from ``routes`` (``"POST /v1/customers"`` -> handler), else from
    ``fallback``, and records everything. ``clock`` (unix seconds) dates the
    answers, as Stripe's ``Date`` header does."""

    name = "recording"

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[Request] = []
        self.routes: dict[str, Handler] = {}
        self.fallback: Handler | None = None
        self.clock: Callable[[], int] | None = None

    def request(  # type: ignore[override]
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        **_: Any,
    ) -> tuple[str, int, Mapping[str, str]]:
        parts = urlsplit(url)
        body = post_data.decode() if isinstance(post_data, bytes) else (post_data or "")
        params = dict(parse_qsl(parts.query, keep_blank_values=True)) | dict(
            parse_qsl(body, keep_blank_values=True)
        )
        key = next((v for k, v in (headers or {}).items() if k.lower() == "idempotency-key"), None)
        request = Request(method.upper(), parts.path, params, key)
        self.requests.append(request)
        handler = self.routes.get(f"{request.method} {request.path}", self.fallback)
        if handler is None:
            error = {"type": "invalid_request_error", "message": "no route"}
            return json.dumps({"error": error}), 404, {}
        status, payload = handler(request)
        answer = {"request-id": f"req_{len(self.requests)}"}
        if self.clock is not None:
            answer["Date"] = formatdate(self.clock(), usegmt=True)
        return json.dumps(payload), status, answer

    def request_stream(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - unused
        raise NotImplementedError

    def close(self) -> None:
        pass

    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.method != "GET"]


def provider(http: RecordingHTTPClient, **options: Any) -> StripeProvider:
    client = stripe.StripeClient(SECRET_KEY, http_client=http, max_network_retries=0)
    options.setdefault("prices", PRICES)
    return StripeProvider(client, webhook_secret=WEBHOOK_SECRET, **options)


def sign(payload: bytes, *, secret: str = WEBHOOK_SECRET, at: int | None = None) -> dict[str, str]:
    """Headers as Stripe signs a delivery: ``t=<unix>,v1=<hmac-sha256 of "t.payload">``."""
    timestamp = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return {"Stripe-Signature": f"t={timestamp},v1={digest.hexdigest()}"}


def unflatten(params: Mapping[str, str]) -> dict[str, Any]:
    """Form parameters (``phases[0][items][0][quantity]=3``) back into the nested
    values they encode, numbers and booleans read as such."""
    root: dict[str, Any] = {}
    for flat, raw in params.items():
        keys = re.findall(r"[^\[\]]+", flat)
        node = root
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        value: Any = raw
        if raw.lstrip("-").isdigit():
            value = int(raw)
        elif raw in ("true", "false"):
            value = raw == "true"
        node[keys[-1]] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    if isinstance(node, dict):
        if node and all(k.isdigit() for k in node):
            return [_lists(node[k]) for k in sorted(node, key=int)]
        return {k: _lists(v) for k, v in node.items()}
    return node


class StripeDouble:
    """A stateful Stripe for customer ``cus_1`` and its subscription ``sub_1``.

    ``outcomes`` queues what the next payments do (``"decline"``, ``"action"``;
    paid when empty); ``attempts`` counts the payments Stripe tried. ``now`` is
    Stripe's clock, sent in the ``Date`` header.
    """

    def __init__(
        self,
        http: RecordingHTTPClient,
        *,
        quantity: int = 5,
        price: str = "price_month",
        discounts: list[str] | None = None,
        tax_rates: list[str] | None = None,
        subscribed: bool = True,
    ) -> None:
        self.http = http
        self.now = PERIOD_START + 10 * 86_400 + 37
        http.clock = lambda: self.now
        http.fallback = self.route
        self.sub: dict[str, Any] = {}
        if subscribed:
            self.sub = subscription_json(quantity=quantity, price=price, discounts=discounts)
        self.others: list[dict[str, Any]] = []
        self.sessions: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.customer = {
            "id": "cus_1",
            "object": "customer",
            "email": None,
            "invoice_settings": {"default_payment_method": "pm_1"},
            "metadata": dict(OURS),
        }
        self.payment_methods = {"pm_1": payment_method_json("pm_1")}
        self.invoices: dict[str, dict[str, Any]] = {}
        if subscribed:
            self.invoices["in_0"] = invoice_json("in_0", amount=quantity * AMOUNTS[price])
        self.intents: dict[str, dict[str, Any]] = {}
        self.schedules: dict[str, dict[str, Any]] = {}
        self.tax_rates = tax_rates or []
        self.outcomes: list[str] = []
        self.attempts = 0
        self.previews: list[dict[str, Any]] = []
        self._pending: dict[str, Any] | None = None
        self._replies: dict[str, tuple[str, tuple[int, dict[str, Any]]]] = {}

    # ----------------------------------------------------------------- levers

    def authenticate(self, url: str) -> None:
        """The customer confirms the payment on the hosted invoice page."""
        invoice = next(i for i in self.invoices.values() if i["hosted_invoice_url"] == url)
        intent = self.intents[f"pi_{invoice['id']}"]
        assert (invoice["status"], intent["status"]) == ("open", "requires_action")
        intent["status"], invoice["status"] = "succeeded", "paid"
        invoice["amount_paid"], invoice["amount_remaining"] = invoice["amount_due"], 0
        if self.sub["pending_update"] and self.sub["latest_invoice"] == invoice["id"]:
            self._apply(self._pending or {})
        if self.sub["status"] == "past_due":
            self.sub["status"] = "active"

    def renew(self, outcome: str = "paid") -> None:
        """The period ends: the schedule's next phase applies, the renewal is charged."""
        item = self.sub["items"]["data"][0]
        start = item["current_period_end"]
        end = start + LENGTHS[item["price"]["recurring"]["interval"]]
        schedule = self.schedules.get(self.sub["schedule"] or "")
        for phase in schedule["phases"] if schedule else []:
            if phase.get("start_date") == start:
                item["quantity"] = phase["items"][0]["quantity"]
        item["current_period_start"], item["current_period_end"] = start, end
        amount = item["quantity"] * item["price"]["unit_amount"]
        lines = [line_json(amount, proration=False, start=start, end=end)]
        invoice = self._invoice(lines, reason="subscription_cycle", outcome=outcome, at=start)
        self.sub["latest_invoice"] = invoice["id"]
        if invoice["status"] == "open":
            self.sub["status"] = "past_due"

    def subscribe(self, session_id: str) -> str:
        """The customer pays a Checkout Session: the subscription starts now."""
        session = self.sessions[session_id]
        line = session["line_items"][0]
        end = self.now + LENGTHS[INTERVALS[line["price"]]]
        self.sub = subscription_json(
            quantity=line["quantity"], price=line["price"], start=self.now, end=end,
            metadata=session["subscription_data"]["metadata"], created=self.now,
        )  # fmt: skip
        amount = line["quantity"] * AMOUNTS[line["price"]]
        self.invoices["in_0"] = invoice_json(
            "in_0", amount=amount, created=self.now, billing_reason="subscription_create",
            lines=[line_json(amount, proration=False, start=self.now, end=end)],
        )  # fmt: skip
        session |= {"status": "complete", "subscription": "sub_1"}
        self._announce("checkout.session.completed", session)
        self._announce("customer.subscription.created", self.sub)
        return "sub_1"

    def advance(self, seconds: int) -> None:
        """Stripe's clock moves on: each period that ends renews, or cancels."""
        self.now += seconds
        item = self.sub["items"]["data"][0] if self.sub else None
        while item and self.sub["status"] == "active" and item["current_period_end"] <= self.now:
            if self.sub["cancel_at_period_end"]:
                self.sub["status"] = "canceled"
                self._announce("customer.subscription.deleted", self.sub)
                return
            self.renew(self.outcomes.pop(0) if self.outcomes else "paid")

    def _announce(self, kind: str, obj: Mapping[str, Any]) -> None:
        event = {"id": f"evt_{len(self.events) + 1}", "object": "event", "type": kind,
                 "api_version": stripe.api_version, "created": self.now,
                 "data": {"object": copy.deepcopy(dict(obj))}}  # fmt: skip
        self.events.append(event)

    # ---------------------------------------------------------------- routing

    def route(self, request: Request) -> tuple[int, dict[str, Any]]:
        if request.method == "POST" and request.idempotency_key:
            fingerprint = json.dumps([request.path, sorted(request.params.items())])
            seen = self._replies.get(request.idempotency_key)
            if seen is not None:
                if seen[0] != fingerprint:
                    message = (
                        "Keys for idempotent requests can only be used with the same parameters"
                    )
                    return 400, {"error": {"type": "idempotency_error", "message": message}}
                return seen[1]
            answer = self._answer(request)
            self._replies[request.idempotency_key] = (fingerprint, copy.deepcopy(answer))
            return answer
        return self._answer(request)

    def _answer(self, request: Request) -> tuple[int, dict[str, Any]]:
        method, path, params = request.method, request.path, unflatten(request.params)
        parts = path.strip("/").split("/")[1:]
        if parts[:2] == ["subscriptions", "sub_1"] and not self.sub:
            return 404, {"error": {"type": "invalid_request_error", "code": "resource_missing"}}
        if parts == ["checkout", "sessions"]:
            session_id = f"cs_{len(self.sessions) + 1}"
            url = f"https://checkout.stripe.com/c/pay/{session_id}"
            self.sessions[session_id] = params | {"id": session_id, "object": "checkout.session",
                                                  "url": url, "status": "open"}  # fmt: skip
            return 200, self.sessions[session_id]
        if parts == ["billing_portal", "sessions"]:
            url = f"https://billing.stripe.com/p/session/{params['customer']}"
            return 200, {"id": "bps_1", "object": "billing_portal.session", "url": url}
        if parts == ["subscriptions", "sub_1"] and method == "GET":
            return 200, self._expanded(self.sub, params.get("expand") or [])
        if parts == ["subscriptions", "sub_1"] and method == "POST":
            return 200, self._update(params)
        if parts == ["subscriptions", "sub_1"] and method == "DELETE":
            self.sub["status"] = "canceled"
            return 200, self.sub
        if parts == ["subscriptions"] and method == "GET":
            found = [sub for sub in (self.sub, *self.others) if sub]
            return 200, self._expanded(list_json("/v1/subscriptions", found), params.get("expand"))
        if parts == ["invoices"] and method == "GET":
            return 200, self._invoice_page(params)
        if parts == ["customers", "cus_1"]:
            return 200, self.customer
        if parts == ["customers"] and method == "POST":
            self.customer |= {k: v for k, v in params.items() if k in ("name", "email", "metadata")}
            return 200, self.customer
        if parts == ["invoices", "create_preview"]:
            return 200, self._preview(params)
        if parts[:1] == ["invoices"] and len(parts) == 2:
            return 200, self.invoices[parts[1]]
        if parts[:1] == ["invoices"] and parts[2:] == ["void"]:
            return 200, self._void(parts[1])
        if parts == ["invoice_payments"]:
            return 200, self._payments(params)
        if parts[:1] == ["payment_intents"]:
            return 200, self.intents[parts[1]]
        if parts == ["subscription_schedules"] and method == "POST":
            return 200, self._schedule_from_subscription()
        if parts[:1] == ["subscription_schedules"] and len(parts) == 2 and method == "GET":
            return 200, self.schedules[parts[1]]
        if parts[:1] == ["subscription_schedules"] and len(parts) == 2:
            return 200, self._rewrite(parts[1], params)
        if parts[:1] == ["subscription_schedules"] and parts[2:] == ["release"]:
            self.sub["schedule"] = None
            return 200, self.schedules[parts[1]] | {"status": "released"}
        return 404, {"error": {"type": "invalid_request_error", "code": "resource_missing"}}

    # -------------------------------------------------------- subscriptions

    def _update(self, params: dict[str, Any]) -> dict[str, Any]:
        for flag in ("cancel_at_period_end", "cancel_at"):
            if flag in params:
                self.sub[flag] = params[flag] if params[flag] != "" else None
        if "items" not in params:
            return self.sub
        change = params["items"][0]
        lines = self._lines(change, int(params.get("proration_date", self.now)))
        if params.get("payment_behavior") != "pending_if_incomplete":
            self._apply(change)
            return self.sub
        invoice = self._invoice(lines, reason="subscription_update")
        self.sub["latest_invoice"] = invoice["id"]
        if invoice["status"] == "paid":
            self._apply(change)
        else:
            self._pending = change
            self.sub["pending_update"] = {
                "expires_at": self.now + 82_800,
                "subscription_items": [{"id": "si_1", "quantity": change.get("quantity")}],
            }
        return self.sub

    def _apply(self, change: Mapping[str, Any]) -> None:
        item = self.sub["items"]["data"][0]
        old_interval = item["price"]["recurring"]["interval"]
        if "price" in change:
            item["price"] = self.sub["items"]["data"][0]["price"] | {
                "id": change["price"],
                "unit_amount": AMOUNTS[change["price"]],
                "recurring": {"interval": INTERVALS[change["price"]], "usage_type": "licensed"},
            }
        item["quantity"] = change.get("quantity", item["quantity"])
        interval = item["price"]["recurring"]["interval"]
        if interval != old_interval:  # a new billing cycle starts now
            item["current_period_start"] = self.now
            item["current_period_end"] = self.now + LENGTHS[interval]
        self.sub["pending_update"], self._pending = None, None

    def _lines(self, change: Mapping[str, Any], moment: int) -> list[dict[str, Any]]:
        """The proration lines of a change at ``moment``: the unused time credited,
        the remaining time at the new quantity and price charged."""
        item = self.sub["items"]["data"][0]
        start, end = item["current_period_start"], item["current_period_end"]
        old = item["quantity"] * item["price"]["unit_amount"]
        price = change.get("price", item["price"]["id"])
        new = int(change.get("quantity", item["quantity"])) * AMOUNTS[price]
        left = (end - moment) / (end - start)
        lines = [line_json(-round(old * left), proration=True, start=moment, end=end)]
        if INTERVALS[price] != item["price"]["recurring"]["interval"]:
            new_end = moment + LENGTHS[INTERVALS[price]]
            lines.append(line_json(new, proration=False, start=moment, end=new_end))
        else:
            lines.append(line_json(round(new * left), proration=True, start=moment, end=end))
        return lines

    def _invoice(
        self,
        lines: list[dict[str, Any]],
        *,
        reason: str,
        outcome: str | None = None,
        at: int | None = None,
    ) -> dict[str, Any]:
        """Finalize and charge an invoice (made ``at`` now by default); nothing due
        is paid without an attempt."""
        invoice_id = f"in_{len(self.invoices)}"
        amount = max(sum(line["amount"] for line in lines), 0)
        invoice = invoice_json(invoice_id, status="paid", amount=amount, lines=lines,
                               metadata=self.sub["metadata"], billing_reason=reason,
                               created=self.now if at is None else at)  # fmt: skip
        self.invoices[invoice_id] = invoice
        if amount == 0:
            return invoice
        self.attempts += 1
        outcome = outcome or (self.outcomes.pop(0) if self.outcomes else "paid")
        status = {"paid": "succeeded", "decline": "requires_payment_method"}
        intent = payment_intent_json(
            f"pi_{invoice_id}",
            status.get(outcome, "requires_action"),
            amount=amount,
            decline="insufficient_funds" if outcome == "decline" else None,
        )
        self.intents[intent["id"]] = intent
        if outcome != "paid":
            invoice.update(status="open", amount_paid=0, amount_remaining=amount)
        return invoice

    def _void(self, invoice_id: str) -> dict[str, Any]:
        invoice = self.invoices[invoice_id]
        invoice.update(status="void", amount_remaining=0)
        if self.sub["latest_invoice"] == invoice_id:  # voiding discards the pending update
            self.sub["pending_update"], self._pending = None, None
        return invoice

    def _invoice_page(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The customer's invoices, newest first (the later made first at one time),
        ``limit`` a page, after ``starting_after``."""
        mine = [i for i in reversed(self.invoices.values()) if i["customer"] == params["customer"]]
        mine.sort(key=lambda invoice: invoice["created"], reverse=True)
        if "starting_after" in params:
            mine = mine[[i["id"] for i in mine].index(params["starting_after"]) + 1 :]
        limit = int(params.get("limit", 10))
        page = list_json("/v1/invoices", mine[:limit])
        return page | {"has_more": len(mine) > limit}

    def _expanded(self, found: dict[str, Any], paths: list[str] | None) -> dict[str, Any]:
        """``found`` with the ids each ``expand[]`` path names replaced by their objects."""
        copied = copy.deepcopy(found)
        for path in paths or []:
            _expand(copied, path.split("."), self._object)
        return copied

    def _object(self, object_id: str) -> dict[str, Any]:
        if object_id == self.customer["id"]:
            return copy.deepcopy(self.customer)
        return copy.deepcopy(self.payment_methods[object_id])

    def _payments(self, params: Mapping[str, Any]) -> dict[str, Any]:
        invoice_id = params["invoice"]
        intent_id = f"pi_{invoice_id}"
        if intent_id not in self.intents:
            return list_json("/v1/invoice_payments", [])
        intent: Any = intent_id
        if "data.payment.payment_intent" in (params.get("expand") or []):
            intent = self.intents[intent_id]
        row = invoice_payment_json(invoice_id, intent, status=self.invoices[invoice_id]["status"])
        return list_json("/v1/invoice_payments", [row])

    def _preview(self, params: Mapping[str, Any]) -> dict[str, Any]:
        details = params["subscription_details"]
        lines = self._lines(details["items"][0], int(details.get("proration_date", self.now)))
        self.previews.append(details)
        preview = invoice_json("upcoming_in_1", status="draft", lines=lines,
                               amount=max(sum(line["amount"] for line in lines), 0))  # fmt: skip
        return preview

    # ------------------------------------------------------------ schedules

    def _schedule_from_subscription(self) -> dict[str, Any]:
        """A schedule whose one phase copies the subscription as it is."""
        item = self.sub["items"]["data"][0]
        discounts = [
            {"coupon": c, "discount": None, "promotion_code": None} for c in self.sub["discounts"]
        ]
        phase = phase_json(
            item["quantity"],
            start=item["current_period_start"],
            end=item["current_period_end"],
            price=item["price"]["id"],
            discounts=discounts,
            tax_rates=self.tax_rates,
        )
        schedule = schedule_json([phase], schedule_id=f"sub_sched_{len(self.schedules) + 1}")
        self.schedules[schedule["id"]] = schedule
        self.sub["schedule"] = schedule["id"]
        return schedule

    def _rewrite(self, schedule_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Every phase replaced by those sent, dated from each other as Stripe does;
        returned with what Stripe adds back (an item's expanded plan)."""
        schedule = self.schedules[schedule_id]
        phases = []
        for sent in params.get("phases", []):
            phase = dict(sent)
            if "start_date" not in phase:
                phase["start_date"] = phases[-1]["end_date"]
            if "duration" in phase:
                phase["end_date"] = phase["start_date"] + LENGTHS[phase.pop("duration")["interval"]]
            for item in phase["items"]:
                item["plan"] = {"id": item["price"], "object": "plan"}
            phases.append(phase)
        schedule.update(phases=phases, end_behavior=params.get("end_behavior", "release"))
        return schedule


def _expand(node: Any, keys: list[str], lookup: Callable[[str], dict[str, Any]]) -> None:
    """Follow ``keys`` through ``node`` (through every element of a list, as
    ``data`` of a list object), replacing an id met on the way by its object."""
    if isinstance(node, list):
        for element in node:
            _expand(element, keys, lookup)
        return
    if not isinstance(node, dict) or not keys or keys[0] not in node:
        return
    value = node[keys[0]]
    if isinstance(value, str) and value:
        value = node[keys[0]] = lookup(value)
    _expand(value, keys[1:], lookup)


def two_phases(next_quantity: int, *, current: int = 5) -> dict[str, Any]:
    """A schedule with a decrease to ``next_quantity`` from the period's end."""
    return schedule_json(
        [
            phase_json(current),
            phase_json(next_quantity, start=PERIOD_END, end=PERIOD_END + 2_419_200),
        ]
    )
