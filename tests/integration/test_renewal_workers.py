"""The renewal sweep with several workers and under SIGKILL (DESIGN section 4; R11)."""

from __future__ import annotations

import multiprocessing
import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.conftest import _wipe, postgres_url

from workspace_billing import Billing, Catalog, EventType, Store, UnitOfWork
from workspace_billing.storage.sql import SQLStore
from workspace_billing.testing import FakeClock, FakePaymentProvider

START = datetime(2026, 3, 1, 9, tzinfo=UTC)
SWEEP_AT = START + timedelta(days=20)  # every trial below has ended
WORKSPACES = 60


def billing_on(store: Store, at: datetime) -> Billing:
    clock = FakeClock(at)
    return Billing(
        catalog=Catalog.default(),
        store=store,
        provider=FakePaymentProvider(clock=clock),
        clock=clock,
    )


def seed(store: Store) -> None:
    """Trial workspaces of 1 to 4 members, so some lose members when the trials end."""
    billing = billing_on(store, START)
    for n in range(WORKSPACES):
        ws = billing.create_workspace(owner=f"o{n}", name=f"W{n}", workspace_id=f"ws_{n:03d}")
        for m in range(n % 4):
            billing.add_member(ws.id, actor=f"o{n}", user=f"u{n}-{m}")


class TestTwoWorkers:
    """On PostgreSQL, workers split the due set: each workspace is renewed once."""

    def test_two_workers_renew_every_due_workspace_exactly_once(
        self, postgres_engine: sa.Engine
    ) -> None:
        _wipe(postgres_engine)
        seed(SQLStore(postgres_engine))
        stores = [SQLStore.from_url(postgres_url()) for _ in range(2)]
        barrier = threading.Barrier(2)
        examined: list[int] = []

        def worker(store: SQLStore) -> None:
            billing = billing_on(store, SWEEP_AT)
            barrier.wait()
            examined.append(billing.run_renewals(batch_size=3).examined)

        threads = [threading.Thread(target=worker, args=(s,)) for s in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        ended = [
            e.workspace_id
            for e in billing_on(stores[0], SWEEP_AT).events(limit=10_000)
            if e.type is EventType.TRIAL_ENDED
        ]
        assert sorted(ended) == [f"ws_{n:03d}" for n in range(WORKSPACES)]
        assert sum(examined) == WORKSPACES
        for store in stores:
            store.dispose()


class _PausingStore:
    """A store whose sweep stops, forever, at a chosen point: the parent then kills it."""

    def __init__(self, inner: SQLStore, pause_at: tuple[str, int], paused: Any) -> None:
        self._inner = inner
        self._where, self._batch = pause_at
        self._paused = paused
        self._batches = 0

    def unit_of_work(self, *, read_only: bool = False) -> Any:
        store = self

        class _Wrapped:
            def __enter__(self) -> UnitOfWork:
                self._cm = store._inner.unit_of_work(read_only=read_only)
                uow = self._cm.__enter__()
                self._claiming = _Claiming(uow, store)
                return self._claiming  # type: ignore[return-value]

            def __exit__(self, *exc: object) -> object:
                done = self._cm.__exit__(*exc)  # type: ignore[arg-type]
                if self._claiming.claimed and store._where == "between" and exc[0] is None:
                    store._maybe_pause()
                return done

        return _Wrapped()

    def snapshot(self) -> Any:
        return self._inner.snapshot()

    def _maybe_pause(self) -> None:
        self._batches += 1
        if self._batches == self._batch:
            self._paused.set()
            threading.Event().wait()  # until SIGKILL


class _Claiming:
    def __init__(self, uow: UnitOfWork, store: _PausingStore) -> None:
        self._uow = uow
        self._store = store
        self.claimed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._uow, name)

    def claim_due(self, *args: Any, **kwargs: Any) -> Any:
        found = self._uow.claim_due(*args, **kwargs)
        self.claimed = bool(found)
        return found

    def append_events(self, events: Any) -> Any:
        recorded = self._uow.append_events(events)
        if self._store._where == "inside":
            self._store._maybe_pause()  # written, not committed
        return recorded


def _sweep(url: str, pause_at: tuple[str, int], paused: Any) -> None:
    store = _PausingStore(SQLStore.from_url(url), pause_at, paused)
    billing_on(store, SWEEP_AT).run_renewals(batch_size=7)  # type: ignore[arg-type]
    paused.set()  # finished before the pause point


def comparable(store: SQLStore) -> tuple[Any, Any, list[Any]]:
    snapshot = store.snapshot()
    return (
        snapshot.workspaces,
        snapshot.members,
        sorted(snapshot.events, key=lambda e: (e.workspace_id, e.type.value, e.subject or "")),
    )


class TestKilledSweep:
    """A sweep killed at any point and run again ends exactly as an uninterrupted one."""

    @pytest.mark.parametrize(
        "pause_at",
        [("inside", 1), ("inside", 4), ("between", 1), ("between", 5)],
        ids=["mid-first-batch", "mid-fourth-batch", "after-first-batch", "after-fifth-batch"],
    )
    def test_a_sigkilled_sweep_run_again_matches_an_uninterrupted_one(
        self, tmp_path: Path, pause_at: tuple[str, int]
    ) -> None:
        seeded = tmp_path / "seeded.db"
        SQLStore.from_url(f"sqlite:///{seeded}", create_schema=True).dispose()
        store = SQLStore.from_url(f"sqlite:///{seeded}")
        seed(store)
        store.dispose()
        killed, whole = tmp_path / "killed.db", tmp_path / "whole.db"
        shutil.copy(seeded, killed)
        shutil.copy(seeded, whole)

        spawn = multiprocessing.get_context("spawn")
        paused = spawn.Event()
        child = spawn.Process(target=_sweep, args=(f"sqlite:///{killed}", pause_at, paused))
        child.start()
        assert paused.wait(timeout=120)
        child.kill()
        child.join(timeout=30)
        assert child.exitcode == -9

        again = SQLStore.from_url(f"sqlite:///{killed}")
        billing_on(again, SWEEP_AT).run_renewals(batch_size=7)
        reference = SQLStore.from_url(f"sqlite:///{whole}")
        billing_on(reference, SWEEP_AT).run_renewals(batch_size=7)
        assert comparable(again) == comparable(reference)
        assert billing_on(again, SWEEP_AT).run_renewals().changed == 0
        again.dispose()
        reference.dispose()
