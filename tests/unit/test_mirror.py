"""Rule R14: the provider's view is applied so that stale and stray views never win."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest
from tests.conftest import PaidWorkspace

from workspace_billing import (
    Billing,
    Catalog,
    EventType,
    Interval,
    MemberStatus,
    Money,
    ProviderStatus,
    ProviderSubscription,
    Store,
    SubscriptionStatus,
)
from workspace_billing.mirror import apply_view
from workspace_billing.testing import FakeClock, FakePaymentProvider

URLS = {"success_url": "https://app.example/ok", "cancel_url": "https://app.example/cancel"}


class StaleOnce(FakePaymentProvider):
    """A provider whose next fetch answers with an older view, as a slow request would."""

    stale: ProviderSubscription | None = None

    def fetch_subscription(self, subscription_ref: str) -> ProviderSubscription:
        if self.stale is not None and self.stale.ref == subscription_ref:
            view, self.stale = self.stale, None
            return view
        return super().fetch_subscription(subscription_ref)


class TestStaleViews:
    """Rule R14: a view older than the one applied never undoes it."""

    def test_r14_a_view_of_an_earlier_period_is_ignored(
        self,
        billing: Billing,
        paid_workspace: PaidWorkspace,
        provider: FakePaymentProvider,
        clock: FakeClock,
    ) -> None:
        ws = paid_workspace(seats=3, members=("bob", "carol"))
        billing.change_seats(ws.id, actor="alice", seats=1)
        ref = billing.workspace(ws.id).subscription.subscription_ref
        assert ref is not None
        old_view = provider.subscription(ref)
        clock.set(old_view.period_end + timedelta(hours=1))
        provider.deliver(billing.handle_webhook)
        renewed = billing.workspace(ws.id)
        change = apply_view(renewed, billing.members(ws.id), old_view, clock.now(), billing.catalog)
        assert change.workspace == renewed
        assert change.events == ()

    def test_r14_a_late_view_never_revives_an_ended_subscription(
        self,
        billing: Billing,
        paid_workspace: PaidWorkspace,
        provider: FakePaymentProvider,
        clock: FakeClock,
    ) -> None:
        ws = paid_workspace(seats=3)
        ref = billing.workspace(ws.id).subscription.subscription_ref
        assert ref is not None
        live_view = provider.subscription(ref)
        billing.cancel(ws.id, actor="alice")
        clock.set(live_view.period_end + timedelta(hours=1))
        provider.deliver(billing.handle_webhook)
        ended = billing.workspace(ws.id)
        assert ended.subscription.status is SubscriptionStatus.FREE
        change = apply_view(ended, billing.members(ws.id), live_view, clock.now(), billing.catalog)
        assert change.workspace == ended

    def test_r14_a_stale_fetch_is_corrected_by_fetching_again(
        self, catalog: Catalog, store: Store, clock: FakeClock
    ) -> None:
        """Two handlers can commit in the other order; the mirror still ends on the newest view."""
        provider = StaleOnce(clock=clock)
        billing = Billing(catalog=catalog, store=store, provider=provider, clock=clock)
        ws = billing.create_workspace(owner="alice", name="Acme")
        checkout = billing.upgrade(ws.id, actor="alice", plan="business", seats=2, **URLS)
        ref = provider.complete_checkout(checkout.id)
        provider.deliver(billing.handle_webhook)
        before_increase = provider.subscription(ref)
        billing.change_seats(ws.id, actor="alice", seats=4)
        provider.stale = attrs.evolve(before_increase, cancel_at_period_end=True)
        payload = provider.take_webhooks()[-1][0]
        billing.handle_webhook(payload, provider.sign(payload))
        sub = billing.workspace(ws.id).subscription
        assert (sub.seats, sub.pending_seats, sub.cancel_at_period_end) == (4, None, False)


class TestStraySubscriptions:
    """Rule R14: a second paid checkout is never taken up silently."""

    def test_r14_a_second_live_subscription_is_reported_and_ignored(
        self, billing: Billing, provider: FakePaymentProvider, caplog: pytest.LogCaptureFixture
    ) -> None:
        ws = billing.create_workspace(owner="alice", name="Acme")
        first = billing.upgrade(ws.id, actor="alice", plan="business", seats=2, **URLS)
        second = billing.upgrade(ws.id, actor="alice", plan="business", seats=3, **URLS)
        provider.complete_checkout(first.id)
        provider.deliver(billing.handle_webhook)
        followed = billing.workspace(ws.id).subscription.subscription_ref
        provider.complete_checkout(second.id)
        results = []
        provider.deliver(lambda p, h: results.append(billing.handle_webhook(p, h)))
        assert billing.workspace(ws.id).subscription.subscription_ref == followed
        assert billing.workspace(ws.id).subscription.seats == 2
        assert sum(r.ignored for r in results) >= 1
        assert "is live too" in caplog.text


class TestNegotiatedPeriods:
    """Rule R7: a negotiated plan renews from its anchor, never drifting to the 28th."""

    def test_r7_a_plan_started_on_the_31st_renews_at_each_month_end(
        self, billing: Billing, clock: FakeClock
    ) -> None:
        clock.set(datetime(2026, 1, 31, 10, tzinfo=UTC))
        ws = billing.create_workspace(owner="alice", name="Acme")
        billing.apply_custom_terms(
            ws.id, operator="ops", seats=10, unit_amount=Money(900, "EUR"), interval=Interval.MONTH
        )
        ends = []
        for _ in range(3):
            end = billing.workspace(ws.id).subscription.period_end
            assert end is not None
            ends.append(end.date().isoformat())
            clock.set(end + timedelta(minutes=1))
            billing.run_renewals()
        assert ends == ["2026-02-28", "2026-03-31", "2026-04-30"]
        sub = billing.workspace(ws.id).subscription
        assert sub.period_start is not None
        assert sub.period_start.date().isoformat() == "2026-04-30"


class TestLapsedAccess:
    """Rules R1, R12, R17: what ended is ended at once, and a refused change changes nothing."""

    def test_r1_trial_features_end_with_the_trial_before_the_renewal_job(
        self, billing: Billing, clock: FakeClock
    ) -> None:
        ws = billing.create_workspace(owner="alice", name="Acme")
        assert billing.has_feature(ws.id, "sso")
        clock.advance(days=14)
        assert not billing.has_feature(ws.id, "sso")
        assert billing.workspace(ws.id).subscription.status is SubscriptionStatus.TRIALING

    def test_r17_a_refused_change_at_a_due_boundary_applies_nothing(
        self, billing: Billing, clock: FakeClock, store: Store
    ) -> None:
        from workspace_billing import InvalidRequest

        ws = billing.create_workspace(owner="alice", name="Acme")
        for user in ("bob", "carol", "dan"):
            billing.add_member(ws.id, actor="alice", user=user)
        clock.advance(days=15)
        before = store.snapshot()
        with pytest.raises(InvalidRequest):
            billing.upgrade(ws.id, actor="alice", plan="business", seats=0, **URLS)
        assert store.snapshot() == before
        assert all(m.status is MemberStatus.ACTIVE for m in billing.members(ws.id))
        assert EventType.TRIAL_ENDED not in [e.type for e in billing.events()]


def test_views_compare_by_value() -> None:
    """The convergence loop relies on equal views comparing equal."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    view = ProviderSubscription(
        "sub_1",
        "cus_1",
        "ws",
        "business",
        Interval.MONTH,
        2,
        ProviderStatus.ACTIVE,
        at,
        at,
        Money(1, "EUR"),
    )
    assert view == attrs.evolve(view)
    assert view != attrs.evolve(view, seats=3)
