"""The billing page's invoices (issue 14); ``service/account.py``."""

from __future__ import annotations

import pytest
from tests.service.support import ADMIN, MEMBER, OWNER, UNKNOWN_WORKSPACE, refused

from workspace_billing import (
    Billing,
    InvalidRequest,
    Invoice,
    InvoiceStatus,
    Money,
    NotFound,
    PermissionDenied,
    Store,
)
from workspace_billing.testing import FakeClock, FakePaymentProvider


def customer_of(billing: Billing, ws_id: str) -> str:
    customer = billing.workspace(ws_id).subscription.customer_ref
    assert customer is not None
    return customer


def never_asked(customer_ref: str, limit: int) -> list[Invoice]:
    """The provider's ``invoices``, for a test where it must not be called."""
    raise AssertionError("the provider was asked for invoices")


class TestInvoices:
    """Rule R3: owners and admins read the workspace's invoices, newest first."""

    def test_r3_the_invoices_are_the_providers_newest_first(
        self, billing: Billing, provider: FakePaymentProvider, clock: FakeClock, paid_id: str
    ) -> None:
        """Rule R3: the checkout's invoice, then a prorated increase, newest first."""
        clock.advance(days=10)
        billing.change_seats(paid_id, actor=OWNER, seats=5)
        invoices = billing.invoices(paid_id, actor=OWNER)
        assert all(isinstance(i, Invoice) for i in invoices)
        assert [i.status for i in invoices] == [InvoiceStatus.PAID, InvoiceStatus.PAID]
        newest, first = invoices
        assert first.total == Money(4 * 1200, "EUR")  # 4 seats, the whole first month
        assert Money(0, "EUR") < newest.total < Money(1200, "EUR")  # 1 seat, prorated
        assert newest.created_at > first.created_at
        assert invoices == list(provider.invoices(customer_of(billing, paid_id), 24))

    def test_r3_limit_keeps_the_newest(
        self, billing: Billing, clock: FakeClock, paid_id: str
    ) -> None:
        """Rule R3: ``limit`` invoices at most, the newest ones."""
        clock.advance(days=3)
        billing.change_seats(paid_id, actor=OWNER, seats=5)
        both = billing.invoices(paid_id, actor=OWNER)
        assert billing.invoices(paid_id, actor=OWNER, limit=1) == both[:1]
        assert billing.invoices(paid_id, actor=OWNER, limit=100) == both

    def test_r5_an_admin_reads_them_too(self, billing: Billing, paid_id: str) -> None:
        """Rule R5: an admin manages billing like the owner."""
        assert billing.invoices(paid_id, actor=ADMIN) == billing.invoices(paid_id, actor=OWNER)

    @pytest.mark.parametrize("workspace", ["trial_id", "free_id"])
    def test_r3_a_workspace_without_a_customer_has_none_and_the_provider_is_not_asked(
        self,
        billing: Billing,
        provider: FakePaymentProvider,
        monkeypatch: pytest.MonkeyPatch,
        request: pytest.FixtureRequest,
        workspace: str,
    ) -> None:
        """Rule R3: the trial and the free plan never reached the provider."""
        ws_id = request.getfixturevalue(workspace)
        owner = billing.workspace(ws_id).owner
        monkeypatch.setattr(provider, "invoices", never_asked)
        assert billing.invoices(ws_id, actor=owner) == []


class TestInvoicesRefused:
    """Rules R5 and R17: a refusal is typed and the store is exactly as it was."""

    @pytest.mark.parametrize("actor", [MEMBER, "eve"], ids=["member", "stranger"])
    def test_r5_a_member_or_a_stranger_is_refused(
        self,
        billing: Billing,
        store: Store,
        provider: FakePaymentProvider,
        monkeypatch: pytest.MonkeyPatch,
        paid_id: str,
        actor: str,
    ) -> None:
        """Rule R5: PermissionDenied, nothing read from the provider, nothing written."""
        monkeypatch.setattr(provider, "invoices", never_asked)
        refused(store, PermissionDenied, "permission_denied",
                lambda: billing.invoices(paid_id, actor=actor))  # fmt: skip

    @pytest.mark.parametrize("limit", [0, 101, -1, True, 2.0, "10", None], ids=repr)
    def test_r17_a_limit_out_of_1_to_100_is_refused(
        self, billing: Billing, store: Store, paid_id: str, limit: object
    ) -> None:
        """Rule R17: a whole number from 1 to 100, else ``invalid_number``."""
        refused(store, InvalidRequest, "invalid_number",
                lambda: billing.invoices(paid_id, actor=OWNER, limit=limit))  # type: ignore[arg-type]  # fmt: skip

    def test_r17_an_unknown_workspace_is_not_found(self, billing: Billing, store: Store) -> None:
        """Rule R17: NotFound, nothing written."""
        refused(store, NotFound, "not_found",
                lambda: billing.invoices(UNKNOWN_WORKSPACE, actor=OWNER))  # fmt: skip
