"""An in-memory ``Store``: a real implementation, not a mock.

It enforces what the SQL store enforces (unique workspace ids, one trial per
owner, unique webhook event ids, version checks on save) and serializes
writers, so a host's test that passes on it holds on SQL too. Transactions are
all-or-nothing: writes are staged and merged on commit, dropped on error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

import attrs

from ..errors import Conflict, StoreBusy
from ..events import Event
from ..invitation import Invitation
from ..ports import StoreSnapshot
from ..renewal import Renewal
from ..subscription import SubscriptionStatus
from ..workspace import Member, Workspace

__all__ = ["InMemoryStore"]


@attrs.define
class _State:
    workspaces: dict[str, Workspace] = attrs.Factory(dict)
    members: dict[str, dict[str, Member]] = attrs.Factory(dict)
    trials: dict[str, str] = attrs.Factory(dict)
    webhook_event_ids: set[str] = attrs.Factory(set)
    events: list[Event] = attrs.Factory(list)
    invitations: dict[str, Invitation] = attrs.Factory(dict)
    """Pending invitations (and expired ones not deleted yet), by id."""
    notices: dict[str, datetime] = attrs.Factory(dict)
    """The ``due_at`` of the last boundary each workspace was given notice of."""


class InMemoryStore:
    """Everything in dicts, one lock: writers are serialized like ``BEGIN IMMEDIATE``."""

    def __init__(self) -> None:
        self._state = _State()
        self._lock = threading.Lock()
        self._owner: int | None = None

    @contextmanager
    def unit_of_work(self, *, read_only: bool = False) -> Iterator[_MemoryUnitOfWork]:
        if self._owner == threading.get_ident():
            raise RuntimeError("InMemoryStore transactions do not nest")
        with self._lock:
            self._owner = threading.get_ident()
            try:
                uow = _MemoryUnitOfWork(self._state, read_only=read_only)
                yield uow
                uow.commit()
            finally:
                self._owner = None

    @property
    def read_workspace(self) -> Callable[[str], Workspace | None]:
        """``read_workspace(workspace_id)``: the workspace as last committed, or None,
        without waiting for a writer (a commit replaces the value whole, so one
        read is consistent on its own). It is the committed dictionary's own
        lookup, which a commit updates in place: ``has_feature`` calls it on
        every check, and a method around it doubled what the check cost."""
        return self._state.workspaces.get

    def read_workspace_for(
        self, workspace_id: str, user: str, now: datetime
    ) -> tuple[Workspace, int, int, Member | None] | None:
        """The workspace, how many of its members are active, how many invitations
        are pending at ``now``, and ``user``'s membership, as last committed."""
        with self.unit_of_work(read_only=True):
            ws = self._state.workspaces.get(workspace_id)
            if ws is None:
                return None
            found = self._state.members.get(workspace_id, {})
            active = sum(1 for m in found.values() if m.is_active)
            invited = self._state.invitations.values()
            held = sum(1 for i in invited if i.workspace_id == workspace_id and i.is_pending(now))
            return ws, active, held, found.get(user)

    def snapshot(self) -> StoreSnapshot:
        with self.unit_of_work(read_only=True):
            state = self._state
            return StoreSnapshot(
                workspaces=tuple(state.workspaces[k] for k in sorted(state.workspaces)),
                members=tuple(
                    state.members[ws][user]
                    for ws in sorted(state.members)
                    for user in sorted(state.members[ws])
                ),
                events=tuple(state.events),
                trials=tuple(sorted(state.trials.items())),
                webhook_event_ids=tuple(sorted(state.webhook_event_ids)),
                invitations=tuple(state.invitations[k] for k in sorted(state.invitations)),
            )

    def __repr__(self) -> str:
        return f"InMemoryStore(workspaces={len(self._state.workspaces)})"


class _MemoryUnitOfWork:
    def __init__(self, state: _State, *, read_only: bool) -> None:
        self._base = state
        self._read_only = read_only
        self._workspaces: dict[str, Workspace] = {}
        self._members: dict[tuple[str, str], Member | None] = {}
        self._trials: dict[str, str] = {}
        self._webhooks: set[str] = set()
        self._events: list[Event] = []
        self._invitations: dict[str, Invitation | None] = {}
        self._notices: dict[str, datetime] = {}

    def _write(self) -> None:
        if self._read_only:
            raise RuntimeError("this unit of work is read-only")

    def commit(self) -> None:
        base = self._base
        base.workspaces.update(self._workspaces)
        for (ws, user), member in self._members.items():
            bucket = base.members.setdefault(ws, {})
            if member is None:
                bucket.pop(user, None)
            else:
                bucket[user] = member
        base.trials.update(self._trials)
        base.webhook_event_ids |= self._webhooks
        base.events.extend(self._events)
        for invitation_id, invitation in self._invitations.items():
            if invitation is None:
                base.invitations.pop(invitation_id, None)
            else:
                base.invitations[invitation_id] = invitation
        base.notices.update(self._notices)

    def get_workspace(self, workspace_id: str, *, for_update: bool = False) -> Workspace | None:
        staged = self._workspaces.get(workspace_id)
        return staged if staged is not None else self._base.workspaces.get(workspace_id)

    def find_workspace_id(
        self, *, subscription_ref: str | None = None, customer_ref: str | None = None
    ) -> str | None:
        if (subscription_ref is None) == (customer_ref is None):
            raise TypeError("find_workspace_id takes exactly one of subscription_ref, customer_ref")
        for ws in (*self._workspaces.values(), *self._base.workspaces.values()):
            sub = ws.subscription
            if subscription_ref is not None and sub.subscription_ref == subscription_ref:
                return ws.id
            if customer_ref is not None and sub.customer_ref == customer_ref:
                return ws.id
        return None

    def add_workspace(self, workspace: Workspace) -> None:
        self._write()
        if self.get_workspace(workspace.id) is not None:
            raise Conflict(f"workspace {workspace.id!r} already exists", code="workspace_exists")
        self._workspaces[workspace.id] = workspace

    def save_workspace(self, workspace: Workspace) -> Workspace:
        self._write()
        stored = self.get_workspace(workspace.id)
        if stored is None:
            raise StoreBusy(f"workspace {workspace.id!r} does not exist (any more)")
        if stored.version != workspace.version:
            raise StoreBusy(
                f"workspace {workspace.id!r} changed since it was read "
                f"(version {stored.version}, not {workspace.version})"
            )
        saved = attrs.evolve(workspace, version=workspace.version + 1)
        self._workspaces[workspace.id] = saved
        return saved

    def members(self, workspace_id: str) -> list[Member]:
        merged = dict(self._base.members.get(workspace_id, {}))
        for (ws, user), member in self._members.items():
            if ws != workspace_id:
                continue
            if member is None:
                merged.pop(user, None)
            else:
                merged[user] = member
        return sorted(merged.values(), key=lambda m: (m.added_at, m.seq, m.user))

    def members_named(self, workspace_id: str, users: Sequence[str]) -> list[Member]:
        """The members among ``users``, in the order of ``members``."""
        return [m for m in self.members(workspace_id) if m.user in users]

    def memberships_of(self, user: str) -> list[Member]:
        found = {ws: by_user[user] for ws, by_user in self._base.members.items() if user in by_user}
        for (ws, name), member in self._members.items():
            if name != user:
                continue
            if member is None:
                found.pop(ws, None)
            else:
                found[ws] = member
        return sorted(found.values(), key=lambda m: (not m.is_active, m.added_at, m.workspace_id))

    def save_member(self, member: Member) -> None:
        self._write()
        self._members[(member.workspace_id, member.user)] = member

    def delete_member(self, workspace_id: str, user: str) -> None:
        self._write()
        self._members[(workspace_id, user)] = None

    # --------------------------------------------------------------- invitations

    def _every_invitation(self) -> dict[str, Invitation]:
        merged = dict(self._base.invitations)
        for invitation_id, invitation in self._invitations.items():
            if invitation is None:
                merged.pop(invitation_id, None)
            else:
                merged[invitation_id] = invitation
        return merged

    def invitations(self, workspace_id: str, *, for_update: bool = False) -> list[Invitation]:
        return self.invitations_of([workspace_id])[workspace_id]

    def invitation(self, invitation_id: str) -> Invitation | None:
        return self._every_invitation().get(invitation_id)

    def add_invitation(self, invitation: Invitation) -> None:
        self._write()
        every = self._every_invitation()
        if invitation.id in every:
            raise Conflict(f"invitation {invitation.id!r} already exists")
        if any(
            i.workspace_id == invitation.workspace_id and i.email == invitation.email
            for i in every.values()
        ):
            raise Conflict(f"{invitation.email!r} is invited to {invitation.workspace_id!r}")
        self._invitations[invitation.id] = invitation

    def delete_invitations(self, invitation_ids: Sequence[str]) -> None:
        self._write()
        for invitation_id in invitation_ids:
            self._invitations[invitation_id] = None

    def invitation_counts(self, workspace_ids: Sequence[str], now: datetime) -> dict[str, int]:
        return {
            ws_id: sum(1 for i in invited if i.is_pending(now))
            for ws_id, invited in self.invitations_of(workspace_ids).items()
        }

    def invitations_of(self, workspace_ids: Sequence[str]) -> dict[str, list[Invitation]]:
        found: dict[str, list[Invitation]] = {ws_id: [] for ws_id in workspace_ids}
        for invitation in self._every_invitation().values():
            if invitation.workspace_id in found:
                found[invitation.workspace_id].append(invitation)
        for invited in found.values():
            invited.sort(key=lambda i: (i.created_at, i.seq, i.id))
        return found

    def expire_invitations(self, now: datetime, limit: int) -> list[Invitation]:
        self._write()  # the store's one lock is held: nothing else to skip
        expired = sorted(
            (i for i in self._every_invitation().values() if not i.is_pending(now)),
            key=lambda i: (i.expires_at, i.id),
        )[:limit]
        self.delete_invitations([i.id for i in expired])
        return expired

    # ------------------------------------------------------------------ webhooks

    def lock_workspace_of(self, *, subscription_ref: str, customer_ref: str) -> Workspace | None:
        found = self.find_workspace_id(subscription_ref=subscription_ref)
        found = found or self.find_workspace_id(customer_ref=customer_ref)
        return self.get_workspace(found, for_update=True) if found else None

    def claim_with_members(self, event_id: str, workspace_id: str) -> tuple[bool, list[Member]]:
        return self.claim_webhook_event(event_id), self.members(workspace_id)

    def claim_trial(self, owner: str, workspace_id: str) -> bool:
        self._write()
        if owner in self._trials or owner in self._base.trials:
            return False
        self._trials[owner] = workspace_id
        return True

    def claim_webhook_event(self, event_id: str) -> bool:
        self._write()
        if event_id in self._webhooks or event_id in self._base.webhook_event_ids:
            return False
        self._webhooks.add(event_id)
        return True

    def append_events(self, events: Sequence[Event]) -> list[Event]:
        self._write()
        start = len(self._base.events) + len(self._events)
        recorded = [attrs.evolve(e, cursor=start + i + 1) for i, e in enumerate(events)]
        self._events.extend(recorded)
        return recorded

    def events_after(self, cursor: int, limit: int) -> list[Event]:
        every = self._base.events + self._events
        return every[max(cursor, 0) : max(cursor, 0) + limit]

    def due_workspace_ids(self, now: datetime, limit: int) -> list[str]:
        return [ws.id for ws in self._due(now, limit, None)]

    def _due(
        self, now: datetime, limit: int, after: tuple[datetime, str] | None
    ) -> list[Workspace]:
        every = {**self._base.workspaces, **self._workspaces}
        due = [
            ws
            for ws in every.values()
            if ws.due_at is not None
            and ws.due_at <= now
            and (after is None or (ws.due_at, ws.id) > after)
        ]
        due.sort(key=lambda ws: (ws.due_at, ws.id))
        return due[:limit]

    def claim_due(
        self, now: datetime, limit: int, *, after: tuple[datetime, str] | None = None
    ) -> list[Workspace]:
        self._write()  # the store's one lock is held: nothing else to skip
        return self._due(now, limit, after)

    def members_of(self, workspace_ids: Sequence[str]) -> dict[str, list[Member]]:
        return {ws_id: self.members(ws_id) for ws_id in workspace_ids}

    def active_member_counts(self, workspace_ids: Sequence[str]) -> dict[str, int]:
        return {
            ws_id: sum(1 for m in self.members(ws_id) if m.is_active) for ws_id in workspace_ids
        }

    def save_workspaces(self, workspaces: Sequence[Workspace]) -> list[Workspace]:
        for ws in workspaces:
            stored = self.get_workspace(ws.id)
            if stored is None or stored.version != ws.version:
                raise StoreBusy(f"workspace {ws.id!r} changed since it was read, or is gone")
        return [self.save_workspace(ws) for ws in workspaces]

    def save_members(self, members: Sequence[Member]) -> None:
        for member in members:
            self.save_member(member)

    def renew_in_place(self, renewals: Sequence[Renewal]) -> None:
        stored = [self.get_workspace(r.workspace_id) for r in renewals]
        for renewal, ws in zip(renewals, stored, strict=True):
            if ws is None or ws.version != renewal.version:
                raise StoreBusy(f"workspace {renewal.workspace_id!r} changed since it was read")
        for renewal, ws in zip(renewals, stored, strict=True):
            assert ws is not None
            self.save_workspace(renewal.apply(ws))
        self.append_events([r.event for r in renewals])

    def claim_upcoming(
        self,
        now: datetime,
        limit: int,
        *,
        trial_until: datetime | None,
        renewal_until: datetime | None,
        after: tuple[datetime, str] | None = None,
    ) -> list[Workspace]:
        self._write()  # the store's one lock is held: nothing else to skip
        every = {**self._base.workspaces, **self._workspaces}
        noticed = {**self._base.notices, **self._notices}

        def upcoming(ws: Workspace) -> bool:
            sub, due = ws.subscription, ws.due_at
            if due is None or due <= now or noticed.get(ws.id) == due:
                return False
            if after is not None and (due, ws.id) <= after:
                return False
            if sub.status is SubscriptionStatus.TRIALING:
                return trial_until is not None and due <= trial_until
            live = sub.status is SubscriptionStatus.ACTIVE and not sub.cancel_at_period_end
            return live and renewal_until is not None and due <= renewal_until

        found = sorted(filter(upcoming, every.values()), key=lambda ws: (ws.due_at, ws.id))
        return found[:limit]

    def mark_noticed(self, noticed: Sequence[tuple[str, datetime]]) -> set[str]:
        self._write()
        marked: set[str] = set()
        for ws_id, due in noticed:
            if self._notices.get(ws_id, self._base.notices.get(ws_id)) != due:
                self._notices[ws_id] = due
                marked.add(ws_id)
        return marked

    def subscribed_workspace_ids(self, *, after: str | None, limit: int) -> list[str]:
        every = {**self._base.workspaces, **self._workspaces}
        ids = sorted(
            ws.id
            for ws in every.values()
            if ws.subscription.is_provider_managed and (after is None or ws.id > after)
        )
        return ids[:limit]

    def unsubscribed_customer_ids(self, *, after: str | None, limit: int) -> list[str]:
        every = {**self._base.workspaces, **self._workspaces}
        ids = sorted(
            ws.id
            for ws in every.values()
            if ws.subscription.customer_ref is not None
            and not ws.subscription.is_provider_managed
            and (after is None or ws.id > after)
        )
        return ids[:limit]
