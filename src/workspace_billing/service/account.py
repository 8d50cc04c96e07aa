"""The workspace's account at the provider, as the billing page shows it: its invoices.

The card on file needs no action here: it is mirrored with the subscription
(``SubscriptionOverview.payment_method``), so the page reads it without a
provider call. Invoices are the provider's record and are read from it on
each call, never copied into the store.
"""

from __future__ import annotations

from ..permissions import require_manager
from ..ports import Invoice
from .base import ServiceBase
from .checks import count

MAX_INVOICES = 100
"""The most invoices one call reads: Stripe's page size, and more than a billing
page lists (the provider's portal keeps the whole history)."""


class AccountActions(ServiceBase):
    def invoices(self, workspace_id: str, *, actor: str, limit: int = 24) -> list[Invoice]:
        """The workspace's invoices, newest first, at most ``limit`` (1 to 100); owners
        and admins only (R5).

        Read from the provider on each call: each charge made or attempted, with
        its status, total, period and where to read or pay it (``pdf_url``,
        ``hosted_url``). A workspace that never reached the provider (no
        customer yet: the trial, the free plan) has none, and the provider is
        not asked.
        """
        ws, members = self._read(workspace_id)
        require_manager(ws.id, members, actor)
        limit = count("limit", limit, most=MAX_INVOICES)
        customer = ws.subscription.customer_ref
        if customer is None:
            return []
        return list(self._provider.invoices(customer, limit))
