"""Rule R14: provider truth arrives by webhook, verified, once per event id, in any order.

Convergence is proved on separately built worlds (each with its own clock,
provider, store and Billing, on the same ids) that perform the same actions
and differ only in how the provider's webhooks reach them: in order, twice,
or shuffled. Their workspaces must end in the same state.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import PaidWorkspace, StoreFactory
from tests.service.support import (
    OWNER,
    refused,
    statuses,
)

from workspace_billing import (
    Billing,
    Catalog,
    EventType,
    InvalidRequest,
    Member,
    MemberStatus,
    Store,
    Subscription,
    SubscriptionStatus,
    WebhookResult,
    WebhookVerificationError,
)
from workspace_billing.testing import FakeClock, FakePaymentProvider, InMemoryStore

URLS = {"success_url": "https://app.example/ok", "cancel_url": "https://app.example/cancel"}
WORKSPACE = "ws_acme"

Order = Callable[[list[bytes]], list[bytes]]
"""Puts the webhooks waiting for delivery in the order a world delivers them."""


def in_order(payloads: list[bytes]) -> list[bytes]:
    return list(payloads)


def shuffled(seed: int) -> Order:
    def order(payloads: list[bytes]) -> list[bytes]:
        mixed = list(payloads)
        random.Random(seed).shuffle(mixed)
        return mixed

    return order


def count(billing: Billing, kind: EventType, workspace_id: str = WORKSPACE) -> int:
    return sum(1 for e in billing.events() if e.type is kind and e.workspace_id == workspace_id)


class World:
    """One host: its own clock, provider, store and Billing, on the same ids as the others.

    Worlds differ only in how webhooks reach Billing: in which ``order``, and
    how many ``copies`` of each. A webhook is signed when it is delivered, as
    a provider signs each attempt.
    """

    def __init__(self, store: Store, order: Order = in_order, copies: int = 1) -> None:
        self.clock = FakeClock()
        self.provider = FakePaymentProvider(clock=self.clock)
        self.store = store
        self.billing = Billing(
            catalog=Catalog.default(), store=self.store, provider=self.provider, clock=self.clock
        )
        self.order = order
        self.copies = copies
        self.waiting: list[bytes] = []
        self.results: list[WebhookResult] = []
        self.sent = 0

    def deliver_one(self) -> None:
        """Deliver the first waiting webhook; the others wait (providers retry for days)."""
        self._collect()
        self._handle(self.waiting.pop(0))

    def deliver_all(self) -> None:
        self._collect()
        waiting, self.waiting = self.waiting, []
        for payload in waiting:
            self._handle(payload)

    def final_state(self) -> tuple[Subscription, list[Member]]:
        return (
            self.billing.workspace(WORKSPACE).subscription,
            self.billing.members(WORKSPACE),
        )

    def _collect(self) -> None:
        sent = [payload for payload, _ in self.provider.take_webhooks()]
        self.sent += len(sent)
        self.waiting = self.order([*self.waiting, *(sent * self.copies)])

    def _handle(self, payload: bytes) -> None:
        self.results.append(self.billing.handle_webhook(payload, self.provider.sign(payload)))


def seat_story(world: World) -> World:
    """Checkout of 3 seats, an increase to 5, a decrease to 2, then past the renewal.

    Members bob and carol join on 3 seats, dave and erin after the increase.
    One checkout webhook is delivered at once (the workspace needs its
    subscription to change seats); every other webhook, the checkout's
    included, arrives after the renewal date, so a handler that trusted a
    payload's moment or the delivery order would undo the renewal.
    """
    billing, clock = world.billing, world.clock
    billing.create_workspace(owner="alice", name="Acme", workspace_id=WORKSPACE)
    checkout = billing.upgrade(WORKSPACE, actor="alice", plan="business", seats=3, **URLS)
    clock.advance(minutes=3)
    world.provider.complete_checkout(checkout.id)
    world.deliver_one()
    for user in ("bob", "carol"):
        clock.advance(hours=1)
        billing.add_member(WORKSPACE, actor="alice", user=user)
    clock.advance(days=3)
    billing.change_seats(WORKSPACE, actor="alice", seats=5)
    for user in ("dave", "erin"):
        clock.advance(hours=1)
        billing.add_member(WORKSPACE, actor="alice", user=user)
    clock.advance(days=5)
    overview = billing.change_seats(WORKSPACE, actor="alice", seats=2)
    assert overview.renews_at is not None
    clock.set(overview.renews_at + timedelta(hours=2))
    world.deliver_all()
    return world


class TestConvergence:
    """Rule R14: webhooks in order, twice or shuffled give the same final state."""

    def test_r14_webhooks_in_order_end_as_r9_and_r11_say(self, store_factory: StoreFactory) -> None:
        """Rules R9, R11, R14: the renewal applies the decrease and deactivates the newest."""
        world = seat_story(World(store_factory()))
        subscription, members = world.final_state()
        assert subscription.status is SubscriptionStatus.ACTIVE
        assert subscription.seats == 2
        assert subscription.pending_seats is None
        assert subscription.period_start == world.clock.now() - timedelta(hours=2)
        assert {m.user: m.status for m in members} == {
            "alice": MemberStatus.ACTIVE,
            "bob": MemberStatus.ACTIVE,
            "carol": MemberStatus.DEACTIVATED,
            "dave": MemberStatus.DEACTIVATED,
            "erin": MemberStatus.DEACTIVATED,
        }
        assert count(world.billing, EventType.SUBSCRIPTION_RENEWED) == 1

    def test_r14_webhooks_delivered_twice_converge(self, store_factory: StoreFactory) -> None:
        """Rule R14: delivering every webhook twice gives the state of delivering it once."""
        assert (
            seat_story(World(store_factory(), copies=2)).final_state()
            == seat_story(World(store_factory())).final_state()
        )

    def test_r14_each_duplicate_delivery_is_recognised(self, store_factory: StoreFactory) -> None:
        """Rule R14: of two deliveries of one event, the second is a duplicate."""
        world = seat_story(World(store_factory(), copies=2))
        fresh = sum(r.applied + r.ignored for r in world.results)
        duplicates = sum(r.duplicates for r in world.results)
        assert world.sent > 0
        assert (fresh, duplicates) == (world.sent, world.sent)

    @pytest.mark.parametrize("seed", range(8))
    def test_r14_shuffled_webhooks_converge(self, seed: int, store_factory: StoreFactory) -> None:
        """Rule R14: any delivery order gives the state of the in-order delivery."""
        shuffled_world = seat_story(World(store_factory(), shuffled(seed)))
        assert shuffled_world.final_state() == seat_story(World(store_factory())).final_state()

    @pytest.mark.parametrize("seed", range(4))
    def test_r14_shuffled_webhooks_delivered_twice_converge(
        self, seed: int, store_factory: StoreFactory
    ) -> None:
        """Rule R14: duplicates and shuffles together still converge."""
        shuffled_world = seat_story(World(store_factory(), shuffled(seed), copies=2))
        assert shuffled_world.final_state() == seat_story(World(store_factory())).final_state()

    @settings(
        max_examples=30,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(data=st.data())
    def test_r14_any_order_with_repeats_converges(
        self, data: st.DataObject, store_factory: StoreFactory
    ) -> None:
        """Rule R14: any permutation of the webhooks, some repeated, converges."""

        def order(payloads: list[bytes]) -> list[bytes]:
            repeats = data.draw(st.lists(st.sampled_from(payloads), max_size=3), label="repeats")
            return data.draw(st.permutations([*payloads, *repeats]), label="order")

        assert (
            seat_story(World(store_factory(), order)).final_state()
            == seat_story(World(store_factory())).final_state()
        )

    def test_r14_the_renewal_is_applied_once_whatever_the_order(
        self, store_factory: StoreFactory
    ) -> None:
        """Rules R11, R14: shuffled and repeated webhooks deactivate each member once."""
        world = seat_story(World(store_factory(), shuffled(3), copies=2))
        assert count(world.billing, EventType.MEMBER_DEACTIVATED) == 3
        assert count(world.billing, EventType.SUBSCRIPTION_RENEWED) == 1


@pytest.fixture(name="checkout_webhooks")
def checkout_webhooks_fixture(
    billing: Billing, provider: FakePaymentProvider
) -> list[tuple[bytes, dict[str, str]]]:
    """The signed, not yet delivered webhooks of a paid checkout of 3 Business seats."""
    billing.create_workspace(owner="alice", name="Acme", workspace_id=WORKSPACE)
    checkout = billing.upgrade(WORKSPACE, actor="alice", plan="business", seats=3, **URLS)
    provider.complete_checkout(checkout.id)
    webhooks = provider.take_webhooks()
    assert webhooks
    return webhooks


class TestVerification:
    """Rule R14: a webhook that is not exactly what the provider sent changes nothing."""

    @pytest.mark.parametrize("where", ["first", "tenth", "middle", "second_to_last", "last"])
    def test_r14_a_payload_altered_by_one_byte_is_refused(
        self,
        billing: Billing,
        store: InMemoryStore,
        checkout_webhooks: list[tuple[bytes, dict[str, str]]],
        where: str,
    ) -> None:
        """Rule R14: the signature covers every byte of the body."""
        payload, headers = checkout_webhooks[0]
        size = len(payload)
        index = {"first": 0, "tenth": 9, "middle": size // 2, "second_to_last": size - 2}.get(
            where, size - 1
        )
        altered = payload[:index] + bytes([payload[index] ^ 0x01]) + payload[index + 1 :]
        assert len(altered) == len(payload)
        assert altered != payload
        before = store.snapshot()
        with pytest.raises(WebhookVerificationError):
            billing.handle_webhook(altered, headers)
        assert store.snapshot() == before

    def test_r14_the_refused_copy_does_not_use_up_the_event_id(
        self, billing: Billing, checkout_webhooks: list[tuple[bytes, dict[str, str]]]
    ) -> None:
        """Rule R14: after a forged copy is refused, the genuine webhook is still applied."""
        payload, headers = checkout_webhooks[0]
        altered = payload.replace(b'"type"', b'"typf"')
        assert altered != payload
        with pytest.raises(WebhookVerificationError):
            billing.handle_webhook(altered, headers)
        assert billing.handle_webhook(payload, headers) == WebhookResult(applied=1)
        assert billing.workspace(WORKSPACE).subscription.status is SubscriptionStatus.ACTIVE

    def test_r14_a_webhook_signed_with_another_secret_is_refused(
        self,
        billing: Billing,
        clock: FakeClock,
        store: InMemoryStore,
        checkout_webhooks: list[tuple[bytes, dict[str, str]]],
    ) -> None:
        """Rule R14: only the provider's secret makes a valid signature."""
        payload, _ = checkout_webhooks[0]
        forger = FakePaymentProvider(clock=clock, webhook_secret="whsec_forged")
        before = store.snapshot()
        with pytest.raises(WebhookVerificationError):
            billing.handle_webhook(payload, forger.sign(payload))
        assert store.snapshot() == before

    def test_r14_a_stale_webhook_is_refused(
        self,
        billing: Billing,
        clock: FakeClock,
        provider: FakePaymentProvider,
        store: InMemoryStore,
        checkout_webhooks: list[tuple[bytes, dict[str, str]]],
    ) -> None:
        """Rule R14: a signature older than the 5 minute tolerance is refused."""
        payload, _ = checkout_webhooks[0]
        headers = provider.sign(payload, at=clock.now())
        clock.advance(minutes=5, seconds=1)
        before = store.snapshot()
        with pytest.raises(WebhookVerificationError):
            billing.handle_webhook(payload, headers)
        assert store.snapshot() == before

    def test_r14_a_webhook_within_the_tolerance_is_accepted(
        self,
        billing: Billing,
        clock: FakeClock,
        provider: FakePaymentProvider,
        checkout_webhooks: list[tuple[bytes, dict[str, str]]],
    ) -> None:
        """Rule R14 control: a signature 4 min 59 s old is still fresh."""
        payload, _ = checkout_webhooks[0]
        headers = provider.sign(payload, at=clock.now())
        clock.advance(minutes=4, seconds=59)
        assert billing.handle_webhook(payload, headers) == WebhookResult(applied=1)


class TestUnknownEvents:
    """Rule R14: event types the library does not know are acknowledged and ignored."""

    def test_r14_an_unknown_event_type_is_acknowledged_and_changes_no_workspace(
        self,
        billing: Billing,
        provider: FakePaymentProvider,
        store: InMemoryStore,
        paid_workspace: PaidWorkspace,
    ) -> None:
        """Rule R14: an unknown event type is counted as ignored; workspaces stay as they were."""
        ws = paid_workspace(seats=3, members=("bob",), workspace_id=WORKSPACE)
        body = {
            "id": "evt_x",
            "type": "customer.discount.created",
            "created": 0,
            "data": {"object": {}},
        }
        payload = json.dumps(body).encode()
        before = store.snapshot()
        result = billing.handle_webhook(payload, provider.sign(payload))
        assert result == WebhookResult(applied=0, duplicates=0, ignored=1)
        after = store.snapshot()
        assert after.workspaces == before.workspaces
        assert after.members == before.members
        assert after.events == before.events
        assert billing.workspace(ws.id) == ws


@pytest.fixture(name="renewal_due")
def renewal_due_fixture(billing: Billing, clock: FakeClock, paid_workspace: PaidWorkspace) -> str:
    """Business, 3 seats all taken (alice, bob, carol), a decrease to 2, the renewal date past."""
    ws = paid_workspace(seats=3, members=("bob", "carol"), workspace_id=WORKSPACE)
    overview = billing.change_seats(ws.id, actor="alice", seats=2)
    assert overview.renews_at is not None
    clock.set(overview.renews_at + timedelta(hours=1))
    return ws.id


class TestRenewalObservedTwice:
    """Rule R11: a renewal seen by a webhook and by the sweep is applied once."""

    @pytest.mark.parametrize("first", ["webhook", "sweep"])
    def test_r11_the_renewal_is_applied_once_whoever_sees_it_first(
        self, billing: Billing, provider: FakePaymentProvider, renewal_due: str, first: str
    ) -> None:
        """Rules R11, R14: whichever path comes first, carol is deactivated once."""
        if first == "webhook":
            assert provider.deliver(billing.handle_webhook) > 0
            report = billing.run_renewals()
            assert (report.changed, report.deactivated) == (0, 0)
        else:
            report = billing.run_renewals()
            assert (report.changed, report.deactivated) == (1, 1)
            assert provider.deliver(billing.handle_webhook) > 0
        assert count(billing, EventType.MEMBER_DEACTIVATED, renewal_due) == 1
        assert count(billing, EventType.SUBSCRIPTION_RENEWED, renewal_due) == 1
        assert statuses(billing, renewal_due) == {
            "alice": MemberStatus.ACTIVE,
            "bob": MemberStatus.ACTIVE,
            "carol": MemberStatus.DEACTIVATED,
        }
        overview = billing.subscription(renewal_due, actor="alice")
        assert (overview.seats, overview.pending_seats) == (2, None)

    def test_r11_running_the_renewals_again_changes_nothing(
        self, billing: Billing, store: InMemoryStore, renewal_due: str
    ) -> None:
        """Rule R11: a second sweep right after the first finds nothing to do."""
        first = billing.run_renewals()
        assert first.deactivated == 1
        before = store.snapshot()
        second = billing.run_renewals()
        assert (second.changed, second.deactivated, second.failed) == (0, 0, ())
        assert store.snapshot() == before

    def test_r11_running_the_renewals_again_after_a_trial_end_changes_nothing(
        self, billing: Billing, clock: FakeClock, store: InMemoryStore
    ) -> None:
        """Rules R1, R11: the trial's end falls back once; a second sweep changes nothing."""
        ws = billing.create_workspace(owner="alice", name="Acme")
        for user in ("bob", "carol", "dave"):
            billing.add_member(ws.id, actor="alice", user=user)
        clock.advance(days=15)
        first = billing.run_renewals()
        assert (first.changed, first.deactivated) == (1, 2)
        before = store.snapshot()
        second = billing.run_renewals()
        assert (second.changed, second.deactivated, second.failed) == (0, 0, ())
        assert store.snapshot() == before


@pytest.fixture(name="webhook")
def webhook_fixture(
    billing: Billing, provider: FakePaymentProvider, paid_id: str
) -> tuple[bytes, dict[str, str]]:
    """One genuine, signed, not yet delivered webhook (the seat increase's)."""
    billing.change_seats(paid_id, actor=OWNER, seats=5)
    webhooks = provider.take_webhooks()
    assert webhooks
    return webhooks[-1]


def _flip_one_byte(payload: bytes) -> bytes:
    index = len(payload) // 2
    return payload[:index] + bytes([payload[index] ^ 0x01]) + payload[index + 1 :]


class TestForgedWebhooks:
    """Rule R14/R17: a webhook that is not what the provider sent is refused and changes nothing."""

    def test_the_genuine_webhook_is_accepted(
        self, billing: Billing, store: InMemoryStore, webhook: tuple[bytes, dict[str, str]]
    ) -> None:
        """Rule R14 control: the untouched webhook verifies, and its event id is claimed."""
        payload, headers = webhook
        before = store.snapshot()
        result = billing.handle_webhook(payload, headers)
        assert result.applied + result.ignored == 1
        assert len(store.snapshot().webhook_event_ids) == len(before.webhook_event_ids) + 1

    def test_a_payload_altered_by_one_byte_is_refused(
        self, billing: Billing, store: InMemoryStore, webhook: tuple[bytes, dict[str, str]]
    ) -> None:
        """Rule R14: the signature covers every byte of the body."""
        payload, headers = webhook
        altered = _flip_one_byte(payload)
        assert altered != payload
        assert len(altered) == len(payload)
        refused(
            store,
            WebhookVerificationError,
            "webhook_verification_failed",
            lambda: billing.handle_webhook(altered, headers),
        )

    def test_a_missing_signature_header_is_refused(
        self, billing: Billing, store: InMemoryStore, webhook: tuple[bytes, dict[str, str]]
    ) -> None:
        """Rule R14: an unsigned webhook is refused."""
        payload, _ = webhook
        refused(
            store,
            WebhookVerificationError,
            "webhook_verification_failed",
            lambda: billing.handle_webhook(payload, {}),
        )

    def test_a_malformed_signature_header_is_refused(
        self, billing: Billing, store: InMemoryStore, webhook: tuple[bytes, dict[str, str]]
    ) -> None:
        """Rule R14: a signature header that cannot be parsed is refused, not a crash."""
        payload, headers = webhook
        garbled = dict.fromkeys(headers, "not a signature")
        refused(
            store,
            WebhookVerificationError,
            "webhook_verification_failed",
            lambda: billing.handle_webhook(payload, garbled),
        )

    def test_a_webhook_signed_with_another_secret_is_refused(
        self,
        billing: Billing,
        store: InMemoryStore,
        clock: FakeClock,
        webhook: tuple[bytes, dict[str, str]],
    ) -> None:
        """Rule R14: only the provider's secret authenticates a webhook."""
        payload, _ = webhook
        forger = FakePaymentProvider(clock=clock, webhook_secret="whsec_forged")
        refused(
            store,
            WebhookVerificationError,
            "webhook_verification_failed",
            lambda: billing.handle_webhook(payload, forger.sign(payload)),
        )

    def test_a_webhook_signed_too_long_ago_is_refused(
        self,
        billing: Billing,
        store: InMemoryStore,
        provider: FakePaymentProvider,
        clock: FakeClock,
        webhook: tuple[bytes, dict[str, str]],
    ) -> None:
        """Rule R14: a replayed webhook outside the timestamp tolerance is refused."""
        payload, _ = webhook
        stale = provider.sign(payload, at=clock.now() - timedelta(hours=1))
        refused(
            store,
            WebhookVerificationError,
            "webhook_verification_failed",
            lambda: billing.handle_webhook(payload, stale),
        )

    def test_a_signed_body_that_is_not_an_event_is_refused(
        self, billing: Billing, store: InMemoryStore, provider: FakePaymentProvider
    ) -> None:
        """Rule R14/R17: a correctly signed but malformed body is refused, not a crash."""
        body = b'{"not": "an event"}'
        refused(
            store,
            WebhookVerificationError,
            "webhook_verification_failed",
            lambda: billing.handle_webhook(body, provider.sign(body)),
        )

    @pytest.mark.parametrize("kind", [str, bytearray, memoryview])
    def test_a_payload_that_is_not_bytes_is_invalid(
        self,
        billing: Billing,
        store: InMemoryStore,
        webhook: tuple[bytes, dict[str, str]],
        kind: type,
    ) -> None:
        """Rule R14/R17: the raw body is passed as bytes, before any parsing."""
        payload, headers = webhook
        wrong = payload.decode() if kind is str else kind(payload)
        refused(
            store,
            InvalidRequest,
            "invalid_webhook_body",
            lambda: billing.handle_webhook(wrong, headers),
        )
