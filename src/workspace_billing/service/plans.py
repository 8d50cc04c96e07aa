"""Plans and seats through the provider: price previews (R18), upgrades (R6),
seat changes (R9), cancel (at period end or now) and resume (R13), the billing
portal.

Each request is checked by a pure function before anything is read under a
lock or sent to the provider; the provider's confirmed view is then applied
through the same path as a webhook (``mirror.apply_view``).
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

import attrs

from ..catalog import Catalog, Interval, Plan
from ..errors import InvalidRequest, PlanNotSelfServe
from ..events import Event, EventType
from ..mirror import end_now
from ..money import Money
from ..overview import PricePreview, SubscriptionOverview
from ..permissions import require_manager
from ..ports import Checkout, CheckoutRequest, QuoteRequest
from ..renewal import Change, select_deactivations, select_revocations, summary
from ..subscription import Subscription, add_interval
from ..workspace import Member, Workspace
from .base import ServiceBase
from .checks import check_seats, flag, get_workspace, intent_key, text


class PlanActions(ServiceBase):
    def preview_change(
        self,
        workspace_id: str,
        *,
        actor: str,
        seats: int | None = None,
        plan: str | None = None,
        interval: str | Interval | None = None,
    ) -> PricePreview:
        """The price of a plan or seat change, changing nothing (R18).

        ``due_now`` is what confirming charges at once (prorated, as the provider
        computes it) for ``seats_now`` seats; ``recurring`` what each renewal
        charges after, for ``seats``. A decrease, a plan change to fewer seats
        included, applies the lower count at ``applies_at`` (the renewal, R9).
        ``deactivate`` names who R11 would deactivate if it were confirmed.
        """
        ws, members, invitations = self._read_invited(workspace_id)
        require_manager(ws.id, members, actor)
        sub = ws.subscription
        target, period, count = requested(self.catalog, sub, plan, interval, seats)
        check_seats(self.catalog, target, count, members)
        unit = target.price(period)
        deactivate = select_deactivations(members, count)
        revoke = select_revocations(invitations, members, count, self._clock.now())
        ref = sub.subscription_ref
        if not sub.is_provider_managed or ref is None:
            quote = self._provider.quote(QuoteRequest(target.code, period, count, unit))
            return PricePreview(target.code, period, count, quote.due_now, quote.recurring, None,
                                deactivate=deactivate, revoke=revoke)  # fmt: skip
        same_terms = target.code == sub.plan and period is sub.interval
        if same_terms and count <= sub.seats:  # a decrease, or withdrawing one: nothing now
            return PricePreview(
                target.code, period, count, Money.zero(unit.currency), unit * count,
                applies_at=sub.period_end if count < sub.seats else None,
                seats_now=sub.seats, deactivate=deactivate, revoke=revoke,
            )  # fmt: skip
        seats_now = max(count, sub.seats)
        quote = self._provider.quote(QuoteRequest(target.code, period, seats_now, unit, ref))
        applies_at = None
        if count < seats_now:  # the plan now at the seats in force, fewer from the renewal
            applies_at = (
                sub.period_end
                if period is sub.interval
                else add_interval(self._clock.now(), period)
            )
        return PricePreview(target.code, period, count, quote.due_now, unit * count, applies_at,
                            seats_now=seats_now, deactivate=deactivate, revoke=revoke)  # fmt: skip

    def upgrade(
        self,
        workspace_id: str,
        *,
        actor: str,
        plan: str,
        seats: int,
        interval: str | Interval = Interval.MONTH,
        success_url: str,
        cancel_url: str,
    ) -> Checkout:
        """Move to a self-serve plan (R6). The plan applies when payment is confirmed.

        From the trial or the free plan this opens the provider's checkout (send
        the user to ``Checkout.url``); when it is paid, R11 deactivates the
        members beyond ``seats`` (``preview_change`` names them). From another
        paid plan the change is made at once with the payment method on file and
        ``Checkout.url`` is None: the new plan at the seats in force, charged
        prorated, and fewer ``seats`` scheduled for the renewal like any decrease.
        ``PaymentFailed`` (declined) or ``PaymentActionRequired`` (the customer
        must authenticate at its ``url``) leave the plan as it was.
        """

        validate = partial(
            check_upgrade, self.catalog, plan=plan, interval=interval, seats=seats,
            success_url=success_url, cancel_url=cancel_url,
        )  # fmt: skip
        ws, members = self._read_for(workspace_id, actor, validate)
        target, period, count = validate(ws, members)
        sub = ws.subscription
        unit = target.price(period)
        if sub.is_provider_managed and sub.subscription_ref is not None:
            # The provider bills what the library grants: the plan at once at the
            # seats in force (or more), and fewer seats only from the renewal (R9).
            seats_now = max(count, sub.seats)
            view = self._provider.change_plan(
                sub.subscription_ref,
                plan=target.code,
                interval=period,
                seats=seats_now,
                unit_amount=unit,
                idempotency_key=intent_key(ws, "plan", target.code, period, seats_now),
            )
            self._apply_view(ws.id, actor, view)
            if count < seats_now:
                view = self._provider.schedule_seat_decrease(
                    view.ref, count,
                    idempotency_key=intent_key(ws, "plan-decrease", target.code, period, count),
                )  # fmt: skip
                self._apply_view(ws.id, actor, view)
            return Checkout(id=view.ref, url=None)
        customer_ref = self._ensure_customer(ws, actor)
        ws = self._load(ws.id)
        request = CheckoutRequest(
            workspace_id=ws.id,
            customer_ref=customer_ref,
            plan=target.code,
            interval=period,
            seats=count,
            unit_amount=unit,
            success_url=success_url,
            cancel_url=cancel_url,
        )
        key = intent_key(ws, "checkout", target.code, period, count, success_url, cancel_url)
        checkout = self._provider.create_checkout(request, idempotency_key=key)
        started = checkout_started(ws, checkout, actor=actor, target=target, interval=period,
                                   seats=count, now=self._clock.now())  # fmt: skip
        with self._store.unit_of_work() as uow:
            get_workspace(uow, ws.id, for_update=True)  # the outbox keeps the lock's order
            uow.append_events([started])
        return checkout

    def change_seats(self, workspace_id: str, *, actor: str, seats: int) -> SubscriptionOverview:
        """Buy or give back seats (R9).

        An increase is charged at once, off session, prorated, and granted when
        paid; ``PaymentFailed`` leaves everything as it was, and so does
        ``PaymentActionRequired``: the customer confirms the payment at its
        ``url`` and the webhook that reports it grants the seats. A decrease is
        scheduled for the next renewal, where R11 applies. Asking for the seats
        in force withdraws a scheduled decrease.
        """
        validate = partial(check_seat_change, self.catalog, seats=seats)
        ws, members = self._read_for(workspace_id, actor, validate)
        ref = validate(ws, members)
        sub = ws.subscription
        if seats == sub.seats and sub.pending_seats is None:
            return self._overview(ws, members)
        if seats > sub.seats:
            view = self._provider.increase_seats(
                ref, seats, idempotency_key=intent_key(ws, "increase", seats)
            )
        else:
            if seats == sub.pending_seats:
                return self._overview(ws, members)
            view = self._provider.schedule_seat_decrease(
                ref, seats, idempotency_key=intent_key(ws, "decrease", seats)
            )
        return self._apply_view(ws.id, actor, view)

    def cancel(self, workspace_id: str, *, actor: str, now: bool = False) -> SubscriptionOverview:
        """Cancel at the end of the paid period (R13); features stay until then.

        ``now=True`` ends the paid subscription at once instead: the provider
        cancels it immediately and the workspace falls back (R2's fallback) with
        R11 on the fallback's member cap, as when a period ends canceled. No
        refund is made for the rest of the period unless the provider's own
        policy makes one (Stripe's does not: docs/stripe.md). A negotiated plan
        ends at once the same way. A cancellation at period end already
        scheduled does not prevent it.
        """
        if flag("now", now):
            return self._end_now(workspace_id, actor)
        return self._set_cancellation(workspace_id, actor, cancel=True)

    def resume(self, workspace_id: str, *, actor: str) -> SubscriptionOverview:
        """Withdraw a cancellation before the period ends (R13)."""
        return self._set_cancellation(workspace_id, actor, cancel=False)

    def billing_portal(self, workspace_id: str, *, actor: str, return_url: str) -> str:
        """A session of the provider's billing portal (cards, invoices, seats)."""
        ws, members = self._read(workspace_id)
        require_manager(ws.id, members, actor)
        return_url = text("return_url", return_url, 2000)
        customer_ref = self._ensure_customer(ws, actor)
        ws = self._load(ws.id)
        return self._provider.portal_url(
            customer_ref,
            return_url=return_url,
            idempotency_key=intent_key(ws, "portal", return_url, self._clock.now().isoformat()),
        )

    def _end_now(self, workspace_id: str, actor: str) -> SubscriptionOverview:
        """R13 at once: the provider's confirmed (canceled) view is applied like a
        webhook's; a negotiated plan, which the provider does not know, ends here."""
        validate = check_cancellable
        ws, members = self._read_for(workspace_id, actor, validate)
        validate(ws, members)
        sub = ws.subscription
        if sub.is_provider_managed and sub.subscription_ref is not None:
            view = self._provider.cancel(
                sub.subscription_ref, at_period_end=False, idempotency_key=intent_key(ws, "end-now")
            )
            return self._apply_view(ws.id, actor, view)
        at = self._clock.now()
        return self._change(
            ws.id, lambda ws, members: ended_locally(ws, members, self.catalog, actor=actor, now=at)
        )

    def _set_cancellation(
        self, workspace_id: str, actor: str, *, cancel: bool
    ) -> SubscriptionOverview:
        validate = check_cancellable
        ws, members = self._read_for(workspace_id, actor, validate)
        validate(ws, members)
        sub = ws.subscription
        if sub.cancel_at_period_end is cancel:
            return self._overview(ws, members)
        if sub.is_provider_managed and sub.subscription_ref is not None:
            ref = sub.subscription_ref
            if cancel:
                view = self._provider.cancel(
                    ref, at_period_end=True, idempotency_key=intent_key(ws, "cancel")
                )
            else:
                view = self._provider.resume(ref, idempotency_key=intent_key(ws, "resume"))
            return self._apply_view(ws.id, actor, view)
        now = self._clock.now()
        return self._change(
            ws.id, lambda ws, _: flag_cancellation(ws, cancel=cancel, actor=actor, now=now)
        )


# ----------------------------------------------------------------- decisions


def requested(
    catalog: Catalog,
    sub: Subscription,
    plan: str | None,
    interval: str | Interval | None,
    seats: int | None,
) -> tuple[Plan, Interval, int]:
    """The plan, interval and seats a change asks for, defaults from what is in force.

    A plan sold through sales is refused first, before seats or interval (R7).
    """
    if plan is None and not sub.status.is_paid:
        raise InvalidRequest("name the plan to upgrade to", code="plan_required")
    target = catalog.plan(plan if plan is not None else sub.plan)
    if not target.self_serve:
        raise PlanNotSelfServe(f"plan {target.code!r} is sold by our sales team: use contact_sales")
    if not target.per_seat:
        raise InvalidRequest(f"plan {target.code!r} is not a paid plan", code="plan_not_paid")
    period = sub.interval or Interval.MONTH if interval is None else Interval.parse(interval)
    target.price(period)
    count = seats if seats is not None else sub.seats
    return target, period, count


def check_upgrade(
    catalog: Catalog,
    ws: Workspace,
    members: list[Member],
    *,
    plan: str,
    interval: str | Interval,
    seats: int,
    success_url: str,
    cancel_url: str,
) -> tuple[Plan, Interval, int]:
    """R6: an upgrade the workspace may ask for; the plan, interval and seats it buys."""
    target, period, _ = requested(catalog, ws.subscription, plan, interval, seats)
    count = check_seats(catalog, target, seats, members)  # required here, no default
    text("success_url", success_url, 2000)
    text("cancel_url", cancel_url, 2000)
    sub = ws.subscription
    if sub.is_sales_managed:
        raise InvalidRequest(
            "this workspace has a negotiated plan: contact sales to change it",
            code="negotiated_plan",
        )
    if sub.is_provider_managed and target.code == sub.plan and period is sub.interval:
        raise InvalidRequest(
            f"the workspace is already on {target.code!r} ({period.value}ly): "
            "use change_seats to change its seats",
            code="already_on_plan",
        )
    return target, period, count


def check_seat_change(catalog: Catalog, ws: Workspace, members: list[Member], *, seats: int) -> str:
    """R9: seats are bought on a self-serve paid plan; its provider subscription."""
    sub = ws.subscription
    if sub.is_sales_managed:
        raise InvalidRequest(
            "seats of a negotiated plan are changed by sales (contact_sales)",
            code="negotiated_plan",
        )
    if not sub.is_provider_managed or sub.subscription_ref is None:
        raise InvalidRequest(
            "seats are bought on a paid plan: upgrade first", code="not_on_paid_plan"
        )
    check_seats(catalog, catalog.plan(sub.plan), seats, members)
    return sub.subscription_ref


def check_cancellable(ws: Workspace, members: list[Member]) -> None:
    """R13: only a paid subscription is canceled or resumed."""
    if not ws.subscription.status.is_paid:
        raise InvalidRequest(
            "there is no paid subscription to cancel or resume", code="no_paid_subscription"
        )


def ended_locally(
    ws: Workspace, members: list[Member], catalog: Catalog, *, actor: str, now: datetime
) -> Change:
    """R13 at once on a plan the library renews itself (negotiated): the fallback now,
    R11 on its cap. Checked again under the lock: a plan that ended meanwhile is
    refused like any workspace with nothing paid."""
    require_manager(ws.id, members, actor)
    check_cancellable(ws, members)
    return end_now(ws, members, now, catalog, actor)


def flag_cancellation(ws: Workspace, *, cancel: bool, actor: str, now: datetime) -> Change:
    """R13 on a plan the library renews itself: set or clear the flag."""
    after = attrs.evolve(ws.subscription, cancel_at_period_end=cancel)
    kind = EventType.CANCELLATION_SCHEDULED if cancel else EventType.CANCELLATION_REVOKED
    event = Event(
        type=kind, workspace_id=ws.id, at=now, actor=actor,
        before=summary(ws.subscription), after=summary(after),
    )  # fmt: skip
    return Change(attrs.evolve(ws, subscription=after), (), (event,))


def checkout_started(
    ws: Workspace,
    checkout: Checkout,
    *,
    actor: str,
    target: Plan,
    interval: Interval,
    seats: int,
    now: datetime,
) -> Event:
    """The outbox's record of an opened checkout (nothing is granted until paid)."""
    return Event(
        type=EventType.CHECKOUT_STARTED,
        workspace_id=ws.id,
        at=now,
        actor=actor,
        before=summary(ws.subscription),
        data={
            "checkout_id": checkout.id,
            "plan": target.code,
            "interval": interval.value,
            "seats": seats,
        },
    )
