"""The card on file on the billing page (issue 14): mirrored with the subscription,
read without a provider call, never stale after a webhook changes it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from tests.service.support import ADMIN, OWNER, event_types

from workspace_billing import Billing, Money, PaymentMethod, Store, SubscriptionStatus
from workspace_billing.storage.schema import workspaces
from workspace_billing.storage.sql import SQLStore
from workspace_billing.testing import FakePaymentProvider

TEST_CARD = PaymentMethod(brand="visa", last4="4242", exp_month=12, exp_year=2030)
"""What the fake provider's completed checkout leaves on file."""
NEW_CARD = PaymentMethod(brand="mastercard", last4="4444", exp_month=1, exp_year=2031)


def stored_card(store: Store, ws_id: str) -> PaymentMethod | None:
    """The card as the store holds it, read again from its rows (no cache)."""
    (ws,) = [w for w in store.snapshot().workspaces if w.id == ws_id]
    return ws.subscription.payment_method


def card_columns(store: Store, ws_id: str) -> tuple[object, ...] | None:
    """The four card columns of a SQL store's row, as the database has them."""
    if not isinstance(store, SQLStore):
        return None
    columns = (workspaces.c.pm_brand, workspaces.c.pm_last4,
               workspaces.c.pm_exp_month, workspaces.c.pm_exp_year)  # fmt: skip
    engine = store._engine
    assert engine is not None
    with engine.connect() as conn:
        return tuple(conn.execute(sa.select(*columns).where(workspaces.c.id == ws_id)).one())


def follow(billing: Billing, ws_id: str) -> tuple[str, str]:
    sub = billing.workspace(ws_id).subscription
    assert sub.customer_ref is not None
    assert sub.subscription_ref is not None
    return sub.customer_ref, sub.subscription_ref


class TestCardOnFile:
    """Rule R3: the overview shows the card that pays the subscription."""

    def test_r3_a_paid_workspace_shows_the_card_it_paid_with(
        self, billing: Billing, store: Store, paid_id: str
    ) -> None:
        """Rule R3: brand, last four digits and expiry; in the overview and its JSON."""
        overview = billing.subscription(paid_id, actor=ADMIN)
        assert overview.payment_method == TEST_CARD
        assert overview.to_dict()["payment_method"] == {
            "brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030,
        }  # fmt: skip
        assert billing.workspace(paid_id).subscription.to_dict()["payment_method"] == (
            TEST_CARD.to_dict()
        )

    def test_r3_the_card_survives_a_reload_from_the_store(
        self, billing: Billing, store: Store, paid_id: str
    ) -> None:
        """Rule R3: written to the four columns, read back as the same value."""
        assert stored_card(store, paid_id) == TEST_CARD
        columns = card_columns(store, paid_id)
        assert columns in (None, ("visa", "4242", 12, 2030))

    def test_r1_the_trial_and_the_free_plan_have_none(
        self, billing: Billing, store: Store, trial_id: str, free_id: str
    ) -> None:
        """Rules R1, R2: nothing is paid through the provider, no card is shown."""
        assert billing.subscription(trial_id, actor="tess").payment_method is None
        assert billing.subscription(free_id, actor="fred").payment_method is None
        assert card_columns(store, trial_id) in (None, (None, None, None, None))

    def test_r3_the_overview_is_read_without_asking_the_provider(
        self,
        billing: Billing,
        provider: FakePaymentProvider,
        monkeypatch: pytest.MonkeyPatch,
        paid_id: str,
    ) -> None:
        """Rule R3: the card is the mirror's, so the hot read makes no provider call."""

        def not_called(ref: str) -> object:
            raise AssertionError("the overview asked the provider")

        monkeypatch.setattr(provider, "fetch_subscription", not_called)
        assert billing.subscription(paid_id, actor=OWNER).payment_method == TEST_CARD


class TestCardChanges:
    """Rule R14: a card changed at the provider reaches the page with the next view."""

    def test_r14_a_webhook_replaces_the_card_and_the_cached_overview_follows(
        self, billing: Billing, store: Store, provider: FakePaymentProvider, paid_id: str
    ) -> None:
        """Rule R14: the overview read before (and kept between requests) never shows
        the old card once the webhook is applied."""
        assert billing.subscription(paid_id, actor=OWNER).payment_method == TEST_CARD
        assert billing.subscription(paid_id, actor=OWNER).payment_method == TEST_CARD
        customer, ref = follow(billing, paid_id)
        provider.payment_methods[customer] = NEW_CARD  # in the provider's portal, with...
        provider.schedule_seat_decrease(ref, 3, idempotency_key="portal:1")  # ...fewer seats
        assert provider.deliver(billing.handle_webhook) == 1
        overview = billing.subscription(paid_id, actor=OWNER)
        assert (overview.payment_method, overview.pending_seats) == (NEW_CARD, 3)
        assert stored_card(store, paid_id) == NEW_CARD
        assert card_columns(store, paid_id) in (None, ("mastercard", "4444", 1, 2031))

    def test_r14_a_card_changed_alone_in_the_portal_reaches_the_page_by_its_webhook(
        self, billing: Billing, store: Store, provider: FakePaymentProvider, paid_id: str
    ) -> None:
        """Rule R14: the customer's new default card comes with ``customer.updated``
        only (no subscription event): the workspace's subscription is read again,
        once per delivery."""
        assert billing.subscription(paid_id, actor=OWNER).payment_method == TEST_CARD
        customer, _ = follow(billing, paid_id)
        before = event_types(billing)
        provider.update_card(customer, NEW_CARD)
        deliveries = provider.take_webhooks()
        assert len(deliveries) == 1
        payload, headers = deliveries[0]

        first = billing.handle_webhook(payload, headers)
        again = billing.handle_webhook(payload, headers)

        assert (first.applied, again.duplicates) == (1, 1)
        assert billing.subscription(paid_id, actor=OWNER).payment_method == NEW_CARD
        assert stored_card(store, paid_id) == NEW_CARD
        assert event_types(billing) == before  # the card is a record, not a change

    def test_r14_a_customer_update_for_a_workspace_without_a_subscription_is_ignored(
        self, billing: Billing, provider: FakePaymentProvider, trial_id: str
    ) -> None:
        billing.billing_portal(trial_id, actor="tess", return_url="https://app.example/b")
        customer = billing.workspace(trial_id).subscription.customer_ref
        assert customer is not None
        before = event_types(billing)
        provider.update_card(customer, NEW_CARD)
        ((payload, headers),) = provider.take_webhooks()
        result = billing.handle_webhook(payload, headers)
        assert (result.applied, result.ignored) == (0, 1)  # nothing fetched nor applied
        assert billing.handle_webhook(payload, headers).duplicates == 1
        assert billing.subscription(trial_id, actor="tess").payment_method is None
        assert event_types(billing) == before

    def test_r16_a_view_that_changes_only_the_card_is_saved_without_an_event(
        self, billing: Billing, store: Store, provider: FakePaymentProvider, paid_id: str
    ) -> None:
        """Rule R16: the card is the provider's record, not a change of what the
        workspace has: reconcile mirrors it, and the outbox stays as it was."""
        billing.subscription(paid_id, actor=OWNER)  # cached with the old card
        customer, _ = follow(billing, paid_id)
        before = event_types(billing)
        provider.payment_methods[customer] = NEW_CARD
        report = billing.reconcile()
        assert report.repaired == ()
        assert event_types(billing) == before
        assert billing.subscription(paid_id, actor=OWNER).payment_method == NEW_CARD
        assert stored_card(store, paid_id) == NEW_CARD

    def test_r14_a_card_removed_at_the_provider_is_removed_here(
        self, billing: Billing, store: Store, provider: FakePaymentProvider, paid_id: str
    ) -> None:
        """Rule R14: no card in the provider's view, none on the page."""
        customer, _ = follow(billing, paid_id)
        del provider.payment_methods[customer]
        billing.reconcile()
        assert billing.subscription(paid_id, actor=OWNER).payment_method is None
        assert card_columns(store, paid_id) in (None, (None, None, None, None))

    def test_r7_negotiated_terms_drop_the_card(self, billing: Billing, paid_id: str) -> None:
        """Rule R7: a negotiated plan is invoiced outside the provider: no card shown."""
        overview = billing.apply_custom_terms(
            paid_id, operator="ops", seats=10, unit_amount=Money(900, "EUR"), interval="year"
        )
        assert overview.status is SubscriptionStatus.ACTIVE
        assert overview.payment_method is None
        assert billing.subscription(paid_id, actor=OWNER).payment_method is None
