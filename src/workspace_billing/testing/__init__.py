"""Fakes for host test suites: real implementations of the ports, deterministic.

``FakeClock`` moves only when told; ``FakePaymentProvider`` shares it;
``InMemoryStore`` enforces what the SQL store enforces. The contract suites
live in ``workspace_billing.testing.contracts`` (they import pytest), and the
pytest plugin's fixtures (``billing``, ``billing_clock``, ``billing_provider``,
``billing_store``, ``billing_catalog``) load on their own when this package is
installed.
"""

from ..clock import FakeClock
from ..providers.fake import FakeInvoice, FakePaymentProvider
from ..storage.memory import InMemoryStore

__all__ = ["FakeClock", "FakeInvoice", "FakePaymentProvider", "InMemoryStore"]
