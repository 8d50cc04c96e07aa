"""The ``Store`` contract suite, in its own module so each suite reads on its own.

It holds ``StoreContract`` and the value builders only it uses (a fixed
instant, workspaces, members, events). It was split out of ``contracts`` to
keep each module short; hosts still import it from
``workspace_billing.testing.contracts``, which re-exports it. It imports
pytest, so ``workspace_billing.testing`` never imports this module itself.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from ..catalog import Catalog, Interval
from ..errors import Conflict
from ..events import Event, EventType
from ..money import Money
from ..ports import Store
from ..renewal import renewal_in_place
from ..subscription import Subscription, SubscriptionStatus
from ..workspace import Member, MemberStatus, Role, Workspace
from .invitation_contract import InvitationContract, in_threads

__all__ = ["StoreContract"]

_T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_CATALOG = Catalog.default()


def _workspace(ws_id: str = "ws_1", *, due_at: datetime | None = None) -> Workspace:
    sub = Subscription(plan="free", status=SubscriptionStatus.FREE, seats=2)
    return Workspace(
        id=ws_id, name="Acme", owner="alice", created_at=_T0, subscription=sub, due_at=due_at
    )


def _negotiated(ws_id: str, *, pending_seats: int | None = None) -> Workspace:
    """A negotiated plan of 5 seats whose month ends 31 days after ``_T0``."""
    end = _T0 + timedelta(days=31)
    sub = Subscription(
        plan="enterprise",
        status=SubscriptionStatus.ACTIVE,
        seats=5,
        interval=Interval.MONTH,
        pending_seats=pending_seats,
        period_start=_T0,
        period_end=end,
        anchor=_T0,
        unit_amount=Money(900, "EUR"),
    )
    return attrs.evolve(_workspace(ws_id, due_at=end), subscription=sub)


def _member(user: str, seq: int, ws_id: str = "ws_1") -> Member:
    at = _T0 + timedelta(minutes=seq)
    return Member(ws_id, user, Role.MEMBER, MemberStatus.ACTIVE, at, at, seq)


def _event(ws_id: str = "ws_1", n: int = 0) -> Event:
    return Event(
        type=EventType.MEMBER_ADDED,
        workspace_id=ws_id,
        at=_T0,
        actor="alice",
        subject=f"user{n}",
        before={},
        after={"role": "member"},
        data={"n": n},
    )


class _Boom(Exception):
    pass


class StoreContract(InvitationContract):
    """What every ``Store`` guarantees. Provide a fixture named ``store`` (empty).

    The invitation tests are inherited from ``InvitationContract``."""

    def test_a_workspace_reads_back_as_written(self, store: Store) -> None:
        ws = _workspace()
        with store.unit_of_work() as uow:
            uow.add_workspace(ws)
        with store.unit_of_work() as uow:
            assert uow.get_workspace("ws_1") == ws
            assert uow.get_workspace("nope") is None

    def test_a_workspace_id_is_unique(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            uow.add_workspace(_workspace())
        with pytest.raises(Conflict), store.unit_of_work() as uow:
            uow.add_workspace(_workspace())

    def test_a_save_bumps_the_version_and_refuses_a_stale_one(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            uow.add_workspace(_workspace())
        with store.unit_of_work() as uow:
            ws = uow.get_workspace("ws_1", for_update=True)
            assert ws is not None
            saved = uow.save_workspace(attrs.evolve(ws, name="Acme 2"))
        assert saved.version == 1
        with pytest.raises(Conflict), store.unit_of_work() as uow:
            uow.save_workspace(attrs.evolve(ws, name="stale"))
        with store.unit_of_work() as uow:
            assert uow.get_workspace("ws_1") == saved

    def test_an_error_rolls_back_every_write_of_the_transaction(self, store: Store) -> None:
        """Rule R16/R17: no change and no event survive a failed transaction."""
        with store.unit_of_work() as uow:
            uow.add_workspace(_workspace())
        before = store.snapshot()

        def write_everything_then_fail() -> None:
            with store.unit_of_work() as uow:
                ws = uow.get_workspace("ws_1", for_update=True)
                assert ws is not None
                uow.save_workspace(attrs.evolve(ws, name="changed"))
                uow.save_member(_member("bob", 2))
                uow.add_workspace(_workspace("ws_2"))
                uow.claim_trial("alice", "ws_1")
                uow.claim_webhook_event("evt_1")
                uow.append_events([_event()])
                raise _Boom

        with pytest.raises(_Boom):
            write_everything_then_fail()
        assert store.snapshot() == before

    def test_members_are_upserted_deleted_and_listed_in_order_added(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            uow.add_workspace(_workspace())
            for seq, user in enumerate(["carol", "bob", "dan"], start=2):
                uow.save_member(_member(user, seq))
        with store.unit_of_work() as uow:
            bob = next(m for m in uow.members("ws_1") if m.user == "bob")
            uow.save_member(attrs.evolve(bob, status=MemberStatus.DEACTIVATED, deactivated_at=_T0))
            uow.delete_member("ws_1", "dan")
        with store.unit_of_work() as uow:
            members = uow.members("ws_1")
            assert [m.user for m in members] == ["carol", "bob"]
            assert members[1].status is MemberStatus.DEACTIVATED
            assert uow.members("other") == []

    def test_a_users_memberships_are_listed_active_first(self, store: Store) -> None:
        deactivated = attrs.evolve(_member("bob", 2, "ws_a"), status=MemberStatus.DEACTIVATED)
        with store.unit_of_work() as uow:
            for ws_id in ("ws_a", "ws_b", "ws_c"):
                uow.add_workspace(_workspace(ws_id))
            uow.save_member(deactivated)
            uow.save_member(_member("bob", 3, "ws_c"))
            uow.save_member(_member("bob", 1, "ws_b"))
            uow.save_member(_member("carol", 4, "ws_b"))
        with store.unit_of_work(read_only=True) as uow:
            found = uow.memberships_of("bob")
            assert [(m.workspace_id, m.status) for m in found] == [
                ("ws_b", MemberStatus.ACTIVE),
                ("ws_c", MemberStatus.ACTIVE),
                ("ws_a", MemberStatus.DEACTIVATED),
            ]
            assert uow.memberships_of("nobody") == []

    def test_an_owner_claims_one_trial_only(self, store: Store) -> None:
        """Rule R2: the trial history is unique per owner."""
        with store.unit_of_work() as uow:
            assert uow.claim_trial("alice", "ws_1") is True
            assert uow.claim_trial("alice", "ws_2") is False
        with store.unit_of_work() as uow:
            assert uow.claim_trial("alice", "ws_3") is False
            assert uow.claim_trial("bob", "ws_3") is True

    def test_a_webhook_event_id_is_claimed_once(self, store: Store) -> None:
        """Rule R14: a duplicate delivery is a no-op."""
        with store.unit_of_work() as uow:
            assert uow.claim_webhook_event("evt_1") is True
            assert uow.claim_webhook_event("evt_1") is False
        with store.unit_of_work() as uow:
            assert uow.claim_webhook_event("evt_1") is False

    def test_events_get_increasing_cursors_and_page_after_one(self, store: Store) -> None:
        """Rule R16: the outbox is read oldest first from a cursor."""
        with store.unit_of_work() as uow:
            first = uow.append_events([_event(n=0), _event(n=1)])
        with store.unit_of_work() as uow:
            second = uow.append_events([_event(n=2)])
        cursors = [e.cursor for e in first + second]
        assert cursors == sorted(cursors)
        assert len(set(cursors)) == 3
        with store.unit_of_work() as uow:
            assert uow.events_after(0, 10) == [_event(n=0), _event(n=1), _event(n=2)]
            assert uow.events_after(first[0].cursor, 1) == [_event(n=1)]
            assert uow.events_after(second[0].cursor, 10) == []

    def test_due_workspaces_are_listed_soonest_first(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            uow.add_workspace(_workspace("ws_late", due_at=_T0 + timedelta(days=2)))
            uow.add_workspace(_workspace("ws_soon", due_at=_T0 + timedelta(days=1)))
            uow.add_workspace(_workspace("ws_future", due_at=_T0 + timedelta(days=30)))
            uow.add_workspace(_workspace("ws_never"))
        with store.unit_of_work() as uow:
            now = _T0 + timedelta(days=3)
            assert uow.due_workspace_ids(now, 10) == ["ws_soon", "ws_late"]
            assert uow.due_workspace_ids(now, 1) == ["ws_soon"]

    def test_due_workspaces_are_claimed_in_key_order_after_a_key(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            for n in range(5):
                uow.add_workspace(_workspace(f"ws_{n}", due_at=_T0 + timedelta(hours=n % 2)))
            uow.add_workspace(_workspace("ws_future", due_at=_T0 + timedelta(days=9)))
        now = _T0 + timedelta(days=1)
        with store.unit_of_work() as uow:
            first = uow.claim_due(now, 3)
            assert [w.id for w in first] == ["ws_0", "ws_2", "ws_4"]
            last = first[-1]
            assert last.due_at is not None
            rest = uow.claim_due(now, 10, after=(last.due_at, last.id))
            assert [w.id for w in rest] == ["ws_1", "ws_3"]

    def test_upcoming_boundaries_are_claimed_in_their_windows_until_noticed(
        self, store: Store
    ) -> None:
        """The notice pass's claim: trials and live renewals ahead within their windows,
        in key order, until ``mark_noticed`` records that very ``due_at``."""
        day = timedelta(days=1)

        def boundary(ws_id: str, status: SubscriptionStatus, days: int, **sub: Any) -> Workspace:
            ws = _negotiated(ws_id)
            due = _T0 + days * day
            renewed = attrs.evolve(ws.subscription, status=status, period_end=due, **sub)
            if status is SubscriptionStatus.PAST_DUE:
                renewed = attrs.evolve(renewed, past_due_since=due - _CATALOG.grace_period)
            return attrs.evolve(ws, subscription=renewed, due_at=due)

        trial, active = SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE
        with store.unit_of_work() as uow:
            for ws in (
                boundary("ws_trial", trial, 2, trial_ends_at=_T0 + 2 * day),
                boundary("ws_trial_later", trial, 5, trial_ends_at=_T0 + 5 * day),
                boundary("ws_renews", active, 6),
                boundary("ws_renews_too", active, 2),
                boundary("ws_cancels", active, 6, cancel_at_period_end=True),
                boundary("ws_grace_ends", SubscriptionStatus.PAST_DUE, 1),
                boundary("ws_due", active, 0),
                _workspace("ws_free"),
            ):
                uow.add_workspace(ws)
        windows: dict[str, Any] = {"trial_until": _T0 + 3 * day, "renewal_until": _T0 + 7 * day}

        def claimed(limit: int = 10, **changed: Any) -> list[str]:
            with store.unit_of_work() as uow:
                found = uow.claim_upcoming(_T0, limit, **{**windows, **changed})
                return [ws.id for ws in found]

        assert claimed() == ["ws_renews_too", "ws_trial", "ws_renews"]  # (due_at, id)
        assert claimed(1) == ["ws_renews_too"]
        assert claimed(after=(_T0 + 2 * day, "ws_renews_too")) == ["ws_trial", "ws_renews"]
        assert claimed(trial_until=None) == ["ws_renews_too", "ws_renews"]
        assert claimed(renewal_until=None) == ["ws_trial"]
        with store.unit_of_work() as uow:
            assert uow.mark_noticed([("ws_trial", _T0 + 2 * day)]) == {"ws_trial"}

        def mark_then_fail() -> None:
            with store.unit_of_work() as uow:
                uow.mark_noticed([("ws_renews", _T0 + 6 * day)])
                raise _Boom

        with pytest.raises(_Boom):
            mark_then_fail()
        assert claimed() == ["ws_renews_too", "ws_renews"]  # rolled back: still to announce
        with store.unit_of_work() as uow:
            noticed = [("ws_trial", _T0 + 2 * day), ("ws_renews", _T0 + 6 * day)]
            assert uow.mark_noticed(noticed) == {"ws_renews"}  # ws_trial's is recorded
        assert claimed() == ["ws_renews_too"]
        with store.unit_of_work() as uow:  # a record of another boundary: announce this one
            assert uow.mark_noticed([("ws_trial", _T0 + 9 * day)]) == {"ws_trial"}
        assert claimed() == ["ws_renews_too", "ws_trial"]

    def test_members_of_many_workspaces_are_read_at_once(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            uow.add_workspace(_workspace("ws_1"))
            uow.add_workspace(_workspace("ws_2"))
            uow.save_members([_member("bob", 2, "ws_1"), _member("amy", 3, "ws_1")])
        with store.unit_of_work() as uow:
            found = uow.members_of(["ws_1", "ws_2", "ws_none"])
        assert {k: [m.user for m in v] for k, v in found.items()} == {
            "ws_1": ["bob", "amy"],
            "ws_2": [],
            "ws_none": [],
        }

    def test_active_members_are_counted_per_workspace(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            uow.add_workspace(_workspace("ws_1"))
            uow.save_members([_member("bob", 2, "ws_1"), _member("amy", 3, "ws_1")])
            gone = attrs.evolve(_member("cy", 4, "ws_1"), status=MemberStatus.DEACTIVATED)
            uow.save_member(gone)
        with store.unit_of_work(read_only=True) as uow:
            assert uow.active_member_counts(["ws_1", "ws_none"]) == {"ws_1": 2, "ws_none": 0}

    def test_workspaces_and_members_are_saved_in_bulk(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            uow.add_workspace(_workspace("ws_1"))
            uow.add_workspace(_workspace("ws_2"))
            uow.save_member(_member("bob", 2, "ws_1"))
        with store.unit_of_work() as uow:
            loaded = [uow.get_workspace(i, for_update=True) for i in ("ws_1", "ws_2")]
            saved = uow.save_workspaces([attrs.evolve(w, member_seq=7) for w in loaded if w])
            bob = uow.members("ws_1")[0]
            uow.save_members([attrs.evolve(bob, status=MemberStatus.DEACTIVATED)])
        assert [(w.member_seq, w.version) for w in saved] == [(7, 1), (7, 1)]
        snapshot = store.snapshot()
        assert [w.version for w in snapshot.workspaces] == [1, 1]
        assert snapshot.members[0].status is MemberStatus.DEACTIVATED

    def test_a_bulk_save_with_one_stale_version_saves_nothing(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            uow.add_workspace(_workspace("ws_1"))
            uow.add_workspace(_workspace("ws_2"))
        before = store.snapshot()
        stale = attrs.evolve(_workspace("ws_2"), version=5, name="stale")
        with pytest.raises(Conflict), store.unit_of_work() as uow:
            uow.save_workspaces([attrs.evolve(_workspace("ws_1"), name="new"), stale])
        assert store.snapshot() == before

    def test_renewals_in_place_write_what_apply_makes_and_their_events(self, store: Store) -> None:
        """R3/R9/R16: the sweep's narrow write equals the renewal applied to the whole value."""
        with store.unit_of_work() as uow:
            uow.add_workspace(_negotiated("ws_1", pending_seats=3))
            uow.add_workspace(_negotiated("ws_2"))
        at = _T0 + timedelta(days=31)
        with store.unit_of_work() as uow:
            claimed = uow.claim_due(at, 10)
            renewals = [r for ws in claimed if (r := renewal_in_place(ws, 1, at, _CATALOG))]
            uow.renew_in_place(renewals)
        assert len(renewals) == len(claimed) == 2
        pairs = zip(renewals, claimed, strict=True)
        expected = [attrs.evolve(r.apply(ws), version=1) for r, ws in pairs]
        snapshot = store.snapshot()
        assert list(snapshot.workspaces) == expected
        assert [w.subscription.seats for w in snapshot.workspaces] == [3, 5]
        assert [e.type for e in snapshot.events] == [EventType.SUBSCRIPTION_RENEWED] * 2
        assert list(snapshot.events) == [r.event for r in renewals]

    def test_renewals_in_place_with_one_stale_version_save_nothing(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            uow.add_workspace(_negotiated("ws_1"))
            uow.add_workspace(_negotiated("ws_2"))
        before = store.snapshot()
        at = _T0 + timedelta(days=31)
        fresh = renewal_in_place(_negotiated("ws_1"), 1, at, _CATALOG)
        stale = renewal_in_place(attrs.evolve(_negotiated("ws_2"), version=4), 1, at, _CATALOG)
        assert fresh is not None
        assert stale is not None
        with pytest.raises(Conflict), store.unit_of_work() as uow:
            uow.renew_in_place([fresh, stale])
        assert store.snapshot() == before

    def test_subscribed_workspaces_are_paged_by_id(self, store: Store) -> None:
        paid = Subscription(
            plan="business", status=SubscriptionStatus.ACTIVE, seats=3, subscription_ref="sub"
        )
        with store.unit_of_work() as uow:
            for ws_id in ("ws_c", "ws_a", "ws_b"):
                uow.add_workspace(attrs.evolve(_workspace(ws_id), subscription=paid))
            uow.add_workspace(_workspace("ws_free"))
        with store.unit_of_work(read_only=True) as uow:
            assert uow.subscribed_workspace_ids(after=None, limit=2) == ["ws_a", "ws_b"]
            assert uow.subscribed_workspace_ids(after="ws_b", limit=2) == ["ws_c"]

    def test_customers_without_a_live_subscription_are_paged_by_id(self, store: Store) -> None:
        def with_refs(ws_id: str, status: SubscriptionStatus, sub: str | None) -> Workspace:
            ws = _workspace(ws_id)
            mirror = attrs.evolve(
                ws.subscription, status=status, customer_ref=f"cus_{ws_id}", subscription_ref=sub
            )
            return attrs.evolve(ws, subscription=mirror)

        with store.unit_of_work() as uow:
            uow.add_workspace(with_refs("ws_c", SubscriptionStatus.FREE, None))
            uow.add_workspace(with_refs("ws_a", SubscriptionStatus.TRIALING, None))
            uow.add_workspace(with_refs("ws_b", SubscriptionStatus.EXPIRED, "sub_ended"))
            uow.add_workspace(with_refs("ws_paid", SubscriptionStatus.ACTIVE, "sub_live"))
            uow.add_workspace(_workspace("ws_no_customer"))
        with store.unit_of_work(read_only=True) as uow:
            assert uow.unsubscribed_customer_ids(after=None, limit=2) == ["ws_a", "ws_b"]
            assert uow.unsubscribed_customer_ids(after="ws_b", limit=2) == ["ws_c"]

    def test_a_workspace_is_found_by_its_provider_customer(self, store: Store) -> None:
        ws = _workspace()
        ws = attrs.evolve(ws, subscription=attrs.evolve(ws.subscription, customer_ref="cus_9"))
        with store.unit_of_work() as uow:
            uow.add_workspace(ws)
        with store.unit_of_work() as uow:
            assert uow.find_workspace_id(customer_ref="cus_9") == "ws_1"
            assert uow.find_workspace_id(customer_ref="cus_0") is None

    def test_a_workspace_is_found_by_its_provider_subscription(self, store: Store) -> None:
        ws = _workspace()
        ws = attrs.evolve(ws, subscription=attrs.evolve(ws.subscription, subscription_ref="sub_9"))
        with store.unit_of_work() as uow:
            uow.add_workspace(ws)
        with store.unit_of_work() as uow:
            assert uow.find_workspace_id(subscription_ref="sub_9") == "ws_1"
            assert uow.find_workspace_id(subscription_ref="sub_0") is None

    def test_loading_for_update_serializes_writers(self, store: Store) -> None:
        """Rule R8's atomic seat check rests on this: no lost update under contention."""
        with store.unit_of_work() as uow:
            uow.add_workspace(_workspace())

        def bump() -> None:
            with store.unit_of_work() as uow:
                ws = uow.get_workspace("ws_1", for_update=True)
                assert ws is not None
                uow.save_workspace(attrs.evolve(ws, member_seq=ws.member_seq + 1))

        in_threads(bump, 12)
        with store.unit_of_work() as uow:
            ws = uow.get_workspace("ws_1")
            assert ws is not None
            assert (ws.member_seq, ws.version) == (12, 12)
