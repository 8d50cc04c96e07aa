"""The one error hierarchy of workspace_billing.

Every error a host can see is a :class:`BillingError`, and every one carries a
stable ``code`` string that a host maps to its own messages (the English
message is for logs and developers, the code is the contract)::

    BillingError                      billing_error
    ├── PermissionDenied              permission_denied
    ├── NotFound                      not_found
    ├── InvalidRequest                invalid_request
    │   ├── PlanNotSelfServe          plan_not_self_serve
    │   ├── TrialNotEligible          trial_not_eligible
    │   └── CatalogError              invalid_catalog
    ├── SeatLimitReached              seat_limit_reached
    ├── Conflict                      conflict
    │   └── StoreBusy                 store_busy (retryable)
    ├── PaymentActionRequired         payment_action_required
    ├── ProviderError                 provider_error
    │   └── PaymentFailed             payment_failed
    ├── StoreError                    store_error
    └── WebhookVerificationError      webhook_verification_failed

A refused action raises before anything is written: the store is exactly as
it was and no event is recorded (rules R5 and R17).

Within a class, ``code`` tells the distinct refusals apart (an
``InvalidRequest`` may be ``not_on_paid_plan`` or ``seats_above_maximum``):
``CODES`` lists every code with its class, its HTTP status and whether
retrying the same call can succeed (``BillingError.retryable``). The class
names above are each class's own code, raised where no finer one applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import attrs

from .messages import render

__all__ = [
    "CODES",
    "BillingError",
    "CatalogError",
    "Conflict",
    "InvalidRequest",
    "NotFound",
    "PaymentActionRequired",
    "PaymentFailed",
    "PermissionDenied",
    "PlanNotSelfServe",
    "ProviderError",
    "SeatLimitReached",
    "StoreBusy",
    "StoreError",
    "TrialNotEligible",
    "WebhookVerificationError",
]


Detail = str | int | bool | None
"""What an error's ``details`` hold: JSON scalars, safe to return to a client."""


class BillingError(Exception):
    """Base of every error raised by workspace_billing.

    ``code`` is the stable name of the refusal (one of ``CODES``), ``message``
    the developer's English sentence, ``details`` the facts behind it (JSON
    scalars, no internal ids), and ``retryable`` whether the same call may
    succeed if made again.
    """

    code: str = "billing_error"

    def __init__(self, message: str, *, code: str | None = None, **details: Detail) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        known = CODES.get(self.code)
        assert known is not None, f"unknown error code {self.code!r}"
        assert isinstance(self, known.kind), f"{self.code!r} is a {known.kind.__name__} code"
        self.details: Mapping[str, Detail] = MappingProxyType(dict(details))

    @property
    def retryable(self) -> bool:
        """Whether making the same call again may succeed (a busy store, a provider down)."""
        return CODES[self.code].retryable

    @property
    def http_status(self) -> int:
        """The HTTP status a web host answers with (``CODES``)."""
        return CODES[self.code].http_status

    def user_message(self, locale: str | None = "en") -> str:
        """What to tell the workspace's users, in ``locale`` (``en``, ``fr``; any
        other falls back to English): no internal id or word, the facts they
        need ("3 of 3 licences are used"). ``str(error)`` stays the developer's."""
        return render(self.code, self.details, locale)

    def to_dict(self) -> dict[str, Detail]:
        """``{"code", "message", "retryable", **details}``: JSON-ready for an API body."""
        return {"code": self.code, "message": self.message, "retryable": self.retryable,
                **self.details}  # fmt: skip

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class PermissionDenied(BillingError):
    """The actor is not an active owner or admin of the workspace (R5)."""

    code = "permission_denied"


class NotFound(BillingError):
    """The workspace, member or provider object named does not exist."""

    code = "not_found"


class InvalidRequest(BillingError):
    """The request is malformed or not allowed in the workspace's state (R17)."""

    code = "invalid_request"


class PlanNotSelfServe(InvalidRequest):
    """The plan is sold through sales only (R7): use ``contact_sales``."""

    code = "plan_not_self_serve"


class TrialNotEligible(InvalidRequest):
    """A trial was required but the owner already had one (R2)."""

    code = "trial_not_eligible"


class CatalogError(InvalidRequest):
    """A catalog built in code is inconsistent; raised at construction."""

    code = "invalid_catalog"


class SeatLimitReached(BillingError):
    """No free seat for one more active member (R8)."""

    code = "seat_limit_reached"

    def __init__(self, seats_used: int, seats: int) -> None:
        super().__init__(
            f"all {seats} seats are in use ({seats_used} held by active members and "
            "pending invitations): buy more seats before adding, reactivating or inviting",
            seats_used=seats_used,
            seats=seats,
        )
        self.seats_used = seats_used
        self.seats = seats


class Conflict(BillingError):
    """The request collides with existing state (a duplicate, a stale write)."""

    code = "conflict"


class StoreBusy(Conflict):
    """The store could not take the change now (a lock wait, a serialization
    failure, a workspace changed since it was read): retrying the call is safe."""

    code = "store_busy"


class PaymentActionRequired(BillingError):
    """The payment needs the customer (3-D Secure): nothing is granted until they
    confirm it on the provider's page at ``url``; the webhook that reports the
    payment then grants the change.

    Not a ``PaymentFailed``: the card was not declined, so do not ask for another
    one; send the customer to ``url`` (or email it) instead.
    """

    code = "payment_action_required"

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message, url=url)
        self.url = url


class ProviderError(BillingError):
    """The payment provider refused or failed the request."""

    code = "provider_error"

    def __init__(
        self, message: str, *, request_id: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.request_id = request_id


class PaymentFailed(ProviderError):
    """The provider could not collect the payment; nothing was granted."""

    code = "payment_failed"


class StoreError(BillingError):
    """The store failed (database unreachable, disk full...); the change was rolled back.

    A lock wait that timed out or a serialization failure is ``StoreBusy``
    instead: retrying the same action is safe.
    """

    code = "store_error"


class WebhookVerificationError(BillingError):
    """A webhook's signature, timestamp or body is not what the provider sent (R14)."""

    code = "webhook_verification_failed"


@attrs.frozen
class Code:
    """One refusal: the class it is raised as, the HTTP status a web host answers
    with, whether the same call may succeed later, and what it means."""

    kind: type[BillingError]
    http_status: int
    retryable: bool
    meaning: str


def _codes(*rows: tuple[str, type[BillingError], int, bool, str]) -> Mapping[str, Code]:
    table = {
        code: Code(kind, status, retry, meaning) for code, kind, status, retry, meaning in rows
    }
    assert len(table) == len(rows), "a code is listed twice"
    return MappingProxyType(table)


# fmt: off
CODES: Mapping[str, Code] = _codes(
    ("billing_error", BillingError, 500, False,
     "the base class; never raised as such"),
    ("permission_denied", PermissionDenied, 403, False,
     "only the owner and admins manage billing and members (R5)"),
    ("not_found", NotFound, 404, False,
     "no workspace has this id, or a provider object does not exist"),
    ("not_a_member", NotFound, 404, False,
     "the user is not a member of the workspace"),
    ("invitation_not_found", NotFound, 404, False,
     "no pending invitation has this id: accepted, revoked, or expired and deleted"),
    ("invalid_request", InvalidRequest, 400, False,
     "a request the library cannot take, where no finer code applies"),
    ("invalid_id", InvalidRequest, 400, False,
     "an id is blank, too long, or holds characters no store keeps"),
    ("invalid_text", InvalidRequest, 400, False,
     "a name, message or URL is blank, too long, or not storable text"),
    ("invalid_number", InvalidRequest, 400, False,
     "a limit, batch size or cursor is not a whole number in range"),
    ("invalid_flag", InvalidRequest, 400, False,
     "a flag is not True, False (or None where allowed)"),
    ("invalid_datetime", InvalidRequest, 400, False,
     "a date and time is not an aware datetime"),
    ("invalid_money", InvalidRequest, 400, False,
     "an amount is not whole minor units within 64 bits, or the currency not ISO 4217"),
    ("currency_mismatch", InvalidRequest, 422, False,
     "amounts in different currencies, or not the catalog's"),
    ("invalid_webhook_body", InvalidRequest, 400, False,
     "the webhook body was not passed as the raw bytes"),
    ("invalid_callback", InvalidRequest, 400, False,
     "a callback argument is not callable"),
    ("invalid_clock", InvalidRequest, 500, False,
     "the host's clock gives naive datetimes"),
    ("invalid_duration", InvalidRequest, 500, False,
     "invitation_ttl is not a timedelta of more than 0 and at most 90 days"),
    ("invalid_email", InvalidRequest, 400, False,
     "an email address is empty, too long, or not name@domain without spaces"),
    ("invitation_expired", InvalidRequest, 410, False,
     "the invitation expired: it holds no seat and cannot be accepted or revoked"),
    ("invalid_notices", InvalidRequest, 500, False,
     "a notice lead is not a duration of more than 0 and at most 90 days"),
    ("unknown_role", InvalidRequest, 422, False,
     "the role is not 'admin' or 'member'"),
    ("role_not_assignable", InvalidRequest, 422, False,
     "the owner role is set at creation, never given"),
    ("owner_cannot_leave", InvalidRequest, 409, False,
     "the owner cannot be removed from their workspace"),
    ("owner_role_fixed", InvalidRequest, 409, False,
     "the owner's role never changes"),
    ("unknown_plan", InvalidRequest, 422, False,
     "the catalog has no such plan"),
    ("unknown_feature", InvalidRequest, 422, False,
     "the catalog has no such feature"),
    ("unknown_interval", InvalidRequest, 422, False,
     "the interval is not 'month' or 'year'"),
    ("interval_not_sold", InvalidRequest, 422, False,
     "the plan has no price for this interval"),
    ("plan_required", InvalidRequest, 422, False,
     "an upgrade from the trial or free plan names its plan"),
    ("plan_not_paid", InvalidRequest, 422, False,
     "the plan is free: nothing to buy"),
    ("not_on_paid_plan", InvalidRequest, 409, False,
     "seats are bought on a paid plan: upgrade first"),
    ("negotiated_plan", InvalidRequest, 409, False,
     "the workspace has negotiated terms: sales changes them"),
    ("already_on_plan", InvalidRequest, 409, False,
     "the workspace is on this plan and interval: change seats instead"),
    ("no_paid_subscription", InvalidRequest, 409, False,
     "there is no paid subscription to cancel or resume"),
    ("trial_not_extendable", InvalidRequest, 409, False,
     "the workspace is not on a running trial: there is none to extend"),
    ("trial_end_out_of_range", InvalidRequest, 422, False,
     "a trial's new end is not after the current one, or more than a year from now"),
    ("seats_not_whole", InvalidRequest, 400, False,
     "seats is not a whole number"),
    ("seats_below_minimum", InvalidRequest, 422, False,
     "fewer than 1 seat: the owner holds one"),
    ("seats_above_maximum", InvalidRequest, 422, False,
     "more seats than the plan sells: contact sales"),
    ("seats_below_in_use", InvalidRequest, 422, False,
     "fewer seats than active members, where the catalog forbids it"),
    ("price_out_of_range", InvalidRequest, 422, False,
     "a negotiated price is negative or too large to total"),
    ("no_sales_plan", InvalidRequest, 422, False,
     "the catalog sells no plan through sales"),
    ("plan_not_self_serve", PlanNotSelfServe, 422, False,
     "the plan is sold by sales: contact_sales (R7)"),
    ("trial_not_eligible", TrialNotEligible, 409, False,
     "the owner already had their one trial (R2)"),
    ("invalid_catalog", CatalogError, 500, False,
     "the catalog or the provider's price table is inconsistent"),
    ("seat_limit_reached", SeatLimitReached, 409, False,
     "every seat is taken: buy seats first (R8)"),
    ("conflict", Conflict, 409, False,
     "the request collides with stored data"),
    ("already_member", Conflict, 409, False,
     "the user is already a member (reactivate a deactivated one)"),
    ("already_active", Conflict, 409, False,
     "the member is already active"),
    ("already_invited", Conflict, 409, False,
     "the email has a pending invitation to the workspace"),
    ("workspace_exists", Conflict, 409, False,
     "a workspace with this id exists"),
    ("store_busy", StoreBusy, 503, True,
     "the store is busy or the workspace changed meanwhile: retry"),
    ("payment_action_required", PaymentActionRequired, 402, False,
     "the customer must confirm the payment at url"),
    ("provider_error", ProviderError, 502, True,
     "the payment provider failed or refused the request"),
    ("payment_failed", PaymentFailed, 402, False,
     "the card was declined: nothing was granted"),
    ("store_error", StoreError, 503, True,
     "the database failed; nothing was written"),
    ("webhook_verification_failed", WebhookVerificationError, 400, False,
     "the webhook is not authentic or not well formed (R14)"),
)
# fmt: on
