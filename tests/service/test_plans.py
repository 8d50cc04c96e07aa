"""Plans and seats through the provider: upgrades (R6), buying seats (R9),
cancel and resume (R13), prices before they are paid (R18), and the requests
they refuse (R17); ``service/plans.py``.
"""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest
from tests.conftest import PaidWorkspace
from tests.service.support import (
    CANCEL_URL,
    OK_URL,
    OWNER,
    URLS,
    event_types,
    refused,
    statuses,
)

from workspace_billing import (
    Billing,
    BoundaryKind,
    Catalog,
    EventType,
    Interval,
    InvalidRequest,
    MemberStatus,
    Money,
    PaymentFailed,
    PlanNotSelfServe,
    SeatFloor,
    SubscriptionStatus,
)
from workspace_billing.testing import FakeClock, FakePaymentProvider, InMemoryStore


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


class TestSeats:
    """Rule R9: buying seats, and giving them back at the renewal."""

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


BAD_SEATS = [
    pytest.param(0, id="zero"),
    pytest.param(-1, id="negative"),
    pytest.param(10_001, id="above-max-seats"),
    pytest.param(10**18, id="absurd"),
    pytest.param(True, id="bool-true"),
    pytest.param(False, id="bool-false"),
    pytest.param(2.5, id="float"),
    pytest.param(5.0, id="whole-float"),
    pytest.param("3", id="str"),
    pytest.param(None, id="none"),
]


NOT_NONE = [p for p in BAD_SEATS if p.id != "none"]


"""For upgrade and preview_change, ``seats=None`` means 'the seats in force'."""


class TestSeatCounts:
    """Rule R17 and section 3: seats are a whole number from 1 to the plan's max_seats."""

    @pytest.mark.parametrize("seats", NOT_NONE)
    def test_upgrading_with_a_bad_seat_count_is_invalid(
        self, billing: Billing, store: InMemoryStore, trial_id: str, seats: object
    ) -> None:
        """Rule R17: upgrade(seats=...) out of bounds or not an int is InvalidRequest."""
        refused(
            store,
            InvalidRequest,
            (
                {
                    0: "seats_below_minimum",
                    -1: "seats_below_minimum",
                    10_001: "seats_above_maximum",
                    10**18: "seats_above_maximum",
                }.get(seats, "seats_not_whole")
                if type(seats) is int
                else "seats_not_whole"
            ),
            lambda: billing.upgrade(
                trial_id,
                actor="tess",
                plan="business",
                seats=seats,  # type: ignore[arg-type]
                success_url=OK_URL,
                cancel_url=CANCEL_URL,
            ),
        )

    @pytest.mark.parametrize("seats", BAD_SEATS)
    def test_changing_to_a_bad_seat_count_is_invalid(
        self,
        billing: Billing,
        store: InMemoryStore,
        provider: FakePaymentProvider,
        paid_id: str,
        seats: object,
    ) -> None:
        """Rule R17: change_seats(seats=...) is InvalidRequest, checked before any provider call."""
        invoices = list(provider.invoices)
        refused(
            store,
            InvalidRequest,
            (
                {
                    0: "seats_below_minimum",
                    -1: "seats_below_minimum",
                    10_001: "seats_above_maximum",
                    10**18: "seats_above_maximum",
                }.get(seats, "seats_not_whole")
                if type(seats) is int
                else "seats_not_whole"
            ),
            lambda: billing.change_seats(paid_id, actor=OWNER, seats=seats),  # type: ignore[arg-type]
        )
        assert provider.invoices == invoices

    @pytest.mark.parametrize("seats", NOT_NONE)
    def test_previewing_a_bad_seat_count_is_invalid(
        self, billing: Billing, store: InMemoryStore, paid_id: str, seats: object
    ) -> None:
        """Rule R17: preview_change(seats=...) is InvalidRequest (None means 'as now')."""
        refused(
            store,
            InvalidRequest,
            (
                {
                    0: "seats_below_minimum",
                    -1: "seats_below_minimum",
                    10_001: "seats_above_maximum",
                    10**18: "seats_above_maximum",
                }.get(seats, "seats_not_whole")
                if type(seats) is int
                else "seats_not_whole"
            ),
            lambda: billing.preview_change(paid_id, actor=OWNER, seats=seats),  # type: ignore[arg-type]
        )

    @pytest.mark.parametrize("seats", [1, 10_000])
    def test_the_bounds_themselves_are_accepted(
        self, billing: Billing, paid_id: str, trial_id: str, seats: int
    ) -> None:
        """Section 3 control: 1 and max_seats (10,000) are valid seat counts."""
        assert billing.preview_change(paid_id, actor=OWNER, seats=seats).seats == seats
        checkout = billing.upgrade(
            trial_id,
            actor="tess",
            plan="business",
            seats=seats,
            success_url=OK_URL,
            cancel_url=CANCEL_URL,
        )
        assert checkout.url is not None

    @pytest.mark.parametrize("workspace", ["trial_id", "free_id"])
    def test_changing_seats_without_a_paid_plan_is_invalid(
        self, billing: Billing, store: InMemoryStore, request: pytest.FixtureRequest, workspace: str
    ) -> None:
        """Rule R9: seats are bought on a paid plan; on a trial or free workspace, upgrade first."""
        ws_id: str = request.getfixturevalue(workspace)
        owner = billing.workspace(ws_id).owner
        refused(
            store,
            InvalidRequest,
            "not_on_paid_plan",
            lambda: billing.change_seats(ws_id, actor=owner, seats=8),
        )

    def test_a_host_floor_refuses_going_below_the_seats_in_use(
        self,
        catalog: Catalog,
        store: InMemoryStore,
        provider: FakePaymentProvider,
        clock: FakeClock,
        paid_id: str,
    ) -> None:
        """Section 3: with the 'seats in use' floor, 3 active members refuse 2 seats."""
        floored = Billing(
            catalog=attrs.evolve(catalog, seat_floor=SeatFloor.SEATS_IN_USE),
            store=store,
            provider=provider,
            clock=clock,
        )
        refused(
            store,
            InvalidRequest,
            "seats_below_in_use",
            lambda: floored.change_seats(paid_id, actor=OWNER, seats=2),
        )
        assert floored.change_seats(paid_id, actor=OWNER, seats=3).pending_seats == 3


class TestPaymentFailed:
    """Section 7 / R9: a payment that fails grants nothing and leaves no trace."""

    def test_a_declined_seat_increase_changes_nothing(
        self,
        billing: Billing,
        store: InMemoryStore,
        provider: FakePaymentProvider,
        paid_id: str,
    ) -> None:
        """Rule R9/R17: PaymentFailed ('payment_failed'); seats and store unchanged."""
        seats_before = billing.subscription(paid_id, actor=OWNER).seats
        ref = billing.workspace(paid_id).subscription.subscription_ref
        assert ref is not None
        provider.fail_next_payment()
        refused(
            store,
            PaymentFailed,
            "payment_failed",
            lambda: billing.change_seats(paid_id, actor=OWNER, seats=seats_before + 2),
        )
        assert billing.subscription(paid_id, actor=OWNER).seats == seats_before
        assert provider.subscription(ref).seats == seats_before

    def test_the_same_increase_succeeds_once_the_card_works(
        self,
        billing: Billing,
        store: InMemoryStore,
        provider: FakePaymentProvider,
        paid_id: str,
    ) -> None:
        """Rule R9: a failed payment is not remembered; retrying the change goes through."""
        provider.fail_next_payment()
        with pytest.raises(PaymentFailed):
            billing.change_seats(paid_id, actor=OWNER, seats=6)
        assert billing.change_seats(paid_id, actor=OWNER, seats=6).seats == 6

    def test_a_declined_plan_change_changes_nothing(
        self,
        billing: Billing,
        store: InMemoryStore,
        provider: FakePaymentProvider,
        paid_id: str,
    ) -> None:
        """Rule R6/R17: the yearly plan applies only once paid; a decline leaves the month."""
        provider.fail_next_payment()
        refused(
            store,
            PaymentFailed,
            "payment_failed",
            lambda: billing.upgrade(
                paid_id,
                actor=OWNER,
                plan="business",
                seats=4,
                interval="year",
                success_url=OK_URL,
                cancel_url=CANCEL_URL,
            ),
        )
        assert billing.subscription(paid_id, actor=OWNER).interval == "month"


class TestUpgradeNeedsSeats:
    """Rule R17: an upgrade names its seats; None is not 'the seats in force'."""

    def test_upgrade_without_seats_is_refused(self, billing, store) -> None:
        ws = billing.create_workspace(owner="alice", name="Acme")
        before = store.snapshot()
        with pytest.raises(InvalidRequest, match="whole number"):
            billing.upgrade(
                ws.id, actor="alice", plan="business", seats=None,
                success_url="https://app.example/ok", cancel_url="https://app.example/no",
            )  # fmt: skip
        assert store.snapshot() == before
