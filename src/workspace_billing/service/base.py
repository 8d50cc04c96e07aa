"""The wiring of Billing and the I/O steps its parts share.

Every action has the same shape: read (and lock) a workspace, let a pure
function decide a :class:`~workspace_billing.renewal.Change`, save the change
and its events in the same transaction. The steps here are that shape's I/O
halves, kept thin so an asyncio twin of ``Billing`` can reimplement them over
an async store and reuse every decision unchanged.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

import attrs

from ..catalog import Catalog
from ..clock import SystemClock
from ..errors import InvalidRequest
from ..events import Event, EventType
from ..mirror import apply_view
from ..overview import SubscriptionOverview, overview_of
from ..permissions import require_manager
from ..ports import Clock, PaymentProvider, ProviderStatus, ProviderSubscription, Store, UnitOfWork
from ..renewal import Change, local_boundary
from ..workspace import Member, Workspace
from .checks import get_workspace, intent_key

Decide = Callable[[Workspace, list[Member]], Change]
"""A pure decision on a workspace and its members, as read under the lock."""


class ServiceBase:
    """What every part of :class:`~workspace_billing.Billing` shares: its wiring and
    the steps that read, lock and save a workspace around a pure decision."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        store: Store,
        provider: PaymentProvider,
        clock: Clock | None = None,
        id_factory: Callable[[], str] | None = None,
        email_of: Callable[[str], str | None] | None = None,
    ) -> None:
        self.catalog = catalog
        self._store = store
        self._provider = provider
        self._clock: Clock = _AwareClock(clock or SystemClock())
        self._new_id = id_factory or (lambda: f"ws_{uuid.uuid4().hex}")
        self._email_of = email_of

    def __repr__(self) -> str:
        return f"Billing(store={self._store!r}, provider={self._provider!r})"

    # ------------------------------------------------------------------ reads

    def _load(self, workspace_id: str) -> Workspace:
        with self._store.unit_of_work(read_only=True) as uow:
            return get_workspace(uow, workspace_id)

    def _read(
        self, workspace_id: str, *, with_members: bool = True
    ) -> tuple[Workspace, list[Member]]:
        with self._store.unit_of_work(read_only=True) as uow:
            ws = get_workspace(uow, workspace_id)
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

    def _overview(self, ws: Workspace, members: list[Member]) -> SubscriptionOverview:
        return overview_of(ws, members, self.catalog, self._clock.now())

    # ----------------------------------------------------------------- writes

    def _change(self, workspace_id: str, decide: Decide) -> SubscriptionOverview:
        """Decide and save under the workspace's lock; the overview after the change."""
        with self._store.unit_of_work() as uow:
            ws = get_workspace(uow, workspace_id, for_update=True)
            saved = self._save(uow, ws, decide(ws, uow.members(ws.id)))
            return self._overview(saved, uow.members(ws.id))

    def _member_action(self, workspace_id: str, decide: Decide) -> list[Member]:
        """Decide and save a member change in one locked transaction; returns the members.

        ``decide`` checks the actor and the request first, so a refusal rolls back
        with nothing written. When a boundary fell due and was not applied yet,
        it is applied first (after the request was found acceptable) and the
        change is decided again on the new state.
        """
        now = self._clock.now()
        for attempt in range(2):
            with self._store.unit_of_work() as uow:
                ws = get_workspace(uow, workspace_id, for_update=True)
                members = uow.members(ws.id)
                change = decide(ws, members)
                if attempt == 1 or ws.due_at is None or ws.due_at > now:
                    self._save(uow, ws, change)
                    return members_after(members, change)
            self._settle_boundary(workspace_id, now)
        raise AssertionError("unreachable")  # pragma: no cover

    def _save(self, uow: UnitOfWork, stored: Workspace, change: Change) -> Workspace:
        ws = with_due(change.workspace, self.catalog)
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

    # ------------------------------------------------------------- boundaries

    def _settle_boundary(self, workspace_id: str, now: datetime) -> Change | None:
        """Apply one due boundary; None when it waits on the provider."""
        ws = self._load(workspace_id)
        sub = ws.subscription
        if sub.is_provider_managed and sub.subscription_ref is not None:
            view = self._provider.fetch_subscription(sub.subscription_ref)
            grace_over = (grace := sub.grace_ends_at(self.catalog)) is not None and grace <= now
            if grace_over and view.status is ProviderStatus.PAST_DUE:
                self._provider.cancel(
                    view.ref, at_period_end=False, idempotency_key=intent_key(ws, "cancel-unpaid")
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
            ws = get_workspace(uow, workspace_id, for_update=True)
            change = decide(ws, uow.members(ws.id))
            if change is None:
                return None
            self._save(uow, ws, change)
            return change

    # --------------------------------------------------------------- provider

    def _ensure_customer(self, ws: Workspace, actor: str) -> str:
        """The workspace's provider customer, created once (the key is per workspace)."""
        if ws.subscription.customer_ref is not None:
            return ws.subscription.customer_ref
        email = self._email_of(ws.owner) if self._email_of is not None else None
        # ``email`` is passed only when known, so a provider written against the
        # port before it had ``email`` keeps working for hosts that give none.
        details = {"email": email} if email else {}
        ref = self._provider.create_customer(
            workspace_id=ws.id, name=ws.name, owner=ws.owner,
            idempotency_key=intent_key(ws, "customer"),  # a new one after a deletion
            **details,
        )  # fmt: skip
        now = self._clock.now()
        self._change(ws.id, lambda ws, _: record_customer(ws, ref=ref, actor=actor, now=now))
        customer = self._load(ws.id).subscription.customer_ref
        assert customer is not None
        return customer


class _AwareClock:
    """The host's clock, refused the moment it gives a naive datetime: stores would
    each fail their own way (or not at all) on the first write."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.now()  # at construction: a wrong clock fails the wiring, not a request

    def now(self) -> datetime:
        now = self._clock.now()
        if not isinstance(now, datetime) or now.tzinfo is None or now.utcoffset() is None:
            raise InvalidRequest(
                f"the clock gave {now!r}: it must return aware datetimes (tzinfo=UTC)",
                code="invalid_clock",
            )
        return now

    def __repr__(self) -> str:
        return repr(self._clock)


# ----------------------------------------------------------------- decisions


def with_due(ws: Workspace, catalog: Catalog) -> Workspace:
    """``ws`` with ``due_at`` set to its next boundary, for the sweep's index."""
    due = ws.subscription.next_boundary(catalog)
    return ws if ws.due_at == due else attrs.evolve(ws, due_at=due)


def members_after(members: list[Member], change: Change) -> list[Member]:
    """The members as ``change`` leaves them."""
    after = {m.user: m for m in members}
    after.update({m.user: m for m in change.members})
    for user in change.removed:
        after.pop(user, None)
    return list(after.values())


def record_customer(ws: Workspace, *, ref: str, actor: str, now: datetime) -> Change:
    """Link the provider customer, unless a concurrent action linked one first."""
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
