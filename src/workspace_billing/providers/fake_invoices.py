"""The fake provider's invoices, kept two ways.

``FakeInvoice`` is every charge the fake attempted, in order, paid or not: what
tests assert amounts on (``FakePaymentProvider.invoices``, a list). The port's
invoice history (``FakePaymentProvider.invoices(customer_ref, limit)``) is made
of ``_Bill``s, which change status as a provider's invoices do:

- a paid charge is a ``paid`` invoice;
- an off-session charge waiting for the customer's authentication is ``open``
  until they confirm it (``authenticate``), then ``paid``;
- a declined renewal is ``open``, as Stripe leaves it while it retries, and the
  payment that settles it (``settle``) makes that same invoice ``paid``;
- a declined seat increase or plan change is ``void``: the change was given up,
  nothing is owed (the Stripe adapter voids that invoice too);
- a declined checkout payment leaves none (the customer is still on the payment
  page), and nothing due leaves none (no payment was attempted).

Invoices are numbered ``FAKE-0001``, ``FAKE-0002``... in the order the fake
makes them, and their PDF and page live under ``https://fake-provider.invalid/``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import attrs

from ..money import Money
from ..ports import Invoice, InvoiceStatus

__all__ = ["FakeInvoice", "FakeInvoices"]

BASE_URL = "https://fake-provider.invalid"


@attrs.frozen
class FakeInvoice:
    """A charge the fake provider attempted, for tests to assert amounts on."""

    subscription_ref: str
    amount: Money
    paid: bool
    reason: str
    at: datetime


class FakeInvoices(list[FakeInvoice]):
    """Every charge the fake provider attempted, oldest first, as ``FakeInvoice``s:
    index, slice and compare it as a list.

    Called as ``invoices(customer_ref, limit)``, it is the port's invoice history
    (``PaymentProvider.invoices``): the customer's ``Invoice``s, newest first.
    """

    def __init__(self, history: Callable[[str, int], Sequence[Invoice]]) -> None:
        super().__init__()
        self._history = history

    def __call__(self, customer_ref: str, limit: int) -> Sequence[Invoice]:
        return self._history(customer_ref, limit)


@attrs.define
class _Bill:
    """One invoice of the history; its status moves as the payment does."""

    id: str
    number: str
    customer_ref: str
    subscription_ref: str
    reason: str
    total: Money
    created_at: datetime
    period_start: datetime
    period_end: datetime
    status: InvoiceStatus

    def neutral(self) -> Invoice:
        return Invoice(
            id=self.id,
            number=self.number,
            status=self.status,
            total=self.total,
            created_at=self.created_at,
            period_start=self.period_start,
            period_end=self.period_end,
            pdf_url=f"{BASE_URL}/invoices/{self.id}.pdf",
            hosted_url=f"{BASE_URL}/invoices/{self.id}",
        )
