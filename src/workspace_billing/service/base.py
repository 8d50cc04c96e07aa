"""The wiring of Billing and the I/O steps its parts share.

Every action has the same shape: read (and lock) a workspace, let a pure
function decide a :class:`~workspace_billing.renewal.Change`, save the change
and its events in the same transaction. The steps here are that shape's I/O
halves, kept thin so an asyncio twin of ``Billing`` can reimplement them over
an async store and reuse every decision unchanged.
"""

from __future__ import annotations

import functools
import secrets
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol, TypeVar, cast, runtime_checkable

import attrs

from ..catalog import Catalog, Entitlements
from ..clock import SystemClock
from ..errors import InvalidRequest, NotFound
from ..events import Event, EventType
from ..invitation import DEFAULT_TTL, Invitation, check_ttl, seats_in_use
from ..mirror import apply_view
from ..notices import Notices
from ..overview import SubscriptionOverview, overview_of
from ..permissions import require_manager
from ..ports import Clock, PaymentProvider, ProviderStatus, ProviderSubscription, Store, UnitOfWork
from ..renewal import Change, local_boundary, members_after, revoke_beyond_seats
from ..workspace import Member, Workspace
from .cache import EntitlementsCache, OverviewCache
from .checks import MAX_ID, check_workspace_id, found, get_workspace, intent_key, plain_id

T = TypeVar("T")
Decide = Callable[[Workspace, list[Member]], Change]
"""A pure decision on a workspace and its members, as read under the lock."""
DecideInvited = Callable[[Workspace, list[Member], list[Invitation]], Change]
"""A pure decision on a workspace, its members and its invitations, read under the lock."""
DecideSeated = Callable[[Workspace, list[Member], int], Change]
"""A pure decision on a workspace, the members it looks at and the seats held now."""


@runtime_checkable
class ReadsOneWorkspace(Protocol):
    """What a store may offer beyond the ``Store`` port: one workspace as last
    committed, read without a transaction (``SQLStore`` and ``InMemoryStore`` do).

    A read of one workspace needs no more: one statement is its own consistent
    snapshot, and a transaction around it cost a request two more statements
    (on PostgreSQL two more round trips). Stores without it are read through a
    read-only unit of work, as before.
    """

    def read_workspace(self, workspace_id: str) -> Workspace | None: ...


@runtime_checkable
class ReadsForMember(Protocol):
    """What a store may offer beyond the port: in one consistent read, a workspace,
    how many of its members are active, how many of its invitations are pending
    at ``now``, and one user's membership (or None), or None when the workspace
    does not exist. The subscription screen needs no more (the user is the
    actor), unless the next boundary deactivates or revokes someone."""

    def read_workspace_for(
        self, workspace_id: str, user: str, now: datetime
    ) -> tuple[Workspace, int, int, Member | None] | None: ...


@runtime_checkable
class ReadsMembersNamed(Protocol):
    """What a unit of work may offer beyond the port: the members among one or two
    user ids, in the order of ``members``. A change to one member (its removal,
    its role) looks at no other, and reading them all cost a request more than
    the change."""

    def members_named(self, workspace_id: str, users: Sequence[str]) -> list[Member]: ...


@functools.cache
def _reads_members_named(kind: type) -> bool:
    return issubclass(kind, ReadsMembersNamed)  # once a class: the check is slow


@runtime_checkable
class ReadsSeats(Protocol):
    """What a unit of work may offer beyond the port: the workspace locked, the
    members among one or two user ids and the seats held at ``now`` (active
    members and pending invitations), in one read; None when the workspace does
    not exist. Adding or reactivating a member needs no more: reading every
    member and invitation to count them cost a request more than the change."""

    def seats_for(
        self, workspace_id: str, users: Sequence[str], now: datetime
    ) -> tuple[Workspace, list[Member], int] | None: ...


@functools.cache
def _reads_seats(kind: type) -> bool:
    return issubclass(kind, ReadsSeats)


@runtime_checkable
class RecordsEvents(Protocol):
    """What a unit of work may offer beyond the port: ``append_events`` without
    handing the events back with their cursors, which a change that only
    records them never reads (reading the cursors back, and a copy of each
    event, cost a member change more than the insert)."""

    def record_events(self, new: Sequence[Event]) -> None: ...


@functools.cache
def _records_events(kind: type) -> bool:
    return issubclass(kind, RecordsEvents)


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
        notices: Notices | None = Notices(),  # noqa: B008 - a frozen value
        invitation_ttl: timedelta = DEFAULT_TTL,
        invitation_id_factory: Callable[[], str] | None = None,
    ) -> None:
        self.catalog = catalog
        self._store = store
        self._provider = provider
        self._clock: Clock = _AwareClock(clock or SystemClock())
        self._new_id = id_factory or (lambda: f"ws_{uuid.uuid4().hex}")
        self._email_of = email_of
        self._invitation_ttl = check_ttl(invitation_ttl)
        self._new_invitation_id = invitation_id_factory or (lambda: secrets.token_urlsafe(24))
        """192 random bits, 32 URL-safe characters: the secret an invitation link carries."""
        self._notices = notices_of(notices)
        self._read_one = store.read_workspace if isinstance(store, ReadsOneWorkspace) else None
        self._entitlements = EntitlementsCache()
        self._steady = self._entitlements.steady  # the same dict, one lookup fewer per call
        self._overviews = OverviewCache()
        self._read_counted = store.read_workspace_for if isinstance(store, ReadsForMember) else None
        self._feature_ids: tuple[Catalog | None, frozenset[str]] = (None, frozenset())
        """The catalog's feature ids, for ``has_feature``'s check of its argument."""

    def __repr__(self) -> str:
        return f"Billing(store={self._store!r}, provider={self._provider!r})"

    # ------------------------------------------------------------------ reads

    def _load(self, workspace_id: str) -> Workspace:
        if self._read_one is not None:
            if not (
                type(workspace_id) is str
                and len(workspace_id) <= MAX_ID
                and workspace_id.isascii()
                and workspace_id.isprintable()
            ):  # not the usual id at once: the full check
                check_workspace_id(workspace_id)
            return found(workspace_id, self._read_one(workspace_id))
        with self._store.unit_of_work(read_only=True) as uow:
            return get_workspace(uow, workspace_id)

    def _entitlements_now(self, ws: Workspace) -> Entitlements:
        return self._entitlements.of(ws, self.catalog, self._clock.now)

    def _read(
        self, workspace_id: str, *, with_members: bool = True
    ) -> tuple[Workspace, list[Member]]:
        with self._store.unit_of_work(read_only=True) as uow:
            ws = get_workspace(uow, workspace_id)
            return ws, (uow.members(ws.id) if with_members else [])

    def _read_invited(self, workspace_id: str) -> tuple[Workspace, list[Member], list[Invitation]]:
        """The workspace, its members and its invitations (expired ones not deleted
        yet included), in one read-only transaction."""
        with self._store.unit_of_work(read_only=True) as uow:
            ws = get_workspace(uow, workspace_id)
            return ws, uow.members(ws.id), uow.invitations(ws.id)

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

    def _overview(
        self, ws: Workspace, members: list[Member], invitations: Sequence[Invitation] = ()
    ) -> SubscriptionOverview:
        return overview_of(ws, members, self.catalog, self._clock.now(), invitations)

    # ----------------------------------------------------------------- writes

    def _change(self, workspace_id: str, decide: Decide) -> SubscriptionOverview:
        """Decide and save under the workspace's lock; the overview after the change."""
        with self._store.unit_of_work() as uow:
            ws = get_workspace(uow, workspace_id, for_update=True)
            saved = self._save(uow, ws, decide(ws, uow.members(ws.id)))
            return self._overview(saved, uow.members(ws.id), uow.invitations(ws.id))

    def _member_action(
        self, workspace_id: str, decide: Decide, *, needs: tuple[object, ...] = ()
    ) -> list[Member]:
        """Decide and save a member change in one locked transaction; returns the members.

        ``decide`` checks the actor and the request first, so a refusal rolls back
        with nothing written. When a boundary fell due and was not applied yet,
        it is applied first (after the request was found acceptable) and the
        change is decided again on the new state. A decision that looks only at
        the members ``needs`` names (the actor and the member changed) is given
        those alone, when the store can read them so (``ReadsMembersNamed``).
        """
        now = self._clock.now()

        def step(uow: UnitOfWork, final: bool) -> list[Member] | None:
            ws = get_workspace(uow, workspace_id, for_update=True)
            if needs and _reads_members_named(type(uow)) and all(map(plain_id, needs)):
                named = cast(ReadsMembersNamed, uow)
                members = named.members_named(ws.id, [str(user) for user in needs])
            else:
                members = uow.members(ws.id)
            change = decide(ws, members)
            if not final and _boundary_pending(ws, now):
                return None
            self._save(uow, ws, change)
            return members_after(members, change)

        return self._after_boundary(workspace_id, now, step)

    def _seat_action(
        self, workspace_id: str, decide: DecideSeated, *, needs: tuple[str, str]
    ) -> Change:
        """``_member_action`` for a decision that takes a seat (R8): ``decide`` is given
        the members ``needs`` names (the actor, the member) and the seats held now
        (active members and pending invitations), read under the workspace's lock:
        in one statement when the unit of work offers ``seats_for``
        (``ReadsSeats``), else counted from every member and invitation. Returns
        the change written."""
        now = self._clock.now()

        def step(uow: UnitOfWork, final: bool) -> Change | None:
            if _reads_seats(type(uow)) and all(map(plain_id, needs)):
                check_workspace_id(workspace_id)
                read = cast(ReadsSeats, uow).seats_for(workspace_id, needs, now)
                if read is None:
                    raise NotFound(f"no workspace {workspace_id!r}")
                ws, members, held = read
            else:
                ws = get_workspace(uow, workspace_id, for_update=True)
                members = uow.members(ws.id)
                held = seats_in_use(members, uow.invitations(ws.id), now)
            change = decide(ws, members, held)
            if not final and _boundary_pending(ws, now):
                return None
            return self._save_change(uow, ws, change)[1]

        return self._after_boundary(workspace_id, now, step)

    def _invited_action(self, workspace_id: str, decide: DecideInvited) -> Change:
        """``_member_action`` for the decisions that count seats or change invitations
        (R8): ``decide`` is also given the workspace's invitations, read under the
        workspace's lock (their rows locked too on PostgreSQL, so the expiry sweep
        skips them until the change commits). Returns the change written."""
        now = self._clock.now()

        def step(uow: UnitOfWork, final: bool) -> Change | None:
            ws = get_workspace(uow, workspace_id, for_update=True)
            members = uow.members(ws.id)
            change = decide(ws, members, uow.invitations(ws.id, for_update=True))
            if not final and _boundary_pending(ws, now):
                return None
            return self._save_change(uow, ws, change)[1]

        return self._after_boundary(workspace_id, now, step)

    def _after_boundary(
        self, workspace_id: str, now: datetime, step: Callable[[UnitOfWork, bool], T | None]
    ) -> T:
        """Run ``step`` in one locked transaction. A step that finds the workspace's
        boundary due and not applied yet writes nothing and returns None, having
        checked the request first (a refusal is raised as it is): the boundary is
        then applied and the step run again, ``final``, on the state it leaves."""
        for final in (False, True):
            with self._store.unit_of_work() as uow:
                done = step(uow, final)
                if done is not None:
                    return done
            self._settle_boundary(workspace_id, now)
        raise AssertionError("a final step always returns")  # pragma: no cover

    def _save(self, uow: UnitOfWork, stored: Workspace, change: Change) -> Workspace:
        return self._save_change(uow, stored, change)[0]

    def _save_change(
        self, uow: UnitOfWork, stored: Workspace, change: Change
    ) -> tuple[Workspace, Change]:
        """Write ``change``; the workspace saved and the change as written.

        A change that lowers the seats first revokes the pending invitations that
        no longer fit (``renewal.revoke_beyond_seats``): whichever decision made
        it, seats held never exceed seats bought, and members keep their seats
        before invitations do (R11).
        """
        if change.workspace.subscription.seats < stored.subscription.seats:
            invited = uow.invitations(stored.id, for_update=True)
            if invited:
                members = uow.members(stored.id)
                change = revoke_beyond_seats(change, members, invited, self._clock.now())
        ws = with_due(change.workspace, self.catalog)
        saved = stored if ws is stored or ws == stored else uow.save_workspace(ws)
        for member in change.members:
            uow.save_member(member)
        for user in change.removed:
            uow.delete_member(ws.id, user)
        if change.uninvited:
            uow.delete_invitations(change.uninvited)
        for invitation in change.invited:
            uow.add_invitation(invitation)
        if change.events:
            if _records_events(type(uow)):
                cast(RecordsEvents, uow).record_events(change.events)
            else:
                uow.append_events(change.events)
        return saved, change

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
            return self._save_change(uow, ws, change)[1]

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


def _boundary_pending(ws: Workspace, now: datetime) -> bool:
    """Whether ``ws`` has a boundary due by ``now`` that was not applied yet."""
    return ws.due_at is not None and ws.due_at <= now


def with_due(ws: Workspace, catalog: Catalog) -> Workspace:
    """``ws`` with ``due_at`` set to its next boundary, for the sweep's index."""
    due = ws.subscription.next_boundary(catalog)
    return ws if ws.due_at == due else attrs.evolve(ws, due_at=due)


def notices_of(notices: object) -> Notices:
    """The advance notices ``run_renewals`` records; ``None`` turns them all off."""
    if notices is None:
        return Notices(trial_ending=None, renewal_upcoming=None)
    if not isinstance(notices, Notices):
        raise InvalidRequest(
            f"notices is a Notices value, or None for none, not {type(notices).__name__}",
            code="invalid_notices",
        )
    return notices


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
