"""The renewal sweep in batches, its dry run, and the reconcile job (R11, R12, R14)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.conftest import PaidWorkspace

from workspace_billing import (
    Billing,
    Catalog,
    EventType,
    Interval,
    Member,
    MemberStatus,
    Money,
    Renewal,
    Role,
    Store,
    Subscription,
    SubscriptionStatus,
    Workspace,
)
from workspace_billing.renewal import local_boundary, renewal_in_place, summary
from workspace_billing.subscription import add_interval
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


_CATALOG = Catalog.default()
_T0 = datetime(2026, 1, 31, 9, 30, tzinfo=UTC)


def negotiated(
    anchor: datetime, interval: Interval, *, seats: int = 5, pending: int | None = None, **extra
) -> Workspace:
    end = add_interval(anchor, interval)
    sub = Subscription(
        plan="enterprise",
        status=SubscriptionStatus.ACTIVE,
        seats=seats,
        interval=interval,
        pending_seats=pending,
        period_start=anchor,
        period_end=end,
        anchor=anchor,
        unit_amount=Money(900, "EUR"),
        **extra,
    )
    return Workspace(
        id="ws_1", name="Big", owner="dora", created_at=anchor, subscription=sub, due_at=end
    )


def active_members(count: int, since: datetime) -> list[Member]:
    owner = Member("ws_1", "dora", Role.OWNER, MemberStatus.ACTIVE, since, since, 1)
    others = [
        Member("ws_1", f"u{n}", Role.MEMBER, MemberStatus.ACTIVE, since, since, n + 2)
        for n in range(count - 1)
    ]
    return [owner, *others]


class TestRenewalInPlace:
    """The sweep's narrow write of a negotiated renewal is the general path's decision."""

    @given(
        anchor=st.datetimes(
            min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
        ),
        interval=st.sampled_from(list(Interval)),
        seats=st.integers(1, 12),
        pending=st.none() | st.integers(1, 12),
        overdue=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=800)),
        active=st.integers(1, 12),
    )
    def test_r3_r9_the_renewal_in_place_equals_the_general_path(
        self,
        anchor: datetime,
        interval: Interval,
        seats: int,
        pending: int | None,
        overdue: timedelta,
        active: int,
    ) -> None:
        ws = negotiated(anchor, interval, seats=seats, pending=pending)
        assert ws.due_at is not None
        now = ws.due_at + overdue
        renewal = renewal_in_place(ws, active, now, _CATALOG)
        change = local_boundary(ws, active_members(active, anchor), now, _CATALOG)
        assert change is not None
        if renewal is None:  # R11 has someone to deactivate: the general path decides
            assert any(e.type is EventType.MEMBER_DEACTIVATED for e in change.events)
            return
        # What the renewal must be, worked out independently: the first period
        # counted from the anchor that ends after now; the decrease applied (R9).
        n = 1
        while add_interval(anchor, interval, n) <= now:
            n += 1
        expected = attrs.evolve(
            ws.subscription,
            seats=pending if pending is not None else seats,
            pending_seats=None,
            period_start=add_interval(anchor, interval, n - 1),
            period_end=add_interval(anchor, interval, n),
        )
        assert expected.period_start is not None
        assert expected.period_start <= now < add_interval(anchor, interval, n)
        assert renewal.apply(ws) == attrs.evolve(
            ws, subscription=expected, due_at=expected.period_end
        )
        assert renewal.event.before == summary(ws.subscription)
        assert renewal.event.after == summary(expected)
        # ... and the general path decides the same.
        assert change.workspace.subscription == expected
        assert change.events == (renewal.event,)
        assert change.members == ()

    @pytest.mark.parametrize(
        "ws",
        [
            pytest.param(negotiated(_T0, Interval.MONTH, cancel_at_period_end=True), id="canceled"),
            pytest.param(negotiated(_T0, Interval.MONTH, subscription_ref="sub_1"), id="provider"),
            pytest.param(negotiated(_T0, Interval.MONTH, seats=5, pending=2), id="shrinks"),
            pytest.param(
                attrs.evolve(
                    negotiated(_T0, Interval.MONTH),
                    subscription=Subscription.trial(_CATALOG, _T0),
                ),
                id="trial",
            ),
        ],
    )
    def test_other_boundaries_go_the_general_path(self, ws: Workspace) -> None:
        """R11/R12/R13: a trial end, a cancellation, a provider's renewal or a renewal
        that deactivates is not a renewal in place."""
        later = _T0 + timedelta(days=400)
        assert renewal_in_place(ws, 4, later, _CATALOG) is None

    def test_a_renewal_not_yet_due_is_not_written(self) -> None:
        ws = negotiated(_T0, Interval.MONTH)
        assert renewal_in_place(ws, 1, _T0 + timedelta(days=2), _CATALOG) is None

    def test_r7_renewals_in_place_and_the_general_path_share_a_batch(
        self,
        billing: Billing,
        clock: FakeClock,
        store: Store,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        in_place: list[str] = []

        def spy(ws: Workspace, active: int, now: datetime, catalog: Catalog) -> Renewal | None:
            found = renewal_in_place(ws, active, now, catalog)
            if found is not None:
                in_place.append(ws.id)
            return found

        monkeypatch.setattr("workspace_billing.service.renewals.renewal_in_place", spy)
        for n in range(2):
            ws = billing.create_workspace(owner=f"o{n}", name="Big", workspace_id=f"ws_{n}")
            billing.apply_custom_terms(
                ws.id, operator="ops", seats=5, unit_amount=Money(900, "EUR"), interval="month"
            )
            for m in range(3):
                clock.advance(seconds=1)
                billing.add_member(ws.id, actor=f"o{n}", user=f"u{n}-{m}")
        trial = billing.create_workspace(owner="tina", name="Trial", workspace_id="ws_trial")
        for m in range(3):
            clock.advance(seconds=1)
            billing.add_member(trial.id, actor="tina", user=f"t{m}")
        clock.advance(days=45)
        report = billing.run_renewals()
        assert (report.examined, report.changed, report.deactivated) == (3, 3, 2)
        assert sorted(in_place) == ["ws_0", "ws_1"]  # the trial end went the general path
        snapshot = store.snapshot()
        renewed = [e for e in snapshot.events if e.type is EventType.SUBSCRIPTION_RENEWED]
        assert sorted(e.workspace_id for e in renewed) == ["ws_0", "ws_1"]
        for event in renewed:
            ws = billing.workspace(event.workspace_id)
            assert event.after == summary(ws.subscription)
            assert ws.due_at == ws.subscription.period_end
            assert ws.subscription.period_end is not None
            assert ws.subscription.period_end > clock.now()
        gone = {m.user for m in snapshot.members if m.status is MemberStatus.DEACTIVATED}
        assert gone == {"t2", "t1"}
        assert billing.run_renewals().changed == 0
