"""Every change is an event (R16): an audit trail and an outbox for the host.

Events are written in the same store transaction as the change they describe,
so a host that reads them (``Billing.events(after=cursor)``) to send emails
sees each change exactly once, and never a change that was rolled back.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType

import attrs

from .jsonable import JSONDict, iso, scalars

__all__ = ["Event", "EventType", "Scalar"]

Scalar = str | int | bool | None
"""What an event's ``before``, ``after`` and ``data`` hold: JSON scalars only."""


class EventType(enum.StrEnum):
    """What happened, in the past tense."""

    WORKSPACE_CREATED = "workspace_created"
    TRIAL_STARTED = "trial_started"
    TRIAL_ENDED = "trial_ended"
    TRIAL_EXTENDED = "trial_extended"
    """An operator moved the trial's end later: ``before``/``after`` hold ``trial_ends_at``."""
    TRIAL_ENDING = "trial_ending"
    """An advance notice: the trial ends at ``data["at"]`` (recorded once per trial end)."""
    RENEWAL_UPCOMING = "renewal_upcoming"
    """An advance notice: the subscription renews at ``data["at"]`` with ``data["seats"]``
    seats for ``data["amount"]``; ``data["deactivate"]`` names who R11 would deactivate."""
    MEMBER_ADDED = "member_added"
    MEMBER_REMOVED = "member_removed"
    MEMBER_DEACTIVATED = "member_deactivated"
    MEMBER_REACTIVATED = "member_reactivated"
    ROLE_CHANGED = "role_changed"
    INVITATION_CREATED = "invitation_created"
    """An owner or admin invited someone: the invitation holds a seat until it ends."""
    INVITATION_ACCEPTED = "invitation_accepted"
    INVITATION_REVOKED = "invitation_revoked"
    """Withdrawn by an owner or admin, or by R11 at a boundary short of seats."""
    INVITATION_EXPIRED = "invitation_expired"
    CHECKOUT_STARTED = "checkout_started"
    PLAN_CHANGED = "plan_changed"
    SEATS_CHANGED = "seats_changed"
    SEAT_DECREASE_SCHEDULED = "seat_decrease_scheduled"
    SEAT_DECREASE_CANCELED = "seat_decrease_canceled"
    SUBSCRIPTION_RENEWED = "subscription_renewed"
    PAYMENT_FAILED = "payment_failed"
    PAYMENT_ACTION_REQUIRED = "payment_action_required"
    """A renewal's payment needs the customer's authentication: ``data["url"]`` is
    the provider's page where they confirm it; email it to the owner."""
    PAYMENT_RECOVERED = "payment_recovered"
    CANCELLATION_SCHEDULED = "cancellation_scheduled"
    CANCELLATION_REVOKED = "cancellation_revoked"
    SUBSCRIPTION_ENDED = "subscription_ended"
    SUBSCRIPTION_PAUSED = "subscription_paused"
    """The provider paused collection: the workspace fell back until it resumes."""
    SALES_CONTACTED = "sales_contacted"
    CUSTOM_TERMS_APPLIED = "custom_terms_applied"
    CUSTOMER_CREATED = "customer_created"
    CUSTOMER_DELETED = "customer_deleted"
    """The provider customer was deleted (from its dashboard): the next checkout
    creates a new one."""


_EMPTY: Mapping[str, Scalar] = MappingProxyType({})


def _freeze(value: Mapping[str, Scalar]) -> Mapping[str, Scalar]:
    return MappingProxyType(dict(value)) if value else _EMPTY


@attrs.frozen
class Event:
    """One change: who (``actor``; ``None`` for the system or the provider), what, when.

    ``cursor`` is the store's position of the event, given when it is recorded;
    it is left out of equality so that two runs that made the same changes have
    equal event lists.
    """

    type: EventType
    workspace_id: str
    at: datetime
    actor: str | None = None
    subject: str | None = None
    before: Mapping[str, Scalar] = attrs.field(factory=dict, converter=_freeze)
    after: Mapping[str, Scalar] = attrs.field(factory=dict, converter=_freeze)
    data: Mapping[str, Scalar] = attrs.field(factory=dict, converter=_freeze)
    cursor: int = attrs.field(default=0, eq=False)

    def to_dict(self) -> JSONDict:
        """JSON-ready, ``cursor`` included (for ``events(after=...)``); docs/json.md."""
        return {
            "type": self.type.value,
            "workspace_id": self.workspace_id,
            "at": iso(self.at),
            "actor": self.actor,
            "subject": self.subject,
            "before": scalars(self.before),
            "after": scalars(self.after),
            "data": scalars(self.data),
            "cursor": self.cursor,
        }
