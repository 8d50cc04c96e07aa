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
from .invitation import Invitation, invitation_event, newest_first
from .jsonable import JSONDict, dicts, enum_value, iso_or_none
from .subscription import Subscription, SubscriptionStatus, add_interval
from .workspace import Member, MemberStatus, Workspace, active_count

__all__ = [
    "BoundaryKind",
    "Change",
    "Renewal",
    "RenewalPreview",
    "deactivate_excess",
    "fall_back",
    "local_boundary",
    "members_after",
    "next_boundary_terms",
    "preview",
    "r11_reason",
    "renewal_in_place",
    "revoke_beyond_seats",
    "select_deactivations",
    "select_revocations",
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
    revoke: tuple[Invitation, ...] = attrs.field(default=(), kw_only=True)
    """The pending invitations the boundary would revoke, newest first: R11 revokes
    them before it deactivates anyone, so they never cost a member their seat."""

    def to_dict(self) -> JSONDict:
        """JSON-ready, ``deactivate`` and ``revoke`` as dicts in order (docs/json.md)."""
        return {
            "at": iso_or_none(self.at),
            "kind": enum_value(self.kind),
            "plan": self.plan,
            "seats": self.seats,
            "active_members": self.active_members,
            "deactivate": dicts(self.deactivate),
            "revoke": dicts(self.revoke),
        }


@attrs.frozen
class Change:
    """A decision: the workspace to save, the members to save or remove, the events to
    record, and the invitations to insert (``invited``) or delete (``uninvited``, by
    id: accepted, revoked or expired ones, whose events are their history)."""

    workspace: Workspace
    members: tuple[Member, ...] = ()
    events: tuple[Event, ...] = ()
    removed: tuple[str, ...] = ()
    invited: tuple[Invitation, ...] = ()
    uninvited: tuple[str, ...] = ()


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


def select_revocations(
    invitations: Iterable[Invitation],
    members: Iterable[Member],
    seats: int,
    now: datetime,
    *,
    active: int | None = None,
) -> tuple[Invitation, ...]:
    """The pending invitations R11 revokes so that what holds a seat fits in ``seats``.

    Invitations go first, the most recently created first: a member is
    deactivated only for the seats that members alone exceed
    (``select_deactivations``), never to make room for an invitation. So the
    invitations left are those that fit beside the members who stay active;
    when members alone exceed ``seats``, none is left. ``members`` may be as read
    before the boundary or as it leaves them: either way the ones who stay
    active are counted; ``active`` counts the active members where ``members``
    holds only those a boundary short of seats needs (none when they fit). An
    invitation expired at ``now`` holds no seat and is left to expire.
    """
    members = list(members)
    counted = active_count(members) if active is None else active
    staying = counted - len(select_deactivations(members, seats))
    held = [i for i in invitations if i.is_pending(now)]
    excess = staying + len(held) - seats
    if excess <= 0:
        return ()
    return tuple(newest_first(held)[:excess])


def revoke_beyond_seats(
    change: Change, members: Sequence[Member], invitations: Sequence[Invitation], now: datetime
) -> Change:
    """``change`` with R11's first step added: the pending invitations that no longer
    fit in the seats it leaves are revoked, before its deactivations.

    Every decision that lowers a workspace's seats (a boundary, a provider's
    view, negotiated terms) gets this step from the one place that saves it,
    so none can leave more seats held than bought, and none need know about
    invitations. ``members`` are as read before the change. Each revocation has
    no actor (the rule revokes it) and gives the ``seats`` left and the reason
    the change's deactivations give (``r11_reason``).
    """
    seats = change.workspace.subscription.seats
    left = [i for i in invitations if i.id not in change.uninvited]
    chosen = select_revocations(left, members_after(members, change), seats, now)
    if not chosen:
        return change
    reason = r11_reason(change)
    events = tuple(
        invitation_event(EventType.INVITATION_REVOKED, i, now, None, reason=reason, seats=seats)
        for i in chosen
    )
    first = next(
        (n for n, e in enumerate(change.events) if e.type is EventType.MEMBER_DEACTIVATED),
        len(change.events),
    )
    in_order = (*change.events[:first], *events, *change.events[first:])
    ids = tuple(i.id for i in chosen)
    return attrs.evolve(change, events=in_order, uninvited=(*change.uninvited, *ids))


def r11_reason(change: Change) -> str:
    """Why a change applies R11, as its deactivations say it (``data["reason"]``):
    the boundary's own reason, ``renewal`` for a renewal, else ``plan_changed``."""
    for event in change.events:
        reason = event.data.get("reason")
        if isinstance(reason, str):
            return reason
    renewed = any(e.type is EventType.SUBSCRIPTION_RENEWED for e in change.events)
    return "renewal" if renewed else "plan_changed"


def members_after(members: Sequence[Member], change: Change) -> list[Member]:
    """The members as ``change`` leaves them."""
    after = {m.user: m for m in members}
    after.update((m.user, m) for m in change.members)
    for user in change.removed:
        after.pop(user, None)
    return list(after.values())


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
    renewal = _next_period(workspace, now)
    ws = renewal.apply(workspace)
    changed, deactivated = deactivate_excess(ws, members, renewal.seats, now, "renewal")
    return Change(ws, changed, (renewal.event, *deactivated))


@attrs.frozen
class Renewal:
    """A negotiated plan's renewal that deactivates nobody, as the sweep writes it
    in place: the next period, the pending decrease applied (R9), its event (R16).

    Most of a renewal sweep is these. A store writes them as a narrow update
    of the period columns (checked against ``version`` like ``save_workspaces``)
    instead of whole rows; ``apply`` is what that update does, and what the
    general path (``local_boundary``) does too, so the two cannot differ.
    """

    workspace_id: str
    version: int
    seats: int
    period_start: datetime
    period_end: datetime
    event: Event

    def apply(self, workspace: Workspace) -> Workspace:
        sub = workspace.subscription
        renewed = attrs.evolve(
            sub,
            seats=self.seats,
            pending_seats=None,
            period_start=self.period_start,
            period_end=self.period_end,
        )
        return attrs.evolve(workspace, subscription=renewed, due_at=self.period_end)


def renewal_in_place(
    workspace: Workspace, seats_used: int, now: datetime, catalog: Catalog
) -> Renewal | None:
    """The due boundary as a ``Renewal`` when it is a negotiated plan's renewal that
    leaves at least ``seats_used`` seats (active members and pending invitations);
    None when ``local_boundary`` must decide, and R11 may deactivate or revoke."""
    sub = workspace.subscription
    if (
        sub.status is not SubscriptionStatus.ACTIVE
        or not sub.is_sales_managed
        or sub.cancel_at_period_end
        or sub.period_end is None
        or sub.period_end > now
    ):
        return None
    if (sub.pending_seats if sub.pending_seats is not None else sub.seats) < seats_used:
        return None
    return _next_period(workspace, now)


def _next_period(workspace: Workspace, now: datetime) -> Renewal:
    """The next period of a negotiated plan, counted from its anchor so that a plan
    that started on the 31st renews on the last day of short months, then the 31st."""
    sub = workspace.subscription
    assert sub.period_end is not None
    assert sub.interval is not None
    anchor = sub.anchor or sub.period_start or sub.period_end
    count, start, end = 1, anchor, add_interval(anchor, sub.interval, 1)
    while end <= now:
        count += 1
        start, end = end, add_interval(anchor, sub.interval, count)
    seats = sub.pending_seats if sub.pending_seats is not None else sub.seats
    renewed = attrs.evolve(sub, seats=seats, pending_seats=None, period_start=start, period_end=end)
    event = renewed_event(workspace, renewed, now)
    return Renewal(workspace.id, workspace.version, seats, start, end, event)


def renewed_event(workspace: Workspace, renewed: Subscription, now: datetime) -> Event:
    return Event(
        type=EventType.SUBSCRIPTION_RENEWED,
        workspace_id=workspace.id,
        at=now,
        before=summary(workspace.subscription),
        after=summary(renewed),
    )


def preview(
    workspace: Workspace,
    members: Sequence[Member],
    catalog: Catalog,
    invitations: Sequence[Invitation] = (),
) -> RenewalPreview:
    """What the next boundary would do, if its payment succeeds (R11 preview).

    ``invitations`` are the workspace's pending ones: those still pending when
    the boundary falls and beyond its seats are named in ``revoke``.
    """
    sub = workspace.subscription
    kind, plan, seats = next_boundary_terms(sub, catalog)
    at = sub.next_boundary(catalog)
    return RenewalPreview(
        at=at,
        kind=kind,
        plan=plan,
        seats=seats,
        active_members=sum(1 for m in members if m.is_active),
        deactivate=select_deactivations(members, seats),
        revoke=select_revocations(invitations, members, seats, at) if at and invitations else (),
    )


def next_boundary_terms(
    sub: Subscription, catalog: Catalog
) -> tuple[BoundaryKind | None, str, int]:
    """The kind of the next boundary and the plan and seats it leaves (R3, R9, R12, R13).

    The renewal sweep asks this of every due workspace to load members only
    where the seats left are fewer than the active members, so it builds nothing.
    """
    if sub.status is SubscriptionStatus.ACTIVE and not sub.cancel_at_period_end:
        seats = sub.pending_seats if sub.pending_seats is not None else sub.seats
        return BoundaryKind.RENEWAL, sub.plan, seats
    fallback = catalog.fallback_plan
    assert fallback.member_cap is not None  # checked by the catalog
    if sub.status is SubscriptionStatus.TRIALING:
        return BoundaryKind.TRIAL_END, fallback.code, fallback.member_cap
    if sub.status is SubscriptionStatus.PAST_DUE:
        return BoundaryKind.GRACE_END, fallback.code, fallback.member_cap
    if sub.status is SubscriptionStatus.ACTIVE:
        return BoundaryKind.CANCELLATION, fallback.code, fallback.member_cap
    return None, sub.plan, sub.seats


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
