"""Workspaces, their members and the roles that may manage billing (R5, R8, R11)."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime

import attrs

from .jsonable import JSONDict, iso, iso_or_none
from .subscription import Subscription

__all__ = ["Member", "MemberStatus", "Role", "Workspace", "active_count"]


class Role(enum.StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"

    @property
    def manages_billing(self) -> bool:
        """Only the owner and admins manage billing and members (R5)."""
        return self is not Role.MEMBER


class MemberStatus(enum.StrEnum):
    ACTIVE = "active"
    """Holds a seat."""
    DEACTIVATED = "deactivated"
    """Keeps their data, holds no seat; can be reactivated when a seat is free (R11)."""


@attrs.frozen
class Member:
    """A user's membership of one workspace.

    ``active_since`` and ``seq`` order members for R11: the member who most
    recently became active goes first, ties broken by the workspace's
    monotonic ``seq``. Reactivation renews both.
    """

    workspace_id: str
    user: str
    role: Role
    status: MemberStatus
    added_at: datetime
    active_since: datetime
    seq: int
    deactivated_at: datetime | None = None

    @property
    def is_active(self) -> bool:
        return self.status is MemberStatus.ACTIVE

    @property
    def is_owner(self) -> bool:
        return self.role is Role.OWNER

    def to_dict(self) -> JSONDict:
        """JSON-ready: the attributes by name, datetimes as UTC strings (docs/json.md)."""
        return {
            "workspace_id": self.workspace_id,
            "user": self.user,
            "role": self.role.value,
            "status": self.status.value,
            "added_at": iso(self.added_at),
            "active_since": iso(self.active_since),
            "seq": self.seq,
            "deactivated_at": iso_or_none(self.deactivated_at),
        }


@attrs.frozen
class Workspace:
    """A workspace and the local mirror of its subscription.

    ``version`` grows by one on every save; the store refuses a save whose
    version is stale (``Conflict``), and idempotency keys sent to the provider
    include it so that a retried action at the same state reuses its key.
    ``member_seq`` is the last sequence number handed to a member.
    """

    id: str
    name: str
    owner: str
    created_at: datetime
    subscription: Subscription
    member_seq: int = 0
    version: int = 0
    due_at: datetime | None = None
    """When the next boundary falls due; kept so stores can index the renewal sweep."""

    def to_dict(self) -> JSONDict:
        """JSON-ready, the subscription nested: the attributes by name (docs/json.md)."""
        return {
            "id": self.id,
            "name": self.name,
            "owner": self.owner,
            "created_at": iso(self.created_at),
            "subscription": self.subscription.to_dict(),
            "member_seq": self.member_seq,
            "version": self.version,
            "due_at": iso_or_none(self.due_at),
        }


def active_count(members: Iterable[Member]) -> int:
    """Seats in use: every active member holds one, the owner included (R8)."""
    return sum(1 for m in members if m.is_active)
