"""workspace_billing: trials, plans, seats and renewals for a SaaS host's workspaces.

Wire it explicitly in the host's code; nothing connects at import time::

    from workspace_billing import Billing, Catalog
    from workspace_billing.testing import FakeClock, FakePaymentProvider, InMemoryStore

    clock = FakeClock()
    billing = Billing(catalog=Catalog.default(), store=InMemoryStore(),
                      provider=FakePaymentProvider(clock=clock), clock=clock)
"""

from .billing import Billing
from .catalog import (
    Catalog,
    Entitlements,
    Feature,
    FeatureKind,
    FeatureMatrix,
    Interval,
    Plan,
    SeatFloor,
    TrialTerms,
)
from .clock import SystemClock
from .errors import (
    CODES,
    BillingError,
    CatalogError,
    Conflict,
    InvalidRequest,
    NotFound,
    PaymentActionRequired,
    PaymentFailed,
    PermissionDenied,
    PlanNotSelfServe,
    ProviderError,
    SeatLimitReached,
    StoreBusy,
    StoreError,
    TrialNotEligible,
    WebhookVerificationError,
)
from .events import Event, EventType
from .invitation import Invitation
from .money import Money
from .notices import Notices
from .overview import (
    PricePreview,
    ReconcileReport,
    RenewalReport,
    SubscriptionOverview,
    WebhookResult,
)
from .ports import (
    Checkout,
    CheckoutRequest,
    Clock,
    Invoice,
    InvoiceStatus,
    PaymentMethod,
    PaymentProvider,
    ProviderEvent,
    ProviderEventType,
    ProviderStatus,
    ProviderSubscription,
    Quote,
    QuoteRequest,
    Store,
    StoreSnapshot,
    UnitOfWork,
)
from .renewal import BoundaryKind, Renewal, RenewalPreview, select_deactivations
from .subscription import Subscription, SubscriptionStatus
from .workspace import Member, MemberStatus, Role, Workspace

__version__ = "0.1.0"

__all__ = [
    "CODES",
    "Billing",
    "BillingError",
    "BoundaryKind",
    "Catalog",
    "CatalogError",
    "Checkout",
    "CheckoutRequest",
    "Clock",
    "Conflict",
    "Entitlements",
    "Event",
    "EventType",
    "Feature",
    "FeatureKind",
    "FeatureMatrix",
    "Interval",
    "InvalidRequest",
    "Invitation",
    "Invoice",
    "InvoiceStatus",
    "Member",
    "MemberStatus",
    "Money",
    "NotFound",
    "Notices",
    "PaymentActionRequired",
    "PaymentFailed",
    "PaymentMethod",
    "PaymentProvider",
    "PermissionDenied",
    "Plan",
    "PlanNotSelfServe",
    "PricePreview",
    "ProviderError",
    "ProviderEvent",
    "ProviderEventType",
    "ProviderStatus",
    "ProviderSubscription",
    "Quote",
    "QuoteRequest",
    "ReconcileReport",
    "Renewal",
    "RenewalPreview",
    "RenewalReport",
    "Role",
    "SeatFloor",
    "SeatLimitReached",
    "Store",
    "StoreBusy",
    "StoreError",
    "StoreSnapshot",
    "Subscription",
    "SubscriptionOverview",
    "SubscriptionStatus",
    "SystemClock",
    "TrialNotEligible",
    "TrialTerms",
    "UnitOfWork",
    "WebhookResult",
    "WebhookVerificationError",
    "Workspace",
    "__version__",
    "select_deactivations",
]
