"""The neutral terms every payment provider adapter speaks (the port is in ``ports``).

The core reads a provider's state only through these values, so it never sees
a Stripe (or any other provider's) type.
"""

from __future__ import annotations

import enum
from datetime import datetime

import attrs

from .catalog import Interval
from .jsonable import JSONDict, iso
from .money import Money

__all__ = [
    "Checkout",
    "CheckoutRequest",
    "Invoice",
    "InvoiceStatus",
    "PaymentMethod",
    "ProviderEvent",
    "ProviderEventType",
    "ProviderStatus",
    "ProviderSubscription",
    "Quote",
    "QuoteRequest",
]


class ProviderStatus(enum.StrEnum):
    INCOMPLETE = "incomplete"
    """Created, first payment not confirmed: grants nothing yet."""
    ACTIVE = "active"
    PAST_DUE = "past_due"
    PAUSED = "paused"
    """Paused by the provider (no invoices, no grace clock): the workspace falls back
    until it is resumed, and a resumed subscription is taken up again."""
    CANCELED = "canceled"
    """Ended: the workspace falls back (R12, R13)."""


@attrs.frozen
class PaymentMethod:
    """The card a customer pays with, as a billing page shows it: never its number."""

    brand: str
    """The card network as the provider names it, in lower case: ``"visa"``, ``"mastercard"``."""
    last4: str
    exp_month: int
    """1 to 12."""
    exp_year: int
    """Four digits: ``2030``."""

    def to_dict(self) -> JSONDict:
        """``{"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030}``."""
        return {
            "brand": self.brand,
            "last4": self.last4,
            "exp_month": self.exp_month,
            "exp_year": self.exp_year,
        }


class InvoiceStatus(enum.StrEnum):
    """Where an invoice stands, in the terms Stripe and most providers use."""

    DRAFT = "draft"
    """Not final yet: no number, nothing to pay."""
    OPEN = "open"
    """Final and waiting for its payment (a declined renewal the provider retries,
    a payment waiting for the customer's authentication)."""
    PAID = "paid"
    VOID = "void"
    """Cancelled: nothing is owed (a declined change whose invoice was given up)."""
    UNCOLLECTIBLE = "uncollectible"
    """Written off as unlikely to be paid."""


@attrs.frozen
class Invoice:
    """One invoice of a customer, as the provider keeps it (``PaymentProvider.invoices``)."""

    id: str
    """The provider's reference."""
    number: str | None
    """The number printed on it; ``None`` while it is a draft."""
    status: InvoiceStatus
    total: Money
    """What it charges, taxes and discounts included."""
    created_at: datetime
    period_start: datetime
    """The service period it bills (for a prorated change, from the change to the
    period's end), aware datetimes."""
    period_end: datetime
    pdf_url: str | None
    """Its PDF, when the provider renders one."""
    hosted_url: str | None
    """The provider's page for it, where an open invoice can be paid."""

    def to_dict(self) -> JSONDict:
        """JSON-ready: UTC datetimes, ``total`` as money, ``status`` as its value (docs/json.md)."""
        return {
            "id": self.id,
            "number": self.number,
            "status": self.status.value,
            "total": self.total.to_dict(),
            "created_at": iso(self.created_at),
            "period_start": iso(self.period_start),
            "period_end": iso(self.period_end),
            "pdf_url": self.pdf_url,
            "hosted_url": self.hosted_url,
        }


@attrs.frozen
class ProviderSubscription:
    """The provider's current view of one subscription, in neutral terms."""

    ref: str
    customer_ref: str
    workspace_id: str
    plan: str
    interval: Interval
    seats: int
    status: ProviderStatus
    period_start: datetime
    period_end: datetime
    unit_amount: Money
    pending_seats: int | None = None
    cancel_at_period_end: bool = False
    action_url: str | None = None
    """While the latest payment waits for the customer's authentication (3-D
    Secure): the provider's page where they confirm it."""
    payment_method: PaymentMethod | None = None
    """The card on file that pays this subscription (its own default, else its
    customer's), when it is a card; ``None`` when there is none or it is not a card."""


class ProviderEventType(enum.StrEnum):
    CHECKOUT_COMPLETED = "checkout_completed"
    SUBSCRIPTION_UPDATED = "subscription_updated"
    SUBSCRIPTION_DELETED = "subscription_deleted"
    INVOICE_PAID = "invoice_paid"
    INVOICE_PAYMENT_FAILED = "invoice_payment_failed"
    PAYMENT_ACTION_REQUIRED = "payment_action_required"
    """An off-session payment needs the customer (``ProviderSubscription.action_url``)."""
    TRIAL_WILL_END = "trial_will_end"
    CUSTOMER_DELETED = "customer_deleted"
    """The customer (``ProviderEvent.customer_ref``) no longer exists at the provider."""
    CUSTOMER_UPDATED = "customer_updated"
    """The customer (``ProviderEvent.customer_ref``) changed, its default card for one:
    the subscription its workspace follows is read again, so the card on file shown
    (``SubscriptionOverview.payment_method``) follows a change made in the portal."""
    OTHER = "other"
    """Anything else the provider sends: acknowledged and ignored."""


@attrs.frozen
class ProviderEvent:
    """A verified webhook event. Billing re-fetches the subscription it names
    rather than trusting this snapshot, so delivery order never matters."""

    id: str
    type: ProviderEventType
    subscription_ref: str | None = None
    workspace_id: str | None = None
    customer_ref: str | None = None


@attrs.frozen
class CheckoutRequest:
    workspace_id: str
    customer_ref: str
    plan: str
    interval: Interval
    seats: int
    unit_amount: Money
    success_url: str
    cancel_url: str
    allow_promotion_codes: bool | None = None
    """Whether the payment page takes promotion codes; ``None`` leaves it to the
    provider adapter's setting."""
    automatic_tax: bool | None = None
    """Whether the provider computes the tax from the customer's address (which the
    payment page then asks for); ``None`` leaves it to the adapter's setting."""


@attrs.frozen
class Checkout:
    """Where to send the user to pay (``url``), or ``url=None`` when the change
    was made at once with the payment method on file."""

    id: str
    url: str | None


@attrs.frozen
class QuoteRequest:
    """A change to price: a new subscription when ``subscription_ref`` is None."""

    plan: str
    interval: Interval
    seats: int
    unit_amount: Money
    subscription_ref: str | None = None


@attrs.frozen
class Quote:
    """What the provider would charge now (prorated) and at each renewal after."""

    due_now: Money
    recurring: Money
