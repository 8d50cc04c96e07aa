"""Workspaces and what anyone reads of them: creation (R1, R2), the overview
(R3), features (R4), the renewal preview (R11) and the outbox (R16)."""

from __future__ import annotations

from datetime import datetime

import attrs

from ..catalog import Catalog, Entitlements, Plan
from ..errors import NotFound, TrialNotEligible
from ..events import Event, EventType
from ..invitation import pending
from ..overview import SubscriptionOverview
from ..permissions import require_manager
from ..renewal import RenewalPreview, preview, summary
from ..subscription import Subscription
from ..workspace import Member, MemberStatus, Role, Workspace
from .base import ServiceBase
from .checks import (
    MAX_CURSOR,
    MAX_NAME,
    check_workspace_id,
    count,
    flag,
    get_workspace,
    identifier,
    iso,
    plain_id,
    text,
)


class WorkspaceActions(ServiceBase):
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
        owner = identifier("owner", owner)
        name = text("name", name, MAX_NAME)
        trial = flag("trial", trial, optional=True)
        ws_id = identifier("workspace_id", self._new_id() if workspace_id is None else workspace_id)
        now = self._clock.now()
        with self._store.unit_of_work() as uow:  # the store refuses a duplicate id
            gets_trial = trial is not False and uow.claim_trial(owner, ws_id)
            if trial is True and not gets_trial:
                raise TrialNotEligible(f"{owner!r} already had a free trial (one per owner)")
            ws, owner_member, events = new_workspace(
                self.catalog, ws_id, name=name, owner=owner, trial=gets_trial, now=now
            )
            uow.add_workspace(ws)
            uow.save_member(owner_member)
            uow.append_events(events)
            return ws

    def workspace(self, workspace_id: str) -> Workspace:
        """The workspace and its subscription's local mirror; ``NotFound`` when absent."""
        return self._load(workspace_id)

    def members(self, workspace_id: str) -> list[Member]:
        """Every member, active and deactivated, in the order they were added."""
        with self._store.unit_of_work(read_only=True) as uow:
            get_workspace(uow, workspace_id)
            return uow.members(workspace_id)

    def workspaces_of(self, user: str) -> list[Workspace]:
        """The workspaces ``user`` owns or belongs to: those where they are active
        first, then those where they were deactivated, each in the order joined."""
        user = identifier("user", user)
        with self._store.unit_of_work(read_only=True) as uow:
            joined = uow.memberships_of(user)
            found = (uow.get_workspace(m.workspace_id) for m in joined)
            return [ws for ws in found if ws is not None]

    def member(self, workspace_id: str, user: str) -> Member:
        """``user``'s membership of the workspace; ``NotFound`` when they have none."""
        ws, members = self._read(workspace_id)
        for member in members:
            if member.user == user:
                return member
        raise NotFound(f"{user!r} is not a member of {ws.id!r}", code="not_a_member")

    def subscription(self, workspace_id: str, *, actor: str) -> SubscriptionOverview:
        """The subscription screen (R3); owner and admins only (R5)."""
        if self._read_counted is not None and plain_id(actor):
            # The workspace, its active count and the actor's membership, in one
            # read: the members themselves only when the next boundary deactivates.
            check_workspace_id(workspace_id)
            read = self._read_counted(workspace_id, actor, self._clock.now())
            if read is None:
                raise NotFound(f"no workspace {workspace_id!r}")
            ws, active, invited, membership = read
            require_manager(ws.id, [membership] if membership is not None else [], actor)
            overview = self._overviews.counted(
                ws, active, self.catalog, self._clock.now, invited=invited
            )
            if overview is not None:
                return overview
        ws, members, invitations = self._read_invited(workspace_id)
        require_manager(ws.id, members, actor)
        return self._overview(ws, members, invitations)

    def entitlements(self, workspace_id: str) -> Entitlements:
        """What the workspace may use now (R4); anyone may ask."""
        return self._entitlements_now(self._load(workspace_id))

    def has_feature(self, workspace_id: str, feature: str) -> bool:
        """Whether the workspace may use ``feature`` now (R4); ``InvalidRequest`` for a
        feature the catalog does not define, so a typo never reads as "no"."""
        known = self._feature_ids
        read = self._read_one
        if type(workspace_id) is str and type(feature) is str and read is not None:
            # Most calls: entitlements that hold until the next change, for a
            # subscription the store hands back unchanged (the same object). An id
            # found in the cache was checked when it was first read.
            steady = self._steady.get(workspace_id)
            if steady is not None and steady[1] is self.catalog:
                ws = read(workspace_id)
                if ws is not None and ws.subscription is steady[0]:
                    if feature in steady[2]:
                        return True
                    if known[0] is steady[1] and feature in known[1]:
                        return False
        if known[0] is not self.catalog or type(feature) is not str or feature not in known[1]:
            self.catalog.feature(feature)  # raises for a feature the catalog does not define
            self._feature_ids = (self.catalog, frozenset(f.id for f in self.catalog.features))
        return self._entitlements_now(self._load(workspace_id)).has(feature)

    def plans(self) -> tuple[Plan, ...]:
        """The catalog's plans for an upgrade picker; ``catalog.compare()`` lines them up."""
        return self.catalog.plans

    def preview_renewal(self, workspace_id: str) -> RenewalPreview:
        """What the next boundary will do: the pending invitations it revokes, then
        who it deactivates, in R11's order."""
        ws, members, invitations = self._read_invited(workspace_id)
        return preview(ws, members, self.catalog, pending(invitations, self._clock.now()))

    def events(self, after: int | Event | None = None, *, limit: int = 1000) -> list[Event]:
        """Recorded events after a cursor (an event or its ``cursor``), oldest first (R16)."""
        if isinstance(after, Event):
            cursor = after.cursor
        else:
            cursor = 0 if after is None else count("after", after, least=0, most=MAX_CURSOR)
        limit = count("limit", limit)
        with self._store.unit_of_work(read_only=True) as uow:
            return uow.events_after(cursor, limit)


# ----------------------------------------------------------------- decisions


def new_workspace(
    catalog: Catalog, ws_id: str, *, name: str, owner: str, trial: bool, now: datetime
) -> tuple[Workspace, Member, list[Event]]:
    """A new workspace (on the trial when ``trial``, else the fallback: R1, R2),
    its owner holding the first seat, and the events that record both."""
    sub = Subscription.trial(catalog, now) if trial else Subscription.fallback(catalog)
    ws = Workspace(id=ws_id, name=name, owner=owner, created_at=now, subscription=sub)
    ws = attrs.evolve(ws, member_seq=1, due_at=sub.next_boundary(catalog))
    member = Member(ws_id, owner, Role.OWNER, MemberStatus.ACTIVE, now, now, seq=1)
    events = [
        Event(
            type=EventType.WORKSPACE_CREATED,
            workspace_id=ws_id,
            at=now,
            actor=owner,
            after=summary(sub),
            data={"name": name},
        )
    ]
    if trial:
        events.append(
            Event(
                type=EventType.TRIAL_STARTED,
                workspace_id=ws_id,
                at=now,
                actor=owner,
                after=summary(sub),
                data={"trial_ends_at": iso(sub.trial_ends_at)},
            )
        )
    return ws, member, events
