"""Advance notices (issue 14): ``run_renewals`` records ``trial_ending`` and
``renewal_upcoming`` once per boundary, saying what the boundary will do (R9, R11).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from tests.conftest import PaidWorkspace, _wipe, postgres_url

from workspace_billing import (
    Billing,
    Catalog,
    Event,
    EventType,
    Interval,
    InvalidRequest,
    Money,
    Notices,
    Store,
)
from workspace_billing.jsonable import iso
from workspace_billing.storage.sql import SQLStore
from workspace_billing.testing import FakeClock, FakePaymentProvider, InMemoryStore

NOTICES = (EventType.TRIAL_ENDING, EventType.RENEWAL_UPCOMING)


def notices_of(billing: Billing, ws_id: str | None = None) -> list[Event]:
    return [
        e
        for e in billing.events(limit=10_000)
        if e.type in NOTICES and (ws_id is None or e.workspace_id == ws_id)
    ]


def users(notice: Event) -> list[str]:
    """The user ids of ``data["deactivate"]``, as docs/concepts.md tells hosts to read them."""
    joined = notice.data["deactivate"]
    assert isinstance(joined, str)
    return joined.split("\n") if notice.data["deactivate_count"] else []


def with_notices(billing: Billing, notices: Notices | None) -> Billing:
    """The same store, provider and clock, with other notice leads."""
    return Billing(catalog=billing.catalog, store=billing._store, provider=billing._provider,
                   clock=billing._clock, notices=notices)  # fmt: skip


@pytest.fixture(name="crowded_trial")
def crowded_trial_fixture(billing: Billing, clock: FakeClock) -> str:
    """A trial of 4 active members (the owner, then bob, carol and dan, a minute
    apart): the free fallback holds 2, so its end deactivates dan, then carol."""
    ws = billing.create_workspace(owner="tess", name="Trial Co")
    for user in ("bob", "carol", "dan"):
        clock.advance(minutes=1)
        billing.add_member(ws.id, actor="tess", user=user)
    return ws.id


def trial_end(billing: Billing, ws_id: str) -> datetime:
    ends = billing.workspace(ws_id).subscription.trial_ends_at
    assert ends is not None
    return ends


def renewal(billing: Billing, ws_id: str) -> datetime:
    ends = billing.workspace(ws_id).subscription.period_end
    assert ends is not None
    return ends


class TestTrialEnding:
    """Rules R1, R11: the trial's end is announced, with who its fallback deactivates."""

    def test_r11_three_days_before_by_default_naming_who_goes(
        self, billing: Billing, clock: FakeClock, crowded_trial: str
    ) -> None:
        ends = trial_end(billing, crowded_trial)
        clock.set(ends - timedelta(days=3, seconds=1))
        assert billing.run_renewals().noticed == 0
        clock.advance(seconds=1)
        report = billing.run_renewals()
        assert (report.examined, report.changed, report.noticed) == (0, 0, 1)
        (notice,) = notices_of(billing)
        assert notice == Event(
            type=EventType.TRIAL_ENDING,
            workspace_id=crowded_trial,
            at=clock.now(),
            data={"at": iso(ends), "plan": "free", "seats": 2,
                  "deactivate": "dan\ncarol", "deactivate_count": 2,
                  "revoke": "", "revoke_count": 0},
        )  # fmt: skip
        assert users(notice) == [m.user for m in billing.preview_renewal(crowded_trial).deactivate]

    def test_r16_recorded_once_whatever_the_runs(
        self, billing: Billing, clock: FakeClock, crowded_trial: str
    ) -> None:
        clock.set(trial_end(billing, crowded_trial) - timedelta(days=2))
        assert billing.run_renewals().noticed == 1
        assert billing.run_renewals().noticed == 0
        clock.advance(days=1)
        assert billing.run_renewals().noticed == 0
        assert len(notices_of(billing)) == 1

    def test_an_extended_trial_is_announced_again_for_its_new_end(
        self, billing: Billing, clock: FakeClock, crowded_trial: str
    ) -> None:
        first = trial_end(billing, crowded_trial)
        clock.set(first - timedelta(days=1))
        billing.run_renewals()
        later = first + timedelta(days=7)
        billing.extend_trial(crowded_trial, operator="ops", until=later)
        assert billing.run_renewals().noticed == 0  # 8 days ahead: not yet
        clock.set(later - timedelta(days=3))
        assert billing.run_renewals().noticed == 1
        assert [n.data["at"] for n in notices_of(billing)] == [iso(first), iso(later)]

    def test_r11_a_boundary_already_due_is_applied_not_announced(
        self, billing: Billing, clock: FakeClock, crowded_trial: str
    ) -> None:
        clock.set(trial_end(billing, crowded_trial))
        report = billing.run_renewals()
        assert (report.changed, report.deactivated, report.noticed) == (1, 2, 0)
        assert notices_of(billing) == []


class TestRenewalUpcoming:
    """Rules R9, R11: a renewal is announced with the seats, amount and members it leaves."""

    def test_r9_r11_seven_days_before_with_a_pending_decrease(
        self, billing: Billing, paid_workspace: PaidWorkspace, clock: FakeClock
    ) -> None:
        ws = paid_workspace(seats=4, members=("ada", "bob"), admins=("ada",))
        clock.advance(minutes=1)
        billing.add_member(ws.id, actor="alice", user="carol, jr")  # a comma is an id's
        billing.change_seats(ws.id, actor="alice", seats=2)
        renews = renewal(billing, ws.id)
        clock.set(renews - timedelta(days=7, seconds=1))
        assert billing.run_renewals().noticed == 0
        clock.advance(seconds=1)
        assert billing.run_renewals().noticed == 1
        (notice,) = notices_of(billing)
        assert (notice.type, notice.at, notice.actor) == (
            EventType.RENEWAL_UPCOMING, clock.now(), None,
        )  # fmt: skip
        price = billing.catalog.plan("business").price(Interval.MONTH)
        assert dict(notice.data) == {
            "at": iso(renews), "plan": "business", "seats": 2,
            "amount": (price * 2).amount, "currency": "EUR",
            "deactivate": "carol, jr\nbob", "deactivate_count": 2,
            "revoke": "", "revoke_count": 0,
        }  # fmt: skip
        assert users(notice) == [m.user for m in billing.preview_renewal(ws.id).deactivate]

    def test_r11_the_notice_names_the_invitations_revoked_before_anyone(
        self, billing: Billing, paid_workspace: PaidWorkspace, clock: FakeClock
    ) -> None:
        """Rule R11: pending invitations go first, newest first; members only past them;
        an invitation that expires before the renewal is not counted."""
        ws = paid_workspace(seats=5, members=("bob", "carol"))
        renews = renewal(billing, ws.id)
        clock.set(renews - timedelta(days=3))  # their 7 days outlast the renewal
        billing.invite(ws.id, actor="alice", email="early@example.com")
        clock.advance(minutes=1)
        billing.invite(ws.id, actor="alice", email="late@example.com")
        billing.change_seats(ws.id, actor="alice", seats=3)
        assert billing.run_renewals().noticed == 1
        (notice,) = notices_of(billing)
        data = notice.data
        assert (data["revoke"], data["revoke_count"]) == ("late@example.com\nearly@example.com", 2)
        assert data["deactivate_count"] == 0
        preview = billing.preview_renewal(ws.id)
        assert [i.email for i in preview.revoke] == data["revoke"].split("\n")  # type: ignore[union-attr]

    def test_r11_an_invitation_expiring_before_the_renewal_is_not_announced(
        self, billing: Billing, paid_workspace: PaidWorkspace, clock: FakeClock
    ) -> None:
        ws = paid_workspace(seats=4, members=("bob", "carol"))
        billing.change_seats(ws.id, actor="alice", seats=3)
        renews = renewal(billing, ws.id)
        clock.set(renews - timedelta(days=8))  # a 7-day invitation: gone before the renewal
        billing.invite(ws.id, actor="alice", email="soon@example.com")
        clock.advance(days=1)
        assert billing.run_renewals().noticed == 1
        (notice,) = notices_of(billing)
        assert (notice.data["revoke"], notice.data["revoke_count"]) == ("", 0)

    def test_r7_a_negotiated_plan_is_announced_for_each_new_period(
        self, billing: Billing, clock: FakeClock
    ) -> None:
        ws = billing.create_workspace(owner="nora", name="Deal", trial=False)
        billing.apply_custom_terms(ws.id, operator="ops", seats=10,
                                   unit_amount=Money(900, "EUR"), interval="month")  # fmt: skip
        first = renewal(billing, ws.id)
        clock.set(first - timedelta(days=7))
        assert billing.run_renewals().noticed == 1
        clock.set(first)
        report = billing.run_renewals()
        assert (report.changed, report.noticed) == (1, 0)
        second = renewal(billing, ws.id)
        clock.set(second - timedelta(days=6))
        assert billing.run_renewals().noticed == 1
        announced = [(n.data["at"], n.data["amount"], n.data["deactivate_count"])
                     for n in notices_of(billing)]  # fmt: skip
        assert announced == [(iso(first), 9000, 0), (iso(second), 9000, 0)]

    def test_r13_no_notice_of_a_cancellation_at_period_end(
        self, billing: Billing, paid_workspace: PaidWorkspace, clock: FakeClock
    ) -> None:
        ws = paid_workspace(seats=3)
        billing.cancel(ws.id, actor="alice")
        clock.set(renewal(billing, ws.id) - timedelta(days=1))
        assert billing.run_renewals().noticed == 0
        assert notices_of(billing) == []

    def test_workspaces_are_announced_in_batches(self, billing: Billing, clock: FakeClock) -> None:
        ids = [billing.create_workspace(owner=f"o{n}", name=f"W{n}").id for n in range(5)]
        clock.advance(days=12)
        report = billing.run_renewals(batch_size=2)
        assert report.noticed == 5
        assert sorted(n.workspace_id for n in notices_of(billing)) == sorted(ids)


class TestTurnedOff:
    def test_none_turns_every_notice_off(
        self, billing: Billing, clock: FakeClock, crowded_trial: str
    ) -> None:
        quiet = with_notices(billing, None)
        clock.set(trial_end(billing, crowded_trial) - timedelta(days=1))
        assert quiet.run_renewals().noticed == 0
        assert notices_of(billing) == []

    def test_a_lead_of_none_turns_that_notice_off(
        self, billing: Billing, paid_workspace: PaidWorkspace, clock: FakeClock
    ) -> None:
        paid = paid_workspace(seats=3).id
        renews = renewal(billing, paid)
        clock.set(renews - timedelta(days=16))
        trial = billing.create_workspace(owner="tess", name="Trial Co").id  # ends 2 days before
        clock.set(renews - timedelta(days=5))  # both within their default leads
        renewals_only = with_notices(billing, Notices(trial_ending=None))
        assert renewals_only.run_renewals().noticed == 1
        assert [n.workspace_id for n in notices_of(billing)] == [paid]
        assert billing.run_renewals().noticed == 1  # the default leads: the trial's too
        assert [n.workspace_id for n in notices_of(billing)] == [paid, trial]

    def test_longer_leads_announce_sooner(
        self, billing: Billing, clock: FakeClock, crowded_trial: str
    ) -> None:
        early = with_notices(billing, Notices(trial_ending=timedelta(days=10)))
        clock.set(trial_end(billing, crowded_trial) - timedelta(days=10))
        assert early.run_renewals().noticed == 1


class TestBadConfiguration:
    """Rule R17: leads that are not durations of (0, 90 days] are refused when built."""

    @pytest.mark.parametrize(
        "lead",
        [timedelta(0), timedelta(days=-1), timedelta(days=90, seconds=1), 3, "3 days", True],
        ids=["zero", "negative", "over-90-days", "int", "str", "bool"],
    )
    def test_r17_a_bad_lead_is_refused(self, lead: Any) -> None:
        for field in ("trial_ending", "renewal_upcoming"):
            with pytest.raises(InvalidRequest) as refused:
                Notices(**{field: lead})
            assert refused.value.code == "invalid_notices"
            assert field in refused.value.message

    def test_r17_billing_refuses_what_is_not_notices_and_nothing_is_stored(
        self, billing: Billing, store: Store, crowded_trial: str
    ) -> None:
        before = store.snapshot()
        with pytest.raises(InvalidRequest) as refused:
            with_notices(billing, {"trial_ending": timedelta(days=3)})  # type: ignore[arg-type]
        assert refused.value.code == "invalid_notices"
        assert store.snapshot() == before

    def test_ninety_days_is_the_longest_lead(self) -> None:
        longest = Notices(trial_ending=timedelta(days=90), renewal_upcoming=timedelta(days=90))
        assert longest.trial_ending == timedelta(days=90)


class _CountingStore:
    """A store whose units of work record which workspaces' members were read."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.members_read: list[str] = []

    @contextmanager
    def unit_of_work(self, *, read_only: bool = False) -> Iterator[Any]:
        with self.inner.unit_of_work(read_only=read_only) as uow:
            yield _Counting(uow, self.members_read)

    def snapshot(self) -> Any:
        return self.inner.snapshot()


class _Counting:
    def __init__(self, uow: Any, read: list[str]) -> None:
        self._uow, self._read = uow, read

    def members_of(self, ids: list[str]) -> Any:
        self._read.extend(ids)
        return self._uow.members_of(ids)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._uow, name)


class TestWhatIsRead:
    def test_r11_members_are_read_only_where_the_boundary_deactivates_someone(self) -> None:
        """The notice pass reads members only where seats < active, as the sweep does."""
        clock = FakeClock()
        store = _CountingStore(InMemoryStore())
        billing = Billing(catalog=Catalog.default(), store=store,
                          provider=FakePaymentProvider(clock=clock), clock=clock)  # fmt: skip
        crowded = billing.create_workspace(owner="tess", name="Crowded").id
        for user in ("bob", "carol"):
            billing.add_member(crowded, actor="tess", user=user)
        billing.create_workspace(owner="sam", name="Small")  # the owner alone fits
        clock.advance(days=12)
        assert billing.run_renewals().noticed == 2
        assert store.members_read == [crowded]

    def test_a_store_without_the_notice_methods_still_sweeps(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A host's store written before notices: boundaries applied, notices skipped, logged."""

        class _Old(_Counting):
            def __getattr__(self, name: str) -> Any:
                if name in ("claim_upcoming", "mark_noticed"):
                    raise AttributeError(name)
                return getattr(self._uow, name)

        class _OldStore(_CountingStore):
            @contextmanager
            def unit_of_work(self, *, read_only: bool = False) -> Iterator[Any]:
                with self.inner.unit_of_work(read_only=read_only) as uow:
                    yield _Old(uow, self.members_read)

        clock = FakeClock()
        billing = Billing(catalog=Catalog.default(), store=_OldStore(InMemoryStore()),
                          provider=FakePaymentProvider(clock=clock), clock=clock)  # fmt: skip
        ended = billing.create_workspace(owner="ann", name="Ends").id
        clock.advance(days=1)
        billing.create_workspace(owner="bea", name="Ends later")
        clock.advance(days=13, seconds=1)  # ann's trial is over, bea's ends within a day
        with caplog.at_level("WARNING", logger="workspace_billing"):
            report = billing.run_renewals()
        assert (report.changed, report.noticed) == (1, 0)
        assert billing.workspace(ended).subscription.status.value == "free"
        assert "advance notices skipped" in caplog.text


START = datetime(2026, 3, 1, 9, tzinfo=UTC)
WORKSPACES = 40


class TestTwoWorkers:
    """On PostgreSQL two workers share the notice pass and announce each boundary once."""

    def test_two_workers_announce_every_trial_end_exactly_once(
        self, postgres_engine: sa.Engine
    ) -> None:
        _wipe(postgres_engine)
        seeding = FakeClock(START)
        seeder = Billing(catalog=Catalog.default(), store=SQLStore(postgres_engine),
                         provider=FakePaymentProvider(clock=seeding), clock=seeding)  # fmt: skip
        for n in range(WORKSPACES):
            ws = seeder.create_workspace(owner=f"o{n}", name=f"W{n}", workspace_id=f"ws_{n:03d}")
            for m in range(n % 4):
                seeder.add_member(ws.id, actor=f"o{n}", user=f"u{n}-{m}")
        stores = [SQLStore.from_url(postgres_url()) for _ in range(2)]
        barrier = threading.Barrier(2)
        noticed: list[int] = []

        def worker(store: SQLStore) -> None:
            clock = FakeClock(START + timedelta(days=12))
            billing = Billing(catalog=Catalog.default(), store=store,
                              provider=FakePaymentProvider(clock=clock), clock=clock)  # fmt: skip
            barrier.wait()
            noticed.append(billing.run_renewals(batch_size=3).noticed)

        threads = [threading.Thread(target=worker, args=(s,)) for s in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        announced = sorted(n.workspace_id for n in notices_of(seeder))
        assert announced == [f"ws_{n:03d}" for n in range(WORKSPACES)]
        assert sum(noticed) == WORKSPACES
        gone = sorted(n.data["deactivate_count"] for n in notices_of(seeder))  # type: ignore[type-var]
        assert gone == [0] * 20 + [1] * 10 + [2] * 10  # the free plan holds 2 of 1 to 4
        for store in stores:
            store.dispose()

    def test_a_notice_recorded_by_a_concurrent_worker_is_not_recorded_again(
        self, postgres_engine: sa.Engine
    ) -> None:
        """The record is the guard: a worker whose claim missed the other's (its
        snapshot was older) records nothing once the other's record commits."""
        _wipe(postgres_engine)
        seeding = FakeClock(START)
        seeder = Billing(catalog=Catalog.default(), store=SQLStore(postgres_engine),
                         provider=FakePaymentProvider(clock=seeding), clock=seeding)  # fmt: skip
        ws = seeder.create_workspace(owner="ann", name="A")
        due = trial_end(seeder, ws.id)
        first, second = (SQLStore.from_url(postgres_url()) for _ in range(2))
        marked: list[set[str]] = []

        def mark_in(store: SQLStore) -> None:
            with store.unit_of_work() as uow:
                marked.append(uow.mark_noticed([(ws.id, due)]))

        with first.unit_of_work() as uow:
            assert uow.mark_noticed([(ws.id, due)]) == {ws.id}  # not committed yet
            other = threading.Thread(target=mark_in, args=(second,))
            other.start()  # its upsert waits for this record, or runs after it commits
        other.join()
        assert marked == [set()]
        for store in (first, second):
            store.dispose()
