"""pytest fixtures for host test suites, loaded automatically (entry point ``pytest11``).

Every fixture is prefixed ``billing``: ``billing_clock`` (a ``FakeClock``),
``billing_provider`` (a ``FakePaymentProvider`` on that clock),
``billing_store`` (an empty ``InMemoryStore``), ``billing_catalog``
(``Catalog.default()``; override it to test your own catalog) and ``billing``
(a ``Billing`` wired with all of them). Override any of them in a host's
``conftest.py`` to change the wiring.
"""

from __future__ import annotations

import pytest

from ..billing import Billing
from ..catalog import Catalog
from ..clock import FakeClock
from ..providers.fake import FakePaymentProvider
from ..storage.memory import InMemoryStore


@pytest.fixture
def billing_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def billing_catalog() -> Catalog:
    return Catalog.default()


@pytest.fixture
def billing_store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
def billing_provider(billing_clock: FakeClock) -> FakePaymentProvider:
    return FakePaymentProvider(clock=billing_clock)


@pytest.fixture
def billing(
    billing_catalog: Catalog,
    billing_store: InMemoryStore,
    billing_provider: FakePaymentProvider,
    billing_clock: FakeClock,
) -> Billing:
    return Billing(
        catalog=billing_catalog, store=billing_store, provider=billing_provider, clock=billing_clock
    )
