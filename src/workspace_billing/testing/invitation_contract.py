"""The ``Store`` contract for invitations, a part of ``StoreContract``.

In its own module so that each part of the suite stays short; ``StoreContract``
inherits it, so a host's subclass of ``StoreContract`` runs these tests too.
What a store must do: keep invitations as written, refuse a second one for
the same email in a workspace, count those pending at an instant in one read,
and hand each expired invitation to exactly one expiring transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import attrs
import pytest

from ..errors import Conflict
from ..invitation import Invitation
from ..ports import Store
from ..subscription import Subscription, SubscriptionStatus
from ..workspace import Role, Workspace

__all__ = ["InvitationContract"]

_T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _workspace(ws_id: str) -> Workspace:
    sub = Subscription(plan="free", status=SubscriptionStatus.FREE, seats=5)
    return Workspace(id=ws_id, name="Acme", owner="alice", created_at=_T0, subscription=sub)


def _invitation(n: int, ws_id: str = "ws_1", *, days: int = 7) -> Invitation:
    """Invitation ``n``: created ``n`` minutes after ``_T0``, expiring ``days`` later."""
    at = _T0 + timedelta(minutes=n)
    return Invitation(
        id=f"inv_{n}",
        workspace_id=ws_id,
        email=f"user{n}@example.com",
        role=Role.ADMIN if n % 2 else Role.MEMBER,
        invited_by="alice",
        created_at=at,
        expires_at=at + timedelta(days=days),
        seq=n,
    )


class _Boom(Exception):
    pass


class InvitationContract:
    """What every ``Store`` does with invitations (``StoreContract`` includes it)."""

    def test_invitations_read_back_as_written_oldest_first(self, store: Store) -> None:
        """Rule R8's seat holders: written, listed per workspace in order, found by id."""
        with store.unit_of_work() as uow:
            uow.add_workspace(_workspace("ws_1"))
            uow.add_workspace(_workspace("ws_2"))
            for n in (3, 1, 2):
                uow.add_invitation(_invitation(n))
            uow.add_invitation(_invitation(4, "ws_2"))
        with store.unit_of_work(read_only=True) as uow:
            assert uow.invitations("ws_1") == [_invitation(1), _invitation(2), _invitation(3)]
            assert uow.invitation("inv_4") == _invitation(4, "ws_2")
            assert uow.invitation("inv_none") is None
            assert uow.invitations("ws_none") == []
            found = uow.invitations_of(["ws_1", "ws_2", "ws_none"])
        assert {k: [i.id for i in v] for k, v in found.items()} == {
            "ws_1": ["inv_1", "inv_2", "inv_3"],
            "ws_2": ["inv_4"],
            "ws_none": [],
        }
        every = (_invitation(1), _invitation(2), _invitation(3), _invitation(4, "ws_2"))
        assert store.snapshot().invitations == every

    def test_an_email_is_invited_once_per_workspace(self, store: Store) -> None:
        """Rule R17: a second invitation of one email, or a reused id, is Conflict."""
        with store.unit_of_work() as uow:
            uow.add_workspace(_workspace("ws_1"))
            uow.add_workspace(_workspace("ws_2"))
            uow.add_invitation(_invitation(1))
        before = store.snapshot()
        same_email = attrs.evolve(_invitation(1), id="inv_other")
        same_id = attrs.evolve(_invitation(1, "ws_2"), email="x@example.com")
        for duplicate in (same_email, same_id):
            with pytest.raises(Conflict), store.unit_of_work() as uow:
                uow.add_invitation(duplicate)
            assert store.snapshot() == before
        with store.unit_of_work() as uow:  # the same email in another workspace is another
            uow.add_invitation(attrs.evolve(same_email, workspace_id="ws_2"))

    def test_deleted_invitations_are_gone_and_a_rollback_keeps_them(self, store: Store) -> None:
        """Rule R16/R17: an invitation ends with the transaction that records it."""
        with store.unit_of_work() as uow:
            uow.add_workspace(_workspace("ws_1"))
            for n in (1, 2, 3):
                uow.add_invitation(_invitation(n))
        before = store.snapshot()

        def delete_then_fail() -> None:
            with store.unit_of_work() as uow:
                uow.delete_invitations(["inv_1", "inv_2"])
                uow.add_invitation(_invitation(4))
                raise _Boom

        with pytest.raises(_Boom):
            delete_then_fail()
        assert store.snapshot() == before
        with store.unit_of_work() as uow:
            uow.delete_invitations(["inv_1", "inv_3", "inv_gone"])
            uow.delete_invitations(["inv_2"])
            uow.delete_invitations([])
        assert store.snapshot().invitations == ()

    def test_pending_invitations_are_counted_at_an_instant(self, store: Store) -> None:
        """Rule R8: an invitation holds a seat until its ``expires_at``, not at it."""
        with store.unit_of_work() as uow:
            uow.add_workspace(_workspace("ws_1"))
            uow.add_invitation(_invitation(1, days=1))
            uow.add_invitation(_invitation(2, days=2))
        one_expired = _invitation(1, days=1).expires_at
        with store.unit_of_work(read_only=True) as uow:
            assert uow.invitation_counts(["ws_1", "ws_none"], _T0) == {"ws_1": 2, "ws_none": 0}
            assert uow.invitation_counts(["ws_1"], one_expired) == {"ws_1": 1}
            assert uow.invitation_counts([], _T0) == {}

    def test_expired_invitations_are_taken_soonest_first_once(self, store: Store) -> None:
        """Each expired invitation is returned to the one transaction that deleted it."""
        with store.unit_of_work() as uow:
            uow.add_workspace(_workspace("ws_1"))
            uow.add_workspace(_workspace("ws_2"))
            for n, days in ((1, 3), (2, 1), (3, 2), (4, 9)):
                uow.add_invitation(_invitation(n, "ws_2" if n == 3 else "ws_1", days=days))
        now = _T0 + timedelta(days=5)
        with store.unit_of_work() as uow:
            first = uow.expire_invitations(now, 2)
        assert [i.id for i in first] == ["inv_2", "inv_3"]
        with store.unit_of_work() as uow:
            assert [i.id for i in uow.expire_invitations(now, 10)] == ["inv_1"]
            assert uow.expire_invitations(now, 10) == []
        assert [i.id for i in store.snapshot().invitations] == ["inv_4"]

    def test_racing_expiries_record_each_invitation_once(self, store: Store) -> None:
        """However many workers expire at once, each invitation is taken by one."""
        with store.unit_of_work() as uow:
            uow.add_workspace(_workspace("ws_1"))
            for n in range(12):
                uow.add_invitation(_invitation(n, days=1))
        taken: list[str] = []
        lock = threading.Lock()

        def expire() -> None:
            while True:
                with store.unit_of_work() as uow:
                    batch = uow.expire_invitations(_T0 + timedelta(days=2), 2)
                with lock:
                    taken.extend(i.id for i in batch)
                if not batch:
                    return

        in_threads(expire, 4)
        assert sorted(taken) == sorted(f"inv_{n}" for n in range(12))
        assert store.snapshot().invitations == ()


def in_threads(work: Callable[[], object], count: int) -> None:
    """Run ``work`` in ``count`` threads at once; the first error any raised is
    raised here, once all are done."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as e:  # noqa: BLE001 - collected and re-raised below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
