"""Rule R14 at the edge of the installation: only a subscription provably this
installation's is taken up, and what the provider does on its own (a customer
deleted, collection paused, a checkout whose webhooks were all lost) reaches
the mirror; ``service/webhooks.py``, ``service/renewals.py`` and ``mirror.py``.
"""

from __future__ import annotations

from tests.conftest import PaidWorkspace, StoreFactory
from tests.service.support import OWNER, URLS, statuses

from workspace_billing import (
    Billing,
    Catalog,
    CheckoutRequest,
    EventType,
    Interval,
    MemberStatus,
    Money,
    Store,
    SubscriptionStatus,
)
from workspace_billing.testing import FakeClock, FakePaymentProvider, InMemoryStore


def event_types(billing: Billing) -> list[EventType]:
    return [e.type for e in billing.events()]


class TestAnotherInstallationsSubscription:
    """Rule R14: a paid subscription is adopted only when it is this installation's
    (a checkout it started, with its own customer), never on the payload's word."""

    def test_r14_a_subscription_paid_in_another_installation_is_not_adopted(
        self, clock: FakeClock, store_factory: StoreFactory
    ) -> None:
        # Two hosts share one provider account and chose the same workspace id.
        provider = FakePaymentProvider(clock=clock)
        make = store_factory
        host_a = Billing(catalog=Catalog.default(), store=make(), provider=provider, clock=clock)
        host_b_store: Store = make()
        host_b = Billing(catalog=Catalog.default(), store=host_b_store, provider=provider,
                         clock=clock)  # fmt: skip
        host_a.create_workspace(owner="alice", name="A", workspace_id="ws_shared")
        host_b.create_workspace(owner="bob", name="B", workspace_id="ws_shared")

        checkout = host_a.upgrade("ws_shared", actor="alice", plan="business", seats=7, **URLS)
        provider.complete_checkout(checkout.id)
        webhooks = provider.take_webhooks()
        before = host_b_store.snapshot()
        for payload, headers in webhooks:
            host_b.handle_webhook(payload, headers)
        for payload, headers in webhooks:
            host_a.handle_webhook(payload, headers)

        assert host_a.subscription("ws_shared", actor="alice").plan == "business"
        after = host_b_store.snapshot()
        assert after.workspaces == before.workspaces  # B's trial is untouched
        assert after.events == before.events

    def test_r14_a_workspace_with_no_customer_adopts_nothing(
        self, billing: Billing, provider: FakePaymentProvider, store: Store
    ) -> None:
        ws = billing.create_workspace(owner=OWNER, name="Acme", workspace_id="ws_acme")
        stranger = provider.create_customer(
            workspace_id="ws_acme", name="Elsewhere", owner="eve", idempotency_key="other:cus"
        )
        request = CheckoutRequest(
            workspace_id=ws.id, customer_ref=stranger, plan="business", interval=Interval.MONTH,
            seats=4, unit_amount=Money(1200, "EUR"), **URLS,
        )  # fmt: skip
        provider.complete_checkout(provider.create_checkout(request, idempotency_key="other:cs").id)
        before = store.snapshot()

        provider.deliver(billing.handle_webhook)

        assert billing.workspace(ws.id).subscription.status is SubscriptionStatus.TRIALING
        assert store.snapshot().workspaces == before.workspaces


class TestCustomerDeleted:
    """A customer deleted at the provider is forgotten: the next checkout makes one."""

    def test_the_customer_is_cleared_and_the_next_checkout_creates_another(
        self, billing: Billing, paid_workspace: PaidWorkspace, provider: FakePaymentProvider
    ) -> None:
        ws = paid_workspace(seats=3)
        old = billing.workspace(ws.id).subscription.customer_ref
        assert old is not None

        provider.delete_customer(old)
        provider.deliver(billing.handle_webhook)

        after = billing.workspace(ws.id).subscription
        assert after.customer_ref is None
        assert after.status is not SubscriptionStatus.ACTIVE  # its subscription ended too
        assert EventType.CUSTOMER_DELETED in event_types(billing)
        checkout = billing.upgrade(ws.id, actor=OWNER, plan="business", seats=2, **URLS)
        provider.complete_checkout(checkout.id)
        provider.deliver(billing.handle_webhook)
        renewed = billing.workspace(ws.id).subscription
        assert renewed.status is SubscriptionStatus.ACTIVE
        assert renewed.customer_ref not in (None, old)

    def test_a_customer_of_no_workspace_is_acknowledged_and_ignored(
        self, billing: Billing, provider: FakePaymentProvider
    ) -> None:
        stray = provider.create_customer(
            workspace_id="ws_gone", name="Gone", owner="x", idempotency_key="stray:cus"
        )
        provider.delete_customer(stray)
        (payload, headers) = provider.take_webhooks()[-1]
        result = billing.handle_webhook(payload, headers)
        assert (result.applied, result.ignored) == (0, 1)
        assert billing.handle_webhook(payload, headers).duplicates == 1


class TestPaused:
    """A paused subscription is not past due: no grace clock; the workspace falls
    back (R11 on the fallback's cap) and takes the subscription up again on resume."""

    def test_pausing_falls_back_and_resuming_restores_the_plan(
        self, billing: Billing, paid_workspace: PaidWorkspace, provider: FakePaymentProvider
    ) -> None:
        ws = paid_workspace(seats=4, members=("bob", "carol", "dan"))
        ref = billing.workspace(ws.id).subscription.subscription_ref
        assert ref is not None

        provider.pause(ref)
        provider.deliver(billing.handle_webhook)
        paused = billing.workspace(ws.id).subscription
        assert paused.status in (SubscriptionStatus.FREE, SubscriptionStatus.EXPIRED)
        assert paused.past_due_since is None
        assert EventType.SUBSCRIPTION_PAUSED in event_types(billing)
        assert statuses(billing, ws.id)["dan"] is MemberStatus.DEACTIVATED  # free cap: 2

        provider.unpause(ref)
        provider.deliver(billing.handle_webhook)
        resumed = billing.subscription(ws.id, actor=OWNER)
        assert (resumed.plan, resumed.status, resumed.seats) == (
            "business", SubscriptionStatus.ACTIVE, 4,
        )  # fmt: skip


class TestReconcileFindsLostCheckouts:
    """A checkout paid while every webhook of it was lost is found by ``reconcile``
    among the customer's subscriptions and taken up."""

    def test_a_paid_checkout_without_webhooks_is_taken_up(
        self, billing: Billing, provider: FakePaymentProvider
    ) -> None:
        ws = billing.create_workspace(owner=OWNER, name="Acme")
        checkout = billing.upgrade(ws.id, actor=OWNER, plan="business", seats=3, **URLS)
        provider.complete_checkout(checkout.id)
        provider.take_webhooks()  # all lost

        report = billing.reconcile()

        assert billing.subscription(ws.id, actor=OWNER).status is SubscriptionStatus.ACTIVE
        assert [ws_id for ws_id, _ in report.repaired] == [ws.id]
        assert billing.reconcile().repaired == ()  # idempotent

    def test_an_abandoned_checkout_changes_nothing(
        self, billing: Billing, provider: FakePaymentProvider, store: Store
    ) -> None:
        ws = billing.create_workspace(owner=OWNER, name="Acme")
        billing.upgrade(ws.id, actor=OWNER, plan="business", seats=3, **URLS)
        before = store.snapshot()
        assert billing.reconcile().repaired == ()
        assert store.snapshot() == before


class TestCustomerDetails:
    """Customers are created with the workspace's name and, when the host says how
    to reach a user, the owner's email."""

    def test_the_owner_email_reaches_the_provider(
        self, clock: FakeClock, provider: FakePaymentProvider
    ) -> None:
        billing = Billing(
            catalog=Catalog.default(), store=InMemoryStore(), provider=provider, clock=clock,
            email_of=lambda user: f"{user}@example.com",
        )  # fmt: skip
        ws = billing.create_workspace(owner=OWNER, name="Acme")
        billing.upgrade(ws.id, actor=OWNER, plan="business", seats=2, **URLS)
        customer = billing.workspace(ws.id).subscription.customer_ref
        assert customer is not None
        assert provider.customer_emails[customer] == "alice@example.com"

    def test_without_it_the_customer_has_no_email(
        self, billing: Billing, provider: FakePaymentProvider
    ) -> None:
        ws = billing.create_workspace(owner=OWNER, name="Acme")
        billing.upgrade(ws.id, actor=OWNER, plan="business", seats=2, **URLS)
        customer = billing.workspace(ws.id).subscription.customer_ref
        assert customer is not None
        assert provider.customer_emails[customer] is None
