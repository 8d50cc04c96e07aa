"""Negotiated plans (R7): asking sales, and an operator applying the terms.

A plan sold through sales is never bought through the provider: the request
is an outbox event for the host's sales team, and the terms an operator
applies are renewed on the library's own schedule.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from ..catalog import Catalog, Interval, Plan
from ..errors import InvalidRequest
from ..events import Event, EventType
from ..money import Money
from ..overview import SubscriptionOverview
from ..permissions import require_manager
from ..renewal import Change, deactivate_excess, summary
from ..subscription import Subscription, SubscriptionStatus, add_interval
from ..workspace import Member, Workspace, active_count
from .base import ServiceBase
from .checks import MAX_MESSAGE, check_seats, get_workspace, identifier, intent_key, text

MAX_UNIT_AMOUNT = 10**12
"""A negotiated price per seat: ten billion in major units, so that the total of
the most seats a plan allows still fits every store's 64-bit integers."""


class SalesActions(ServiceBase):
    def contact_sales(
        self, workspace_id: str, *, actor: str, message: str, plan: str | None = None
    ) -> Event:
        """Ask sales for a negotiated plan (R7); recorded as an event for the host."""
        ws, members = self._read(workspace_id)
        require_manager(ws.id, members, actor)
        message = text("message", message, MAX_MESSAGE)
        wanted = self.catalog.plan(plan) if plan is not None else sales_plan(self.catalog)
        request = sales_request(
            ws, members, actor=actor, plan=wanted, message=message, now=self._clock.now()
        )
        with self._store.unit_of_work() as uow:
            get_workspace(uow, ws.id, for_update=True)  # the outbox keeps the lock's order
            (event,) = uow.append_events([request])
            return event

    def apply_custom_terms(
        self,
        workspace_id: str,
        *,
        operator: str,
        seats: int,
        unit_amount: Money,
        interval: str | Interval,
        plan: str | None = None,
    ) -> SubscriptionOverview:
        """Put a workspace on negotiated terms (R7): an operator's action, not an admin's.

        The host calls it from its back office once the contract is signed; the
        plan is invoiced outside the provider and renews on the library's
        schedule. A self-serve subscription in force is canceled at once.
        """
        operator = identifier("operator", operator)
        target = self.catalog.plan(plan) if plan is not None else sales_plan(self.catalog)
        period = Interval.parse(interval)
        if not isinstance(unit_amount, Money) or not 0 <= unit_amount.amount <= MAX_UNIT_AMOUNT:
            raise InvalidRequest(
                f"unit_amount must be a Money amount from 0 to {MAX_UNIT_AMOUNT} minor units",
                code="price_out_of_range",
            )
        if unit_amount.currency != self.catalog.currency:
            raise InvalidRequest(
                f"the catalog sells in {self.catalog.currency}", code="currency_mismatch"
            )
        ws, members = self._read(workspace_id)
        check_seats(self.catalog, target, seats, members, floor=False)
        sub = ws.subscription
        if sub.is_provider_managed and sub.subscription_ref is not None:
            self._provider.cancel(
                sub.subscription_ref,
                at_period_end=False,
                idempotency_key=intent_key(ws, "cancel-now"),
            )
        now = self._clock.now()
        terms = Terms(target, seats, period, unit_amount)
        return self._change(
            ws.id, lambda ws, members: negotiated(ws, members, terms, operator=operator, now=now)
        )


# ----------------------------------------------------------------- decisions


@attrs.frozen
class Terms:
    """What a signed contract sets: the plan, seats, interval and price per seat."""

    plan: Plan
    seats: int
    interval: Interval
    unit_amount: Money


def sales_plan(catalog: Catalog) -> Plan:
    """The plan a request to sales is about when the host names none."""
    for plan in catalog.plans:
        if not plan.self_serve:
            return plan
    raise InvalidRequest("the catalog has no plan sold through sales", code="no_sales_plan")


def sales_request(
    ws: Workspace, members: list[Member], *, actor: str, plan: Plan, message: str, now: datetime
) -> Event:
    return Event(
        type=EventType.SALES_CONTACTED,
        workspace_id=ws.id,
        at=now,
        actor=actor,
        before=summary(ws.subscription),
        data={"plan": plan.code, "message": message, "seats_used": active_count(members)},
    )


def negotiated(
    ws: Workspace, members: list[Member], terms: Terms, *, operator: str, now: datetime
) -> Change:
    """The terms in force from ``now`` for one period; R11 if they hold fewer seats."""
    after = Subscription(
        plan=terms.plan.code,
        status=SubscriptionStatus.ACTIVE,
        seats=terms.seats,
        interval=terms.interval,
        period_start=now,
        period_end=add_interval(now, terms.interval),
        anchor=now,
        unit_amount=terms.unit_amount,
        customer_ref=ws.subscription.customer_ref,
    )
    new = attrs.evolve(ws, subscription=after)
    applied = Event(
        type=EventType.CUSTOM_TERMS_APPLIED,
        workspace_id=ws.id,
        at=now,
        actor=operator,
        before=summary(ws.subscription),
        after=summary(after),
        data={"unit_amount": terms.unit_amount.amount, "currency": terms.unit_amount.currency},
    )
    changed, deactivated = deactivate_excess(new, members, terms.seats, now, "plan_changed")
    return Change(new, changed, (applied, *deactivated))
