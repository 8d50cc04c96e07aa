"""How a simulated payment provider behaves, whatever keeps its state.

The in-memory fake (``fake.py``) and the SQL-backed local provider (``local/``)
must behave alike, or a host that passes its tests on one would meet another
provider on its development server. So both run the rules written here:

- a subscription's periods, counted from one anchor (``SimSubscription``);
- the prorated amount due now for a change (``due_now``);
- what a charge attempt does: nothing due attempts no payment, a declined card
  raises ``PaymentFailed``, a payment that needs the customer raises
  ``PaymentActionRequired``, a paid one grants what it pays for, and the invoice
  each leaves (``charge``);
- what a renewal does as the clock passes a period end (``renew``);
- what each write of the port does to a subscription (``increase_seats``,
  ``schedule_decrease``, ``change_plan``, ``cancel``, ``resume``, ``quote``),
  what a paid checkout starts (``start_subscription``), what authenticating a
  waiting payment and settling an overdue one do;
- what a payment grants once paid, at once or when the customer authenticates
  (``Grant``), kept as data so a provider may store it and grant it later;
- the idempotency key and list limit checks, and what a write made again with
  its key answers (``replay``).

Each provider keeps its state its own way, behind the ``Ledger`` protocol:
the fake in dictionaries, the local provider in SQL rows.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

import attrs

from ..catalog import Interval
from ..errors import InvalidRequest, PaymentActionRequired, PaymentFailed, ProviderError
from ..money import Money
from ..provider_values import (
    CheckoutRequest,
    InvoiceStatus,
    PaymentMethod,
    ProviderStatus,
    ProviderSubscription,
    Quote,
    QuoteRequest,
)
from ..subscription import add_interval, elapsed_fraction

__all__ = [
    "NO_GRANT",
    "Grant",
    "GrantKind",
    "Ledger",
    "SimSubscription",
    "announce_start",
    "authenticated",
    "cancel",
    "change_plan",
    "charge",
    "check_key",
    "check_limit",
    "due_now",
    "fingerprint",
    "grant_to",
    "increase_seats",
    "quote",
    "renew",
    "replay",
    "resume",
    "schedule_decrease",
    "settle",
    "start_subscription",
]


@attrs.define
class SimSubscription:
    """A subscription as a simulated provider keeps it: periods from one anchor."""

    ref: str
    customer_ref: str
    workspace_id: str
    plan: str
    interval: Interval
    seats: int
    unit_amount: Money
    anchor: datetime
    period_index: int = 0
    pending_seats: int | None = None
    status: ProviderStatus = ProviderStatus.ACTIVE
    cancel_at_period_end: bool = False
    action_url: str | None = None
    cards: Mapping[str, PaymentMethod] = attrs.field(factory=dict, eq=False, repr=False)
    """The provider's cards on file by customer (read live: a card changed later shows)."""

    @property
    def period_start(self) -> datetime:
        return add_interval(self.anchor, self.interval, self.period_index)

    @property
    def period_end(self) -> datetime:
        return add_interval(self.anchor, self.interval, self.period_index + 1)

    def view(self) -> ProviderSubscription:
        return ProviderSubscription(
            ref=self.ref,
            customer_ref=self.customer_ref,
            workspace_id=self.workspace_id,
            plan=self.plan,
            interval=self.interval,
            seats=self.seats,
            status=self.status,
            period_start=self.period_start,
            period_end=self.period_end,
            unit_amount=self.unit_amount,
            pending_seats=self.pending_seats,
            cancel_at_period_end=self.cancel_at_period_end,
            action_url=self.action_url,
            payment_method=self.cards.get(self.customer_ref),
        )


class GrantKind(enum.StrEnum):
    NOTHING = "nothing"
    SEATS = "seats"
    """The quantity in force, a scheduled decrease withdrawn."""
    PLAN = "plan"
    """Another plan, interval, quantity and price (a new interval starts a period)."""
    RECOVERY = "recovery"
    """An overdue renewal paid: the subscription is active again."""


@attrs.frozen
class Grant:
    """What a payment pays for: applied when it is paid, at once or once the
    customer authenticates it (maybe in another process, after a restart)."""

    kind: GrantKind = GrantKind.NOTHING
    seats: int | None = None
    plan: str | None = None
    interval: Interval | None = None
    unit_amount: Money | None = None


NO_GRANT = Grant()


def grant_to(sub: SimSubscription, grant: Grant, now: datetime) -> bool:
    """Apply ``grant`` to ``sub``; True when the change is to be announced."""
    if grant.kind is GrantKind.SEATS:
        assert grant.seats is not None
        sub.seats, sub.pending_seats = grant.seats, None
        return True
    if grant.kind is GrantKind.PLAN:
        plan, interval, seats, unit = grant.plan, grant.interval, grant.seats, grant.unit_amount
        assert plan is not None
        assert interval is not None
        assert seats is not None
        assert unit is not None
        if interval is not sub.interval:
            sub.anchor, sub.period_index = now, 0
        sub.plan, sub.interval, sub.seats, sub.unit_amount = plan, interval, seats, unit
        sub.pending_seats = None
        return True
    if grant.kind is GrantKind.RECOVERY and (
        sub.status is not ProviderStatus.ACTIVE or sub.action_url is not None
    ):
        sub.status, sub.action_url = ProviderStatus.ACTIVE, None
        return True
    return False


class Ledger(Protocol):
    """Where a simulated provider keeps what charges and renewals leave behind."""

    def now(self) -> datetime: ...

    def take_decline(self, customer: str) -> bool:
        """Whether the card ``customer`` pays with is declined: a queued decline
        (``fail_next_payment``) is spent, or the card always declines."""
        ...

    def take_action(self, customer: str) -> bool:
        """Whether an off-session charge on ``customer``'s card needs them: a queued
        request (``require_action_next_payment``) is spent, or the card always asks."""
        ...

    def attempted(self, ref: str, amount: Money, paid: bool, reason: str) -> None:
        """Note a charge attempt (the fake lists them for tests)."""
        ...

    def add_bill(
        self,
        ref: str,
        total: Money,
        reason: str,
        status: InvoiceStatus,
        period: tuple[datetime, datetime],
        customer: str,
        created_at: datetime,
    ) -> str:
        """Add an invoice to the customer's history; returns its id."""
        ...

    def pay_bills(self, bill_ids: Sequence[str]) -> None:
        """Mark open invoices paid (a settlement pays the renewal it was for)."""
        ...

    def hold(self, bill_id: str, ref: str, grant: Grant, key: str | None) -> str:
        """Keep a payment waiting for the customer: what authenticating it will
        grant, and the idempotency key whose answer it becomes; returns the page."""
        ...

    def granted(self, sub: SimSubscription) -> None:
        """``sub`` changed through a paid grant: announce it (and keep it)."""
        ...

    def announce(self, kind: str, sub: SimSubscription, **extra: str) -> None:
        """Queue a webhook of ``kind`` about ``sub`` (``extra``: more references)."""
        ...


def due_now(sub: SimSubscription, request: QuoteRequest, now: datetime) -> Money:
    """Prorated difference for the rest of the period, never negative.

    A change of interval starts a new period now: the full new price less
    the unused part of the old one.
    """
    new_total = request.unit_amount * request.seats
    old_total = sub.unit_amount * sub.seats
    remaining, whole = elapsed_fraction(sub.period_start, sub.period_end, now)
    if request.interval is not sub.interval:
        due = new_total - old_total.prorate(remaining, whole)
    else:
        due = (new_total - old_total).prorate(remaining, whole)
    return due if due.amount > 0 else Money.zero(due.currency)


def charge(
    ledger: Ledger,
    ref: str,
    amount: Money,
    reason: str,
    *,
    customer: str,
    period: tuple[datetime, datetime],
    sub: SimSubscription | None = None,
    grant: Grant = NO_GRANT,
    on_session: bool = False,
    key: str | None = None,
    pays: Sequence[str] = (),
) -> None:
    """Collect ``amount`` for ``reason``, then ``grant`` what it pays for to ``sub``.

    Nothing due attempts no payment (as Stripe on a zero or credit invoice): a
    queued failure or authentication is kept for a real charge. A declined card
    raises ``PaymentFailed`` and grants nothing: an off-session change leaves a
    void invoice (it was given up), a renewal an open one (retried), a payment
    on the provider's own page none (the customer is still there). An
    off-session charge that needs the customer raises ``PaymentActionRequired``
    with the page where they confirm it, leaves an open invoice, and grants only
    once they have. A paid charge adds a paid invoice for ``period`` of
    ``customer``, or marks paid the open invoices it ``pays``. A renewal's
    invoice is dated at the boundary it renews at, as a provider invoices then,
    even when the clock jumped past it.
    """
    now = ledger.now()
    created = period[0] if reason == "renewal" else now
    if amount.amount <= 0:
        ledger.attempted(ref, Money.zero(amount.currency), True, reason)
    elif ledger.take_decline(customer):
        ledger.attempted(ref, amount, False, reason)
        if not on_session:  # a change is given up; a renewal stays open, retried
            status = InvoiceStatus.OPEN if reason == "renewal" else InvoiceStatus.VOID
            ledger.add_bill(ref, amount, reason, status, period, customer, created)
        raise PaymentFailed(f"the card was declined ({amount} for {reason})")
    elif not on_session and ledger.take_action(customer):
        ledger.attempted(ref, amount, False, reason)
        bill = ledger.add_bill(ref, amount, reason, InvoiceStatus.OPEN, period, customer, created)
        url = ledger.hold(bill, ref, grant, key)
        raise PaymentActionRequired(
            f"the bank asks the customer to authenticate {amount} for {reason}", url=url
        )
    else:
        ledger.attempted(ref, amount, True, reason)
        if pays:
            ledger.pay_bills(pays)
        else:
            ledger.add_bill(ref, amount, reason, InvoiceStatus.PAID, period, customer, created)
    if sub is not None and grant_to(sub, grant, now):
        ledger.granted(sub)


def renew(ledger: Ledger, sub: SimSubscription) -> None:
    """Take ``sub`` through every period end the clock has passed, as a provider would.

    A cancellation at period end ends it there. Otherwise the scheduled
    decrease applies, the next period starts and is charged: a declined renewal
    makes it past due, one that needs the customer past due with the page to
    send them to (paying it makes it active again).
    """
    now = ledger.now()
    while sub.status is ProviderStatus.ACTIVE and sub.period_end <= now:
        if sub.cancel_at_period_end:
            sub.status = ProviderStatus.CANCELED
            ledger.announce("subscription.deleted", sub)
            return
        if sub.pending_seats is not None:
            sub.seats, sub.pending_seats = sub.pending_seats, None
        sub.period_index += 1
        try:
            charge(ledger, sub.ref, sub.unit_amount * sub.seats, "renewal",
                   customer=sub.customer_ref, period=(sub.period_start, sub.period_end),
                   sub=sub, grant=Grant(GrantKind.RECOVERY))  # fmt: skip
        except PaymentFailed:
            sub.status = ProviderStatus.PAST_DUE
            ledger.announce("invoice.payment_failed", sub)
        except PaymentActionRequired as waiting:
            sub.status, sub.action_url = ProviderStatus.PAST_DUE, waiting.url
            ledger.announce("invoice.payment_action_required", sub)
        else:
            ledger.announce("invoice.paid", sub)
        ledger.announce("subscription.updated", sub)


# ------------------------------------------------------------------ the port's writes
#
# Each changes ``sub`` in place and announces it; the provider keeps the result.


def quote(sub: SimSubscription | None, request: QuoteRequest, now: datetime) -> Quote:
    """A new subscription pays its first period whole; a change the prorated rest."""
    recurring = request.unit_amount * request.seats
    if sub is None:
        return Quote(due_now=recurring, recurring=recurring)
    return Quote(due_now=due_now(sub, request, now), recurring=recurring)


def increase_seats(ledger: Ledger, sub: SimSubscription, seats: int, *, key: str | None) -> None:
    """Charge the prorated rest of the period now, off session; the seats once paid."""
    if seats <= sub.seats:
        raise ProviderError(f"an increase needs more than {sub.seats} seats, not {seats}")
    request = QuoteRequest(sub.plan, sub.interval, seats, sub.unit_amount, sub.ref)
    now = ledger.now()
    charge(ledger, sub.ref, due_now(sub, request, now), "seat_increase",
           customer=sub.customer_ref, period=(now, sub.period_end), sub=sub,
           grant=Grant(GrantKind.SEATS, seats=seats), key=key)  # fmt: skip


def schedule_decrease(ledger: Ledger, sub: SimSubscription, seats: int) -> None:
    """Fewer seats from the renewal on; the seats in force withdraw a decrease."""
    if not 1 <= seats <= sub.seats:
        raise ProviderError(f"a decrease needs 1 to {sub.seats} seats, not {seats}")
    sub.pending_seats = None if seats == sub.seats else seats
    ledger.announce("subscription.updated", sub)


def change_plan(
    ledger: Ledger,
    sub: SimSubscription,
    *,
    plan: str,
    interval: Interval,
    seats: int,
    unit_amount: Money,
    key: str | None,
) -> None:
    """Another plan now, the prorated difference charged off session; a new
    interval starts a new period."""
    request = QuoteRequest(plan, interval, seats, unit_amount, sub.ref)
    grant = Grant(GrantKind.PLAN, seats, plan, interval, unit_amount)
    now = ledger.now()
    end = sub.period_end if interval is sub.interval else add_interval(now, interval, 1)
    charge(ledger, sub.ref, due_now(sub, request, now), "plan_change",
           customer=sub.customer_ref, period=(now, end), sub=sub, grant=grant,
           key=key)  # fmt: skip


def cancel(ledger: Ledger, sub: SimSubscription, *, at_period_end: bool) -> None:
    """At the period end (a flag), or now; a canceled subscription stays so."""
    if sub.status is ProviderStatus.CANCELED:
        return
    if at_period_end:
        sub.cancel_at_period_end = True
        ledger.announce("subscription.updated", sub)
    else:
        sub.status = ProviderStatus.CANCELED
        ledger.announce("subscription.deleted", sub)


def resume(ledger: Ledger, sub: SimSubscription) -> None:
    """Withdraw a cancellation at period end."""
    sub.cancel_at_period_end = False
    ledger.announce("subscription.updated", sub)


def start_subscription(
    ledger: Ledger, ref: str, request: CheckoutRequest, *, cards: Mapping[str, PaymentMethod]
) -> SimSubscription:
    """Charge a checkout's first period, on the payment page; the subscription
    it starts (not announced yet: ``announce_start`` once it is kept)."""
    now = ledger.now()
    period = (now, add_interval(now, request.interval, 1))
    charge(ledger, ref, request.unit_amount * request.seats, "checkout", on_session=True,
           period=period, customer=request.customer_ref)  # fmt: skip
    return SimSubscription(
        ref=ref,
        customer_ref=request.customer_ref,
        workspace_id=request.workspace_id,
        plan=request.plan,
        interval=request.interval,
        seats=request.seats,
        unit_amount=request.unit_amount,
        anchor=now,
        cards=cards,
    )


def announce_start(ledger: Ledger, sub: SimSubscription, checkout_id: str) -> None:
    ledger.announce("checkout.completed", sub, checkout=checkout_id)
    ledger.announce("subscription.created", sub)
    ledger.announce("invoice.paid", sub)


def authenticated(ledger: Ledger, sub: SimSubscription, grant: Grant) -> None:
    """The customer confirmed a waiting payment (its invoice is paid): grant what it paid for."""
    if grant_to(sub, grant, ledger.now()):
        ledger.granted(sub)
    ledger.announce("invoice.paid", sub)


def settle(ledger: Ledger, sub: SimSubscription, overdue: Sequence[str]) -> None:
    """Pay an overdue renewal (the open invoices ``overdue``) on session: active again."""
    if sub.status is not ProviderStatus.PAST_DUE:
        raise ProviderError(f"subscription {sub.ref!r} is not past due")
    charge(ledger, sub.ref, sub.unit_amount * sub.seats, "settlement", on_session=True,
           customer=sub.customer_ref, period=(sub.period_start, sub.period_end),
           pays=overdue)  # fmt: skip
    sub.action_url = None
    sub.status = ProviderStatus.ACTIVE
    ledger.announce("invoice.paid", sub)
    ledger.announce("subscription.updated", sub)


# ------------------------------------------------------------------ checks


def check_key(key: str) -> None:
    """Idempotency keys are 1 to 255 characters, as Stripe's."""
    if not key or len(key) > 255:
        raise ProviderError("an idempotency key of 1 to 255 characters is required")


def fingerprint(params: object) -> str:
    """What a write was asked, to refuse its key reused with other parameters."""
    return hashlib.sha256(repr(params).encode()).hexdigest()


def replay(key: str, asked: str, seen: str, answer: object) -> object:
    """What a write made again with ``key`` answers: the first call's ``answer``.

    Refused when the key was first used with other parameters (``seen`` is
    that call's ``fingerprint``, ``asked`` this one's); a payment still waiting
    for the customer raises its ``PaymentActionRequired`` again (the same page).
    A declined payment is never kept, so the same change can be retried.
    """
    if seen != asked:
        raise ProviderError(f"idempotency key {key!r} was used with other parameters")
    if isinstance(answer, PaymentActionRequired):
        raise answer
    return answer


def check_limit(limit: int) -> None:
    """The invoice history's ``limit``: a whole number of at least 1."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidRequest(
            f"limit must be a whole number of at least 1, not {limit!r}", code="invalid_number"
        )
