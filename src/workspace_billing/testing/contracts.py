"""Contract suites that every ``Store`` and ``PaymentProvider`` adapter must pass.

This is the import path hosts use; the suites live in ``store_contract`` and
``provider_contract`` next to it, one module each, and are re-exported here.
Like them, this module imports pytest, so ``workspace_billing.testing`` leaves
it alone and it loads only when a test suite imports it.

Subclass one with a single fixture and pytest runs the whole suite against
your adapter: the subclass's name must start with ``Test`` so pytest collects
it, and every ``test_*`` method it inherits runs as one of its tests::

    import pytest
    from workspace_billing.testing.contracts import (
        PaymentProviderContract,
        ProviderHarness,
        StoreContract,
    )

    class TestMyStore(StoreContract):
        @pytest.fixture(name="store")
        def store_fixture(self):
            return MyStore(...)            # an empty store

    class TestMyProvider(PaymentProviderContract):
        @pytest.fixture(name="harness")
        def harness_fixture(self):
            return ProviderHarness(provider=..., clock=..., complete_checkout=..., ...)

The fixture may take other fixtures or be parametrized (to run the suite on
several backends, say). ``ProviderHarness.gaps`` maps a contract test's name
to the reason a test double cannot serve it; that test is skipped with the
reason. The library runs these same classes against its own adapters.
"""

from __future__ import annotations

from .provider_contract import PaymentProviderContract, ProviderHarness
from .store_contract import StoreContract

__all__ = ["PaymentProviderContract", "ProviderHarness", "StoreContract"]
