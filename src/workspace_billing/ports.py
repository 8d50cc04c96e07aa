"""The ports: what the core needs from storage, the payment provider and time.

Adapters implement these protocols without inheriting from them; mypy checks
conformance where an adapter is passed to :class:`~workspace_billing.Billing`.
The neutral values a provider adapter speaks live in ``provider_values`` and
are re-exported here, so ``from workspace_billing.ports import ...`` reaches all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

import attrs

from .catalog import Interval
from .events import Event
from .invitation import Invitation
from .money import Money
from .provider_values import (
    Checkout,
    CheckoutRequest,
    Invoice,
    InvoiceStatus,
    PaymentMethod,
    ProviderEvent,
    ProviderEventType,
    ProviderStatus,
    ProviderSubscription,
    Quote,
    QuoteRequest,
)
from .renewal import Renewal
from .workspace import Member, Workspace

__all__ = [
    "Checkout",
    "CheckoutRequest",
    "Clock",
    "Invoice",
    "InvoiceStatus",
    "PaymentMethod",
    "PaymentProvider",
    "ProviderEvent",
    "ProviderEventType",
    "ProviderStatus",
    "ProviderSubscription",
    "Quote",
    "QuoteRequest",
    "Store",
    "StoreSnapshot",
    "UnitOfWork",
]


class Clock(Protocol):
    """The only source of time: the core never reads the system clock itself."""

    def now(self) -> datetime:
        """An aware datetime in UTC."""
        ...


# --------------------------------------------------------------------- storage


@attrs.frozen
class StoreSnapshot:
    """Everything a store holds, as plain values: proof that a refused action changed nothing."""

    workspaces: tuple[Workspace, ...]
    members: tuple[Member, ...]
    events: tuple[Event, ...]
    trials: tuple[tuple[str, str], ...]
    webhook_event_ids: tuple[str, ...]
    invitations: tuple[Invitation, ...] = ()
    """By id. A store written before invitations existed holds none."""


class UnitOfWork(Protocol):
    """One store transaction. Leaving its context without an error commits it;
    an error rolls everything back, events included (R16, R17)."""

    def get_workspace(self, workspace_id: str, *, for_update: bool = False) -> Workspace | None:
        """Load a workspace; ``for_update`` serializes concurrent writers to it
        until the transaction ends (a row lock on SQL, a lock in memory)."""
        ...

    def find_workspace_id(
        self, *, subscription_ref: str | None = None, customer_ref: str | None = None
    ) -> str | None:
        """The workspace that holds a provider subscription, or a provider customer
        (name exactly one), if any."""
        ...

    def add_workspace(self, workspace: Workspace) -> None:
        """Insert a new workspace; ``Conflict`` when its id exists."""
        ...

    def save_workspace(self, workspace: Workspace) -> Workspace:
        """Write a changed workspace whose ``version`` is the stored one; the stored
        and returned copy has ``version + 1``. A stale version is ``Conflict``."""
        ...

    def members(self, workspace_id: str) -> list[Member]:
        """All members of the workspace, in the order they were first added."""
        ...

    def save_member(self, member: Member) -> None:
        """Insert or replace the member ``(workspace_id, user)``."""
        ...

    def memberships_of(self, user: str) -> list[Member]:
        """Every membership of ``user``, in any workspace: active ones first, then
        deactivated ones, each in the order they were added."""
        ...

    def delete_member(self, workspace_id: str, user: str) -> None: ...

    def invitations(self, workspace_id: str, *, for_update: bool = False) -> list[Invitation]:
        """The workspace's invitations, oldest first (``created_at``, then ``seq``),
        expired ones not deleted yet included: the caller knows the time.
        ``for_update`` locks their rows until the transaction ends (PostgreSQL), so
        ``expire_invitations`` in another transaction skips them meanwhile."""
        ...

    def invitation(self, invitation_id: str) -> Invitation | None:
        """An invitation by its id, whatever its workspace."""
        ...

    def add_invitation(self, invitation: Invitation) -> None:
        """Insert an invitation; ``Conflict`` when its id exists, or when its workspace
        has an invitation for the same email (pending or not deleted yet)."""
        ...

    def delete_invitations(self, invitation_ids: Sequence[str]) -> None:
        """Delete invitations by id (accepted, revoked or expired); ids that are gone
        are ignored."""
        ...

    def invitation_counts(self, workspace_ids: Sequence[str], now: datetime) -> dict[str, int]:
        """How many invitations pending at ``now`` (``expires_at`` after it) each
        workspace has (0 for none), in one read: beside ``active_member_counts``,
        the seats each workspace holds."""
        ...

    def invitations_of(self, workspace_ids: Sequence[str]) -> dict[str, list[Invitation]]:
        """The invitations of several workspaces in one read, each list in the order
        of ``invitations``; a workspace without any maps to an empty list."""
        ...

    def expire_invitations(self, now: datetime, limit: int) -> list[Invitation]:
        """Delete and return up to ``limit`` invitations expired at ``now``
        (``expires_at`` at or before it), in ``(expires_at, id)`` order.

        Rows another transaction holds are skipped, not waited for (``SKIP
        LOCKED`` on PostgreSQL), and a row is returned only to the transaction
        that deleted it: each expiry is recorded once, however many workers run.
        """
        ...

    def claim_trial(self, owner: str, workspace_id: str) -> bool:
        """Record the owner's one trial (R2): False when the owner already had it."""
        ...

    def claim_webhook_event(self, event_id: str) -> bool:
        """Record a provider event id: False when it was seen before (R14)."""
        ...

    def append_events(self, events: Sequence[Event]) -> list[Event]:
        """Record events in this transaction; returns them with their cursors."""
        ...

    def events_after(self, cursor: int, limit: int) -> list[Event]:
        """Recorded events with a cursor above ``cursor``, oldest first."""
        ...

    def due_workspace_ids(self, now: datetime, limit: int) -> list[str]:
        """Workspaces whose next boundary (trial end, renewal, end of grace) is at
        or before ``now``, soonest first."""
        ...

    def claim_due(
        self, now: datetime, limit: int, *, after: tuple[datetime, str] | None = None
    ) -> list[Workspace]:
        """Lock and return up to ``limit`` due workspaces, in ``(due_at, id)`` order
        after the key ``after``, for the renewal sweep.

        Rows another transaction holds are skipped, not waited for (``FOR UPDATE
        SKIP LOCKED`` on PostgreSQL), so several workers split the due set.
        """
        ...

    def members_of(self, workspace_ids: Sequence[str]) -> dict[str, list[Member]]:
        """The members of several workspaces in one read, each list in the order of
        ``members``; a workspace without members maps to an empty list."""
        ...

    def active_member_counts(self, workspace_ids: Sequence[str]) -> dict[str, int]:
        """How many active members each workspace has (0 for none), in one read: the
        sweep loads members only where a boundary leaves fewer seats than that."""
        ...

    def save_workspaces(self, workspaces: Sequence[Workspace]) -> list[Workspace]:
        """``save_workspace`` for many at once (one statement on SQL); ``Conflict``
        if any version is stale, and then nothing is saved."""
        ...

    def save_members(self, members: Sequence[Member]) -> None:
        """``save_member`` for many at once."""
        ...

    def renew_in_place(self, renewals: Sequence[Renewal]) -> None:
        """Write negotiated plans' renewals and their events, the bulk of a renewal
        sweep: each workspace as ``renewal.apply`` makes it, its version one higher.
        ``Conflict`` if any version is stale; let it end the unit of work, which
        then saves nothing (as with ``save_workspaces``)."""
        ...

    def claim_upcoming(
        self,
        now: datetime,
        limit: int,
        *,
        trial_until: datetime | None,
        renewal_until: datetime | None,
        after: tuple[datetime, str] | None = None,
    ) -> list[Workspace]:
        """Lock and return up to ``limit`` workspaces whose next boundary is ahead
        (``due_at`` after ``now``) and within its notice window, and not announced
        yet, in ``(due_at, id)`` order after the key ``after``: the notice pass of
        the renewal sweep.

        In the window: trialing workspaces whose ``due_at`` is at most
        ``trial_until``, active ones not canceling at period end whose ``due_at``
        is at most ``renewal_until`` (``None``: no workspace of that kind). Not
        announced: ``mark_noticed`` recorded no notice of that very ``due_at``.
        Rows another transaction holds are skipped, as ``claim_due`` does.
        """
        ...

    def mark_noticed(self, noticed: Sequence[tuple[str, datetime]]) -> set[str]:
        """Record, for each ``(workspace id, due_at)``, that its boundary was announced
        (replacing the boundary recorded before); the ids whose record this changed.

        An id whose record already holds that ``due_at`` (written by a transaction
        that committed since ``claim_upcoming``) is left out, so a notice is never
        recorded twice.
        """
        ...

    def subscribed_workspace_ids(self, *, after: str | None, limit: int) -> list[str]:
        """Workspaces that follow a provider subscription on a paid plan, by id,
        after the id ``after``: the pages of the reconcile job."""
        ...

    def unsubscribed_customer_ids(self, *, after: str | None, limit: int) -> list[str]:
        """Workspaces that have a provider customer but follow no live provider
        subscription, by id, after ``after``: where ``reconcile`` looks for a
        checkout paid while all its webhooks were lost."""
        ...


class Store(Protocol):
    """Where workspaces, members, trials, webhook ids and events live."""

    def unit_of_work(self, *, read_only: bool = False) -> AbstractContextManager[UnitOfWork]:
        """A transaction. ``read_only`` ones take no write lock (SQLite starts them
        deferred, so readers never queue behind writers) and may not write."""
        ...

    def snapshot(self) -> StoreSnapshot: ...


# ------------------------------------------------------------ payment provider


class PaymentProvider(Protocol):
    """A payment provider, in the library's neutral terms.

    Every write takes an ``idempotency_key`` from the caller, derived from the
    intent, so that a retry after a timeout never charges twice. Errors are
    the library's (``ProviderError``, ``PaymentFailed``), never the SDK's.
    """

    def create_customer(
        self,
        *,
        workspace_id: str,
        name: str,
        owner: str,
        idempotency_key: str,
        email: str | None = None,
    ) -> str:
        """A customer for the workspace, named after it, reaching the owner at
        ``email`` when the host knows it; returns its reference."""
        ...

    def subscriptions_of(self, customer_ref: str) -> Sequence[ProviderSubscription]:
        """The customer's subscriptions that this installation created, newest
        first: how ``reconcile`` finds a checkout paid while every webhook of it
        was lost."""
        ...

    def create_checkout(self, request: CheckoutRequest, *, idempotency_key: str) -> Checkout:
        """A hosted payment page for a new subscription; nothing is granted until
        the provider confirms payment."""
        ...

    def quote(self, request: QuoteRequest) -> Quote:
        """Price a change without making it (R18)."""
        ...

    def increase_seats(
        self, subscription_ref: str, seats: int, *, idempotency_key: str
    ) -> ProviderSubscription:
        """Raise the quantity now and charge the prorated difference at once, off
        session. When the payment fails, raise ``PaymentFailed`` and leave the
        quantity as it was; when it needs the customer (3-D Secure), raise
        ``PaymentActionRequired`` with the page where they confirm it, and apply
        the quantity only once they have (announced by webhook). A scheduled
        decrease is withdrawn by a paid increase; while the payment waits for
        the customer it may be kept (the fake provider) or withdrawn at once
        (Stripe, whose schedule would otherwise renew at the lower quantity):
        the view returned or announced says which."""
        ...

    def schedule_seat_decrease(
        self, subscription_ref: str, seats: int, *, idempotency_key: str
    ) -> ProviderSubscription:
        """Lower the quantity from the next period on; ``seats`` equal to the seats
        in force withdraws a scheduled decrease."""
        ...

    def change_plan(
        self,
        subscription_ref: str,
        *,
        plan: str,
        interval: Interval,
        seats: int,
        unit_amount: Money,
        idempotency_key: str,
    ) -> ProviderSubscription:
        """Move to another plan now with the payment method on file, charging the
        prorated difference off session; ``PaymentFailed`` leaves the subscription
        as it was, ``PaymentActionRequired`` as for ``increase_seats``. Nothing is
        charged, and no payment attempted, when nothing is due."""
        ...

    def cancel(
        self, subscription_ref: str, *, at_period_end: bool, idempotency_key: str
    ) -> ProviderSubscription: ...

    def resume(self, subscription_ref: str, *, idempotency_key: str) -> ProviderSubscription:
        """Withdraw a cancellation at period end."""
        ...

    def portal_url(self, customer_ref: str, *, return_url: str, idempotency_key: str) -> str:
        """A session of the provider's billing portal for the customer."""
        ...

    def fetch_subscription(self, subscription_ref: str) -> ProviderSubscription:
        """The provider's current view (the truth that webhooks only announce)."""
        ...

    def invoices(self, customer_ref: str, limit: int) -> Sequence[Invoice]:
        """The customer's invoices, newest first, at most ``limit`` (at least 1):
        each charge the provider made or attempted, with its status, its total and
        where to read it. ``NotFound`` for a customer the provider does not know."""
        ...

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> Sequence[ProviderEvent]:
        """Verify a webhook (signature, timestamp tolerance) and turn it into neutral
        events; ``WebhookVerificationError`` when it is not authentic."""
        ...
