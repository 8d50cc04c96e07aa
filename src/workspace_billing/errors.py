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
    ├── PaymentActionRequired         payment_action_required
    ├── ProviderError                 provider_error
    │   └── PaymentFailed             payment_failed
    ├── StoreError                    store_error
    └── WebhookVerificationError      webhook_verification_failed

A refused action raises before anything is written: the store is exactly as
it was and no event is recorded (rules R5 and R17).
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
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
    "StoreError",
    "TrialNotEligible",
    "WebhookVerificationError",
]


class BillingError(Exception):
    """Base of every error raised by workspace_billing."""

    code: ClassVar[str] = "billing_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class PermissionDenied(BillingError):
    """The actor is not an active owner or admin of the workspace (R5)."""

    code: ClassVar[str] = "permission_denied"


class NotFound(BillingError):
    """The workspace, member or provider object named does not exist."""

    code: ClassVar[str] = "not_found"


class InvalidRequest(BillingError):
    """The request is malformed or not allowed in the workspace's state (R17)."""

    code: ClassVar[str] = "invalid_request"


class PlanNotSelfServe(InvalidRequest):
    """The plan is sold through sales only (R7): use ``contact_sales``."""

    code: ClassVar[str] = "plan_not_self_serve"


class TrialNotEligible(InvalidRequest):
    """A trial was required but the owner already had one (R2)."""

    code: ClassVar[str] = "trial_not_eligible"


class CatalogError(InvalidRequest):
    """A catalog built in code is inconsistent; raised at construction."""

    code: ClassVar[str] = "invalid_catalog"


class SeatLimitReached(BillingError):
    """No free seat for one more active member (R8)."""

    code: ClassVar[str] = "seat_limit_reached"

    def __init__(self, seats_used: int, seats: int) -> None:
        super().__init__(
            f"all {seats} seats are in use ({seats_used} active members): "
            "buy more seats before adding or reactivating a member"
        )
        self.seats_used = seats_used
        self.seats = seats


class Conflict(BillingError):
    """The request collides with existing state (a duplicate, a stale write)."""

    code: ClassVar[str] = "conflict"


class PaymentActionRequired(BillingError):
    """The payment needs the customer (3-D Secure): nothing is granted until they
    confirm it on the provider's page at ``url``; the webhook that reports the
    payment then grants the change.

    Not a ``PaymentFailed``: the card was not declined, so do not ask for another
    one; send the customer to ``url`` (or email it) instead.
    """

    code: ClassVar[str] = "payment_action_required"

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class ProviderError(BillingError):
    """The payment provider refused or failed the request."""

    code: ClassVar[str] = "provider_error"

    def __init__(self, message: str, *, request_id: str | None = None) -> None:
        super().__init__(message)
        self.request_id = request_id


class PaymentFailed(ProviderError):
    """The provider could not collect the payment; nothing was granted."""

    code: ClassVar[str] = "payment_failed"


class StoreError(BillingError):
    """The store failed (database unreachable, disk full...); the change was rolled back.

    A lock wait that timed out or a serialization failure is a ``Conflict``
    instead: retrying the same action is safe.
    """

    code: ClassVar[str] = "store_error"


class WebhookVerificationError(BillingError):
    """A webhook's signature, timestamp or body is not what the provider sent (R14)."""

    code: ClassVar[str] = "webhook_verification_failed"
