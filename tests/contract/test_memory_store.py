"""The store contract, run against the shipped in-memory store."""

from __future__ import annotations

import pytest

from workspace_billing.testing import InMemoryStore
from workspace_billing.testing.contracts import StoreContract


class TestInMemoryStore(StoreContract):
    @pytest.fixture(name="store")
    def store_fixture(self) -> InMemoryStore:
        return InMemoryStore()

    def test_transactions_do_not_nest(self, store: InMemoryStore) -> None:
        """A nested unit of work would deadlock on SQL; the fake says so at once."""
        with (
            store.unit_of_work(),
            pytest.raises(RuntimeError, match="do not nest"),
            store.unit_of_work(),
        ):
            pass
