"""Racing requests on the in-memory store: what must be atomic is (Rules R2, R8, R14).

Threads start together on a ``threading.Barrier``; the interpreter's switch
interval is shortened for these tests so that they interleave as finely as
it allows. No test sleeps.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import pytest
from tests.conftest import PaidWorkspace

from workspace_billing import (
    Billing,
    Conflict,
    EventType,
    SeatLimitReached,
    SubscriptionStatus,
    WebhookResult,
)
from workspace_billing.testing import FakeClock, FakePaymentProvider, InMemoryStore

URLS = {"success_url": "https://app.example/ok", "cancel_url": "https://app.example/cancel"}

T = TypeVar("T")


@pytest.fixture(name="fine_thread_switching", autouse=True)
def fine_thread_switching_fixture() -> Iterator[None]:
    """Let threads switch as often as the interpreter allows while a test runs."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def run_together(count: int, action: Callable[[int], T]) -> list[Future[T]]:
    """Run ``action(0)`` ... ``action(count - 1)`` on ``count`` threads released at once."""
    barrier = threading.Barrier(count)

    def start(index: int) -> T:
        barrier.wait(timeout=30)
        return action(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(start, index) for index in range(count)]
    return futures


def outcomes(futures: list[Future[T]]) -> tuple[list[T], list[BaseException]]:
    """The results of the futures that succeeded and the errors of those that failed."""
    errors = [e for f in futures if (e := f.exception()) is not None]
    return [f.result() for f in futures if f.exception() is None], errors


def count(billing: Billing, kind: EventType) -> int:
    return sum(1 for e in billing.events() if e.type is kind)


class TestSeatsUnderRace:
    """Rule R8: the seat check and the member insert are one atomic step."""

    @pytest.mark.parametrize("attempt", range(3))
    def test_r8_sixteen_racing_additions_fill_exactly_five_free_seats(
        self, billing: Billing, paid_workspace: PaidWorkspace, attempt: int
    ) -> None:
        """Rule R8: of 16 simultaneous additions into 5 free seats, exactly 5 succeed."""
        ws = paid_workspace(seats=7, members=("bob",))
        users = [f"user{attempt}_{i:02d}" for i in range(16)]
        futures = run_together(
            16, lambda i: billing.add_member(ws.id, actor="alice", user=users[i])
        )
        added, errors = outcomes(futures)
        refused = [e for e in errors if isinstance(e, SeatLimitReached)]
        assert len(added) == 5
        assert len(refused) == 11
        assert [e for e in errors if not isinstance(e, SeatLimitReached)] == []
        assert all((e.seats, e.seats_used) == (7, 7) for e in refused)
        active = {m.user for m in billing.members(ws.id) if m.is_active}
        assert active == {"alice", "bob", *(m.user for m in added)}
        assert len({m.seq for m in billing.members(ws.id)}) == 7
        overview = billing.subscription(ws.id, actor="alice")
        assert (overview.seats_used, overview.seats) == (7, 7)
        assert count(billing, EventType.MEMBER_ADDED) == 6

    def test_r8_racing_reactivations_and_additions_share_the_free_seats(
        self, billing: Billing, clock: FakeClock, paid_workspace: PaidWorkspace
    ) -> None:
        """Rules R8, R11: reactivations and additions racing for 3 seats: exactly 3 succeed."""
        ws = paid_workspace(seats=6, members=("bob", "carol", "dave", "erin", "frank"))
        billing.change_seats(ws.id, actor="alice", seats=1)
        renews_at = billing.subscription(ws.id, actor="alice").renews_at
        assert renews_at is not None
        clock.set(renews_at)
        assert billing.run_renewals().deactivated == 5
        billing.change_seats(ws.id, actor="alice", seats=4)
        comeback = ["bob", "carol", "dave", "erin", "frank"]
        newcomers = [f"new{i}" for i in range(5)]

        def act(i: int) -> object:
            if i % 2:
                return billing.reactivate_member(ws.id, actor="alice", user=comeback[i // 2])
            return billing.add_member(ws.id, actor="alice", user=newcomers[i // 2])

        done, errors = outcomes(run_together(10, act))
        assert len(done) == 3
        assert len(errors) == 7
        assert all(isinstance(e, SeatLimitReached) for e in errors)
        assert sum(m.is_active for m in billing.members(ws.id)) == 4


class TestWebhooksUnderRace:
    """Rule R14: one event id is applied once, even when deliveries race."""

    def test_r14_the_same_webhook_from_eight_threads_is_applied_once(
        self, billing: Billing, provider: FakePaymentProvider
    ) -> None:
        """Rule R14: 8 simultaneous deliveries of one webhook: 1 applied, 7 duplicates."""
        ws = billing.create_workspace(owner="alice", name="Acme")
        checkout = billing.upgrade(ws.id, actor="alice", plan="business", seats=3, **URLS)
        provider.complete_checkout(checkout.id)
        payload, headers = provider.take_webhooks()[0]
        results, errors = outcomes(
            run_together(8, lambda _: billing.handle_webhook(payload, headers))
        )
        assert errors == []
        total = WebhookResult(
            applied=sum(r.applied for r in results),
            duplicates=sum(r.duplicates for r in results),
            ignored=sum(r.ignored for r in results),
        )
        assert total == WebhookResult(applied=1, duplicates=7, ignored=0)
        assert count(billing, EventType.PLAN_CHANGED) == 1
        overview = billing.subscription(ws.id, actor="alice")
        assert (overview.plan, overview.status, overview.seats) == (
            "business",
            SubscriptionStatus.ACTIVE,
            3,
        )


class TestWorkspacesUnderRace:
    """Rule R2: one trial per owner, even when their workspaces are created at once."""

    def test_r2_racing_workspace_creations_by_one_owner_give_one_trial(
        self, billing: Billing, store: InMemoryStore
    ) -> None:
        """Rule R2: of 8 simultaneous workspaces of one owner, exactly one is on trial."""
        created, errors = outcomes(
            run_together(
                8,
                lambda i: billing.create_workspace(
                    owner="carol", name=f"Team {i}", workspace_id=f"ws_carol_{i}"
                ),
            )
        )
        assert errors == []
        assert len(created) == 8
        status = {ws.id: billing.workspace(ws.id).subscription.status for ws in created}
        trialing = [i for i, s in status.items() if s is SubscriptionStatus.TRIALING]
        free = [i for i, s in status.items() if s is SubscriptionStatus.FREE]
        assert (len(trialing), len(free)) == (1, 7)
        assert store.snapshot().trials == (("carol", trialing[0]),)
        assert count(billing, EventType.TRIAL_STARTED) == 1

    def test_r17_racing_creations_of_one_workspace_id_create_it_once(
        self, billing: Billing, store: InMemoryStore
    ) -> None:
        """Rule R17: 8 simultaneous creations of one workspace id: one succeeds, 7 conflict."""
        created, errors = outcomes(
            run_together(
                8,
                lambda i: billing.create_workspace(
                    owner=f"owner{i}", name="Acme", workspace_id="ws_shared"
                ),
            )
        )
        assert len(created) == 1
        assert len(errors) == 7
        assert all(isinstance(e, Conflict) for e in errors)
        snapshot = store.snapshot()
        assert [ws.id for ws in snapshot.workspaces] == ["ws_shared"]
        assert [m.user for m in snapshot.members] == [created[0].owner]
        assert snapshot.trials == ((created[0].owner, "ws_shared"),)
        assert count(billing, EventType.WORKSPACE_CREATED) == 1
