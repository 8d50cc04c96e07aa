"""The payment provider contract, run against the local provider on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from tests.local_provider.support import empty_database

from workspace_billing.providers.local import LocalPaymentProvider
from workspace_billing.testing import FakeClock
from workspace_billing.testing.contracts import PaymentProviderContract, ProviderHarness

BASE_URL = "https://billing.localhost/_local_billing"


@pytest.fixture(name="local_url", params=["sqlite", "postgres"])
def local_url_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind for the provider's tables."""
    return empty_database(request.param, tmp_path)


class TestLocalPaymentProvider(PaymentProviderContract):
    @pytest.fixture(name="harness")
    def harness_fixture(self, local_url: str) -> Iterator[ProviderHarness]:
        clock = FakeClock()
        provider = LocalPaymentProvider.from_url(
            local_url, clock=clock, base_url=BASE_URL, create_schema=True
        )

        def advance(delta: timedelta) -> None:
            clock.advance(delta)

        yield ProviderHarness(
            provider=provider,
            clock=clock,
            complete_checkout=provider.complete_checkout,
            advance=advance,
            fail_next_payment=provider.fail_next_payment,
            take_webhooks=provider.take_webhooks,  # type: ignore[arg-type]
            require_action_next_payment=provider.require_action_next_payment,
            authenticate=provider.authenticate,
        )
        provider.dispose()
