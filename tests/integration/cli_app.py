"""A host's Billing factory, as ``--app cli_app:make`` names it in the CLI tests."""

from __future__ import annotations

import os
from datetime import datetime

from workspace_billing import Billing, Catalog
from workspace_billing.storage.sql import SQLStore
from workspace_billing.testing import FakeClock, FakePaymentProvider


def make(url: str) -> Billing:
    clock = FakeClock(datetime.fromisoformat(os.environ["CLI_TEST_NOW"]))
    return Billing(
        catalog=Catalog.default(),
        store=SQLStore.from_url(url),
        provider=FakePaymentProvider(clock=clock),
        clock=clock,
    )
