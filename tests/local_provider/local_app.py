"""A host's Billing factory on the local provider, as ``--app`` names it in the CLI test.

What a development server's module would hold: the store and the local provider
on the same database, the provider's webhooks handed to ``billing.handle_webhook``.
The clock reads ``LOCAL_APP_NOW`` so the test decides when "now" is; what it
builds is kept in ``MADE`` for the test to close.
"""

from __future__ import annotations

import os
from datetime import datetime

from workspace_billing import Billing, Catalog
from workspace_billing.providers.local import LocalPaymentProvider
from workspace_billing.storage.sql import SQLStore
from workspace_billing.testing import FakeClock

MADE: list[SQLStore | LocalPaymentProvider] = []


def make(url: str) -> Billing:
    clock = FakeClock(datetime.fromisoformat(os.environ["LOCAL_APP_NOW"]))
    store = SQLStore.from_url(url)
    provider = LocalPaymentProvider.from_url(
        url, clock=clock, base_url="http://127.0.0.1:8000/_local_billing", create_schema=True
    )
    billing = Billing(catalog=Catalog.default(), store=store, provider=provider, clock=clock)
    provider.deliver_to = billing.handle_webhook
    MADE.extend([store, provider])
    return billing
