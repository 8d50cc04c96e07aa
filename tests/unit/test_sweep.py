"""The renewal sweep in batches, its dry run, and the reconcile job (R11, R12, R14)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.conftest import PaidWorkspace

from workspace_billing import (
    Billing,
    EventType,
    MemberStatus,
    Money,
    Store,
    SubscriptionStatus,
)
from workspace_billing.testing import FakeClock, FakePaymentProvider


def trials_with_members(billing: Billing, clock: FakeClock, count: int) -> list[str]:
    """``count`` trial workspaces, workspace n with n % 5 members besides the owner."""
    ids = []
    for n in range(count):
        ws = billing.create_workspace(owner=f"owner{n}", name=f"W{n}", workspace_id=f"ws_{n:03d}")
        for m in range(n % 5):
            clock.advance(seconds=1)
            billing.add_member(ws.id, actor=f"owner{n}", user=f"u{n}-{m}")
        ids.append(ws.id)
    return ids


class TestBatchedSweep:
    """Rule R11 over many workspaces, claimed a few at a time."""

    @pytest.mark.parametrize("batch_size", [1, 4, 500])
    def test_r11_every_due_workspace_is_renewed_once_whatever_the_batch(
        self, billing: Billing, clock: FakeClock, batch_size: int
    ) -> None:
        ids = trials_with_members(billing, clock, 23)
        clock.advance(days=15)
        report = billing.run_renewals(batch_size=batch_size)
        assert report.examined == 23
        ended = [e.workspace_id for e in billing.events() if e.type is EventType.TRIAL_ENDED]
        assert sorted(ended) == ids
        for ws_id in ids:
            active = [m for m in billing.members(ws_id) if m.status is MemberStatus.ACTIVE]
            assert len(active) == min(len(billing.members(ws_id)), 2)  # the free plan's cap
        expected_gone = sum(max(n % 5 + 1 - 2, 0) for n in range(23))
        assert report.deactivated == expected_gone
        assert billing.run_renewals(batch_size=batch_size).changed == 0

    def test_r11_the_most_recently_added_go_in_each_workspace(
        self, billing: Billing, clock: FakeClock
    ) -> None:
        trials_with_members(billing, clock, 5)
        clock.advance(days=15)
        billing.run_renewals(batch_size=2)
        statuses = {m.user: m.status for m in billing.members("ws_004")}
        assert statuses == {
            "owner4": MemberStatus.ACTIVE,
            "u4-0": MemberStatus.ACTIVE,
            "u4-1": MemberStatus.DEACTIVATED,
            "u4-2": MemberStatus.DEACTIVATED,
            "u4-3": MemberStatus.DEACTIVATED,
        }

    def test_r7_negotiated_and_provider_managed_renewals_share_the_sweep(
        self, billing: Billing, clock: FakeClock, paid_workspace: PaidWorkspace
    ) -> None:
        paid = paid_workspace(seats=3, members=("bob", "carol"))
        billing.change_seats(paid.id, actor="alice", seats=1)
        sales = billing.create_workspace(owner="dora", name="Big", workspace_id="ws_sales")
        billing.apply_custom_terms(
            sales.id, operator="ops", seats=5, unit_amount=Money(900, "EUR"), interval="month"
        )
        clock.advance(days=40)
        report = billing.run_renewals(batch_size=1)
        assert (report.examined, report.changed, report.deactivated) == (2, 2, 2)
        assert billing.workspace(paid.id).subscription.seats == 1
        sales_sub = billing.workspace(sales.id).subscription
        assert sales_sub.period_start is not None
        assert sales_sub.period_start > clock.now() - timedelta(days=31)


class TestDryRun:
    """``due_renewals`` names who would go, and changes nothing."""

    def test_r11_the_dry_run_names_who_the_sweep_deactivates(
        self, billing: Billing, clock: FakeClock, store: Store
    ) -> None:
        trials_with_members(billing, clock, 6)
        clock.advance(days=15)
        before = store.snapshot()
        planned = {ws.id: [m.user for m in p.deactivate] for ws, p in billing.due_renewals()}
        assert store.snapshot() == before
        assert planned["ws_004"] == ["u4-3", "u4-2", "u4-1"]
        billing.run_renewals()
        for ws_id, users in planned.items():
            gone = [m.user for m in billing.members(ws_id) if m.status is MemberStatus.DEACTIVATED]
            assert sorted(gone) == sorted(users)


class TestReconcile:
    """Drift from lost webhooks is found and repaired through the webhook path (R14)."""

    def test_r14_a_lost_webhook_is_repaired(
        self,
        billing: Billing,
        provider: FakePaymentProvider,
        paid_workspace: PaidWorkspace,
    ) -> None:
        ws = paid_workspace(seats=3)
        ref = billing.workspace(ws.id).subscription.subscription_ref
        assert ref is not None
        provider.cancel(ref, at_period_end=True, idempotency_key="dashboard-cancel")
        provider.take_webhooks()  # the webhook was lost
        assert not billing.workspace(ws.id).subscription.cancel_at_period_end
        report = billing.reconcile(page_size=1)
        assert report.examined == 1
        assert report.repaired == ((ws.id, (EventType.CANCELLATION_SCHEDULED,)),)
        assert billing.workspace(ws.id).subscription.cancel_at_period_end
        assert billing.reconcile().repaired == ()

    def test_r12_a_missed_failed_renewal_is_found(
        self,
        billing: Billing,
        provider: FakePaymentProvider,
        clock: FakeClock,
        paid_workspace: PaidWorkspace,
    ) -> None:
        ws = paid_workspace(seats=3)
        provider.fail_next_payment()
        renews_at = billing.workspace(ws.id).subscription.period_end
        assert renews_at is not None
        clock.set(renews_at + timedelta(hours=1))
        provider.take_webhooks()
        report = billing.reconcile()
        assert report.repaired[0][0] == ws.id
        assert EventType.PAYMENT_FAILED in report.repaired[0][1]
        assert billing.workspace(ws.id).subscription.status is SubscriptionStatus.PAST_DUE

    def test_only_provider_managed_workspaces_are_examined(
        self, billing: Billing, paid_workspace: PaidWorkspace
    ) -> None:
        paid_workspace(seats=2)
        billing.create_workspace(owner="zoe", name="Trial")
        assert billing.reconcile().examined == 1
