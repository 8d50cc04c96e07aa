"""Boundaries: renewals and who they deactivate (R11), payment failure and grace
(R12), and changes made once a boundary fell due; ``service/renewals.py`` and
the boundary steps of ``service/base.py``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.conftest import PaidWorkspace
from tests.service.support import (
    event_types,
    statuses,
)

from workspace_billing import (
    Billing,
    BoundaryKind,
    EventType,
    MemberStatus,
    Role,
    SeatLimitReached,
    SubscriptionStatus,
)
from workspace_billing.testing import FakeClock, FakePaymentProvider, InMemoryStore


class TestRenewal:
    """Rule R11: at renewal the most recently added members are deactivated."""

    def test_r11_the_preview_names_exactly_who_the_renewal_deactivates(
        self, billing: Billing, paid_workspace: PaidWorkspace, clock: FakeClock
    ) -> None:
        ws = paid_workspace(seats=5)
        for user in ("bob", "carol", "dan", "erin"):
            clock.advance(minutes=5)
            billing.add_member(ws.id, actor="alice", user=user)
        billing.change_seats(ws.id, actor="alice", seats=3)
        preview = billing.preview_renewal(ws.id)
        assert [m.user for m in preview.deactivate] == ["erin", "dan"]
        assert preview.at is not None
        clock.set(preview.at)
        billing.run_renewals()
        gone = [m.user for m in billing.members(ws.id) if m.status is MemberStatus.DEACTIVATED]
        assert sorted(gone) == ["dan", "erin"]

    def test_r11_deactivated_members_keep_their_data_and_come_back_as_newest(
        self, billing: Billing, paid_workspace: PaidWorkspace, clock: FakeClock
    ) -> None:
        ws = paid_workspace(seats=3, members=("bob", "carol"), admins=("carol",))
        billing.change_seats(ws.id, actor="alice", seats=2)
        renews_at = billing.subscription(ws.id, actor="alice").renews_at
        assert renews_at is not None
        clock.set(renews_at)
        billing.run_renewals()
        carol = next(m for m in billing.members(ws.id) if m.user == "carol")
        assert (carol.status, carol.role) == (MemberStatus.DEACTIVATED, Role.ADMIN)
        with pytest.raises(SeatLimitReached):
            billing.reactivate_member(ws.id, actor="alice", user="carol")
        billing.remove_member(ws.id, actor="alice", user="bob")
        clock.advance(hours=1)
        back = billing.reactivate_member(ws.id, actor="alice", user="carol")
        assert back.status is MemberStatus.ACTIVE
        assert back.active_since == clock.now()
        assert billing.preview_renewal(ws.id).deactivate == ()

    def test_r11_running_renewals_again_changes_nothing(
        self,
        billing: Billing,
        paid_workspace: PaidWorkspace,
        clock: FakeClock,
        store: InMemoryStore,
    ) -> None:
        ws = paid_workspace(seats=3, members=("bob", "carol"))
        billing.change_seats(ws.id, actor="alice", seats=1)
        clock.advance(days=40)
        first = billing.run_renewals()
        assert first.deactivated == 2
        snapshot = store.snapshot()
        assert billing.run_renewals().changed == 0
        assert store.snapshot() == snapshot


class TestPaymentFailure:
    """Rule R12: past due, a grace period, then the fallback."""

    def _fail_renewal(
        self, billing: Billing, provider: FakePaymentProvider, clock: FakeClock, ws_id: str
    ) -> None:
        renews_at = billing.subscription(ws_id, actor="alice").renews_at
        assert renews_at is not None
        provider.fail_next_payment()
        clock.set(renews_at + timedelta(minutes=1))
        provider.deliver(billing.handle_webhook)

    def test_r12_a_failed_renewal_is_past_due_and_keeps_the_features(
        self,
        billing: Billing,
        paid_workspace: PaidWorkspace,
        provider: FakePaymentProvider,
        clock: FakeClock,
    ) -> None:
        ws = paid_workspace(seats=3)
        self._fail_renewal(billing, provider, clock, ws.id)
        o = billing.subscription(ws.id, actor="alice")
        assert o.status is SubscriptionStatus.PAST_DUE
        assert o.grace_ends_at == clock.now() + billing.catalog.grace_period
        assert billing.has_feature(ws.id, "sso")
        assert EventType.PAYMENT_FAILED in event_types(billing)

    def test_r12_after_the_grace_period_the_workspace_falls_back(
        self,
        billing: Billing,
        paid_workspace: PaidWorkspace,
        provider: FakePaymentProvider,
        clock: FakeClock,
    ) -> None:
        ws = paid_workspace(seats=4, members=("bob", "carol", "dan"))
        ref = billing.workspace(ws.id).subscription.subscription_ref
        assert ref is not None
        self._fail_renewal(billing, provider, clock, ws.id)
        assert billing.preview_renewal(ws.id).kind is BoundaryKind.GRACE_END
        clock.advance(billing.catalog.grace_period)
        billing.run_renewals()
        o = billing.subscription(ws.id, actor="alice")
        assert (o.status, o.plan, o.seats_used) == (SubscriptionStatus.FREE, "free", 2)
        assert not billing.has_feature(ws.id, "sso")
        assert provider.subscription(ref).status.value == "canceled"
        provider.deliver(billing.handle_webhook)
        assert billing.subscription(ws.id, actor="alice").status is SubscriptionStatus.FREE

    def test_r12_paying_during_the_grace_period_restores_the_subscription(
        self,
        billing: Billing,
        paid_workspace: PaidWorkspace,
        provider: FakePaymentProvider,
        clock: FakeClock,
    ) -> None:
        ws = paid_workspace(seats=3)
        self._fail_renewal(billing, provider, clock, ws.id)
        ref = billing.workspace(ws.id).subscription.subscription_ref
        assert ref is not None
        provider.settle(ref)
        provider.deliver(billing.handle_webhook)
        assert billing.subscription(ws.id, actor="alice").status is SubscriptionStatus.ACTIVE
        assert EventType.PAYMENT_RECOVERED in event_types(billing)


class TestChangesAtADueBoundary:
    """Rules R9 and R11: a change made after the period ended, before the renewal was
    applied, first applies that renewal, so it is decided on this period's seats."""

    def _past_renewal(self, billing: Billing, clock: FakeClock, ws_id: str) -> None:
        renews_at = billing.subscription(ws_id, actor="alice").renews_at
        assert renews_at is not None
        clock.set(renews_at + timedelta(hours=1))

    def test_r9_a_seat_change_after_the_period_end_is_made_on_the_new_period(
        self, billing: Billing, paid_workspace: PaidWorkspace, clock: FakeClock
    ) -> None:
        ws = paid_workspace(seats=5, members=("bob", "carol", "dan"))
        billing.change_seats(ws.id, actor="alice", seats=2)
        self._past_renewal(billing, clock, ws.id)
        o = billing.change_seats(ws.id, actor="alice", seats=4)
        assert (o.seats, o.pending_seats) == (4, None)
        assert statuses(billing, ws.id)["dan"] is MemberStatus.DEACTIVATED

    def test_r11_buying_seats_after_the_period_end_does_not_skip_its_deactivations(
        self, billing: Billing, paid_workspace: PaidWorkspace, clock: FakeClock
    ) -> None:
        ws = paid_workspace(seats=5, members=("bob", "carol", "dan"))
        billing.change_seats(ws.id, actor="alice", seats=2)
        self._past_renewal(billing, clock, ws.id)
        billing.change_seats(ws.id, actor="alice", seats=6)
        deactivated = [
            e.subject for e in billing.events() if e.type is EventType.MEMBER_DEACTIVATED
        ]
        assert deactivated == ["dan", "carol"]

    def test_r1_a_member_added_after_the_trial_end_counts_against_the_fallback(
        self, billing: Billing, clock: FakeClock
    ) -> None:
        ws = billing.create_workspace(owner="alice", name="Acme")
        billing.add_member(ws.id, actor="alice", user="bob")
        clock.advance(days=15)
        with pytest.raises(SeatLimitReached):
            billing.add_member(ws.id, actor="alice", user="carol")
        assert billing.workspace(ws.id).subscription.status is SubscriptionStatus.FREE
