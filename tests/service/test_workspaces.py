"""Workspaces and what anyone reads of them: the trial (R1, R2), the overview (R3),
features (R4) and the outbox (R16); ``service/workspaces.py``.
"""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest
from tests.conftest import PaidWorkspace
from tests.service.support import (
    event_types,
    refused,
    statuses,
)

from workspace_billing import (
    Billing,
    BoundaryKind,
    Catalog,
    Conflict,
    EventType,
    Interval,
    InvalidRequest,
    MemberStatus,
    Money,
    NotFound,
    Role,
    Store,
    SubscriptionStatus,
    TrialNotEligible,
)
from workspace_billing.testing import FakeClock, FakePaymentProvider, InMemoryStore


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

    def test_r4_a_feature_asked_again_follows_a_change_at_once(self, billing: Billing) -> None:
        """The answers kept between calls never outlive the subscription they came from."""
        billing.create_workspace(owner="alice", name="Acme")
        free = billing.create_workspace(owner="alice", name="Side")
        assert [billing.has_feature(free.id, "sso") for _ in range(3)] == [False] * 3

        billing.apply_custom_terms(
            free.id, operator="ops", seats=5, unit_amount=Money(900, "EUR"), interval="month",
            plan="enterprise",
        )  # fmt: skip

        assert [billing.has_feature(free.id, "sso") for _ in range(3)] == [True] * 3

    def test_r4_an_unknown_feature_is_refused_even_when_the_answer_is_kept(
        self, billing: Billing
    ) -> None:
        free = billing.create_workspace(owner="alice", name="Acme")
        assert billing.has_feature(free.id, "projects")
        for wrong in ("sso ", "nope", 3, None):
            with pytest.raises(InvalidRequest):
                billing.has_feature(free.id, wrong)  # type: ignore[arg-type]
        with pytest.raises(NotFound):
            billing.has_feature("ws_missing", "projects")


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


class TestTrialEligibility:
    """Rule R2: one trial per owner."""

    def test_insisting_on_a_second_trial_is_trial_not_eligible(
        self, billing: Billing, store: InMemoryStore, trial_id: str
    ) -> None:
        """Rule R2/R17: create_workspace(trial=True) for a past trialist is TrialNotEligible."""
        refused(
            store,
            TrialNotEligible,
            "trial_not_eligible",
            lambda: billing.create_workspace(owner="tess", name="Again", trial=True),
        )

    def test_a_reused_workspace_id_is_a_conflict(
        self, billing: Billing, store: InMemoryStore
    ) -> None:
        """Rule R17: two workspaces never share an id; the second owner's trial is not used up."""
        billing.create_workspace(owner="tess", name="First", workspace_id="ws_taken")
        refused(
            store,
            Conflict,
            "workspace_exists",
            lambda: billing.create_workspace(owner="uma", name="Second", workspace_id="ws_taken"),
        )


class TestQueries:
    """What a billing page asks about a user: their workspaces and a membership."""

    def test_the_workspaces_of_a_user_active_memberships_first(
        self, billing: Billing, paid_workspace: PaidWorkspace, clock: FakeClock
    ) -> None:
        mine = billing.create_workspace(owner="bob", name="Bob's")
        clock.advance(hours=1)
        theirs = paid_workspace(seats=2, owner="alice", members=("bob",))
        clock.advance(hours=1)
        other = billing.create_workspace(owner="carol", name="Carol's")
        billing.add_member(other.id, actor="carol", user="bob")
        billing.change_seats(theirs.id, actor="alice", seats=1)  # bob goes at renewal
        clock.advance(timedelta(days=32))
        billing.run_renewals()

        assert [ws.id for ws in billing.workspaces_of("bob")] == [mine.id, other.id, theirs.id]
        assert billing.workspaces_of("nobody") == []

    def test_a_membership_is_read_or_not_found(
        self, billing: Billing, paid_workspace: PaidWorkspace, store: Store
    ) -> None:
        ws = paid_workspace(seats=3, owner="alice", members=("bob",), admins=("bob",))
        bob = billing.member(ws.id, "bob")
        assert (bob.user, bob.role, bob.status) == ("bob", Role.ADMIN, MemberStatus.ACTIVE)
        refused(store, NotFound, "not_a_member", lambda: billing.member(ws.id, "eve"))
        refused(store, NotFound, "not_found", lambda: billing.member("ws_missing", "bob"))
        refused(store, InvalidRequest, "invalid_id", lambda: billing.workspaces_of(""))
