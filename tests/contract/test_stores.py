"""The store contract, run against every shipped store: memory, SQLite and PostgreSQL.

The ``store`` fixture of tests/conftest.py is parametrized over the backends,
so this one class runs the whole contract once per backend.
"""

from __future__ import annotations

import pytest

from workspace_billing import Store
from workspace_billing.testing import InMemoryStore
from workspace_billing.testing.contracts import StoreContract


class TestEveryStore(StoreContract):
    """The contract, on the backend of the ``store`` fixture."""

    def test_a_read_only_unit_of_work_refuses_writes(self, store: Store) -> None:
        with (
            pytest.raises(RuntimeError, match="read-only"),
            store.unit_of_work(read_only=True) as uow,
        ):
            uow.claim_webhook_event("evt_1")
        assert store.snapshot().webhook_event_ids == ()


class TestInMemoryStore:
    def test_transactions_do_not_nest(self) -> None:
        """A nested unit of work would deadlock on SQL; the fake says so at once."""
        store = InMemoryStore()
        with (
            store.unit_of_work(),
            pytest.raises(RuntimeError, match="do not nest"),
            store.unit_of_work(),
        ):
            pass
