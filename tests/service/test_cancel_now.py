"""Cancel now (issue 14): ``cancel(..., now=True)`` in ``service/plans.py``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.service.support import ADMIN, MEMBER, OWNER, refused, statuses

from workspace_billing import (
    Billing,
    EventType,
    InvalidRequest,
    MemberStatus,
    Money,
    PermissionDenied,
    ProviderStatus,
    Store,
    SubscriptionStatus,
)
from workspace_billing.testing import FakeClock, FakePaymentProvider


def ref_of(billing: Billing, ws_id: str) -> str:
    ref = billing.workspace(ws_id).subscription.subscription_ref
    assert ref is not None
    return ref


class TestCancelNow:
    """Rule R13: the paid subscription ends at once; the workspace falls back (R11)."""

    @pytest.mark.parametrize("actor", [OWNER, ADMIN], ids=["owner", "admin"])
    def test_r13_the_provider_cancels_at_once_and_the_workspace_falls_back(
        self, billing: Billing, provider: FakePaymentProvider, paid_id: str, actor: str
    ) -> None:
        """Rules R13, R11: the fallback's cap of 2 keeps the owner and the first added."""
        ref = ref_of(billing, paid_id)
        cursor = billing.events()[-1]
        overview = billing.cancel(paid_id, actor=actor, now=True)
        assert provider.subscription(ref).status is ProviderStatus.CANCELED
        assert (overview.plan, overview.status, overview.seats) == (
            "free", SubscriptionStatus.FREE, 2,
        )  # fmt: skip
        assert (overview.renews_at, overview.price_per_seat, overview.payment_method) == (
            None, None, None,
        )  # fmt: skip
        assert not billing.has_feature(paid_id, "sso")
        assert statuses(billing, paid_id) == {
            OWNER: MemberStatus.ACTIVE, ADMIN: MemberStatus.ACTIVE,
            MEMBER: MemberStatus.DEACTIVATED,
        }  # fmt: skip
        ended, deactivated = billing.events(after=cursor)
        assert (ended.type, ended.actor, ended.data) == (
            EventType.SUBSCRIPTION_ENDED, actor, {"reason": "canceled"},
        )  # fmt: skip
        assert (ended.before["plan"], ended.after["plan"]) == ("business", "free")
        assert (deactivated.type, deactivated.subject) == (EventType.MEMBER_DEACTIVATED, MEMBER)

    def test_r11_pending_invitations_are_revoked_before_any_member(
        self, billing: Billing, paid_id: str
    ) -> None:
        """Rule R11: the fallback's cap of 2 takes the invitation's seat first, then
        the newest member's; the revocation gives the cancellation as its reason."""
        invitation = billing.invite(paid_id, actor=OWNER, email="carol@example.com")
        cursor = billing.events()[-1]
        overview = billing.cancel(paid_id, actor=OWNER, now=True)
        assert (overview.seats_used, overview.invitations_pending) == (2, 0)
        assert billing.invitations(paid_id) == []
        assert statuses(billing, paid_id)[MEMBER] is MemberStatus.DEACTIVATED
        ended, revoked, deactivated = billing.events(after=cursor)
        assert ended.type is EventType.SUBSCRIPTION_ENDED
        assert (revoked.type, revoked.actor, revoked.subject, revoked.data) == (
            EventType.INVITATION_REVOKED, None, invitation.email,
            {"role": "member", "reason": "canceled", "seats": 2},
        )  # fmt: skip
        assert (deactivated.type, deactivated.subject) == (EventType.MEMBER_DEACTIVATED, MEMBER)

    def test_r14_the_providers_webhook_afterwards_changes_nothing(
        self, billing: Billing, store: Store, provider: FakePaymentProvider, paid_id: str
    ) -> None:
        """Rule R14: the deletion webhook finds the view already applied."""
        billing.cancel(paid_id, actor=OWNER, now=True)
        workspace, events = billing.workspace(paid_id), billing.events()
        assert provider.deliver(billing.handle_webhook) >= 1
        assert billing.workspace(paid_id) == workspace
        assert billing.events() == events

    def test_r13_nothing_is_refunded(
        self, billing: Billing, provider: FakePaymentProvider, clock: FakeClock, paid_id: str
    ) -> None:
        """Rule R13: no refund unless the provider's policy makes one; the fake's makes none."""
        clock.advance(days=3)
        charges, invoices = list(provider.invoices), billing.invoices(paid_id, actor=OWNER)
        billing.cancel(paid_id, actor=OWNER, now=True)
        assert list(provider.invoices) == charges
        assert billing.invoices(paid_id, actor=OWNER) == invoices
        assert all(i.total >= Money(0, "EUR") for i in invoices)

    def test_r13_a_cancellation_at_period_end_can_be_made_immediate(
        self, billing: Billing, provider: FakePaymentProvider, paid_id: str
    ) -> None:
        """Rule R13: cancel, then cancel now: ended at once, not at the period end."""
        assert billing.cancel(paid_id, actor=OWNER).cancel_at_period_end
        overview = billing.cancel(paid_id, actor=OWNER, now=True)
        assert overview.status is SubscriptionStatus.FREE
        assert provider.subscription(ref_of(billing, paid_id)).status is ProviderStatus.CANCELED

    def test_r12_a_past_due_subscription_ends_at_once_too(
        self, billing: Billing, provider: FakePaymentProvider, clock: FakeClock, paid_id: str
    ) -> None:
        """Rule R12: in grace, cancel now ends it without waiting for the grace's end."""
        provider.fail_next_payment()
        end = billing.workspace(paid_id).subscription.period_end
        assert end is not None
        clock.set(end + timedelta(hours=1))
        provider.deliver(billing.handle_webhook)
        assert billing.workspace(paid_id).subscription.status is SubscriptionStatus.PAST_DUE
        assert billing.cancel(paid_id, actor=OWNER, now=True).status is SubscriptionStatus.FREE

    def test_r7_a_negotiated_plan_ends_at_once_here(
        self, billing: Billing, provider: FakePaymentProvider, free_id: str
    ) -> None:
        """Rules R7, R13: the library renews it, so the library ends it: no provider call."""
        billing.apply_custom_terms(
            free_id, operator="ops", seats=10, unit_amount=Money(900, "EUR"), interval="year"
        )
        billing.add_member(free_id, actor="fred", user="gil")
        billing.add_member(free_id, actor="fred", user="hal")
        cursor = billing.events()[-1]
        overview = billing.cancel(free_id, actor="fred", now=True)
        assert (overview.plan, overview.status) == ("free", SubscriptionStatus.FREE)
        assert statuses(billing, free_id) == {
            "fred": MemberStatus.ACTIVE, "gil": MemberStatus.ACTIVE,
            "hal": MemberStatus.DEACTIVATED,
        }  # fmt: skip
        ended = billing.events(after=cursor)[0]
        assert (ended.type, ended.actor) == (EventType.SUBSCRIPTION_ENDED, "fred")
        assert provider.take_webhooks() == []

    def test_r13_at_period_end_stays_the_default(self, billing: Billing, paid_id: str) -> None:
        """Rule R13: ``now=False`` (the default) schedules, as before."""
        overview = billing.cancel(paid_id, actor=OWNER, now=False)
        assert (overview.status, overview.cancel_at_period_end) == (
            SubscriptionStatus.ACTIVE, True,
        )  # fmt: skip


class TestCancelNowRefused:
    """Rules R5, R13, R17: typed refusals; the store and the provider are as they were."""

    @pytest.mark.parametrize("actor", [MEMBER, "eve"], ids=["member", "stranger"])
    def test_r5_a_member_or_a_stranger_cannot_cancel_now(
        self,
        billing: Billing,
        store: Store,
        provider: FakePaymentProvider,
        paid_id: str,
        actor: str,
    ) -> None:
        """Rule R5: PermissionDenied; the provider subscription is still active."""
        refused(store, PermissionDenied, "permission_denied",
                lambda: billing.cancel(paid_id, actor=actor, now=True))  # fmt: skip
        assert provider.subscription(ref_of(billing, paid_id)).status is ProviderStatus.ACTIVE

    @pytest.mark.parametrize("now", ["yes", 1, 0, None, "False"], ids=repr)
    def test_r17_now_must_be_a_bool(
        self,
        billing: Billing,
        store: Store,
        provider: FakePaymentProvider,
        paid_id: str,
        now: object,
    ) -> None:
        """Rule R17: ``invalid_flag``, never a truthy string read as yes."""
        refused(store, InvalidRequest, "invalid_flag",
                lambda: billing.cancel(paid_id, actor=OWNER, now=now))  # type: ignore[arg-type]  # fmt: skip
        assert provider.subscription(ref_of(billing, paid_id)).status is ProviderStatus.ACTIVE

    @pytest.mark.parametrize("workspace", ["trial_id", "free_id"])
    def test_r13_nothing_paid_nothing_to_cancel(
        self, billing: Billing, store: Store, request: pytest.FixtureRequest, workspace: str
    ) -> None:
        """Rule R13: ``no_paid_subscription``."""
        ws_id = request.getfixturevalue(workspace)
        owner = billing.workspace(ws_id).owner
        refused(store, InvalidRequest, "no_paid_subscription",
                lambda: billing.cancel(ws_id, actor=owner, now=True))  # fmt: skip

    def test_r13_cancelling_now_twice_is_refused_the_second_time(
        self, billing: Billing, store: Store, paid_id: str
    ) -> None:
        """Rule R13: once ended, there is nothing paid left to cancel."""
        billing.cancel(paid_id, actor=OWNER, now=True)
        refused(store, InvalidRequest, "no_paid_subscription",
                lambda: billing.cancel(paid_id, actor=OWNER, now=True))  # fmt: skip
