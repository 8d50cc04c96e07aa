"""Money paths a production user can trust (R6, R9, R11, R12, R18): what the
library grants is what the provider bills, nothing due charges nothing, nobody
is deactivated unannounced, and a payment that needs the customer (3-D
Secure) grants nothing until they confirm it; ``service/plans.py`` and the
mirror of the provider's view.
"""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest
from tests.conftest import PaidWorkspace
from tests.service.support import OWNER, URLS, statuses

from workspace_billing import (
    Billing,
    Catalog,
    EventType,
    Interval,
    MemberStatus,
    Money,
    PaymentActionRequired,
    PaymentFailed,
    Plan,
    ProviderError,
    Role,
    Store,
    SubscriptionStatus,
)
from workspace_billing.testing import FakeClock, FakePaymentProvider


def two_paid_plans() -> Catalog:
    """The default catalog with a cheaper self-serve plan, Team, beside Business."""
    default = Catalog.default()
    team = Plan(
        code="team",
        name="Team",
        features={"projects": None, "storage_gb": 10, "api_access": True},
        prices={Interval.MONTH: Money(800, "EUR"), Interval.YEAR: Money(8000, "EUR")},
    )
    free, business, enterprise = default.plans
    return attrs.evolve(default, plans=(free, team, business, enterprise))


@pytest.fixture(name="catalog")
def catalog_fixture() -> Catalog:
    return two_paid_plans()


class TestPlanChangeToFewerSeats:
    """Rule R9: a plan change to fewer seats applies the plan at once at the seats
    in force, charged prorated, and schedules the lower count for the renewal."""

    def test_r9_the_new_plan_applies_now_and_the_seats_drop_at_renewal(
        self, billing: Billing, paid_workspace: PaidWorkspace, provider: FakePaymentProvider
    ) -> None:
        ws = paid_workspace(seats=5)
        billing.upgrade(ws.id, actor=OWNER, plan="team", seats=3, **URLS)

        overview = billing.subscription(ws.id, actor=OWNER)
        view = provider.subscription(overview_ref(billing, ws.id))
        assert (overview.plan, overview.seats, overview.pending_seats) == ("team", 5, 3)
        assert (view.plan, view.seats, view.pending_seats) == ("team", 5, 3)
        assert overview.total == Money(800 * 5, "EUR")  # what the provider bills now
        assert overview.next_total == Money(800 * 3, "EUR")
        assert billing.reconcile().repaired == ()  # no drift between mirror and provider

    def test_r9_the_lower_count_applies_at_the_renewal_and_r11_runs_then(
        self,
        billing: Billing,
        paid_workspace: PaidWorkspace,
        provider: FakePaymentProvider,
        clock: FakeClock,
    ) -> None:
        ws = paid_workspace(seats=5, members=("bob", "carol", "dan", "erin"))
        billing.upgrade(ws.id, actor=OWNER, plan="team", seats=3, **URLS)
        assert statuses(billing, ws.id)["erin"] is MemberStatus.ACTIVE  # nobody goes yet

        clock.advance(timedelta(days=32))
        billing.run_renewals()
        provider.deliver(billing.handle_webhook)

        overview = billing.subscription(ws.id, actor=OWNER)
        assert (overview.plan, overview.seats, overview.pending_seats) == ("team", 3, None)
        gone = {u for u, s in statuses(billing, ws.id).items() if s is MemberStatus.DEACTIVATED}
        assert gone == {"dan", "erin"}

    def test_r18_the_preview_shows_the_plan_now_and_the_seats_at_renewal(
        self, billing: Billing, paid_workspace: PaidWorkspace
    ) -> None:
        ws = paid_workspace(seats=5, members=("bob", "carol", "dan"))
        preview = billing.preview_change(ws.id, actor=OWNER, plan="team", seats=3)

        renews_at = billing.subscription(ws.id, actor=OWNER).renews_at
        assert (preview.plan, preview.seats, preview.seats_now) == ("team", 3, 5)
        assert preview.applies_at == renews_at
        assert preview.recurring == Money(800 * 3, "EUR")
        assert preview.due_now == Money.zero("EUR")  # cheaper plan, same seats: a credit
        assert [m.user for m in preview.deactivate] == ["dan"]

    def test_r9_a_yearly_switch_to_fewer_seats_drops_them_at_the_new_period_end(
        self, billing: Billing, paid_workspace: PaidWorkspace, clock: FakeClock
    ) -> None:
        ws = paid_workspace(seats=4)
        preview = billing.preview_change(ws.id, actor=OWNER, interval="year", seats=2)
        billing.upgrade(ws.id, actor=OWNER, plan="business", interval="year", seats=2, **URLS)

        overview = billing.subscription(ws.id, actor=OWNER)
        assert (overview.interval, overview.seats, overview.pending_seats) == (
            Interval.YEAR, 4, 2,
        )  # fmt: skip
        assert overview.pending_seats_at == preview.applies_at
        assert preview.seats_now == 4

    def test_r9_a_plan_change_to_more_seats_charges_them_at_once(
        self, billing: Billing, paid_workspace: PaidWorkspace, provider: FakePaymentProvider
    ) -> None:
        ws = paid_workspace(seats=2)
        preview = billing.preview_change(ws.id, actor=OWNER, plan="team", seats=4)
        billing.upgrade(ws.id, actor=OWNER, plan="team", seats=4, **URLS)

        overview = billing.subscription(ws.id, actor=OWNER)
        assert (overview.plan, overview.seats, overview.pending_seats) == ("team", 4, None)
        assert (preview.seats, preview.seats_now, preview.applies_at) == (4, 4, None)
        assert provider.invoices[-1].amount == preview.due_now


def overview_ref(billing: Billing, workspace_id: str) -> str:
    ref = billing.workspace(workspace_id).subscription.subscription_ref
    assert ref is not None
    return ref


class TestNothingDueChargesNothing:
    """Rule R18: a change with nothing due attempts no payment (as Stripe on a zero
    or credit invoice), so it cannot be declined and spends no queued failure."""

    def test_r18_a_downgrade_with_nothing_due_is_not_declined(
        self, billing: Billing, paid_workspace: PaidWorkspace, provider: FakePaymentProvider
    ) -> None:
        ws = paid_workspace(seats=3)
        assert billing.preview_change(ws.id, actor=OWNER, plan="team").due_now.amount == 0
        provider.fail_next_payment()

        billing.upgrade(ws.id, actor=OWNER, plan="team", seats=3, **URLS)

        assert billing.subscription(ws.id, actor=OWNER).plan == "team"
        with pytest.raises(PaymentFailed):  # the queued failure is still there
            billing.change_seats(ws.id, actor=OWNER, seats=4)


class TestWhoAChangeDeactivates:
    """Rule R11 announced: ``PricePreview.deactivate`` names who a change would
    deactivate, last added first, never the owner."""

    def test_r11_an_upgrade_from_the_trial_with_fewer_seats_names_them_first(
        self, billing: Billing, provider: FakePaymentProvider
    ) -> None:
        ws = billing.create_workspace(owner=OWNER, name="Acme")
        for user in ("bob", "carol", "dan"):
            billing.add_member(ws.id, actor=OWNER, user=user, role=Role.MEMBER)

        preview = billing.preview_change(ws.id, actor=OWNER, plan="business", seats=2)
        assert [m.user for m in preview.deactivate] == ["dan", "carol"]
        assert preview.applies_at is None  # at the payment

        checkout = billing.upgrade(ws.id, actor=OWNER, plan="business", seats=2, **URLS)
        provider.complete_checkout(checkout.id)
        provider.deliver(billing.handle_webhook)
        gone = {u for u, s in statuses(billing, ws.id).items() if s is MemberStatus.DEACTIVATED}
        assert gone == {m.user for m in preview.deactivate}

    def test_r11_a_seat_decrease_names_who_goes_at_the_renewal(
        self, billing: Billing, paid_workspace: PaidWorkspace
    ) -> None:
        ws = paid_workspace(seats=4, members=("bob", "carol", "dan"))
        preview = billing.preview_change(ws.id, actor=OWNER, seats=2)
        assert [m.user for m in preview.deactivate] == ["dan", "carol"]
        billing.change_seats(ws.id, actor=OWNER, seats=2)
        assert billing.preview_renewal(ws.id).deactivate == preview.deactivate

    def test_r11_an_increase_deactivates_nobody(
        self, billing: Billing, paid_workspace: PaidWorkspace
    ) -> None:
        ws = paid_workspace(seats=2, members=("bob",))
        assert billing.preview_change(ws.id, actor=OWNER, seats=5).deactivate == ()


class TestStrongCustomerAuthentication:
    """Rules R9, R12: a payment that needs the customer (3-D Secure) grants nothing
    until they confirm it; the webhook reporting the payment grants it."""

    def test_r9_an_increase_that_needs_authentication_grants_nothing_yet(
        self,
        billing: Billing,
        paid_workspace: PaidWorkspace,
        provider: FakePaymentProvider,
        store: Store,
    ) -> None:
        ws = paid_workspace(seats=3)
        provider.require_action_next_payment()
        before = store.snapshot()

        with pytest.raises(PaymentActionRequired) as needed:
            billing.change_seats(ws.id, actor=OWNER, seats=5)

        error = needed.value
        assert error.code == "payment_action_required"
        assert error.url.startswith("https://")
        assert not isinstance(error, ProviderError)  # not a decline: no new card needed
        assert store.snapshot() == before
        assert billing.subscription(ws.id, actor=OWNER).seats == 3

    def test_r9_the_seats_are_granted_by_the_webhook_once_authenticated(
        self, billing: Billing, paid_workspace: PaidWorkspace, provider: FakePaymentProvider
    ) -> None:
        ws = paid_workspace(seats=3)
        provider.require_action_next_payment()
        with pytest.raises(PaymentActionRequired) as needed:
            billing.change_seats(ws.id, actor=OWNER, seats=5)

        provider.authenticate(needed.value.url)
        assert billing.subscription(ws.id, actor=OWNER).seats == 3  # not before the webhook
        provider.deliver(billing.handle_webhook)

        assert billing.subscription(ws.id, actor=OWNER).seats == 5
        assert provider.invoices[-1].paid

    def test_r9_asking_again_before_authenticating_gives_the_same_page(
        self, billing: Billing, paid_workspace: PaidWorkspace, provider: FakePaymentProvider
    ) -> None:
        ws = paid_workspace(seats=3)
        provider.require_action_next_payment()
        with pytest.raises(PaymentActionRequired) as first:
            billing.change_seats(ws.id, actor=OWNER, seats=5)
        with pytest.raises(PaymentActionRequired) as again:
            billing.change_seats(ws.id, actor=OWNER, seats=5)
        assert again.value.url == first.value.url
        assert sum(1 for i in provider.invoices if i.reason == "seat_increase") == 1

    def test_r6_a_plan_change_that_needs_authentication_keeps_the_plan(
        self, billing: Billing, paid_workspace: PaidWorkspace, provider: FakePaymentProvider
    ) -> None:
        ws = paid_workspace(seats=2)
        provider.require_action_next_payment()
        with pytest.raises(PaymentActionRequired) as needed:
            billing.upgrade(ws.id, actor=OWNER, plan="business", interval="year", seats=2, **URLS)
        assert billing.subscription(ws.id, actor=OWNER).interval is Interval.MONTH

        provider.authenticate(needed.value.url)
        provider.deliver(billing.handle_webhook)
        assert billing.subscription(ws.id, actor=OWNER).interval is Interval.YEAR

    def test_r12_a_renewal_that_needs_authentication_emails_the_page_and_is_past_due(
        self,
        billing: Billing,
        paid_workspace: PaidWorkspace,
        provider: FakePaymentProvider,
        clock: FakeClock,
    ) -> None:
        ws = paid_workspace(seats=3)
        provider.require_action_next_payment()
        clock.advance(timedelta(days=32))
        provider.deliver(billing.handle_webhook)

        overview = billing.subscription(ws.id, actor=OWNER)
        assert overview.status is SubscriptionStatus.PAST_DUE
        assert overview.grace_ends_at is not None  # R12's grace clock runs meanwhile
        assert billing.has_feature(ws.id, "sso")
        asks = [e for e in billing.events() if e.type is EventType.PAYMENT_ACTION_REQUIRED]
        assert len(asks) == 1
        url = asks[0].data["url"]
        assert isinstance(url, str)
        assert not [e for e in billing.events() if e.type is EventType.PAYMENT_FAILED]

        provider.authenticate(url)
        provider.deliver(billing.handle_webhook)
        assert billing.subscription(ws.id, actor=OWNER).status is SubscriptionStatus.ACTIVE
        assert EventType.PAYMENT_RECOVERED in [e.type for e in billing.events()]

    def test_r14_an_unknown_authentication_page_is_not_found(
        self, provider: FakePaymentProvider
    ) -> None:
        from workspace_billing import NotFound

        with pytest.raises(NotFound):
            provider.authenticate("https://fake-provider.invalid/authenticate/pi_nope")

    def test_r6_the_checkout_is_authenticated_on_its_page(
        self, billing: Billing, provider: FakePaymentProvider
    ) -> None:
        """A checkout is paid on the provider's page, with the customer present:
        a queued authentication waits for the next off-session charge."""
        ws = billing.create_workspace(owner=OWNER, name="Acme")
        provider.require_action_next_payment()
        checkout = billing.upgrade(ws.id, actor=OWNER, plan="business", seats=2, **URLS)
        provider.complete_checkout(checkout.id)
        provider.deliver(billing.handle_webhook)
        assert billing.subscription(ws.id, actor=OWNER).status is SubscriptionStatus.ACTIVE
        with pytest.raises(PaymentActionRequired):
            billing.change_seats(ws.id, actor=OWNER, seats=3)
