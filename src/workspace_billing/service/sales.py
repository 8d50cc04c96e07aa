"""What sales and operators do: negotiated plans (R7) and trial extensions.

A plan sold through sales is never bought through the provider: the request
is an outbox event for the host's sales team, and the terms an operator
applies are renewed on the library's own schedule. An operator may also give
a prospect more time on the trial. Operators act from the host's back office:
they are named, but are not the workspace's owner or admins.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
from .checks import MAX_MESSAGE, check_seats, get_workspace, identifier, intent_key, iso, text

MAX_UNIT_AMOUNT = 10**12
"""A negotiated price per seat: ten billion in major units, so that the total of
the most seats a plan allows still fits every store's 64-bit integers."""
MAX_TRIAL_EXTENSION = timedelta(days=365)
"""How far from now an operator may move a trial's end: a typo (2062 for 2026)
is refused rather than giving decades for free."""


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

    def extend_trial(
        self, workspace_id: str, *, operator: str, until: datetime
    ) -> SubscriptionOverview:
        """Move the trial's end later, to ``until``: an operator's action, not an admin's.

        The host calls it from its back office (a prospect needs more time);
        ``until`` is an aware datetime after the current trial end and at most a
        year from now. The trial's features and member cap stay; the boundary
        (and its advance notice) moves with it. ``trial_extended`` records the
        end before and after, by ``operator``. ``InvalidRequest``, nothing
        changed: ``trial_not_extendable`` when the workspace is not on a running
        trial, ``trial_end_out_of_range`` for an ``until`` not later or too far.
        """
        operator = identifier("operator", operator)
        until = aware("until", until)
        now = self._clock.now()
        return self._change(
            workspace_id,
            lambda ws, _: extended_trial(ws, until=until, operator=operator, now=now),
        )


# ----------------------------------------------------------------- decisions


def aware(what: str, value: object) -> datetime:
    """``value``, when it is an aware datetime: a naive one names no moment (R17)."""
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        shown = "a naive datetime" if isinstance(value, datetime) else type(value).__name__
        raise InvalidRequest(
            f"{what} must be an aware datetime (tzinfo=UTC), not {shown}",
            code="invalid_datetime",
        )
    return value


def extended_trial(ws: Workspace, *, until: datetime, operator: str, now: datetime) -> Change:
    """The trial ending at ``until`` instead: a running trial only, and later than
    its current end, at most ``MAX_TRIAL_EXTENSION`` from ``now``."""
    sub = ws.subscription
    ends = sub.trial_ends_at
    if sub.status is not SubscriptionStatus.TRIALING or ends is None or ends <= now:
        raise InvalidRequest(
            f"workspace {ws.id!r} is not on a running trial ({sub.status.value}): "
            "only a trial that has not ended can be extended",
            code="trial_not_extendable",
        )
    if not ends < until <= now + MAX_TRIAL_EXTENSION:
        raise InvalidRequest(
            f"the trial ends {ends.isoformat()}: extend it to a later time, at most "
            f"{MAX_TRIAL_EXTENSION.days} days from now",
            code="trial_end_out_of_range",
        )
    until = until.astimezone(UTC)
    after = attrs.evolve(sub, trial_ends_at=until)
    event = Event(
        type=EventType.TRIAL_EXTENDED,
        workspace_id=ws.id,
        at=now,
        actor=operator,
        before={"trial_ends_at": iso(ends)},
        after={"trial_ends_at": iso(until)},
    )
    return Change(attrs.evolve(ws, subscription=after), (), (event,))


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
