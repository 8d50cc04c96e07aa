"""The business rules R1–R18 of DESIGN.md, through the Billing service as a host calls it.

The authorization matrix (R5), bad inputs (R17), webhook convergence (R14) and
the random walk over seats and renewals live in their own files.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.conftest import PaidWorkspace

from workspace_billing import (
    Billing,
    BoundaryKind,
    Catalog,
    EventType,
    Interval,
    MemberStatus,
    Money,
    PlanNotSelfServe,
    Role,
    SeatLimitReached,
    SubscriptionStatus,
)
from workspace_billing.testing import FakeClock, FakePaymentProvider, InMemoryStore

URLS = {"success_url": "https://app.example/ok", "cancel_url": "https://app.example/cancel"}


def statuses(billing: Billing, ws_id: str) -> dict[str, MemberStatus]:
    return {m.user: m.status for m in billing.members(ws_id)}


def event_types(billing: Billing) -> list[EventType]:
    return [e.type for e in billing.events()]


class TestTrial:
    """Rules R1 and R2: one free trial per owner, on their first workspace."""

    def test_r1_the_first_workspace_starts_a_trial_at_once(
        self, billing: Billing, clock: FakeClock, provider: FakePaymentProvider
    ) -> None:
        ws = billing.create_workspace(owner="alice", name="Acme")
        overview = billing.subscription(ws.id, actor="alice")
        assert overview.status is SubscriptionStatus.TRIALING
        assert overview.plan == "business"
        assert overview.trial_ends_at == clock.now() + timedelta(days=14)
        assert overview.seats == billing.catalog.trial.member_cap
        assert overview.seats_used == 1

    def test_r1_no_payment_method_is_asked_for_the_trial(
        self, billing: Billing, provider: FakePaymentProvider
    ) -> None:
        billing.create_workspace(owner="alice", name="Acme")
        assert provider.invoices == []
        assert EventType.CUSTOMER_CREATED not in event_types(billing)

    def test_r2_a_later_workspace_of_the_same_owner_starts_on_the_fallback(
        self, billing: Billing
    ) -> None:
        billing.create_workspace(owner="alice", name="Acme")
        second = billing.create_workspace(owner="alice", name="Side")
        overview = billing.subscription(second.id, actor="alice")
        assert overview.status is SubscriptionStatus.FREE
        assert overview.plan == "free"
        assert overview.trial_ends_at is None
        assert not billing.has_feature(second.id, "sso")

    def test_r2_another_owner_still_gets_a_trial(self, billing: Billing) -> None:
        billing.create_workspace(owner="alice", name="Acme")
        other = billing.create_workspace(owner="bob", name="Bob's")
        assert billing.workspace(other.id).subscription.status is SubscriptionStatus.TRIALING

    def test_r2_declining_a_trial_keeps_it_for_later(self, billing: Billing) -> None:
        first = billing.create_workspace(owner="alice", name="Acme", trial=False)
        later = billing.create_workspace(owner="alice", name="Later")
        assert billing.workspace(first.id).subscription.status is SubscriptionStatus.FREE
        assert billing.workspace(later.id).subscription.status is SubscriptionStatus.TRIALING

    def test_r2_a_catalog_whose_fallback_expires_grants_nothing(
        self, store: InMemoryStore, provider: FakePaymentProvider, clock: FakeClock
    ) -> None:
        import attrs

        catalog = attrs.evolve(Catalog.default(), fallback_expires=True)
        billing = Billing(catalog=catalog, store=store, provider=provider, clock=clock)
        billing.create_workspace(owner="alice", name="Acme")
        second = billing.create_workspace(owner="alice", name="Side")
        assert billing.workspace(second.id).subscription.status is SubscriptionStatus.EXPIRED
        assert not billing.has_feature(second.id, "projects")

    def test_r11_the_trial_end_falls_back_and_deactivates_the_excess(
        self, billing: Billing, clock: FakeClock
    ) -> None:
        """Rules R2 and R11: at the trial's end the fallback's member cap applies."""
        ws = billing.create_workspace(owner="alice", name="Acme")
        for user in ("bob", "carol", "dan"):
            clock.advance(minutes=1)
            billing.add_member(ws.id, actor="alice", user=user)
        assert billing.preview_renewal(ws.id).kind is BoundaryKind.TRIAL_END
        clock.advance(days=14)
        report = billing.run_renewals()
        assert report.deactivated == 2
        assert billing.workspace(ws.id).subscription.status is SubscriptionStatus.FREE
        assert statuses(billing, ws.id) == {
            "alice": MemberStatus.ACTIVE,
            "bob": MemberStatus.ACTIVE,
            "carol": MemberStatus.DEACTIVATED,
            "dan": MemberStatus.DEACTIVATED,
        }
        assert EventType.TRIAL_ENDED in event_types(billing)


class TestOverviewAndFeatures:
    """Rules R3 and R4: what the owner and admins see; what anyone may ask."""

    def test_r3_the_overview_of_a_paid_workspace(
        self, billing: Billing, paid_workspace: PaidWorkspace, clock: FakeClock
    ) -> None:
        ws = paid_workspace(seats=4, members=("bob",))
        billing.change_seats(ws.id, actor="alice", seats=3)
        o = billing.subscription(ws.id, actor="alice")
        assert (o.plan, o.status, o.interval) == (
            "business",
            SubscriptionStatus.ACTIVE,
            Interval.MONTH,
        )
        assert (o.seats, o.seats_used, o.seats_available) == (4, 2, 2)
        assert o.pending_seats == 3
        assert o.pending_seats_at == o.renews_at
        assert o.renews_at is not None
        assert o.renews_at > clock.now()
        assert o.price_per_seat == Money(1200, "EUR")
        assert o.total == Money(4800, "EUR")
        assert o.next_total == Money(3600, "EUR")
        assert o.features.has("sso")
        assert o.preview.seats == 3
        assert o.preview.deactivate == ()

    def test_r4_features_follow_the_plan(self, billing: Billing) -> None:
        trial = billing.create_workspace(owner="alice", name="Acme")
        free = billing.create_workspace(owner="alice", name="Side")
        assert billing.has_feature(trial.id, "sso")
        assert not billing.has_feature(free.id, "sso")
        assert billing.entitlements(free.id).limit("projects") == 3
        assert [p.code for p in billing.plans()] == ["free", "business", "enterprise"]


class TestUpgrade:
    """Rule R6: upgrade at any time; the plan applies when payment is confirmed."""

    def test_r6_the_plan_applies_only_once_the_provider_confirms(
        self, billing: Billing, provider: FakePaymentProvider
    ) -> None:
        ws = billing.create_workspace(owner="alice", name="Acme")
        billing.create_workspace(owner="alice", name="Free one")
        checkout = billing.upgrade(ws.id, actor="alice", plan="business", seats=3, **URLS)
        assert checkout.url is not None
        assert billing.workspace(ws.id).subscription.status is SubscriptionStatus.TRIALING
        provider.complete_checkout(checkout.id)
        assert billing.workspace(ws.id).subscription.status is SubscriptionStatus.TRIALING
        provider.deliver(billing.handle_webhook)
        sub = billing.workspace(ws.id).subscription
        assert (sub.status, sub.plan, sub.seats) == (SubscriptionStatus.ACTIVE, "business", 3)

    def test_r6_an_upgrade_during_the_trial_ends_it_when_paid(
        self, billing: Billing, provider: FakePaymentProvider, clock: FakeClock
    ) -> None:
        ws = billing.create_workspace(owner="alice", name="Acme")
        clock.advance(days=3)
        checkout = billing.upgrade(ws.id, actor="alice", plan="business", seats=2, **URLS)
        provider.complete_checkout(checkout.id)
        provider.deliver(billing.handle_webhook)
        o = billing.subscription(ws.id, actor="alice")
        assert o.trial_ends_at is None
        assert o.period_start == clock.now()
        assert o.preview.kind is BoundaryKind.RENEWAL

    def test_r6_from_the_free_plan(self, billing: Billing, provider: FakePaymentProvider) -> None:
        billing.create_workspace(owner="alice", name="Acme")
        free = billing.create_workspace(owner="alice", name="Side")
        checkout = billing.upgrade(
            free.id, actor="alice", plan="business", seats=2, interval="year", **URLS
        )
        provider.complete_checkout(checkout.id)
        provider.deliver(billing.handle_webhook)
        sub = billing.workspace(free.id).subscription
        assert (sub.plan, sub.interval, sub.status) == (
            "business",
            Interval.YEAR,
            SubscriptionStatus.ACTIVE,
        )
        assert provider.invoices[-1].amount == Money(24000, "EUR")

    def test_r6_from_a_paid_plan_the_change_is_made_at_once(
        self, billing: Billing, paid_workspace: PaidWorkspace, provider: FakePaymentProvider
    ) -> None:
        ws = paid_workspace(seats=2)
        checkout = billing.upgrade(
            ws.id, actor="alice", plan="business", seats=2, interval="year", **URLS
        )
        assert checkout.url is None
        assert billing.workspace(ws.id).subscription.interval is Interval.YEAR
        assert provider.invoices[-1].reason == "plan_change"

    def test_r6_a_failed_payment_leaves_the_checkout_unapplied(
        self, billing: Billing, provider: FakePaymentProvider
    ) -> None:
        from workspace_billing import PaymentFailed

        ws = billing.create_workspace(owner="alice", name="Acme")
        checkout = billing.upgrade(ws.id, actor="alice", plan="business", seats=3, **URLS)
        provider.fail_next_payment()
        with pytest.raises(PaymentFailed):
            provider.complete_checkout(checkout.id)
        provider.deliver(billing.handle_webhook)
        assert billing.workspace(ws.id).subscription.status is SubscriptionStatus.TRIALING

    def test_r7_enterprise_cannot_be_bought(self, billing: Billing) -> None:
        ws = billing.create_workspace(owner="alice", name="Acme")
        with pytest.raises(PlanNotSelfServe, match="contact_sales"):
            billing.upgrade(ws.id, actor="alice", plan="enterprise", seats=50, **URLS)


class TestSales:
    """Rule R7: custom plans go through sales; an operator applies the terms."""

    def test_r7_contact_sales_records_the_request_for_the_host(self, billing: Billing) -> None:
        ws = billing.create_workspace(owner="alice", name="Acme")
        event = billing.contact_sales(ws.id, actor="alice", message="200 seats, SSO")
        assert event.type is EventType.SALES_CONTACTED
        assert event.data["plan"] == "enterprise"
        assert event.data["message"] == "200 seats, SSO"
        assert billing.events()[-1] == event

    def test_r7_an_operator_applies_negotiated_terms(
        self, billing: Billing, paid_workspace: PaidWorkspace, provider: FakePaymentProvider
    ) -> None:
        ws = paid_workspace(seats=3, members=("bob",))
        ref = billing.workspace(ws.id).subscription.subscription_ref
        assert ref is not None
        o = billing.apply_custom_terms(
            ws.id,
            operator="sales@vendor",
            seats=200,
            unit_amount=Money(900, "EUR"),
            interval="year",
        )
        assert (o.plan, o.status, o.seats, o.interval) == (
            "enterprise",
            SubscriptionStatus.ACTIVE,
            200,
            Interval.YEAR,
        )
        assert o.total == Money(180000, "EUR")
        assert billing.has_feature(ws.id, "custom_contract")
        assert provider.subscription(ref).status.value == "canceled"
        assert billing.events()[-1].actor == "sales@vendor"

    def test_r7_a_negotiated_plan_renews_on_the_library_schedule(
        self, billing: Billing, clock: FakeClock
    ) -> None:
        ws = billing.create_workspace(owner="alice", name="Acme")
        billing.apply_custom_terms(
            ws.id, operator="ops", seats=10, unit_amount=Money(900, "EUR"), interval="month"
        )
        first_end = billing.workspace(ws.id).subscription.period_end
        assert first_end is not None
        clock.set(first_end + timedelta(hours=1))
        assert billing.run_renewals().changed == 1
        sub = billing.workspace(ws.id).subscription
        assert sub.period_start == first_end
        assert billing.run_renewals().changed == 0


class TestSeats:
    """Rules R8, R9, R10: seats before members; buying and giving back seats."""

    def test_r8_a_member_needs_a_free_seat_and_the_owner_holds_one(
        self, billing: Billing, paid_workspace: PaidWorkspace
    ) -> None:
        ws = paid_workspace(seats=2, members=("bob",))
        with pytest.raises(SeatLimitReached) as refused:
            billing.add_member(ws.id, actor="alice", user="carol")
        assert (refused.value.seats_used, refused.value.seats) == (2, 2)
        assert "2 seats" in refused.value.message

    def test_r9_an_increase_is_charged_prorated_and_usable_at_once(
        self,
        billing: Billing,
        paid_workspace: PaidWorkspace,
        provider: FakePaymentProvider,
        clock: FakeClock,
    ) -> None:
        ws = paid_workspace(seats=2, members=("bob",))
        clock.advance(days=15)
        quoted = billing.preview_change(ws.id, actor="alice", seats=4)
        o = billing.change_seats(ws.id, actor="alice", seats=4)
        assert o.seats == 4
        charged = provider.invoices[-1]
        assert (charged.reason, charged.paid) == ("seat_increase", True)
        assert charged.amount == quoted.due_now
        assert Money(0, "EUR") < charged.amount < Money(2400, "EUR")
        billing.add_member(ws.id, actor="alice", user="carol")
        billing.add_member(ws.id, actor="alice", user="dan")

    def test_r9_a_decrease_waits_for_the_renewal(
        self,
        billing: Billing,
        paid_workspace: PaidWorkspace,
        clock: FakeClock,
        provider: FakePaymentProvider,
    ) -> None:
        ws = paid_workspace(seats=4, members=("bob",))
        o = billing.change_seats(ws.id, actor="alice", seats=2)
        assert (o.seats, o.pending_seats) == (4, 2)
        billing.add_member(ws.id, actor="alice", user="carol")  # seats in force still 4
        assert o.renews_at is not None
        clock.set(o.renews_at + timedelta(minutes=1))
        billing.run_renewals()
        o = billing.subscription(ws.id, actor="alice")
        assert (o.seats, o.pending_seats, o.seats_used) == (2, None, 2)
        assert statuses(billing, ws.id)["carol"] is MemberStatus.DEACTIVATED

    def test_r9_asking_for_the_seats_in_force_withdraws_a_decrease(
        self, billing: Billing, paid_workspace: PaidWorkspace
    ) -> None:
        ws = paid_workspace(seats=4)
        billing.change_seats(ws.id, actor="alice", seats=2)
        o = billing.change_seats(ws.id, actor="alice", seats=4)
        assert (o.seats, o.pending_seats) == (4, None)
        assert EventType.SEAT_DECREASE_CANCELED in event_types(billing)

    def test_r9_an_increase_replaces_a_scheduled_decrease(
        self, billing: Billing, paid_workspace: PaidWorkspace
    ) -> None:
        ws = paid_workspace(seats=4)
        billing.change_seats(ws.id, actor="alice", seats=2)
        o = billing.change_seats(ws.id, actor="alice", seats=6)
        assert (o.seats, o.pending_seats) == (6, None)

    def test_r9_changing_nothing_records_nothing(
        self, billing: Billing, paid_workspace: PaidWorkspace
    ) -> None:
        ws = paid_workspace(seats=4)
        before = billing.events()
        billing.change_seats(ws.id, actor="alice", seats=4)
        assert billing.events() == before

    def test_r10_adding_a_member_is_one_operation(
        self, billing: Billing, paid_workspace: PaidWorkspace
    ) -> None:
        ws = paid_workspace(seats=3)
        member = billing.add_member(ws.id, actor="alice", user="bob", role="admin")
        assert (member.user, member.role, member.status) == ("bob", Role.ADMIN, MemberStatus.ACTIVE)
        assert billing.members(ws.id)[-1] == member
        assert billing.subscription(ws.id, actor="bob").seats_used == 2


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


class TestCancellation:
    """Rule R13: cancel at period end, resume before it ends."""

    def test_r13_cancel_then_resume(self, billing: Billing, paid_workspace: PaidWorkspace) -> None:
        ws = paid_workspace(seats=3)
        o = billing.cancel(ws.id, actor="alice")
        assert o.cancel_at_period_end
        assert o.renews_at is None
        assert o.preview.kind is BoundaryKind.CANCELLATION
        o = billing.resume(ws.id, actor="alice")
        assert not o.cancel_at_period_end
        assert o.renews_at is not None

    def test_r13_a_cancellation_ends_at_the_period_end(
        self,
        billing: Billing,
        paid_workspace: PaidWorkspace,
        provider: FakePaymentProvider,
        clock: FakeClock,
    ) -> None:
        ws = paid_workspace(seats=3, members=("bob", "carol"))
        o = billing.cancel(ws.id, actor="alice")
        assert o.period_start is not None
        clock.set(o.period_start + timedelta(days=40))
        provider.deliver(billing.handle_webhook)
        o = billing.subscription(ws.id, actor="alice")
        assert (o.status, o.seats, o.seats_used) == (SubscriptionStatus.FREE, 2, 2)
        assert statuses(billing, ws.id)["carol"] is MemberStatus.DEACTIVATED


class TestEvents:
    """Rule R16: every change is an event, in the same transaction."""

    def test_r16_a_change_records_who_what_when_and_before_after(
        self, billing: Billing, paid_workspace: PaidWorkspace, clock: FakeClock
    ) -> None:
        ws = paid_workspace(seats=3, members=("bob",))
        event = billing.change_role(ws.id, actor="alice", user="bob", role=Role.ADMIN)
        assert event.role is Role.ADMIN
        last = billing.events()[-1]
        assert (last.type, last.actor, last.subject, last.at) == (
            EventType.ROLE_CHANGED,
            "alice",
            "bob",
            clock.now(),
        )
        assert (dict(last.before), dict(last.after)) == ({"role": "member"}, {"role": "admin"})

    def test_r16_events_are_read_after_a_cursor(self, billing: Billing) -> None:
        billing.create_workspace(owner="alice", name="Acme")
        first = billing.events()
        billing.create_workspace(owner="bob", name="Bob's")
        later = billing.events(after=first[-1])
        assert [e.type for e in later] == [EventType.WORKSPACE_CREATED, EventType.TRIAL_STARTED]
        assert billing.events(after=first[-1].cursor) == later
        assert billing.events(after=later[-1]) == []
        assert len(billing.events(limit=1)) == 1

    def test_r16_provider_changes_are_recorded_without_an_actor(
        self, billing: Billing, paid_workspace: PaidWorkspace
    ) -> None:
        paid_workspace(seats=3)
        plan_changed = next(e for e in billing.events() if e.type is EventType.PLAN_CHANGED)
        assert plan_changed.actor is None
        assert plan_changed.after["plan"] == "business"


class TestPricePreview:
    """Rule R18: the price is shown before it is paid, and previewing changes nothing."""

    def test_r18_an_upgrade_preview_is_the_full_period(
        self, billing: Billing, store: InMemoryStore
    ) -> None:
        ws = billing.create_workspace(owner="alice", name="Acme")
        before = store.snapshot()
        preview = billing.preview_change(
            ws.id, actor="alice", plan="business", seats=3, interval="year"
        )
        assert (preview.due_now, preview.recurring) == (Money(36000, "EUR"), Money(36000, "EUR"))
        assert store.snapshot() == before

    def test_r18_a_decrease_costs_nothing_now_and_applies_at_renewal(
        self, billing: Billing, paid_workspace: PaidWorkspace, store: InMemoryStore
    ) -> None:
        ws = paid_workspace(seats=5)
        before = store.snapshot()
        preview = billing.preview_change(ws.id, actor="alice", seats=2)
        assert preview.due_now == Money(0, "EUR")
        assert preview.recurring == Money(2400, "EUR")
        assert preview.applies_at == billing.workspace(ws.id).subscription.period_end
        assert store.snapshot() == before


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
