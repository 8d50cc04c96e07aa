"""Period boundaries and rule R11: who is deactivated when capacity shrinks.

Everything here is a pure function of values: the caller loads, these decide,
the caller saves. The same functions serve the renewal sweep, the webhook
path and the preview, so what ``preview_renewal`` names is what a renewal does.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from datetime import datetime

import attrs

from .catalog import Catalog
from .events import Event, EventType
from .subscription import Subscription, SubscriptionStatus, add_interval
from .workspace import Member, MemberStatus, Workspace

__all__ = [
    "BoundaryKind",
    "Change",
    "RenewalPreview",
    "deactivate_excess",
    "fall_back",
    "local_boundary",
    "preview",
    "select_deactivations",
]


class BoundaryKind(enum.StrEnum):
    TRIAL_END = "trial_end"
    RENEWAL = "renewal"
    CANCELLATION = "cancellation"
    GRACE_END = "grace_end"


@attrs.frozen
class RenewalPreview:
    """What the next boundary will do, assuming its payment succeeds (R3, R11)."""

    at: datetime | None
    kind: BoundaryKind | None
    plan: str
    seats: int
    active_members: int
    deactivate: tuple[Member, ...]


@attrs.frozen
class Change:
    """A decision: the workspace to save, the members to save or remove, the events to record."""

    workspace: Workspace
    members: tuple[Member, ...] = ()
    events: tuple[Event, ...] = ()
    removed: tuple[str, ...] = ()


def select_deactivations(members: Iterable[Member], seats: int) -> tuple[Member, ...]:
    """The active members to deactivate so that at most ``seats`` stay active (R11).

    The most recently activated go first (``active_since``, then ``seq``); the
    owner is never chosen, so an owner alone stays active even at 0 seats.
    """
    active = [m for m in members if m.is_active]
    excess = len(active) - seats
    if excess <= 0:
        return ()
    candidates = sorted(
        (m for m in active if not m.is_owner),
        key=lambda m: (m.active_since, m.seq),
        reverse=True,
    )
    return tuple(candidates[:excess])


def deactivate_excess(
    workspace: Workspace, members: Sequence[Member], seats: int, now: datetime, reason: str
) -> tuple[tuple[Member, ...], tuple[Event, ...]]:
    chosen = select_deactivations(members, seats)
    changed = tuple(
        attrs.evolve(m, status=MemberStatus.DEACTIVATED, deactivated_at=now) for m in chosen
    )
    events = tuple(
        Event(
            type=EventType.MEMBER_DEACTIVATED,
            workspace_id=workspace.id,
            at=now,
            subject=m.user,
            before={"status": MemberStatus.ACTIVE.value},
            after={"status": MemberStatus.DEACTIVATED.value},
            data={"reason": reason, "seats": seats},
        )
        for m in chosen
    )
    return changed, events


def fall_back(
    workspace: Workspace,
    members: Sequence[Member],
    now: datetime,
    catalog: Catalog,
    *,
    event: EventType,
    reason: str,
) -> Change:
    """Move to the catalog's fallback (R2, R12, R13) and apply R11 to its member cap."""
    before = workspace.subscription
    after = Subscription.fallback(
        catalog, customer_ref=before.customer_ref, subscription_ref=before.subscription_ref
    )
    ws = attrs.evolve(workspace, subscription=after)
    changed, deactivated = deactivate_excess(ws, members, after.seats, now, reason)
    ended = Event(
        type=event,
        workspace_id=ws.id,
        at=now,
        before=summary(before),
        after=summary(after),
        data={"reason": reason},
    )
    return Change(ws, changed, (ended, *deactivated))


def local_boundary(
    workspace: Workspace, members: Sequence[Member], now: datetime, catalog: Catalog
) -> Change | None:
    """Apply a due boundary that the library itself owns, or None when none is due.

    The library owns the trial's end, the end of a grace period and the periods
    of a negotiated (sales-managed) plan. The periods of a provider-managed
    subscription are the provider's: they are mirrored from its view instead.
    """
    sub = workspace.subscription
    due = sub.next_boundary(catalog)
    if due is None or due > now:
        return None
    if sub.status is SubscriptionStatus.TRIALING:
        return fall_back(
            workspace, members, now, catalog, event=EventType.TRIAL_ENDED, reason="trial_ended"
        )
    if sub.status is SubscriptionStatus.PAST_DUE:
        return fall_back(
            workspace, members, now, catalog,
            event=EventType.SUBSCRIPTION_ENDED, reason="grace_period_ended",
        )  # fmt: skip
    if not sub.is_sales_managed:
        return None
    if sub.cancel_at_period_end:
        return fall_back(
            workspace, members, now, catalog,
            event=EventType.SUBSCRIPTION_ENDED, reason="canceled",
        )  # fmt: skip
    return _renew_sales_managed(workspace, members, now)


def _renew_sales_managed(workspace: Workspace, members: Sequence[Member], now: datetime) -> Change:
    """The next period of a negotiated plan, counted from its anchor so that a plan
    that started on the 31st renews on the last day of short months, then the 31st."""
    sub = workspace.subscription
    assert sub.period_end is not None
    assert sub.interval is not None
    anchor = sub.anchor or sub.period_start or sub.period_end
    count = 1
    while add_interval(anchor, sub.interval, count) <= now:
        count += 1
    seats = sub.pending_seats if sub.pending_seats is not None else sub.seats
    renewed = attrs.evolve(
        sub,
        seats=seats,
        pending_seats=None,
        period_start=add_interval(anchor, sub.interval, count - 1),
        period_end=add_interval(anchor, sub.interval, count),
    )
    ws = attrs.evolve(workspace, subscription=renewed)
    changed, deactivated = deactivate_excess(ws, members, seats, now, "renewal")
    return Change(ws, changed, (renewed_event(workspace, renewed, now), *deactivated))


def renewed_event(workspace: Workspace, renewed: Subscription, now: datetime) -> Event:
    return Event(
        type=EventType.SUBSCRIPTION_RENEWED,
        workspace_id=workspace.id,
        at=now,
        before=summary(workspace.subscription),
        after=summary(renewed),
    )


def preview(workspace: Workspace, members: Sequence[Member], catalog: Catalog) -> RenewalPreview:
    """What the next boundary would do, if its payment succeeds (R11 preview)."""
    sub = workspace.subscription
    at = sub.next_boundary(catalog)
    fallback = Subscription.fallback(catalog)
    kind: BoundaryKind | None
    if sub.status is SubscriptionStatus.TRIALING:
        kind, plan, seats = BoundaryKind.TRIAL_END, fallback.plan, fallback.seats
    elif sub.status is SubscriptionStatus.PAST_DUE:
        kind, plan, seats = BoundaryKind.GRACE_END, fallback.plan, fallback.seats
    elif sub.status is SubscriptionStatus.ACTIVE and sub.cancel_at_period_end:
        kind, plan, seats = BoundaryKind.CANCELLATION, fallback.plan, fallback.seats
    elif sub.status is SubscriptionStatus.ACTIVE:
        kind, plan = BoundaryKind.RENEWAL, sub.plan
        seats = sub.pending_seats if sub.pending_seats is not None else sub.seats
    else:
        kind, plan, seats = None, sub.plan, sub.seats
    return RenewalPreview(
        at=at,
        kind=kind,
        plan=plan,
        seats=seats,
        active_members=sum(1 for m in members if m.is_active),
        deactivate=select_deactivations(members, seats),
    )


def summary(sub: Subscription) -> dict[str, str | int | bool | None]:
    """The subscription's fields an event's ``before`` and ``after`` show."""
    return {
        "plan": sub.plan,
        "status": sub.status.value,
        "seats": sub.seats,
        "pending_seats": sub.pending_seats,
        "interval": sub.interval.value if sub.interval else None,
        "period_end": sub.period_end.isoformat() if sub.period_end else None,
    }
