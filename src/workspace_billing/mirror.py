"""Mirroring the provider's view of a subscription into the workspace (R6, R9, R12-R14).

Billing never applies a webhook's payload: it fetches the provider's current
view and hands it here. Applying the same view twice changes nothing, and a
period's boundary effects (the scheduled seat decrease, R11) are applied once,
when the view's period start first moves past the mirrored one. A view older
than the mirrored period is ignored, and a subscription that ended is never
taken up again. That is what makes duplicated and shuffled deliveries converge.

The card on file (``Subscription.payment_method``) is mirrored with the rest,
so the billing page reads it locally: every applied view sets it, a view that
changes only the card saves it without an event (it is the provider's record,
not a change of what the workspace has), and a fallback clears it, since no
later view of an ended subscription would keep it fresh.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import attrs

from .catalog import Catalog
from .events import Event, EventType
from .ports import ProviderStatus, ProviderSubscription
from .renewal import Change, deactivate_excess, fall_back, renewed_event, summary
from .subscription import Subscription, SubscriptionStatus
from .workspace import Member, Workspace

__all__ = ["apply_view", "belongs_to", "end_now"]


def belongs_to(workspace: Workspace, view: ProviderSubscription) -> bool:
    """Whether a provider subscription is provably this workspace's: the one it
    follows, or one of the customer this installation created for it.

    A payload's workspace id is never enough: two installations sharing one
    provider account (usual in test mode) may use the same workspace ids.
    """
    sub = workspace.subscription
    if sub.subscription_ref is not None and sub.subscription_ref == view.ref:
        return True
    return sub.customer_ref is not None and sub.customer_ref == view.customer_ref


def apply_view(
    workspace: Workspace,
    members: Sequence[Member],
    view: ProviderSubscription,
    now: datetime,
    catalog: Catalog,
    actor: str | None = None,
) -> Change:
    sub = workspace.subscription
    unchanged = Change(workspace)
    following = sub.subscription_ref == view.ref
    if not following and (sub.status.is_paid or view.status is not ProviderStatus.ACTIVE):
        # Not the subscription the workspace follows: a stray (a second checkout
        # paid), an ended one, or one never paid. It is never taken up.
        return unchanged
    if following and not sub.status.is_paid:
        return unchanged  # it ended here: a late view must not revive it
    if view.status is ProviderStatus.INCOMPLETE:
        return unchanged
    if following and sub.period_start is not None and view.period_start < sub.period_start:
        return unchanged  # older than the period applied: never go back a period
    if view.status is ProviderStatus.CANCELED:
        return end_now(workspace, members, now, catalog, actor)
    if view.status is ProviderStatus.PAUSED:
        if not following:
            return unchanged
        # No invoices and no grace clock: the paid plan lapses now, and the link
        # is dropped so that the subscription, once resumed, is taken up again.
        paused = fall_back(
            workspace, members, now, catalog, event=EventType.SUBSCRIPTION_PAUSED, reason="paused"
        )
        unlinked = attrs.evolve(paused.workspace.subscription, subscription_ref=None)
        return attrs.evolve(paused, workspace=attrs.evolve(paused.workspace, subscription=unlinked))
    adopting = not following

    renewal = not adopting and sub.period_start is not None and view.period_start > sub.period_start
    seats, pending = _seats(sub, view, fresh=adopting or renewal)
    status = (
        SubscriptionStatus.PAST_DUE
        if view.status is ProviderStatus.PAST_DUE
        else SubscriptionStatus.ACTIVE
    )
    after = attrs.evolve(
        sub,
        plan=view.plan,
        status=status,
        seats=seats,
        pending_seats=pending,
        interval=view.interval,
        trial_ends_at=None,
        period_start=view.period_start,
        period_end=view.period_end,
        cancel_at_period_end=view.cancel_at_period_end,
        past_due_since=(sub.past_due_since or now)
        if status is SubscriptionStatus.PAST_DUE
        else None,
        unit_amount=view.unit_amount,
        customer_ref=view.customer_ref,
        subscription_ref=view.ref,
        payment_method=view.payment_method,
    )
    if after == sub:
        return unchanged
    ws = attrs.evolve(workspace, subscription=after)
    events = _events(
        workspace, after, now, actor, adopting=adopting, renewal=renewal, action_url=view.action_url
    )
    if adopting or renewal or seats < sub.seats:
        reason = "renewal" if renewal else "plan_changed"
        changed, deactivated = deactivate_excess(ws, members, seats, now, reason)
        return Change(ws, changed, events + deactivated)
    return Change(ws, (), events)


def end_now(
    workspace: Workspace,
    members: Sequence[Member],
    now: datetime,
    catalog: Catalog,
    actor: str | None = None,
) -> Change:
    """The paid subscription ends at ``now`` (canceled: by the provider, or at once
    by ``actor``): the workspace falls back and R11 applies to the fallback's cap
    (R13). ``subscription_ended`` names the actor; the deactivations are the rule's."""
    ended = fall_back(
        workspace, members, now, catalog, event=EventType.SUBSCRIPTION_ENDED, reason="canceled"
    )
    if actor is None:
        return ended
    first, *rest = ended.events
    return attrs.evolve(ended, events=(attrs.evolve(first, actor=actor), *rest))


def _seats(sub: Subscription, view: ProviderSubscription, *, fresh: bool) -> tuple[int, int | None]:
    """Seats in force and the pending decrease.

    Within a period, seats never drop (R9): a lower quantity reported by the
    provider mid-period is held as pending until the period ends.
    """
    pending = view.pending_seats if view.pending_seats != view.seats else None
    if fresh or view.seats >= sub.seats:
        return view.seats, pending
    return sub.seats, view.seats if pending is None else min(pending, view.seats)


def _events(
    workspace: Workspace,
    after: Subscription,
    now: datetime,
    actor: str | None,
    *,
    adopting: bool,
    renewal: bool,
    action_url: str | None,
) -> tuple[Event, ...]:
    before = workspace.subscription
    events: list[Event] = []

    def add(kind: EventType, **data: str | int | bool | None) -> None:
        events.append(
            Event(
                type=kind,
                workspace_id=workspace.id,
                at=now,
                actor=actor,
                before=summary(before),
                after=summary(after),
                data=data,
            )
        )

    if adopting or before.plan != after.plan or before.interval != after.interval:
        add(EventType.PLAN_CHANGED)
    if renewal:
        events.append(attrs.evolve(renewed_event(workspace, after, now), actor=actor))
    elif not adopting:
        if after.seats > before.seats:
            add(EventType.SEATS_CHANGED)
        if after.pending_seats != before.pending_seats:
            add(
                EventType.SEAT_DECREASE_SCHEDULED
                if after.pending_seats is not None
                else EventType.SEAT_DECREASE_CANCELED
            )
    if before.status is not after.status and not adopting:
        if after.status is SubscriptionStatus.PAST_DUE and action_url is not None:
            add(EventType.PAYMENT_ACTION_REQUIRED, url=action_url)  # 3-D Secure: email the link
        elif after.status is SubscriptionStatus.PAST_DUE:
            add(EventType.PAYMENT_FAILED)
        elif before.status is SubscriptionStatus.PAST_DUE:
            add(EventType.PAYMENT_RECOVERED)
    if before.cancel_at_period_end != after.cancel_at_period_end:
        add(
            EventType.CANCELLATION_SCHEDULED
            if after.cancel_at_period_end
            else EventType.CANCELLATION_REVOKED
        )
    return tuple(events)
