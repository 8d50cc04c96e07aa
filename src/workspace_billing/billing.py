"""Billing: one method per user action, the service layer of the library.

Each action loads what it needs, lets the pure core decide, then saves the new
state and its events in one store transaction. No provider call is made while
a workspace is locked: the action reads and checks in a first transaction,
calls the provider with an idempotency key derived from the intent, and
applies the provider's confirmed view in a second transaction, where the
webhook path and the renewal sweep apply it too.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

import attrs

from .catalog import Catalog, Entitlements, Interval, Plan, SeatFloor
from .clock import SystemClock
from .errors import (
    BillingError,
    Conflict,
    InvalidRequest,
    NotFound,
    PlanNotSelfServe,
    SeatLimitReached,
    TrialNotEligible,
)
from .events import Event, EventType
from .mirror import apply_view
from .money import Money
from .overview import (
    PricePreview,
    ReconcileReport,
    RenewalReport,
    SubscriptionOverview,
    WebhookResult,
)
from .permissions import require_manager
from .ports import (
    Checkout,
    CheckoutRequest,
    Clock,
    PaymentProvider,
    ProviderEventType,
    ProviderStatus,
    ProviderSubscription,
    QuoteRequest,
    Store,
    UnitOfWork,
)
from .renewal import (
    Change,
    Renewal,
    RenewalPreview,
    deactivate_excess,
    local_boundary,
    next_boundary_terms,
    preview,
    renewal_in_place,
    summary,
)
from .subscription import Subscription, SubscriptionStatus, add_interval
from .workspace import Member, MemberStatus, Role, Workspace

__all__ = ["Billing"]

log = logging.getLogger("workspace_billing")

_MAX_ID = 64
_MAX_NAME = 200
_MAX_MESSAGE = 5000


class Billing:
    """The library's entry point: wire a catalog, a store, a provider and a clock.

    Nothing connects at construction; every method is safe to call from
    several threads or processes at once (the store serializes writers).
    """

    def __init__(
        self,
        *,
        catalog: Catalog,
        store: Store,
        provider: PaymentProvider,
        clock: Clock | None = None,
        id_factory: Callable[[], str] | None = None,
    ) -> None:
        self.catalog = catalog
        self._store = store
        self._provider = provider
        self._clock: Clock = clock or SystemClock()
        self._new_id = id_factory or (lambda: f"ws_{uuid.uuid4().hex}")

    def __repr__(self) -> str:
        return f"Billing(store={self._store!r}, provider={self._provider!r})"

    # ------------------------------------------------------------- workspaces

    def create_workspace(
        self,
        owner: str,
        name: str,
        *,
        trial: bool | None = None,
        workspace_id: str | None = None,
    ) -> Workspace:
        """Create a workspace owned by ``owner``, who holds its first seat.

        R1/R2: with ``trial=None`` the owner's first workspace starts a trial and
        later ones start on the fallback; ``trial=True`` insists on one
        (``TrialNotEligible`` when the owner had it), ``trial=False`` skips it.
        """
        owner = _identifier("owner", owner)
        name = _text("name", name, _MAX_NAME)
        ws_id = _identifier("workspace_id", workspace_id or self._new_id())
        now = self._clock.now()
        with self._store.unit_of_work() as uow:  # the store refuses a duplicate id
            gets_trial = trial is not False and uow.claim_trial(owner, ws_id)
            if trial is True and not gets_trial:
                raise TrialNotEligible(f"{owner!r} already had a free trial (one per owner)")
            sub = (
                Subscription.trial(self.catalog, now)
                if gets_trial
                else Subscription.fallback(self.catalog)
            )
            ws = Workspace(id=ws_id, name=name, owner=owner, created_at=now, subscription=sub)
            ws = attrs.evolve(ws, member_seq=1, due_at=sub.next_boundary(self.catalog))
            uow.add_workspace(ws)
            uow.save_member(Member(ws_id, owner, Role.OWNER, MemberStatus.ACTIVE, now, now, seq=1))
            created = Event(
                type=EventType.WORKSPACE_CREATED,
                workspace_id=ws_id,
                at=now,
                actor=owner,
                after=summary(sub),
                data={"name": name},
            )
            events = [created]
            if gets_trial:
                events.append(
                    Event(
                        type=EventType.TRIAL_STARTED,
                        workspace_id=ws_id,
                        at=now,
                        actor=owner,
                        after=summary(sub),
                        data={"trial_ends_at": _iso(sub.trial_ends_at)},
                    )
                )
            uow.append_events(events)
            return ws

    def workspace(self, workspace_id: str) -> Workspace:
        with self._store.unit_of_work(read_only=True) as uow:
            return _get(uow, workspace_id)

    def members(self, workspace_id: str) -> list[Member]:
        """Every member, active and deactivated, in the order they were added."""
        with self._store.unit_of_work(read_only=True) as uow:
            _get(uow, workspace_id)
            return uow.members(workspace_id)

    # --------------------------------------------------------------- reading

    def subscription(self, workspace_id: str, *, actor: str) -> SubscriptionOverview:
        """The subscription screen (R3); owner and admins only (R5)."""
        ws, members = self._read(workspace_id)
        require_manager(ws.id, members, actor)
        return self._overview(ws, members)

    def entitlements(self, workspace_id: str) -> Entitlements:
        """What the workspace may use now (R4); anyone may ask."""
        ws, _ = self._read(workspace_id, with_members=False)
        return self._entitlements(ws.subscription)

    def has_feature(self, workspace_id: str, feature: str) -> bool:
        self.catalog.feature(feature)
        return self.entitlements(workspace_id).has(feature)

    def plans(self) -> tuple[Plan, ...]:
        """The catalog's plans for an upgrade picker; ``catalog.compare()`` lines them up."""
        return self.catalog.plans

    def preview_renewal(self, workspace_id: str) -> RenewalPreview:
        """What the next boundary will do, who it deactivates first (R11)."""
        ws, members = self._read(workspace_id)
        return preview(ws, members, self.catalog)

    def events(self, after: int | Event | None = None, *, limit: int = 1000) -> list[Event]:
        """Recorded events after a cursor (an event or its ``cursor``), oldest first (R16)."""
        cursor = after.cursor if isinstance(after, Event) else (after or 0)
        if limit < 1:
            raise InvalidRequest("limit must be at least 1")
        with self._store.unit_of_work(read_only=True) as uow:
            return uow.events_after(cursor, limit)

    # ---------------------------------------------------------- plan & seats

    def preview_change(
        self,
        workspace_id: str,
        *,
        actor: str,
        seats: int | None = None,
        plan: str | None = None,
        interval: str | Interval | None = None,
    ) -> PricePreview:
        """The price of a plan or seat change, changing nothing (R18)."""
        ws, members = self._read(workspace_id)
        require_manager(ws.id, members, actor)
        sub = ws.subscription
        target, period, count = self._target(sub, plan, interval, seats)
        self._check_seats(target, count, members)
        unit = target.price(period)
        if sub.is_provider_managed and sub.subscription_ref is not None:
            if target.code == sub.plan and period is sub.interval and count <= sub.seats:
                return PricePreview(
                    target.code, period, count, Money.zero(unit.currency), unit * count,
                    applies_at=sub.period_end if count < sub.seats else None,
                )  # fmt: skip
            quote = self._provider.quote(
                QuoteRequest(target.code, period, count, unit, sub.subscription_ref)
            )
        else:
            quote = self._provider.quote(QuoteRequest(target.code, period, count, unit))
        return PricePreview(target.code, period, count, quote.due_now, quote.recurring, None)

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
        the user to ``Checkout.url``). From another paid plan the change is made
        at once with the payment method on file and ``Checkout.url`` is None.
        """

        def validate(ws: Workspace, members: list[Member]) -> tuple[Plan, Interval, int]:
            target, period, _ = self._target(ws.subscription, plan, interval, seats)
            count = self._check_seats(target, seats, members)  # required here, no default
            _text("success_url", success_url, 2000)
            _text("cancel_url", cancel_url, 2000)
            sub = ws.subscription
            if sub.is_sales_managed:
                raise InvalidRequest(
                    "this workspace has a negotiated plan: contact sales to change it"
                )
            if sub.is_provider_managed and target.code == sub.plan and period is sub.interval:
                raise InvalidRequest(
                    f"the workspace is already on {target.code!r} ({period.value}ly): "
                    "use change_seats to change its seats"
                )
            return target, period, count

        ws, members = self._read_for(workspace_id, actor, validate)
        target, period, count = validate(ws, members)
        sub = ws.subscription
        unit = target.price(period)
        if sub.is_provider_managed and sub.subscription_ref is not None:
            view = self._provider.change_plan(
                sub.subscription_ref,
                plan=target.code,
                interval=period,
                seats=count,
                unit_amount=unit,
                idempotency_key=_key(ws, "plan", target.code, period, count),
            )
            self._apply_view(ws.id, actor, view)
            return Checkout(id=view.ref, url=None)
        customer_ref = self._ensure_customer(ws, actor)
        ws = self.workspace(ws.id)
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
        key = _key(ws, "checkout", target.code, period, count, success_url, cancel_url)
        checkout = self._provider.create_checkout(request, idempotency_key=key)
        with self._store.unit_of_work() as uow:
            uow.append_events(
                [
                    Event(
                        type=EventType.CHECKOUT_STARTED,
                        workspace_id=ws.id,
                        at=self._clock.now(),
                        actor=actor,
                        before=summary(sub),
                        data={
                            "checkout_id": checkout.id,
                            "plan": target.code,
                            "interval": period.value,
                            "seats": count,
                        },
                    )
                ]
            )
        return checkout

    def change_seats(self, workspace_id: str, *, actor: str, seats: int) -> SubscriptionOverview:
        """Buy or give back seats (R9).

        An increase is charged at once, prorated, and granted when paid; a
        ``PaymentFailed`` leaves everything as it was. A decrease is scheduled
        for the next renewal, where R11 applies. Asking for the seats in force
        withdraws a scheduled decrease.
        """

        def validate(ws: Workspace, members: list[Member]) -> str:
            sub = ws.subscription
            if sub.is_sales_managed:
                raise InvalidRequest(
                    "seats of a negotiated plan are changed by sales (contact_sales)"
                )
            if not sub.is_provider_managed or sub.subscription_ref is None:
                raise InvalidRequest("seats are bought on a paid plan: upgrade first")
            self._check_seats(self.catalog.plan(sub.plan), seats, members)
            return sub.subscription_ref

        ws, members = self._read_for(workspace_id, actor, validate)
        ref = validate(ws, members)
        sub = ws.subscription
        if seats == sub.seats and sub.pending_seats is None:
            return self._overview(ws, members)
        if seats > sub.seats:
            view = self._provider.increase_seats(
                ref, seats, idempotency_key=_key(ws, "increase", seats)
            )
        else:
            if seats == sub.pending_seats:
                return self._overview(ws, members)
            view = self._provider.schedule_seat_decrease(
                ref, seats, idempotency_key=_key(ws, "decrease", seats)
            )
        return self._apply_view(ws.id, actor, view)

    def cancel(self, workspace_id: str, *, actor: str) -> SubscriptionOverview:
        """Cancel at the end of the paid period (R13); features stay until then."""
        return self._set_cancellation(workspace_id, actor, cancel=True)

    def resume(self, workspace_id: str, *, actor: str) -> SubscriptionOverview:
        """Withdraw a cancellation before the period ends (R13)."""
        return self._set_cancellation(workspace_id, actor, cancel=False)

    def billing_portal(self, workspace_id: str, *, actor: str, return_url: str) -> str:
        """A session of the provider's billing portal (cards, invoices, seats)."""
        ws, members = self._read(workspace_id)
        require_manager(ws.id, members, actor)
        return_url = _text("return_url", return_url, 2000)
        customer_ref = self._ensure_customer(ws, actor)
        ws = self.workspace(ws.id)
        return self._provider.portal_url(
            customer_ref,
            return_url=return_url,
            idempotency_key=_key(ws, "portal", return_url, self._clock.now().isoformat()),
        )

    def contact_sales(
        self, workspace_id: str, *, actor: str, message: str, plan: str | None = None
    ) -> Event:
        """Ask sales for a negotiated plan (R7); recorded as an event for the host."""
        ws, members = self._read(workspace_id)
        require_manager(ws.id, members, actor)
        message = _text("message", message, _MAX_MESSAGE)
        wanted = self.catalog.plan(plan) if plan is not None else self._sales_plan()
        with self._store.unit_of_work() as uow:
            (event,) = uow.append_events(
                [
                    Event(
                        type=EventType.SALES_CONTACTED,
                        workspace_id=ws.id,
                        at=self._clock.now(),
                        actor=actor,
                        before=summary(ws.subscription),
                        data={
                            "plan": wanted.code,
                            "message": message,
                            "seats_used": _used(members),
                        },
                    )
                ]
            )
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
        operator = _identifier("operator", operator)
        target = self.catalog.plan(plan) if plan is not None else self._sales_plan()
        period = Interval.parse(interval)
        if not isinstance(unit_amount, Money) or unit_amount.amount < 0:
            raise InvalidRequest("unit_amount must be a Money amount of 0 or more")
        if unit_amount.currency != self.catalog.currency:
            raise InvalidRequest(f"the catalog sells in {self.catalog.currency}")
        ws, members = self._read(workspace_id)
        self._check_seats(target, seats, members, floor=False)
        sub = ws.subscription
        if sub.is_provider_managed and sub.subscription_ref is not None:
            self._provider.cancel(
                sub.subscription_ref, at_period_end=False, idempotency_key=_key(ws, "cancel-now")
            )
        now = self._clock.now()

        def negotiated(ws: Workspace, members: list[Member]) -> Change:
            after = Subscription(
                plan=target.code,
                status=SubscriptionStatus.ACTIVE,
                seats=seats,
                interval=period,
                period_start=now,
                period_end=add_interval(now, period),
                anchor=now,
                unit_amount=unit_amount,
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
                data={"unit_amount": unit_amount.amount, "currency": unit_amount.currency},
            )
            changed, deactivated = deactivate_excess(new, members, seats, now, "plan_changed")
            return Change(new, changed, (applied, *deactivated))

        return self._change(ws.id, negotiated)

    # ---------------------------------------------------------------- members

    def add_member(
        self, workspace_id: str, *, actor: str, user: str, role: Role | str = Role.MEMBER
    ) -> Member:
        """Add a member in a free seat (R8, R10); ``SeatLimitReached`` when none is free."""
        user = _identifier("user", user)
        role = _role(role)
        now = self._clock.now()

        def add(ws: Workspace, members: list[Member]) -> Change:
            require_manager(ws.id, members, actor)
            existing = _find(members, user)
            if existing is not None:
                hint = "" if existing.is_active else ": reactivate them instead"
                raise Conflict(f"{user!r} is already a member of {ws.id!r}{hint}")
            _require_seat(ws, members)
            seq = ws.member_seq + 1
            member = Member(ws.id, user, role, MemberStatus.ACTIVE, now, now, seq)
            event = _member_event(
                EventType.MEMBER_ADDED, ws, member, actor, now, after={"role": role}
            )
            return Change(attrs.evolve(ws, member_seq=seq), (member,), (event,))

        return _member_named(self._member_action(workspace_id, add), user)

    def remove_member(self, workspace_id: str, *, actor: str, user: str) -> None:
        """Remove a member for good, freeing their seat; the owner cannot be removed."""
        now = self._clock.now()

        def remove(ws: Workspace, members: list[Member]) -> Change:
            require_manager(ws.id, members, actor)
            member = _member(ws, members, user)
            if member.is_owner:
                raise InvalidRequest("the owner cannot be removed from their workspace")
            before = {"role": member.role.value, "status": member.status.value}
            event = _member_event(EventType.MEMBER_REMOVED, ws, member, actor, now, before=before)
            return Change(ws, events=(event,), removed=(member.user,))

        self._member_action(workspace_id, remove)

    def reactivate_member(self, workspace_id: str, *, actor: str, user: str) -> Member:
        """Bring back a deactivated member into a free seat; they count as just added (R11)."""
        now = self._clock.now()

        def reactivate(ws: Workspace, members: list[Member]) -> Change:
            require_manager(ws.id, members, actor)
            member = _member(ws, members, user)
            if member.is_active:
                raise Conflict(f"{user!r} is already active in {ws.id!r}")
            _require_seat(ws, members)
            seq = ws.member_seq + 1
            back = attrs.evolve(
                member, status=MemberStatus.ACTIVE, active_since=now, seq=seq, deactivated_at=None
            )
            event = _member_event(
                EventType.MEMBER_REACTIVATED, ws, back, actor, now,
                before={"status": "deactivated"}, after={"status": "active"},
            )  # fmt: skip
            return Change(attrs.evolve(ws, member_seq=seq), (back,), (event,))

        return _member_named(self._member_action(workspace_id, reactivate), user)

    def change_role(self, workspace_id: str, *, actor: str, user: str, role: Role | str) -> Member:
        """Make a member an admin or a plain member; the owner's role never changes."""
        role = _role(role)
        now = self._clock.now()

        def change(ws: Workspace, members: list[Member]) -> Change:
            require_manager(ws.id, members, actor)
            member = _member(ws, members, user)
            if member.is_owner:
                raise InvalidRequest("the owner's role cannot change")
            if member.role is role:
                return Change(ws)
            changed = attrs.evolve(member, role=role)
            event = _member_event(
                EventType.ROLE_CHANGED, ws, changed, actor, now,
                before={"role": member.role.value}, after={"role": role.value},
            )  # fmt: skip
            return Change(ws, (changed,), (event,))

        return _member_named(self._member_action(workspace_id, change), user)

    # ------------------------------------------------------ renewals & webhooks

    def run_renewals(
        self,
        *,
        batch_size: int = 500,
        progress: Callable[[RenewalReport], object] | None = None,
    ) -> RenewalReport:
        """Apply every boundary due by now: trial ends, renewals, ends of grace (R11, R12).

        The due workspaces are claimed in batches, in ``(due_at, id)`` order. The
        boundaries the library owns (trial ends, negotiated plans, ends of grace)
        are decided for the whole batch and written in one transaction with a
        few set-based statements: a negotiated plan's renewal that deactivates
        nobody, the bulk of a sweep, is a narrow update of its period; members
        are loaded only where R11 has someone to deactivate. Provider-managed
        renewals are then fetched from the provider, one workspace at a time,
        outside any lock. On PostgreSQL a batch skips rows another worker holds,
        so several workers share the sweep.

        Safe to run as often as you like, and to kill: a batch commits whole or
        not at all, a boundary is applied once per period, and a second run
        finds nothing to do. In the outbox, a batch's events come grouped by
        the way they were written (the general path's, then the renewals in
        place); each workspace's own events keep their order. A workspace that
        fails is logged, reported and retried by the next run; it does not stop
        the others. ``progress`` is called with the report so far after each batch.
        """
        if batch_size < 1:
            raise InvalidRequest("batch_size must be at least 1")
        now = self._clock.now()
        after: tuple[datetime, str] | None = None
        report = _Tally()
        while True:
            with self._store.unit_of_work() as uow:
                batch = uow.claim_due(now, batch_size, after=after)
                if not batch:
                    break
                last_due = batch[-1].due_at
                assert last_due is not None
                after = (last_due, batch[-1].id)
                remote = [ws.id for ws in batch if ws.subscription.is_provider_managed]
                local = [ws for ws in batch if not ws.subscription.is_provider_managed]
                counts = uow.active_member_counts([ws.id for ws in local])
                in_place: list[Renewal] = []
                rest: list[Workspace] = []
                for ws in local:
                    renewal = renewal_in_place(ws, counts[ws.id], now, self.catalog)
                    if renewal is None:
                        rest.append(ws)
                    else:
                        in_place.append(renewal)
                members = self._members_at_risk(uow, rest, counts)
                decided = [
                    (ws, change)
                    for ws in rest
                    if (change := local_boundary(ws, members[ws.id], now, self.catalog))
                ]
                self._save_many(uow, decided)
                uow.renew_in_place(in_place)
            report.examined += len(batch)
            report.changed += len(in_place)
            for _, change in decided:
                report.count(change)
            for ws_id in remote:
                try:
                    outcome = self._settle_boundary(ws_id, now)
                except BillingError as e:
                    log.warning("renewal of %s failed: %s", ws_id, e)
                    report.failed.append((ws_id, e.code))
                    continue
                if outcome is None:
                    report.waiting.append(ws_id)
                else:
                    report.count(outcome)
            if progress is not None:
                progress(report.freeze())
        return report.freeze()

    def due_renewals(self, *, limit: int = 1000) -> list[tuple[Workspace, RenewalPreview]]:
        """The workspaces whose boundary is due now and what applying it would do,
        changing nothing: a dry run of ``run_renewals`` (names who would go)."""
        with self._store.unit_of_work(read_only=True) as uow:
            due = [ws for ws_id in uow.due_workspace_ids(self._clock.now(), limit)
                   if (ws := uow.get_workspace(ws_id)) is not None]  # fmt: skip
            members = uow.members_of([ws.id for ws in due])
        return [(ws, preview(ws, members[ws.id], self.catalog)) for ws in due]

    def reconcile(self, *, page_size: int = 100) -> ReconcileReport:
        """Compare every provider-managed workspace with the provider's view and repair
        drift (a lost webhook, a change made in the provider's dashboard).

        Repairs go through the same code path as webhooks, so a repair is what
        the missing webhook would have done. Run it daily; it is idempotent.
        """
        if page_size < 1:
            raise InvalidRequest("page_size must be at least 1")
        after: str | None = None
        examined = 0
        repaired: list[tuple[str, tuple[EventType, ...]]] = []
        failed: list[tuple[str, str]] = []
        while True:
            with self._store.unit_of_work(read_only=True) as uow:
                page = uow.subscribed_workspace_ids(after=after, limit=page_size)
            if not page:
                break
            after = page[-1]
            for ws_id in page:
                examined += 1
                try:
                    change = self._resync(ws_id)
                except BillingError as e:
                    log.warning("reconciling %s failed: %s", ws_id, e)
                    failed.append((ws_id, e.code))
                    continue
                if change is not None and change.events:
                    repaired.append((ws_id, tuple(e.type for e in change.events)))
        return ReconcileReport(examined, tuple(repaired), tuple(failed))

    def handle_webhook(self, payload: bytes, headers: Mapping[str, str]) -> WebhookResult:
        """Verify and apply a provider webhook (R14).

        The event's subscription is re-fetched from the provider and its current
        view applied, once per event id, so duplicates and any delivery order
        converge. A forged or altered webhook raises ``WebhookVerificationError``
        and changes nothing; answer it with HTTP 400. Unknown event types are
        acknowledged and ignored; answer them with 2xx.
        """
        if not isinstance(payload, bytes):
            raise InvalidRequest("pass the webhook's raw body as bytes, before any JSON parsing")
        applied = duplicates = ignored = 0
        for event in self._provider.parse_webhook(payload, headers):
            if event.type is ProviderEventType.OTHER or event.subscription_ref is None:
                with self._store.unit_of_work() as uow:
                    fresh = uow.claim_webhook_event(event.id)
                ignored, duplicates = ignored + fresh, duplicates + (not fresh)
                continue
            view = self._provider.fetch_subscription(event.subscription_ref)
            with self._store.unit_of_work() as uow:
                if not uow.claim_webhook_event(event.id):
                    duplicates += 1
                    continue
                ws_id = uow.find_workspace_id(subscription_ref=view.ref) or view.workspace_id
                ws = uow.get_workspace(ws_id, for_update=True)
                if ws is None or _foreign(ws, view.customer_ref):
                    log.info("webhook %s names no workspace of this host; ignored", event.id)
                    ignored += 1
                    continue
                members = uow.members(ws.id)
                change = apply_view(ws, members, view, self._clock.now(), self.catalog)
                self._save(uow, ws, change)
            if _stray(ws, view):
                log.warning(
                    "workspace %s follows subscription %s, but %s is live too (a second "
                    "checkout paid?): refund or cancel it at the provider",
                    ws.id, ws.subscription.subscription_ref, view.ref,
                )  # fmt: skip
                ignored += 1
                continue
            applied += 1
            if change.events:
                self._converge(ws.id, view)
        return WebhookResult(applied, duplicates, ignored)

    # -------------------------------------------------------------- internals

    def _converge(self, workspace_id: str, applied: ProviderSubscription) -> None:
        """Fetch again after a change and apply any newer view.

        Two handlers may fetch around one change and commit in the other order;
        the view applied last could then be the older one. A second fetch after
        the commit sees at least the newest state, so the mirror ends on it.
        """
        for _ in range(2):
            fresh = self._provider.fetch_subscription(applied.ref)
            if fresh == applied:
                return
            self._apply_view(workspace_id, None, fresh)
            applied = fresh

    def _read(
        self, workspace_id: str, *, with_members: bool = True
    ) -> tuple[Workspace, list[Member]]:
        with self._store.unit_of_work(read_only=True) as uow:
            ws = _get(uow, workspace_id)
            return ws, (uow.members(ws.id) if with_members else [])

    def _read_for(
        self,
        workspace_id: str,
        actor: str,
        check: Callable[[Workspace, list[Member]], object],
    ) -> tuple[Workspace, list[Member]]:
        """Read for an owner's or admin's change, after applying a boundary already due.

        A change made after a period ended but before the renewal was applied
        would otherwise be decided on last period's seats (and skip R11). The
        actor and the request are checked (``check`` raises) before the boundary
        is applied, so a refused request changes nothing; the caller checks again
        on the state it gets back.
        """
        ws, members = self._read(workspace_id)
        require_manager(ws.id, members, actor)
        check(ws, members)
        now = self._clock.now()
        if ws.due_at is None or ws.due_at > now:
            return ws, members
        self._settle_boundary(ws.id, now)
        ws, members = self._read(workspace_id)
        require_manager(ws.id, members, actor)
        return ws, members

    def _change(
        self, workspace_id: str, decide: Callable[[Workspace, list[Member]], Change]
    ) -> SubscriptionOverview:
        with self._store.unit_of_work() as uow:
            ws = _get(uow, workspace_id, for_update=True)
            saved = self._save(uow, ws, decide(ws, uow.members(ws.id)))
            return self._overview(saved, uow.members(ws.id))

    def _member_action(
        self, workspace_id: str, decide: Callable[[Workspace, list[Member]], Change]
    ) -> list[Member]:
        """Decide and save a member change in one locked transaction; returns the members.

        ``decide`` checks the actor and the request first, so a refusal rolls back
        with nothing written. When a boundary fell due and was not applied yet,
        it is applied first (after the request was found acceptable) and the
        change is decided again on the new state.
        """
        now = self._clock.now()
        for attempt in range(2):
            with self._store.unit_of_work() as uow:
                ws = _get(uow, workspace_id, for_update=True)
                members = uow.members(ws.id)
                change = decide(ws, members)
                if attempt == 1 or ws.due_at is None or ws.due_at > now:
                    self._save(uow, ws, change)
                    return _members_after(members, change)
            self._settle_boundary(workspace_id, now)
        raise AssertionError("unreachable")  # pragma: no cover

    def _due(self, ws: Workspace) -> Workspace:
        """``ws`` with ``due_at`` set to its next boundary, for the sweep's index."""
        due = ws.subscription.next_boundary(self.catalog)
        return ws if ws.due_at == due else attrs.evolve(ws, due_at=due)

    def _save(self, uow: UnitOfWork, stored: Workspace, change: Change) -> Workspace:
        ws = self._due(change.workspace)
        saved = uow.save_workspace(ws) if ws != stored else stored
        for member in change.members:
            uow.save_member(member)
        for user in change.removed:
            uow.delete_member(ws.id, user)
        if change.events:
            uow.append_events(change.events)
        return saved

    def _apply_view(
        self, workspace_id: str, actor: str | None, view: ProviderSubscription
    ) -> SubscriptionOverview:
        now = self._clock.now()
        return self._change(
            workspace_id,
            lambda ws, members: apply_view(ws, members, view, now, self.catalog, actor),
        )

    def _resync(self, workspace_id: str) -> Change | None:
        ref = self.workspace(workspace_id).subscription.subscription_ref
        if ref is None:
            return None
        view = self._provider.fetch_subscription(ref)
        now = self._clock.now()
        return self._boundary_tx(
            workspace_id, lambda ws, m: apply_view(ws, m, view, now, self.catalog)
        )

    def _members_at_risk(
        self, uow: UnitOfWork, batch: Sequence[Workspace], active: Mapping[str, int]
    ) -> dict[str, list[Member]]:
        """Members of the workspaces whose boundary leaves fewer seats than ``active``
        members (R11 needs them); an empty list for the others, which lose nobody."""
        short = [
            ws.id
            for ws in batch
            if next_boundary_terms(ws.subscription, self.catalog)[2] < active[ws.id]
        ]
        members: dict[str, list[Member]] = {ws.id: [] for ws in batch}
        members.update(uow.members_of(short))
        return members

    def _save_many(self, uow: UnitOfWork, decided: list[tuple[Workspace, Change]]) -> None:
        """Write a batch of decisions with one statement per kind of row."""
        if not decided:
            return
        uow.save_workspaces([self._due(change.workspace) for _, change in decided])
        uow.save_members([m for _, change in decided for m in change.members])
        uow.append_events([e for _, change in decided for e in change.events])

    def _settle_boundary(self, workspace_id: str, now: datetime) -> Change | None:
        """Apply one due boundary; None when it waits on the provider."""
        ws = self.workspace(workspace_id)
        sub = ws.subscription
        if sub.is_provider_managed and sub.subscription_ref is not None:
            view = self._provider.fetch_subscription(sub.subscription_ref)
            grace_over = (grace := sub.grace_ends_at(self.catalog)) is not None and grace <= now
            if grace_over and view.status is ProviderStatus.PAST_DUE:
                self._provider.cancel(
                    view.ref, at_period_end=False, idempotency_key=_key(ws, "cancel-unpaid")
                )
                return self._boundary_tx(
                    workspace_id, lambda ws, m: local_boundary(ws, m, now, self.catalog)
                )
            change = self._boundary_tx(
                workspace_id, lambda ws, m: apply_view(ws, m, view, now, self.catalog)
            )
            if change is None or not change.events:
                return None
            return change
        return self._boundary_tx(
            workspace_id, lambda ws, m: local_boundary(ws, m, now, self.catalog)
        )

    def _boundary_tx(
        self, workspace_id: str, decide: Callable[[Workspace, list[Member]], Change | None]
    ) -> Change | None:
        with self._store.unit_of_work() as uow:
            ws = _get(uow, workspace_id, for_update=True)
            change = decide(ws, uow.members(ws.id))
            if change is None:
                return None
            self._save(uow, ws, change)
            return change

    def _ensure_customer(self, ws: Workspace, actor: str) -> str:
        if ws.subscription.customer_ref is not None:
            return ws.subscription.customer_ref
        ref = self._provider.create_customer(
            workspace_id=ws.id, name=ws.name, owner=ws.owner, idempotency_key=f"wb:{ws.id}:customer"
        )
        now = self._clock.now()

        def record(ws: Workspace, members: list[Member]) -> Change:
            if ws.subscription.customer_ref is not None:
                return Change(ws)
            sub = attrs.evolve(ws.subscription, customer_ref=ref)
            event = Event(
                type=EventType.CUSTOMER_CREATED,
                workspace_id=ws.id,
                at=now,
                actor=actor,
                data={"customer_ref": ref},
            )
            return Change(attrs.evolve(ws, subscription=sub), (), (event,))

        self._change(ws.id, record)
        customer = self.workspace(ws.id).subscription.customer_ref
        assert customer is not None
        return customer

    def _set_cancellation(
        self, workspace_id: str, actor: str, *, cancel: bool
    ) -> SubscriptionOverview:

        def validate(ws: Workspace, members: list[Member]) -> None:
            if not ws.subscription.status.is_paid:
                raise InvalidRequest("there is no paid subscription to cancel or resume")

        ws, members = self._read_for(workspace_id, actor, validate)
        validate(ws, members)
        sub = ws.subscription
        if sub.cancel_at_period_end is cancel:
            return self._overview(ws, members)
        if sub.is_provider_managed and sub.subscription_ref is not None:
            ref = sub.subscription_ref
            if cancel:
                view = self._provider.cancel(
                    ref, at_period_end=True, idempotency_key=_key(ws, "cancel")
                )
            else:
                view = self._provider.resume(ref, idempotency_key=_key(ws, "resume"))
            return self._apply_view(ws.id, actor, view)
        now = self._clock.now()

        def flag(ws: Workspace, members: list[Member]) -> Change:
            after = attrs.evolve(ws.subscription, cancel_at_period_end=cancel)
            kind = EventType.CANCELLATION_SCHEDULED if cancel else EventType.CANCELLATION_REVOKED
            event = Event(
                type=kind, workspace_id=ws.id, at=now, actor=actor,
                before=summary(ws.subscription), after=summary(after),
            )  # fmt: skip
            return Change(attrs.evolve(ws, subscription=after), (), (event,))

        return self._change(ws.id, flag)

    def _target(
        self,
        sub: Subscription,
        plan: str | None,
        interval: str | Interval | None,
        seats: int | None,
    ) -> tuple[Plan, Interval, int]:
        """The plan, interval and seats a change asks for, defaults from what is in force."""
        if plan is None and not sub.status.is_paid:
            raise InvalidRequest("name the plan to upgrade to")
        target = self.catalog.plan(plan if plan is not None else sub.plan)
        if not target.self_serve:
            raise PlanNotSelfServe(
                f"plan {target.code!r} is sold by our sales team: use contact_sales"
            )
        if not target.per_seat:
            raise InvalidRequest(f"plan {target.code!r} is not a paid plan")
        period = sub.interval or Interval.MONTH if interval is None else Interval.parse(interval)
        target.price(period)
        count = seats if seats is not None else sub.seats
        return target, period, count

    def _check_seats(
        self, plan: Plan, seats: object, members: Iterable[Member], *, floor: bool = True
    ) -> int:
        if isinstance(seats, bool) or not isinstance(seats, int):
            raise InvalidRequest(f"seats must be a whole number, not {seats!r}")
        if seats < 1:
            raise InvalidRequest("seats must be at least 1: the owner holds a seat")
        if seats > plan.max_seats:
            raise InvalidRequest(
                f"at most {plan.max_seats} seats can be bought on {plan.code!r}; "
                "contact sales for more"
            )
        used = _used(members)
        if floor and self.catalog.seat_floor is SeatFloor.SEATS_IN_USE and seats < used:
            raise InvalidRequest(
                f"{used} members are active: remove members before going below {used} seats"
            )
        return seats

    def _sales_plan(self) -> Plan:
        for plan in self.catalog.plans:
            if not plan.self_serve:
                return plan
        raise InvalidRequest("the catalog has no plan sold through sales")

    def _entitlements(self, sub: Subscription) -> Entitlements:
        """What the workspace may use now: a trial or a grace period that ended grants
        the fallback's features at once, even before the renewal job applies it."""
        due = sub.next_boundary(self.catalog)
        lapsing = sub.status in (SubscriptionStatus.TRIALING, SubscriptionStatus.PAST_DUE)
        if lapsing and due is not None and due <= self._clock.now():
            sub = Subscription.fallback(self.catalog)
        return self.catalog.entitlements(sub.plan, expired=sub.status is SubscriptionStatus.EXPIRED)

    def _overview(self, ws: Workspace, members: list[Member]) -> SubscriptionOverview:
        sub = ws.subscription
        plan = self.catalog.plan(sub.plan)
        next_seats = sub.pending_seats if sub.pending_seats is not None else sub.seats
        return SubscriptionOverview(
            workspace_id=ws.id,
            plan=sub.plan,
            plan_name=plan.name,
            status=sub.status,
            interval=sub.interval,
            seats=sub.seats,
            seats_used=_used(members),
            pending_seats=sub.pending_seats,
            pending_seats_at=sub.period_end if sub.pending_seats is not None else None,
            trial_ends_at=sub.trial_ends_at,
            period_start=sub.period_start,
            renews_at=None if sub.cancel_at_period_end else sub.period_end,
            cancel_at_period_end=sub.cancel_at_period_end,
            grace_ends_at=sub.grace_ends_at(self.catalog),
            price_per_seat=sub.unit_amount,
            total=sub.recurring_total(),
            next_total=sub.recurring_total(next_seats),
            features=self._entitlements(sub),
            preview=preview(ws, members, self.catalog),
        )


# ------------------------------------------------------------------- helpers


@attrs.define
class _Tally:
    examined: int = 0
    changed: int = 0
    deactivated: int = 0
    waiting: list[str] = attrs.Factory(list)
    failed: list[tuple[str, str]] = attrs.Factory(list)

    def count(self, change: Change) -> None:
        if change.events:
            self.changed += 1
        self.deactivated += sum(1 for e in change.events if e.type is EventType.MEMBER_DEACTIVATED)

    def freeze(self) -> RenewalReport:
        return RenewalReport(
            self.examined, self.changed, self.deactivated, tuple(self.waiting), tuple(self.failed)
        )


def _get(uow: UnitOfWork, workspace_id: str, *, for_update: bool = False) -> Workspace:
    if not isinstance(workspace_id, str):
        raise InvalidRequest(f"a workspace id is a string, not {workspace_id!r}")
    ws = uow.get_workspace(workspace_id, for_update=for_update)
    if ws is None:
        raise NotFound(f"no workspace {workspace_id!r}")
    return ws


def _members_after(members: list[Member], change: Change) -> list[Member]:
    after = {m.user: m for m in members}
    after.update({m.user: m for m in change.members})
    for user in change.removed:
        after.pop(user, None)
    return list(after.values())


def _member_named(members: Iterable[Member], user: str) -> Member:
    member = _find(members, user)
    assert member is not None
    return member


def _find(members: Iterable[Member], user: str) -> Member | None:
    return next((m for m in members if m.user == user), None)


def _member(ws: Workspace, members: Iterable[Member], user: str) -> Member:
    member = _find(members, user)
    if member is None:
        raise NotFound(f"{user!r} is not a member of {ws.id!r}")
    return member


def _used(members: Iterable[Member]) -> int:
    return sum(1 for m in members if m.is_active)


def _require_seat(ws: Workspace, members: Iterable[Member]) -> None:
    used = _used(members)
    if used >= ws.subscription.seats:
        raise SeatLimitReached(seats_used=used, seats=ws.subscription.seats)


def _member_event(
    kind: EventType,
    ws: Workspace,
    member: Member,
    actor: str,
    now: datetime,
    *,
    before: Mapping[str, str] | None = None,
    after: Mapping[str, str] | None = None,
) -> Event:
    return Event(
        type=kind,
        workspace_id=ws.id,
        at=now,
        actor=actor,
        subject=member.user,
        before=dict(before or {}),
        after=dict(after or {}),
        data={"seq": member.seq},
    )


def _stray(ws: Workspace, view: ProviderSubscription) -> bool:
    """A live subscription the workspace does not follow, while it follows another."""
    sub = ws.subscription
    return (
        sub.status.is_paid
        and sub.subscription_ref != view.ref
        and view.status in (ProviderStatus.ACTIVE, ProviderStatus.PAST_DUE)
    )


def _foreign(ws: Workspace, customer_ref: str) -> bool:
    """True when the view's customer is not the workspace's: never apply it."""
    known = ws.subscription.customer_ref
    return known is not None and known != customer_ref


def _role(role: Role | str) -> Role:
    try:
        parsed = Role(role)
    except ValueError:
        raise InvalidRequest(f"unknown role {role!r}: use 'admin' or 'member'") from None
    if parsed is Role.OWNER:
        raise InvalidRequest("a workspace has one owner, set when it is created")
    return parsed


def _identifier(what: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"{what} must be a non-empty string, not {value!r}")
    if len(value) > _MAX_ID and what == "workspace_id":
        raise InvalidRequest(f"{what} is at most {_MAX_ID} characters")
    if len(value) > 255:
        raise InvalidRequest(f"{what} is at most 255 characters")
    return value


def _text(what: str, value: object, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"{what} must be a non-empty string")
    if len(value) > limit:
        raise InvalidRequest(f"{what} is at most {limit} characters")
    return value


def _key(ws: Workspace, action: str, *parts: object) -> str:
    """An idempotency key for a provider write: the same intent at the same
    workspace version gives the same key, so a retried request never charges twice."""
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:24]
    return f"wb:{ws.id}:{ws.version}:{action}:{digest}"


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None
