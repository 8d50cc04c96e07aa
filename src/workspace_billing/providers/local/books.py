"""One transaction on the local provider's tables: its rows read and written.

``Books`` is the ``Ledger`` the shared charge and renewal rules
(``providers/simulated.py``) write through, so the local provider charges,
invoices and renews exactly as the in-memory fake does; and it loads and saves
the provider's subscriptions, customers, waiting payments and idempotent
answers. Every write of the provider runs in one ``Books`` after the levers'
row is locked (``FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` has
already taken the database's write lock), so writers in several processes
take turns.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ...catalog import Interval
from ...errors import NotFound, ProviderError
from ...money import Money
from ...ports import Clock
from ...provider_values import (
    CheckoutRequest,
    Invoice,
    InvoiceStatus,
    PaymentMethod,
    ProviderStatus,
)
from ..simulated import Grant, SimSubscription, renew
from ..simulated_webhooks import webhook_body
from . import schema as t
from .answers import grant_json
from .cards import CardBehaviour, TestCard
from .delivery import PendingWebhook

__all__ = ["Books", "new_id"]


def new_id(prefix: str) -> str:
    """A reference no other process makes: ``cus_`` and 24 hex digits."""
    return f"{prefix}_{secrets.token_hex(12)}"


class Books:
    """The provider's rows within one transaction on ``conn``."""

    def __init__(self, conn: Connection, clock: Clock, base_url: str) -> None:
        self.conn = conn
        self._clock = clock
        self.base_url = base_url
        self.paying_with: TestCard | None = None
        """The card typed on the payment page, for a charge made there."""
        self.return_url: str | None = None
        """Where a payment that waits for the customer sends them back once done."""

    def lock(self) -> None:
        """Take the provider's write lock (PostgreSQL; SQLite took it at BEGIN)."""
        query = sa.select(t.state.c.id).where(t.state.c.id == 1)
        if self.conn.dialect.name == "postgresql":
            query = query.with_for_update()
        if self.conn.execute(query).first() is None:
            raise ProviderError("the local provider's tables are missing: call create_schema()")

    # ------------------------------------------------------------ the Ledger

    def now(self) -> datetime:
        return self._clock.now()

    def take_decline(self, customer: str) -> bool:
        if self._behaviour(customer) in (CardBehaviour.DECLINED, CardBehaviour.DECLINES_LATER):
            return True
        return self._spend("declines")

    def take_action(self, customer: str) -> bool:
        if self._behaviour(customer) is CardBehaviour.ALWAYS_AUTHENTICATE:
            return True
        return self._spend("actions")

    def attempted(self, ref: str, amount: Money, paid: bool, reason: str) -> None:
        """The invoices say it all here."""

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
        count = self.conn.execute(sa.select(sa.func.count()).select_from(t.invoices)).scalar_one()
        bill = new_id("in")
        self.conn.execute(
            t.invoices.insert().values(
                id=bill,
                number=f"LOCAL-{count + 1:04d}",
                customer_ref=customer,
                subscription_ref=ref,
                reason=reason,
                total=total.amount,
                currency=total.currency,
                status=status.value,
                created_at=created_at,
                period_start=period[0],
                period_end=period[1],
            )
        )
        return bill

    def pay_bills(self, bill_ids: Sequence[str]) -> None:
        self.conn.execute(
            t.invoices.update()
            .where(t.invoices.c.id.in_(list(bill_ids)))
            .values(status=InvoiceStatus.PAID.value)
        )

    def hold(self, bill_id: str, ref: str, grant: Grant, key: str | None) -> str:
        action = new_id("pi")
        self.conn.execute(
            t.actions.insert().values(
                id=action,
                invoice_id=bill_id,
                subscription_ref=ref,
                grant=grant_json(grant),
                idempotency_key=key,
                return_url=self.return_url,
                created_at=self.now(),
            )
        )
        return self.action_url(action)

    def granted(self, sub: SimSubscription) -> None:
        self.save(sub)
        self.announce("subscription.updated", sub)

    def announce(self, kind: str, sub: SimSubscription, **extra: str) -> None:
        self.queue_webhook(kind, sub.ref, sub.workspace_id, **extra)

    # ------------------------------------------------------------ rows

    def queue_webhook(
        self, kind: str, subscription_ref: str | None, workspace_id: str, **extra: str
    ) -> None:
        event_id, now = new_id("evt"), self.now()
        body = webhook_body(event_id, kind, subscription_ref, workspace_id, now, **extra)
        self.conn.execute(
            t.webhooks.insert().values(
                event_id=event_id, kind=kind, body=body, created_at=now, attempts=0
            )
        )

    def next_webhook(self) -> tuple[int, bytes] | None:
        c = t.webhooks.c
        query = sa.select(c.seq, c.body).where(c.delivered_at.is_(None)).order_by(c.seq).limit(1)
        row = self.conn.execute(query).first()
        return None if row is None else (row.seq, bytes(row.body))

    def attempted_delivery(self, seq: int, error: str | None) -> PendingWebhook | None:
        """Record a delivery attempt; the webhook still pending when it failed."""
        c, now = t.webhooks.c, self.now()
        values: dict[str, Any] = {"attempts": c.attempts + 1, "last_attempt_at": now}
        values.update(last_error=error) if error else values.update(delivered_at=now)
        self.conn.execute(t.webhooks.update().where(c.seq == seq).values(values))
        if error is None:
            return None
        row = self.conn.execute(sa.select(t.webhooks).where(c.seq == seq)).one()
        return _pending(row)

    def pending_webhooks(self) -> list[PendingWebhook]:
        c = t.webhooks.c
        query = sa.select(t.webhooks).where(c.delivered_at.is_(None)).order_by(c.seq)
        return [_pending(row) for row in self.conn.execute(query)]

    def take_webhooks(self) -> list[bytes]:
        c = t.webhooks.c
        query = sa.select(c.body).where(c.delivered_at.is_(None)).order_by(c.seq)
        taken = [bytes(body) for body in self.conn.execute(query).scalars()]
        self.conn.execute(
            t.webhooks.update().where(c.delivered_at.is_(None)).values(delivered_at=self.now())
        )
        return taken

    def action_url(self, action_id: str) -> str:
        return f"{self.base_url}/authenticate/{action_id}"

    def catch_up(self) -> None:
        """Renew every subscription whose period ended by now (see ``simulated.renew``)."""
        c = t.subscriptions.c
        due = sa.select(c.ref).where(
            c.status == ProviderStatus.ACTIVE.value, c.period_end <= self.now()
        )
        for ref in self.conn.execute(due.order_by(c.seq)).scalars().all():
            sub = self.subscription(ref)
            renew(self, sub)
            self.save(sub)

    def customer(self, ref: str) -> Row[Any]:
        row = self.conn.execute(sa.select(t.customers).where(t.customers.c.ref == ref)).first()
        if row is None:
            raise NotFound(f"no customer {ref!r}")
        return row

    def card(self, customer: str) -> PaymentMethod | None:
        row = self.customer(customer)
        if row.card_last4 is None:
            return None
        return PaymentMethod(row.card_brand, row.card_last4, row.card_exp_month, row.card_exp_year)

    def keep_card(self, customer: str, card: TestCard) -> None:
        """Put ``card`` on file for ``customer``: it pays their subscriptions from now on."""
        m = card.method
        self.conn.execute(
            t.customers.update()
            .where(t.customers.c.ref == customer)
            .values(
                card_brand=m.brand,
                card_last4=m.last4,
                card_exp_month=m.exp_month,
                card_exp_year=m.exp_year,
                card_behaviour=card.behaviour.value,
            )
        )

    def subscription(self, ref: str) -> SimSubscription:
        c = t.subscriptions.c
        row = self.conn.execute(sa.select(t.subscriptions).where(c.ref == ref)).first()
        if row is None:
            raise NotFound(f"no subscription {ref!r}")
        card = self.card(row.customer_ref)
        return SimSubscription(
            ref=row.ref,
            customer_ref=row.customer_ref,
            workspace_id=row.workspace_id,
            plan=row.plan,
            interval=Interval(row.interval),
            seats=row.seats,
            unit_amount=Money(row.unit_amount, row.currency),
            anchor=row.anchor,
            period_index=row.period_index,
            pending_seats=row.pending_seats,
            status=ProviderStatus(row.status),
            cancel_at_period_end=row.cancel_at_period_end,
            action_url=row.action_url,
            cards={row.customer_ref: card} if card is not None else {},
        )

    def live(self, ref: str) -> SimSubscription:
        sub = self.subscription(ref)
        if sub.status is ProviderStatus.CANCELED:
            raise ProviderError(f"subscription {ref!r} is canceled")
        return sub

    def subscriptions_of(self, customer: str) -> list[SimSubscription]:
        """The customer's subscriptions, newest first."""
        c = t.subscriptions.c
        query = sa.select(c.ref).where(c.customer_ref == customer).order_by(c.seq.desc())
        return [self.subscription(ref) for ref in self.conn.execute(query).scalars().all()]

    def insert(self, sub: SimSubscription) -> None:
        self.conn.execute(
            t.subscriptions.insert().values(
                ref=sub.ref,
                customer_ref=sub.customer_ref,
                workspace_id=sub.workspace_id,
                **_mutable(sub),
            )
        )

    def save(self, sub: SimSubscription) -> None:
        c = t.subscriptions.c
        self.conn.execute(t.subscriptions.update().where(c.ref == sub.ref).values(**_mutable(sub)))

    def add_customer(self, workspace_id: str, name: str, owner: str, email: str | None) -> str:
        ref = new_id("cus")
        self.conn.execute(
            t.customers.insert().values(
                ref=ref,
                workspace_id=workspace_id,
                name=name,
                owner=owner,
                email=email,
                created_at=self.now(),
            )
        )
        return ref

    def add_checkout(self, request: CheckoutRequest) -> str:
        self.customer(request.customer_ref)
        checkout = new_id("cs")
        self.conn.execute(
            t.checkouts.insert().values(
                id=checkout,
                customer_ref=request.customer_ref,
                workspace_id=request.workspace_id,
                plan=request.plan,
                interval=request.interval.value,
                seats=request.seats,
                unit_amount=request.unit_amount.amount,
                currency=request.unit_amount.currency,
                success_url=request.success_url,
                cancel_url=request.cancel_url,
                allow_promotion_codes=request.allow_promotion_codes,
                automatic_tax=request.automatic_tax,
                created_at=self.now(),
            )
        )
        return checkout

    def checkout(self, checkout_id: str) -> tuple[CheckoutRequest, Row[Any]]:
        """The checkout's request and its row (``subscription_ref`` once paid)."""
        query = sa.select(t.checkouts).where(t.checkouts.c.id == checkout_id)
        row = self.conn.execute(query).first()
        if row is None:
            raise NotFound(f"no checkout {checkout_id!r}")
        request = CheckoutRequest(
            workspace_id=row.workspace_id,
            customer_ref=row.customer_ref,
            plan=row.plan,
            interval=Interval(row.interval),
            seats=row.seats,
            unit_amount=Money(row.unit_amount, row.currency),
            success_url=row.success_url,
            cancel_url=row.cancel_url,
            allow_promotion_codes=row.allow_promotion_codes,
            automatic_tax=row.automatic_tax,
        )
        return request, row

    def update_checkout(self, checkout_id: str, **values: str | None) -> None:
        c = t.checkouts.c
        self.conn.execute(t.checkouts.update().where(c.id == checkout_id).values(**values))

    def add_portal_session(self, customer: str, return_url: str) -> str:
        self.customer(customer)
        session = new_id("bps")
        self.conn.execute(
            t.portal_sessions.insert().values(
                id=session, customer_ref=customer, return_url=return_url, created_at=self.now()
            )
        )
        return session

    def portal_session(self, session_id: str) -> Row[Any]:
        query = sa.select(t.portal_sessions).where(t.portal_sessions.c.id == session_id)
        row = self.conn.execute(query).first()
        if row is None:
            raise NotFound(f"no billing portal session {session_id!r}")
        return row

    def action(self, action_id: str) -> Row[Any]:
        """A payment waiting for the customer (``done_at`` once they confirmed it)."""
        row = self.conn.execute(sa.select(t.actions).where(t.actions.c.id == action_id)).first()
        if row is None:
            raise NotFound(f"no payment waiting for authentication {action_id!r}")
        return row

    def finish_action(self, action_id: str) -> None:
        c = t.actions.c
        self.conn.execute(t.actions.update().where(c.id == action_id).values(done_at=self.now()))

    def action_waiting_for(self, invoice_id: str) -> str | None:
        """The payment of ``invoice_id`` that waits for the customer, if one does."""
        c = t.actions.c
        query = sa.select(c.id).where(c.invoice_id == invoice_id, c.done_at.is_(None))
        return self.conn.execute(query).scalar()

    def open_renewals(self, ref: str) -> list[str]:
        """The subscription's renewal invoices still open (declined, retried)."""
        c = t.invoices.c
        query = sa.select(c.id).where(
            c.subscription_ref == ref, c.reason == "renewal", c.status == InvoiceStatus.OPEN.value
        )
        return list(self.conn.execute(query).scalars())

    def invoices_of(self, customer: str, limit: int) -> list[Invoice]:
        """The customer's invoices, newest first (the later made first on a tie)."""
        self.customer(customer)
        c = t.invoices.c
        query = (
            sa.select(t.invoices)
            .where(c.customer_ref == customer)
            .order_by(c.created_at.desc(), c.seq.desc())
            .limit(limit)
        )
        return [self._invoice(row) for row in self.conn.execute(query)]

    def invoice(self, invoice_id: str) -> tuple[Invoice, Row[Any]]:
        row = self.conn.execute(sa.select(t.invoices).where(t.invoices.c.id == invoice_id)).first()
        if row is None:
            raise NotFound(f"no invoice {invoice_id!r}")
        return self._invoice(row), row

    def _invoice(self, row: Row[Any]) -> Invoice:
        return Invoice(
            id=row.id,
            number=row.number,
            status=InvoiceStatus(row.status),
            total=Money(row.total, row.currency),
            created_at=row.created_at,
            period_start=row.period_start,
            period_end=row.period_end,
            pdf_url=None,
            hosted_url=f"{self.base_url}/invoices/{row.id}",
        )

    # ------------------------------------------------------------ levers

    def add_lever(self, column: str, count: int) -> None:
        values = {column: t.state.c[column] + count}
        self.conn.execute(t.state.update().where(t.state.c.id == 1).values(values))

    def _spend(self, column: str) -> bool:
        left = self.conn.execute(sa.select(t.state.c[column]).where(t.state.c.id == 1)).scalar()
        if not left:
            return False
        self.add_lever(column, -1)
        return True

    def _behaviour(self, customer: str) -> CardBehaviour | None:
        if self.paying_with is not None:
            return self.paying_with.behaviour
        query = sa.select(t.customers.c.card_behaviour).where(t.customers.c.ref == customer)
        found = self.conn.execute(query).scalar()
        return CardBehaviour(found) if found else None

    # ------------------------------------------------------------ idempotency

    def remembered(self, key: str) -> tuple[str, str] | None:
        """The fingerprint and encoded answer of a write made with ``key``, if any."""
        c = t.idempotency.c
        row = self.conn.execute(sa.select(c.fingerprint, c.result).where(c.key == key)).first()
        return None if row is None else (row.fingerprint, row.result)

    def remember(self, key: str, fingerprint: str, result: str) -> None:
        c = t.idempotency.c
        done = self.conn.execute(
            t.idempotency.update()
            .where(c.key == key)
            .values(fingerprint=fingerprint, result=result)
        )
        if not done.rowcount:
            self.conn.execute(
                t.idempotency.insert().values(
                    key=key, fingerprint=fingerprint, result=result, created_at=self.now()
                )
            )


def _pending(row: Row[Any]) -> PendingWebhook:
    return PendingWebhook(row.event_id, row.kind, row.created_at, row.attempts, row.last_error)


def _mutable(sub: SimSubscription) -> dict[str, Any]:
    return {
        "plan": sub.plan,
        "interval": sub.interval.value,
        "seats": sub.seats,
        "unit_amount": sub.unit_amount.amount,
        "currency": sub.unit_amount.currency,
        "anchor": sub.anchor,
        "period_index": sub.period_index,
        "period_end": sub.period_end,
        "pending_seats": sub.pending_seats,
        "status": sub.status.value,
        "cancel_at_period_end": sub.cancel_at_period_end,
        "action_url": sub.action_url,
    }
