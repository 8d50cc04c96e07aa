"""What the read paths keep between requests: values computed from a workspace's
subscription, reused while it stays the same value.

``entitlements_of`` and the overview's builder make new objects on every call
(the plan's flags and limits, money, the renewal preview), which cost a request
more than reading the workspace. What they return depends on the workspace's
id and subscription, the catalog, and on time only at the subscription's next
boundary, where a trial or a grace period ends (R4). An entry keeps the
subscription and the catalog it was computed from and the value before that
boundary and from it. A workspace whose subscription changed is computed
again: an entry is never stale across a change, whichever process made it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Generic, TypeVar

import attrs

from ..catalog import Catalog, Entitlements
from ..overview import SubscriptionOverview, entitlements_of, overview_of
from ..subscription import Subscription
from ..workspace import Workspace

__all__ = ["EntitlementsCache", "OverviewCache"]

T = TypeVar("T")
_TICK = timedelta(microseconds=1)


@attrs.frozen
class _Entry(Generic[T]):
    catalog: Catalog
    sub: Subscription
    boundary: datetime | None
    before: T
    """Before ``boundary`` (at any time when there is none)."""
    after: T | None
    """From ``boundary`` on; None when the same as ``before``."""


class _BySubscription(Generic[T]):
    """Each workspace's value of ``compute``, kept while its subscription is unchanged.

    The oldest workspaces are forgotten first. The clock is read only when the
    value differs on the two sides of the boundary.
    """

    def __init__(
        self,
        compute: Callable[[Workspace, Catalog, datetime], T],
        same: Callable[[T, T], bool],
        size: int = 4096,
    ) -> None:
        self._compute = compute
        self._same = same
        self._size = size
        self._entries: dict[str, _Entry[T]] = {}
        self._lock = threading.Lock()

    def of(self, ws: Workspace, catalog: Catalog, now: Callable[[], datetime]) -> T:
        entry = self._entries.get(ws.id)
        if entry is None or entry.sub is not ws.subscription or entry.catalog is not catalog:
            entry = self._refresh(ws, catalog, now, entry)
        if entry.after is None:
            return entry.before
        assert entry.boundary is not None
        return entry.after if entry.boundary <= now() else entry.before

    def _refresh(
        self,
        ws: Workspace,
        catalog: Catalog,
        now: Callable[[], datetime],
        entry: _Entry[T] | None,
    ) -> _Entry[T]:
        sub = ws.subscription
        if entry is not None and entry.catalog is catalog and entry.sub == sub:
            entry = attrs.evolve(entry, sub=sub)  # the same value, read again
        else:
            boundary = sub.next_boundary(catalog)
            if boundary is None:
                entry = _Entry(catalog, sub, None, self._compute(ws, catalog, now()), None)
            else:
                before = self._compute(ws, catalog, boundary - _TICK)
                after = self._compute(ws, catalog, boundary)
                entry = _Entry(
                    catalog, sub, boundary, before, None if self._same(before, after) else after
                )
        with self._lock:
            if ws.id not in self._entries and len(self._entries) >= self._size:
                oldest = next(iter(self._entries))
                del self._entries[oldest]
                self._forget(oldest)
            self._entries[ws.id] = entry
            self._kept(ws.id, entry)
        return entry

    def _kept(self, workspace_id: str, entry: _Entry[T]) -> None:
        """Called under the lock when ``entry`` is kept for ``workspace_id``."""

    def _forget(self, workspace_id: str) -> None:
        """Called under the lock when the entry of ``workspace_id`` is dropped."""


def _same_entitlements(a: Entitlements, b: Entitlements) -> bool:
    return a == b and a.limits == b.limits


class EntitlementsCache(_BySubscription[Entitlements]):
    """``entitlements_of`` each workspace's subscription, as its entitlements now.

    ``steady`` holds, for each workspace whose entitlements do not change at its
    next boundary (no trial or grace period ending), the subscription they were
    computed from, the catalog and the features granted: ``has_feature`` answers
    from it with a dictionary lookup and an identity test (a store hands back the
    same subscription object while the row is unchanged), which is most of its
    calls. Any other case takes ``of``.
    """

    def __init__(self, size: int = 4096) -> None:
        super().__init__(lambda ws, c, t: entitlements_of(ws.subscription, c, t),
                         _same_entitlements, size)  # fmt: skip
        self.steady: dict[str, tuple[Subscription, Catalog, frozenset[str]]] = {}

    def _kept(self, workspace_id: str, entry: _Entry[Entitlements]) -> None:
        if entry.after is None:
            self.steady[workspace_id] = (entry.sub, entry.catalog, entry.before.granted)
        else:
            self.steady.pop(workspace_id, None)

    def _forget(self, workspace_id: str) -> None:
        self.steady.pop(workspace_id, None)


class OverviewCache(_BySubscription[SubscriptionOverview]):
    """The overview of each workspace as if it had no member (``overview_of(ws, [])``):
    what its members and pending invitations change in it, when the next boundary
    deactivates and revokes none of them, is only their counts (``counted``). The
    counts are never kept: an invitation, an acceptance, a revocation or an
    expiry changes no subscription, and is seen by the next read all the same."""

    def __init__(self, size: int = 1024) -> None:
        super().__init__(lambda ws, c, t: overview_of(ws, [], c, t), lambda a, b: False, size)

    def counted(
        self,
        ws: Workspace,
        active: int,
        catalog: Catalog,
        now: Callable[[], datetime],
        invited: int = 0,
    ) -> SubscriptionOverview | None:
        """The overview of ``ws`` with ``active`` active members and ``invited``
        pending invitations, when the next boundary would deactivate and revoke
        none of them; None otherwise (the preview then needs them themselves)."""
        empty = self.of(ws, catalog, now)
        if active + invited > empty.preview.seats:
            return None
        preview = attrs.evolve(empty.preview, active_members=active)
        return attrs.evolve(
            empty, seats_used=active + invited, invitations_pending=invited, preview=preview
        )
