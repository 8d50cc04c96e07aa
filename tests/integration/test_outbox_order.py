"""Rule R16 under concurrent writers: the outbox lists one workspace's events in the
order their transactions committed, never skips one, and is not held back by
transactions that have nothing to do with the store.

The races are real: a wrapper pauses one writer inside its transaction (a
threading event, not a mock of the database) while another writer runs.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from tests.conftest import StoreFactory, _wipe

from workspace_billing import Billing, Catalog, Event, EventType, Store, UnitOfWork
from workspace_billing.storage.sql import SQLStore
from workspace_billing.testing import FakeClock, FakePaymentProvider

URLS = {"success_url": "https://app.example/ok", "cancel_url": "https://app.example/cancel"}
WAIT = 30.0  # a bound on how long a broken test may hang, never a timing assumption


class _PausingStore:
    """A store whose webhook transactions stop right after claiming the event id,
    until released; it records the order in which transactions committed."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self.paused = threading.Event()
        self.release = threading.Event()
        self.pause_webhooks = False
        self.commits: list[str] = []

    @contextlib.contextmanager
    def unit_of_work(self, *, read_only: bool = False) -> Iterator[UnitOfWork]:
        with self._inner.unit_of_work(read_only=read_only) as uow:
            wrapped = _Pausing(uow, self)
            yield wrapped  # type: ignore[misc]
            # Recorded while the workspace is still locked, just before the commit:
            # the other writer waits for that lock, so this is the commit order
            # (after the exit, the second writer could record first).
            if wrapped.wrote:
                self.commits.append(threading.current_thread().name)

    def snapshot(self) -> Any:
        return self._inner.snapshot()


class _Pausing:
    def __init__(self, uow: UnitOfWork, store: _PausingStore) -> None:
        self._uow = uow
        self._store = store
        self.wrote = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._uow, name)

    def append_events(self, events: Any) -> Any:
        self.wrote = True
        return self._uow.append_events(events)

    def claim_webhook_event(self, event_id: str) -> bool:
        fresh = self._uow.claim_webhook_event(event_id)
        if self._store.pause_webhooks and threading.current_thread().name == "webhook":
            self._store.paused.set()
            assert self._store.release.wait(WAIT)
        return fresh


def _wait_until_blocked_or_done(store: Store, thread: threading.Thread) -> None:
    """On PostgreSQL, until the thread waits on a lock or has finished; elsewhere,
    until it has started (SQLite serializes writers, so any interleaving holds)."""
    if not (isinstance(store, SQLStore) and store.dialect == "postgresql"):
        return
    engine = sa.create_engine(store.url.replace("***", ""))
    try:
        check = threading.Event()
        for _ in range(int(WAIT * 100)):
            with engine.connect() as conn:
                waiting = conn.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                ).scalar_one()
            if waiting or not thread.is_alive():
                return
            check.wait(0.01)
        pytest.fail("the member change neither finished nor waited on the workspace lock")
    finally:
        engine.dispose()


class TestOneWorkspaceInCommitOrder:
    """A webhook and a member change race on one workspace: whichever commits first
    comes first in the outbox, on every store."""

    def test_r16_a_webhook_paused_inside_its_transaction_keeps_the_commit_order(
        self, store_factory: StoreFactory
    ) -> None:
        store = _PausingStore(store_factory())
        clock = FakeClock()
        provider = FakePaymentProvider(clock=clock)
        billing = Billing(catalog=Catalog.default(), store=store, provider=provider, clock=clock)  # type: ignore[arg-type]
        ws = billing.create_workspace(owner="alice", name="Acme")
        checkout = billing.upgrade(ws.id, actor="alice", plan="business", seats=3, **URLS)
        provider.complete_checkout(checkout.id)
        provider.deliver(billing.handle_webhook)
        ref = billing.workspace(ws.id).subscription.subscription_ref
        assert ref is not None
        provider.increase_seats(ref, 5, idempotency_key="dashboard:5")  # announced by webhook
        (payload, headers), *_ = provider.take_webhooks()
        store.pause_webhooks = True
        store.commits.clear()

        webhook = threading.Thread(
            name="webhook", target=billing.handle_webhook, args=(payload, headers)
        )
        member = threading.Thread(
            name="member",
            target=lambda: billing.add_member(ws.id, actor="alice", user="carol"),
        )
        webhook.start()
        assert store.paused.wait(WAIT)
        member.start()
        _wait_until_blocked_or_done(store._inner, member)
        store.release.set()
        webhook.join(WAIT)
        member.join(WAIT)
        assert not webhook.is_alive()
        assert not member.is_alive()

        mine = [e for e in billing.events() if e.workspace_id == ws.id]
        recent = [_writer(e) for e in mine if _writer(e) is not None]
        assert recent[-2:] == store.commits[-2:]
        assert set(store.commits[-2:]) == {"webhook", "member"}


def _writer(event: Event) -> str | None:
    if event.type is EventType.MEMBER_ADDED and event.subject == "carol":
        return "member"
    if event.type is EventType.SEATS_CHANGED and event.after.get("seats") == 5:
        return "webhook"
    return None


@pytest.fixture(name="pg_store")
def pg_store_fixture(postgres_engine: sa.Engine) -> Store:
    """The horizon is PostgreSQL's: SQLite has one writer at a time, memory a lock."""
    _wipe(postgres_engine)
    return SQLStore(postgres_engine)


def _admin_url(store: SQLStore, database: str | None = None) -> sa.URL:
    url = sa.make_url(str(store._engine.url)) if store._engine is not None else None
    assert url is not None
    return url.set(database=database) if database else url


class TestTheOutboxIsNotHeldBack:
    """docs/storage.md: readers wait only for transactions that touched the store."""

    def test_r16_a_transaction_of_another_database_does_not_delay_readers(
        self, pg_store: Store
    ) -> None:
        assert isinstance(pg_store, SQLStore)
        other = sa.create_engine(_admin_url(pg_store, "postgres"))
        clock = FakeClock()
        billing = Billing(catalog=Catalog.default(), store=pg_store,
                          provider=FakePaymentProvider(clock=clock), clock=clock)  # fmt: skip
        try:
            with other.connect() as conn, conn.begin():
                conn.execute(sa.text("SELECT pg_current_xact_id()"))  # holds a transaction id
                ws = billing.create_workspace(owner="alice", name="Acme")
                assert [e.workspace_id for e in billing.events()] == [ws.id, ws.id]
        finally:
            other.dispose()

    def test_r16_an_idle_session_that_never_touched_the_store_does_not_delay_readers(
        self, pg_store: Store
    ) -> None:
        assert isinstance(pg_store, SQLStore)
        same = sa.create_engine(_admin_url(pg_store))
        clock = FakeClock()
        billing = Billing(catalog=Catalog.default(), store=pg_store,
                          provider=FakePaymentProvider(clock=clock), clock=clock)  # fmt: skip
        try:
            with same.connect() as conn, conn.begin():
                conn.execute(sa.text("SELECT pg_current_xact_id()"))  # idle in transaction
                ws = billing.create_workspace(owner="alice", name="Acme")
                assert ws.id in {e.workspace_id for e in billing.events()}
        finally:
            same.dispose()

    def test_r16_a_store_writer_still_running_holds_readers_back_and_nothing_is_skipped(
        self, pg_store: Store
    ) -> None:
        clock = FakeClock()
        billing = Billing(catalog=Catalog.default(), store=pg_store,
                          provider=FakePaymentProvider(clock=clock), clock=clock)  # fmt: skip
        first = billing.create_workspace(owner="alice", name="A")
        seen = billing.events()
        with pg_store.unit_of_work() as uow:  # an open writer of the store
            uow.get_workspace(first.id, for_update=True)
            uow.append_events([Event(EventType.SALES_CONTACTED, first.id, clock.now())])
            later = billing.create_workspace(owner="bob", name="B")  # commits meanwhile
            assert billing.events(after=seen[-1]) == []  # held back, not skipped
        after = billing.events(after=seen[-1])
        assert next(e.type for e in after) is EventType.SALES_CONTACTED
        assert later.id in {e.workspace_id for e in after}

    def test_r16_a_host_transaction_that_wrote_first_never_has_its_events_skipped(
        self, pg_store: Store
    ) -> None:
        assert isinstance(pg_store, SQLStore)
        engine = pg_store._engine
        assert engine is not None
        clock = FakeClock()
        provider = FakePaymentProvider(clock=clock)
        billing = Billing(catalog=Catalog.default(), store=pg_store, provider=provider,
                          clock=clock)  # fmt: skip
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE IF NOT EXISTS host_accounts (name text)"))
        try:
            with engine.connect() as conn, conn.begin():
                conn.execute(sa.text("INSERT INTO host_accounts VALUES ('dora')"))  # an id first
                other = billing.create_workspace(owner="bob", name="B")  # commits meanwhile
                read = billing.events()
                assert read
                assert read[-1].workspace_id == other.id
                in_tx = Billing(catalog=Catalog.default(), store=SQLStore.from_connection(conn),
                                provider=provider, clock=clock)  # fmt: skip
                team = in_tx.create_workspace(owner="dora", name="Dora's team")
            assert team.id in {e.workspace_id for e in billing.events(after=read[-1])}
        finally:
            with engine.begin() as conn:
                conn.execute(sa.text("DROP TABLE host_accounts"))
