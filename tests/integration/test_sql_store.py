"""The SQL store under real contention, its schema migration, the host's transaction,
and the translation of driver errors (DESIGN section 4; rules R8, R14, R17)."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from tests.conftest import POSTGRES_ENV, _wipe, postgres_url

from workspace_billing import (
    Billing,
    BillingError,
    Catalog,
    Conflict,
    Event,
    EventType,
    InvalidRequest,
    Member,
    MemberStatus,
    Money,
    Role,
    SeatLimitReached,
    StoreError,
    Subscription,
    SubscriptionStatus,
    Workspace,
)
from workspace_billing.storage.driver import Runner
from workspace_billing.storage.rows import (
    Codec,
    codec_for,
    event_row,
    member_row,
    raw_columns,
    workspace_row,
)
from workspace_billing.storage.schema import (
    SCHEMA_VERSION,
    events,
    members,
    metadata,
    upgrade,
    workspaces,
)
from workspace_billing.storage.sql import SQLStore
from workspace_billing.testing import FakeClock, FakePaymentProvider

URLS = {"success_url": "https://app.example/ok", "cancel_url": "https://app.example/cancel"}
FREE_SEATS = 10
ATTEMPTS = 200


def billing_on(store: SQLStore) -> tuple[Billing, FakePaymentProvider]:
    clock = FakeClock()
    provider = FakePaymentProvider(clock=clock)
    return Billing(catalog=Catalog.default(), store=store, provider=provider, clock=clock), provider


def workspace_with_free_seats(billing: Billing, provider: FakePaymentProvider) -> Workspace:
    """A paid workspace of alice with ``FREE_SEATS`` seats free (the owner holds one)."""
    ws = billing.create_workspace(owner="alice", name="Acme", workspace_id="ws_race")
    checkout = billing.upgrade(ws.id, actor="alice", plan="business", seats=FREE_SEATS + 1, **URLS)
    provider.complete_checkout(checkout.id)
    provider.deliver(billing.handle_webhook)
    return billing.workspace(ws.id)


def add_members(billing: Billing, workspace_id: str, users: list[str]) -> list[str]:
    outcomes = []
    for user in users:
        try:
            billing.add_member(workspace_id, actor="alice", user=user)
        except SeatLimitReached:
            outcomes.append("full")
        except BillingError as e:
            outcomes.append(f"error:{e.code}")
        else:
            outcomes.append("joined")
    return outcomes


def _process_adds(url: str, users: list[str], barrier: Any, results: Any) -> None:
    """One OS process: its own engine and Billing on the shared SQLite file."""
    store = SQLStore.from_url(url)
    billing, _ = billing_on(store)
    barrier.wait()
    results.put(add_members(billing, "ws_race", users))
    store.dispose()


def active_in_sql(engine: sa.Engine, workspace_id: str) -> int:
    with engine.connect() as conn:
        query = sa.text(
            "SELECT count(*) FROM wb_members WHERE workspace_id = :ws AND status = 'active'"
        )
        return int(conn.execute(query, {"ws": workspace_id}).scalar_one())


def assert_exactly_the_free_seats_were_taken(outcomes: list[str], billing: Billing) -> None:
    assert Counter(outcomes) == {"joined": FREE_SEATS, "full": ATTEMPTS - FREE_SEATS}
    active = [m for m in billing.members("ws_race") if m.status is MemberStatus.ACTIVE]
    assert len(active) == FREE_SEATS + 1


class TestNoOversell:
    """Rule R8: with N free seats, exactly N of many concurrent additions succeed."""

    def test_r8_eight_processes_on_one_sqlite_file(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'billing.db'}"
        store = SQLStore.from_url(url, create_schema=True)
        billing, provider = billing_on(store)
        workspace_with_free_seats(billing, provider)
        spawn = multiprocessing.get_context("spawn")
        barrier, results = spawn.Barrier(8), spawn.Queue()
        batches = [[f"p{p}-user{i}" for i in range(ATTEMPTS // 8)] for p in range(8)]
        workers = [
            spawn.Process(target=_process_adds, args=(url, batch, barrier, results))
            for batch in batches
        ]
        for worker in workers:
            worker.start()
        outcomes = [o for _ in workers for o in results.get(timeout=120)]
        for worker in workers:
            worker.join(timeout=60)
            assert worker.exitcode == 0
        assert_exactly_the_free_seats_were_taken(outcomes, billing)
        engine = sa.create_engine(url)
        assert active_in_sql(engine, "ws_race") == FREE_SEATS + 1
        engine.dispose()
        store.dispose()

    def test_r8_sixteen_threads_on_postgresql(self, postgres_engine: sa.Engine) -> None:
        _wipe(postgres_engine)
        store = SQLStore.from_url(postgres_url(), pool_size=16, max_overflow=0)
        billing, provider = billing_on(store)
        workspace_with_free_seats(billing, provider)
        barrier = threading.Barrier(16)
        outcomes: list[str] = []
        lock = threading.Lock()

        def worker(n: int) -> None:
            users = [f"t{n}-user{i}" for i in range(n, ATTEMPTS, 16)]
            barrier.wait()
            done = add_members(billing, "ws_race", users)
            with lock:
                outcomes.extend(done)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert_exactly_the_free_seats_were_taken(outcomes, billing)
        assert active_in_sql(postgres_engine, "ws_race") == FREE_SEATS + 1
        store.dispose()


def schema_of(engine: sa.Engine) -> dict[str, Any]:
    """Tables, columns, primary keys and indexes as the database reports them."""
    inspector = sa.inspect(engine)
    return {
        table: {
            "columns": {c["name"]: c["nullable"] for c in inspector.get_columns(table)},
            "primary_key": sorted(inspector.get_pk_constraint(table)["constrained_columns"]),
            # PostgreSQL also lists the index behind each unique constraint.
            "indexes": sorted(
                i["name"] for i in inspector.get_indexes(table) if "duplicates_constraint" not in i
            ),
            "unique": sorted(str(u["name"]) for u in inspector.get_unique_constraints(table)),
        }
        for table in sorted(inspector.get_table_names())
        if table.startswith("wb_")
    }


def schema_of_metadata() -> dict[str, Any]:
    return {
        table.name: {
            "columns": {c.name: c.nullable for c in table.columns},
            "primary_key": sorted(c.name for c in table.primary_key.columns),
            "indexes": sorted(str(i.name) for i in table.indexes),
            "unique": sorted(
                str(c.name) for c in table.constraints if isinstance(c, sa.UniqueConstraint)
            ),
        }
        for table in sorted(metadata.sorted_tables, key=lambda t: t.name)
    }


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workspace_billing", *args],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(name="empty_database_url", params=["sqlite", "postgres"])
def empty_database_url_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    server = sa.make_url(postgres_url())
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text("DROP DATABASE IF EXISTS wb_migration_test"))
        conn.execute(sa.text("CREATE DATABASE wb_migration_test"))
    yield server.set(database="wb_migration_test").render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text("DROP DATABASE IF EXISTS wb_migration_test WITH (FORCE)"))
    admin.dispose()


CARD_COLUMNS = ("pm_brand", "pm_last4", "pm_exp_month", "pm_exp_year")
"""The card on file's columns of ``wb_workspaces``, added by version 3."""


def back_to_version_2(conn: sa.Connection, schema: str | None = None) -> None:
    """Undo version 3 on a freshly created schema: no invitations, no notices, no card
    columns (SQLite has DROP COLUMN since 3.35)."""
    prefix = f"{schema}." if schema else ""
    conn.execute(sa.text(f"DROP TABLE {prefix}wb_invitations"))
    conn.execute(sa.text(f"DROP TABLE {prefix}wb_notices"))
    for column in CARD_COLUMNS:
        conn.execute(sa.text(f"ALTER TABLE {prefix}wb_workspaces DROP COLUMN {column}"))


def workspace_column_types(engine: sa.Engine, schema: str | None = None) -> dict[str, str]:
    """``wb_workspaces``' columns and their types, as the database reports them."""
    columns = sa.inspect(engine).get_columns("wb_workspaces", schema=schema)
    return {c["name"]: str(c["type"]) for c in columns}


class TestThreadConnectionsOnSQLite:
    """Issue 13: a store on its own SQLite file reads one workspace, and runs its units
    of work, on connections of the calling thread, outside SQLAlchemy's pool."""

    def test_a_read_or_a_write_holds_no_lock_and_no_snapshot_after_it_returns(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "reads.db"
        store = SQLStore.from_url(f"sqlite:///{path}", create_schema=True)
        billing, _ = billing_on(store)
        ws = billing.create_workspace(owner="alice", name="Acme")
        assert billing.has_feature(ws.id, "sso")
        billing.add_member(ws.id, actor="alice", user="bob")
        other = sqlite3.connect(path, isolation_level=None, timeout=0)
        try:
            other.execute("BEGIN IMMEDIATE")  # a writer never waits for the store's reads
            other.execute("UPDATE wb_workspaces SET name = 'Renamed' WHERE id = ?", (ws.id,))
            other.execute("COMMIT")
            busy, _, _ = other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            assert busy == 0  # no read transaction left open to hold the WAL
        finally:
            other.close()
        renamed = store.read_workspace(ws.id)
        assert renamed is not None
        assert renamed.name == "Renamed"
        store.dispose()

    def test_reads_after_dispose_open_a_new_connection(self, tmp_path: Path) -> None:
        store, _, ws = acme_on_its_own_file(tmp_path / "again.db")
        assert store.read_workspace(ws.id) is not None
        store.dispose()
        assert store.read_workspace(ws.id) is not None
        store.dispose()

    def test_writes_after_dispose_open_a_new_connection(self, tmp_path: Path) -> None:
        store, billing, ws = acme_on_its_own_file(tmp_path / "again.db")
        before = _thread_connections(store)["writer"]
        store.dispose()
        assert before.closed
        billing.add_member(ws.id, actor="alice", user="bob")
        after = _thread_connections(store)["writer"]
        assert after is not before
        assert not after.closed
        assert billing.subscription(ws.id, actor="alice").seats_used == 2
        store.dispose()

    def test_a_forked_process_reads_and_writes_on_its_own_connections(self, tmp_path: Path) -> None:
        """SQLite connections must not cross a fork: a child that inherited the
        parent's connections opens its own before reading or writing, and the
        parent's stay open."""
        store, billing, ws = acme_on_its_own_file(tmp_path / "fork.db")
        assert store.read_workspace(ws.id) is not None  # the parent's connections are open
        parents = _thread_connections(store)
        context = multiprocessing.get_context("fork")
        answers = context.Queue()

        def child() -> None:
            found = store.read_workspace(ws.id)
            billing.add_member(ws.id, actor="alice", user="bob")
            mine = _thread_connections(store)
            answers.put((found.name if found else None,
                         [mine[k] is not parents[k] for k in ("reader", "writer")]))  # fmt: skip

        process = context.Process(target=child)
        process.start()
        process.join(timeout=30)
        assert process.exitcode == 0
        assert answers.get(timeout=5) == ("Acme", [True, True])
        assert _thread_connections(store) == parents
        assert billing.subscription(ws.id, actor="alice").seats_used == 2  # the child's write
        store.dispose()

    def test_a_thread_that_ends_closes_its_connections(self, tmp_path: Path) -> None:
        """A host that starts a thread per request does not leave a file handle open
        per request it served."""
        store, billing, ws = acme_on_its_own_file(tmp_path / "churn.db")
        used: list[dict[str, Any]] = []

        def request(n: int) -> None:
            billing.add_member(ws.id, actor="alice", user=f"user{n}")
            assert billing.has_feature(ws.id, "sso")
            used.append(_thread_connections(store))

        for n in range(3):
            thread = threading.Thread(target=request, args=(n,))
            thread.start()
            thread.join()
        assert len(used) == 3
        for held in used:
            assert held["writer"].closed
            with pytest.raises(sqlite3.ProgrammingError, match="closed"):
                held["reader"].execute("SELECT 1")
        assert billing.subscription(ws.id, actor="alice").seats_used == 4
        store.dispose()

    def test_more_threads_than_the_pool_holds_work_at_once(self, tmp_path: Path) -> None:
        """The threads' connections are not the pool's: four threads inside a unit of
        work at the same moment, on a store whose pool holds one connection."""
        url = f"sqlite:///{tmp_path / 'wide.db'}"
        store = SQLStore.from_url(url, create_schema=True, pool_size=1, max_overflow=0,
                                  pool_timeout=1)  # fmt: skip
        billing, _ = billing_on(store)
        ws = billing.create_workspace(owner="alice", name="Acme")
        together = threading.Barrier(4, timeout=10)
        seen: list[int] = []

        def inside() -> None:
            with store.unit_of_work(read_only=True) as uow:
                together.wait()  # all four hold a unit of work here
                found = uow.get_workspace(ws.id)
                assert found is not None
                seen.append(len(uow.members(ws.id)))

        threads = [threading.Thread(target=inside) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert seen == [1, 1, 1, 1]
        store.dispose()

    def test_a_unit_of_work_inside_another_on_the_same_thread_has_its_own_connection(
        self, tmp_path: Path
    ) -> None:
        store, billing, ws = acme_on_its_own_file(tmp_path / "nested.db")
        with (
            store.unit_of_work(read_only=True) as outer,
            store.unit_of_work(read_only=True) as inner,
        ):
            assert inner.get_workspace(ws.id) == outer.get_workspace(ws.id)
        billing.add_member(ws.id, actor="alice", user="bob")  # the thread's, free again
        assert billing.subscription(ws.id, actor="alice").seats_used == 2
        store.dispose()

    def test_a_refused_write_leaves_the_thread_connection_ready_for_the_next(
        self, tmp_path: Path
    ) -> None:
        store, billing, ws = acme_on_its_own_file(tmp_path / "refused.db")
        before = store.snapshot()
        writer = _thread_connections(store)["writer"]
        with pytest.raises(BillingError):
            billing.add_member(ws.id, actor="mallory", user="bob")  # R5: not a manager
        assert store.snapshot() == before
        assert not writer.connection.dbapi_connection.in_transaction
        billing.add_member(ws.id, actor="alice", user="bob")
        assert _thread_connections(store)["writer"] is writer
        store.dispose()

    def test_a_driver_error_midway_is_the_library_s_and_rolls_back_all_of_the_change(
        self, tmp_path: Path
    ) -> None:
        """R17: the member row written before the failing event insert goes too, and
        the thread's connection serves the next change."""
        path = tmp_path / "broken.db"
        store = SQLStore.from_url(f"sqlite:///{path}", create_schema=True)
        billing, _ = billing_on(store)
        ws = billing.create_workspace(owner="alice", name="Acme")
        before = store.snapshot()
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("ALTER TABLE wb_events RENAME TO wb_events_away")
            with pytest.raises(StoreError, match="no such table"):
                billing.add_member(ws.id, actor="alice", user="bob")
            other.execute("ALTER TABLE wb_events_away RENAME TO wb_events")
        finally:
            other.close()
        assert store.snapshot() == before
        billing.add_member(ws.id, actor="alice", user="bob")
        assert billing.subscription(ws.id, actor="alice").seats_used == 2
        store.dispose()

    def test_dispose_waits_for_a_unit_of_work_in_progress_on_another_thread(
        self, tmp_path: Path
    ) -> None:
        """Closing a SQLite connection under a running statement crashes the process:
        ``dispose`` retires a connection in use, and its thread closes it after."""
        store, billing, ws = acme_on_its_own_file(tmp_path / "busy.db")
        inside, disposed = threading.Event(), threading.Event()
        outcome: list[object] = []

        def work() -> None:
            with store.unit_of_work() as uow:
                inside.set()
                disposed.wait(timeout=10)
                found = uow.get_workspace(ws.id)
                outcome.append(found.name if found else None)
            outcome.append(_thread_connections(store)["writer"].closed)

        thread = threading.Thread(target=work)
        thread.start()
        assert inside.wait(timeout=10)
        store.dispose()
        disposed.set()
        thread.join()
        assert outcome == ["Acme", True]  # finished, then closed by its own thread
        billing.add_member(ws.id, actor="alice", user="bob")  # a new connection
        assert billing.subscription(ws.id, actor="alice").seats_used == 2
        store.dispose()

    def test_an_interrupt_right_after_begin_leaves_no_write_lock(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A KeyboardInterrupt (or a signal handler's exception) between ``BEGIN
        IMMEDIATE`` and the unit of work's start releases the database's write lock."""
        path = tmp_path / "interrupted.db"
        store = SQLStore.from_url(f"sqlite:///{path}", create_schema=True)
        begin = Runner.begin

        def interrupted(self: Runner, sql: str) -> None:
            begin(self, sql)
            raise KeyboardInterrupt

        monkeypatch.setattr(Runner, "begin", interrupted)
        with pytest.raises(KeyboardInterrupt), store.unit_of_work():
            pass
        monkeypatch.setattr(Runner, "begin", begin)
        other = sqlite3.connect(path, isolation_level=None, timeout=0)
        try:
            other.execute("BEGIN IMMEDIATE")  # "database is locked" if it stayed held
            other.execute("ROLLBACK")
        finally:
            other.close()
        billing, _ = billing_on(store)
        assert billing.create_workspace(owner="alice", name="Acme").name == "Acme"
        store.dispose()

    def test_a_unit_of_work_finished_on_another_thread_leaves_both_threads_working(
        self, tmp_path: Path
    ) -> None:
        """A unit of work opened in a generator and resumed on another thread (whose
        commit fails): the opening thread's next units of work still run."""
        store, billing, ws = acme_on_its_own_file(tmp_path / "moved.db")

        def steps() -> Iterator[None]:
            with store.unit_of_work() as uow:
                yield
                driver = uow._run.dbapi
                driver.execute("PRAGMA defer_foreign_keys=ON")  # fails at the commit
                driver.execute(
                    "INSERT INTO wb_members VALUES ('nowhere', 'u', 'member', 'active',"
                    " '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000', 1, NULL)"
                )

        moved = steps()
        next(moved)  # opened here
        seen: list[str] = []

        def finish() -> None:
            try:
                next(moved)
            except StopIteration:
                seen.append("committed")
            except Conflict:
                seen.append("refused")

        thread = threading.Thread(target=finish)
        thread.start()
        thread.join()
        assert seen == ["refused"]
        for user in ("bob", "carol"):
            billing.add_member(ws.id, actor="alice", user=user)
        assert billing.subscription(ws.id, actor="alice").seats_used == 3
        store.dispose()

    def test_a_host_listener_sees_every_statement_of_the_request_paths(
        self, tmp_path: Path
    ) -> None:
        """Statements run on the driver directly unless the host watches them: then
        its listeners see every one, on its engine or on every engine (tracing)."""
        seen: list[str] = []

        def heard(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
            seen.append(statement.split(maxsplit=1)[0])

        engine = sa.create_engine(f"sqlite:///{tmp_path / 'host.db'}")
        sa.event.listen(engine, "before_cursor_execute", heard)
        hosts = SQLStore(engine)
        hosts.create_schema()
        sa.event.listen(sa.Engine, "before_cursor_execute", heard)  # a tracer's, on all
        try:
            own = SQLStore.from_url(f"sqlite:///{tmp_path / 'own.db'}", create_schema=True)
            for store in (hosts, own):
                billing, _ = billing_on(store)
                ws = billing.create_workspace(owner="alice", name="Acme")
                seen.clear()
                assert billing.has_feature(ws.id, "sso")
                billing.add_member(ws.id, actor="alice", user="bob")
                assert {"SELECT", "INSERT"} <= set(seen)
                store.dispose()
        finally:
            sa.event.remove(sa.Engine, "before_cursor_execute", heard)

    def test_a_host_that_watches_statements_keeps_the_pool(self, tmp_path: Path) -> None:
        """``echo`` (or a host's listeners) sees every statement: nothing runs on the
        threads' connections then."""
        store = SQLStore.from_url(f"sqlite:///{tmp_path / 'echo.db'}", create_schema=True,
                                  echo=True)  # fmt: skip
        billing, _ = billing_on(store)
        ws = billing.create_workspace(owner="alice", name="Acme")
        assert billing.has_feature(ws.id, "sso")
        assert store._threads is None
        store.dispose()

    def test_each_thread_reads_what_was_committed(self, tmp_path: Path) -> None:
        store, billing, ws = acme_on_its_own_file(tmp_path / "threads.db")
        billing.add_member(ws.id, actor="alice", user="bob")
        seen: list[int] = []

        def read() -> None:
            for _ in range(20):
                seen.append(billing.subscription(ws.id, actor="alice").seats_used)

        threads = [threading.Thread(target=read) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert Counter(seen) == {2: 80}
        store.dispose()


class TestMigration:
    """``workspace-billing db upgrade`` creates the schema once; again, it changes nothing."""

    def test_db_upgrade_creates_the_schema_of_the_metadata_then_is_a_no_op(
        self, empty_database_url: str
    ) -> None:
        first = run_cli("db", "upgrade", "--db", empty_database_url)
        assert first.returncode == 0, first.stderr
        assert f"from version 0 to {SCHEMA_VERSION}" in first.stdout
        engine = sa.create_engine(empty_database_url)
        created = schema_of(engine)
        assert created == schema_of_metadata()
        again = run_cli("db", "upgrade", "--url", empty_database_url)
        assert again.returncode == 0, again.stderr
        assert "nothing to do" in again.stdout
        assert schema_of(engine) == created
        with engine.connect() as conn:
            versions = conn.execute(sa.text("SELECT version FROM wb_schema_version")).all()
        assert versions == [(SCHEMA_VERSION,)]
        engine.dispose()

    def test_version_1_with_data_is_migrated_step_by_step(self, empty_database_url: str) -> None:
        """A database left by the first release, workspaces in it, reaches this release's
        schema with its rows untouched, and a workspace is found by its customer."""
        engine = sa.create_engine(empty_database_url)
        store = SQLStore(engine)
        store.create_schema()
        clock = FakeClock()
        billing = Billing(catalog=Catalog.default(), store=store,
                          provider=FakePaymentProvider(clock=clock), clock=clock)  # fmt: skip
        ws = billing.create_workspace(owner="alice", name="Acme")
        billing.billing_portal(ws.id, actor="alice", return_url="https://app.example/billing")
        before = store.snapshot()
        with engine.begin() as conn:  # back to version 1: nothing of versions 2 and 3
            back_to_version_2(conn)
            conn.execute(sa.text("DROP INDEX wb_workspaces_customer_ref"))
            conn.execute(sa.text("DROP INDEX wb_members_user"))
            conn.execute(sa.text("DELETE FROM wb_schema_version"))
            conn.execute(sa.text("INSERT INTO wb_schema_version VALUES (1, '2026-01-01 00:00:00')"))

        done = run_cli("db", "upgrade", "--db", empty_database_url)

        assert done.returncode == 0, done.stderr
        assert f"from version 1 to {SCHEMA_VERSION}" in done.stdout
        assert schema_of(engine) == schema_of_metadata()
        assert store.snapshot() == before
        customer = billing.workspace(ws.id).subscription.customer_ref
        assert customer is not None
        with store.unit_of_work(read_only=True) as uow:
            assert uow.find_workspace_id(customer_ref=customer) == ws.id
        with engine.connect() as conn:
            versions = conn.execute(sa.text("SELECT version FROM wb_schema_version")).all()
        assert sorted(versions) == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
        store.dispose()
        engine.dispose()

    def test_version_2_with_data_gains_invitations_and_notices(
        self, empty_database_url: str
    ) -> None:
        """A version 2 database with workspaces and members reaches version 3: its rows
        untouched, the invitations and notices tables there and empty, the card
        columns added with the types a fresh schema has, NULL in existing rows."""
        engine = sa.create_engine(empty_database_url)
        store = SQLStore(engine)
        store.create_schema()
        fresh_types = workspace_column_types(engine)
        clock = FakeClock()
        billing = Billing(catalog=Catalog.default(), store=store,
                          provider=FakePaymentProvider(clock=clock), clock=clock)  # fmt: skip
        ws = billing.create_workspace(owner="alice", name="Acme")
        billing.add_member(ws.id, actor="alice", user="bob")
        before = store.snapshot()
        with engine.begin() as conn:
            back_to_version_2(conn)
            conn.execute(sa.text("DELETE FROM wb_schema_version"))
            conn.execute(sa.text("INSERT INTO wb_schema_version VALUES (2, '2026-06-01 00:00:00')"))
        assert not {"wb_invitations", "wb_notices"} & set(sa.inspect(engine).get_table_names())
        assert not set(CARD_COLUMNS) & set(workspace_column_types(engine))

        done = run_cli("db", "upgrade", "--db", empty_database_url)

        assert done.returncode == 0, done.stderr
        assert f"from version 2 to {SCHEMA_VERSION}" in done.stdout
        assert schema_of(engine) == schema_of_metadata()
        assert store.snapshot() == before
        with engine.connect() as conn:
            noticed = conn.execute(sa.text("SELECT count(*) FROM wb_notices")).scalar()
            pending = conn.execute(sa.text("SELECT count(*) FROM wb_invitations")).scalar()
            versions = conn.execute(sa.text("SELECT version FROM wb_schema_version")).all()
        assert noticed == 0
        assert pending == 0
        assert sorted(versions) == [(2,), (3,)]
        assert workspace_column_types(engine) == fresh_types
        assert billing.workspace(ws.id).subscription.payment_method is None
        store.dispose()
        engine.dispose()

    def test_version_3_adds_the_card_columns_where_the_schema_map_puts_them(
        self, postgres_engine: sa.Engine
    ) -> None:
        """The ADD COLUMN step honours ``schema_translate_map``: a host that keeps the
        tables in its own PostgreSQL schema is migrated there, not in ``public``."""
        name = "wb_migrate_translated"
        with postgres_engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
            conn.execute(sa.text(f"CREATE SCHEMA {name}"))
        world = postgres_engine.execution_options(schema_translate_map={None: name})
        try:
            SQLStore(world).create_schema()
            fresh_types = workspace_column_types(postgres_engine, name)
            with world.begin() as conn:
                back_to_version_2(conn, name)
                conn.execute(sa.text(f"DELETE FROM {name}.wb_schema_version"))
                conn.execute(sa.text(
                    f"INSERT INTO {name}.wb_schema_version VALUES (2, '2026-06-01 00:00:00')"
                ))  # fmt: skip
            assert not set(CARD_COLUMNS) & set(workspace_column_types(postgres_engine, name))
            assert upgrade(world) == SCHEMA_VERSION
            assert workspace_column_types(postgres_engine, name) == fresh_types
            assert set(CARD_COLUMNS) <= set(workspace_column_types(postgres_engine))  # untouched
        finally:
            with postgres_engine.begin() as conn:
                conn.execute(sa.text(f"DROP SCHEMA {name} CASCADE"))

    def test_a_schema_newer_than_the_release_is_refused(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'future.db'}"
        SQLStore.from_url(url, create_schema=True).dispose()
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(
                sa.text("INSERT INTO wb_schema_version VALUES (:v, '2030-01-01 00:00:00')"),
                {"v": SCHEMA_VERSION + 1},
            )
        engine.dispose()
        done = run_cli("db", "upgrade", "--db", url)
        assert done.returncode == 1
        assert "newer than this release" in done.stderr

    def test_the_demo_runs_on_a_sqlite_file_by_default(self) -> None:
        done = run_cli("demo")
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("Database: sqlite:///")
        assert "sales_contacted" in done.stdout


@pytest.fixture(name="sql_engine", params=["sqlite", "postgres"])
def sql_engine_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        store = SQLStore.from_url(f"sqlite:///{tmp_path / 'host.db'}", create_schema=True)
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'host.db'}")
        SQLStore(engine)  # configures the engine's transactions for SQLite
        store.dispose()
    else:
        engine = request.getfixturevalue("postgres_engine")
        _wipe(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS host_accounts (name VARCHAR(50))"))
        conn.execute(sa.text("DELETE FROM host_accounts"))
    yield engine
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE host_accounts"))


def host_accounts(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT name FROM host_accounts")).scalars())


class TestHostTransaction:
    """A host runs the library's writes inside its own transaction."""

    def test_the_host_commits_its_rows_and_the_workspace_together(
        self, sql_engine: sa.Engine
    ) -> None:
        with sql_engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO host_accounts VALUES ('alice')"))
            billing, _ = billing_on(SQLStore.from_connection(conn))
            billing.create_workspace(owner="alice", name="Acme", workspace_id="ws_host")
        billing, _ = billing_on(SQLStore(sql_engine))
        assert billing.workspace("ws_host").subscription.status is SubscriptionStatus.TRIALING
        assert host_accounts(sql_engine) == ["alice"]

    def test_a_host_rollback_takes_the_workspace_with_it(self, sql_engine: sa.Engine) -> None:
        with sql_engine.connect() as conn, conn.begin() as tx:
            conn.execute(sa.text("INSERT INTO host_accounts VALUES ('alice')"))
            billing, _ = billing_on(SQLStore.from_connection(conn))
            billing.create_workspace(owner="alice", name="Acme", workspace_id="ws_host")
            tx.rollback()
        assert host_accounts(sql_engine) == []
        assert SQLStore(sql_engine).snapshot().workspaces == ()

    def test_a_refused_action_rolls_back_only_its_own_writes(self, sql_engine: sa.Engine) -> None:
        """Rule R17 inside a host transaction: a savepoint, not the host's work, is undone."""
        with sql_engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO host_accounts VALUES ('alice')"))
            billing, _ = billing_on(SQLStore.from_connection(conn))
            ws = billing.create_workspace(owner="alice", name="Acme", workspace_id="ws_host")
            with pytest.raises(Conflict):
                billing.create_workspace(owner="bob", name="Again", workspace_id=ws.id)
            billing.add_member(ws.id, actor="alice", user="bob")
        billing, _ = billing_on(SQLStore(sql_engine))
        assert [m.user for m in billing.members("ws_host")] == ["alice", "bob"]
        assert host_accounts(sql_engine) == ["alice"]


class TestDriverErrors:
    """No SQLAlchemy or psycopg exception reaches the host; each becomes a library error."""

    def test_an_unreachable_database_is_a_store_error(self) -> None:
        store = SQLStore.from_url(
            "postgresql+psycopg://postgres@127.0.0.1:1/none", connect_args={"connect_timeout": 2}
        )
        billing, _ = billing_on(store)
        with pytest.raises(StoreError) as failed:
            billing.create_workspace(owner="alice", name="Acme")
        assert failed.value.code == "store_error"
        assert isinstance(failed.value.__cause__, sa.exc.SQLAlchemyError)

    def test_a_locked_sqlite_database_is_a_conflict_and_changes_nothing(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "busy.db"
        store = SQLStore.from_url(
            f"sqlite:///{path}", create_schema=True, connect_args={"timeout": 0.05}
        )
        billing, _ = billing_on(store)
        ws = billing.create_workspace(owner="alice", name="Acme")
        before = store.snapshot()
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(Conflict, match="busy"):
                billing.add_member(ws.id, actor="alice", user="bob")
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert store.snapshot() == before
        billing.add_member(ws.id, actor="alice", user="bob")
        store.dispose()

    @pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "not a url"])
    def test_urls_that_cannot_hold_a_store_are_refused(self, url: str) -> None:
        with pytest.raises(InvalidRequest):
            SQLStore.from_url(url)

    def test_the_store_names_its_database_without_the_password(self) -> None:
        store = SQLStore.from_url("postgresql+psycopg://user:s3cret@127.0.0.1:1/db")
        assert "s3cret" not in repr(store)
        assert "s3cret" not in store.url


def test_postgres_url_variable_is_documented() -> None:
    """The variable the PostgreSQL tests read is the one .ci/run exports."""
    ci = (Path(__file__).resolve().parents[2] / ".ci" / "run").read_text()
    assert f"export {POSTGRES_ENV}=" in ci
    assert os.environ.get("CI") != "true" or os.environ.get(POSTGRES_ENV)


class TestOutboxOrder:
    """Rule R16 on PostgreSQL: an outbox reader never skips an event committed late."""

    def test_events_of_a_transaction_still_running_hold_back_later_ones(
        self, postgres_engine: sa.Engine
    ) -> None:
        from datetime import UTC, datetime

        from workspace_billing import Event, EventType

        _wipe(postgres_engine)
        store = SQLStore(postgres_engine)

        def event(subject: str) -> Event:
            at = datetime(2026, 1, 1, tzinfo=UTC)
            return Event(EventType.MEMBER_ADDED, "ws_1", at, actor="a", subject=subject)

        def read(after: int = 0) -> list[str]:
            with store.unit_of_work(read_only=True) as uow:
                return [e.subject or "" for e in uow.events_after(after, 100)]

        with store.unit_of_work() as slow:
            slow.append_events([event("first")])
            with store.unit_of_work() as fast:
                fast.append_events([event("second")])
            assert read() == []  # "second" waits for the older, still open transaction
        assert read() == ["first", "second"]
        with store.unit_of_work() as later:
            (recorded,) = later.append_events([event("third")])
        assert recorded.cursor > max(e.cursor for e in store.snapshot().events[:2])
        assert read() == ["first", "second", "third"]


_SAME = Codec(datetime_out=lambda v: v, datetime_in=lambda v: v, json_out=dict, json_in=dict)
"""Python values as they are: for writing through SQLAlchemy's column types."""


def raw_rows(engine: sa.Engine, table: sa.Table, order: sa.ColumnElement[Any]) -> list[Any]:
    """The rows as the driver returns them: SQLite's text, PostgreSQL's values."""
    query = sa.select(*raw_columns(table)).order_by(order)
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(query)]


class TestStoredFormat:
    """The store converts values itself; it stores exactly what the column types store."""

    @pytest.mark.parametrize(
        "at",
        [
            datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
            datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC),
            datetime(2026, 3, 1, 0, 30, 0, 5, tzinfo=timezone(timedelta(hours=2))),
            datetime(999, 1, 2, tzinfo=UTC),
        ],
        ids=["whole-second", "microseconds", "other-offset", "year-999"],
    )
    def test_workspaces_members_and_events_are_stored_as_the_column_types_store_them(
        self, sql_engine: sa.Engine, at: datetime
    ) -> None:
        store = SQLStore(sql_engine)
        sub = Subscription(
            plan="enterprise", status=SubscriptionStatus.ACTIVE, seats=3,
            period_start=at, period_end=at + timedelta(days=31), anchor=at,
            cancel_at_period_end=True, unit_amount=Money(900, "EUR"),
        )  # fmt: skip
        mine = Workspace(id="a", name="A", owner="o", created_at=at, subscription=sub, due_at=at)
        member = Member("a", "u", Role.ADMIN, MemberStatus.DEACTIVATED, at, at, 1, at)
        event = Event(
            type=EventType.MEMBER_DEACTIVATED, workspace_id="a", at=at, subject="u",
            before={"status": "active"}, after={"n": 1, "x": None, "ok": True}, data={},
        )  # fmt: skip
        with store.unit_of_work() as uow:
            uow.add_workspace(mine)
            uow.save_member(member)
            uow.append_events([event])
        with sql_engine.begin() as conn:
            conn.execute(sa.insert(workspaces), workspace_row(attrs.evolve(mine, id="b"), _SAME))
            conn.execute(
                sa.insert(members), member_row(attrs.evolve(member, workspace_id="b"), _SAME)
            )
            conn.execute(sa.insert(events), event_row(attrs.evolve(event, workspace_id="b"), _SAME))
        for table, key, ws_column in (
            (workspaces, workspaces.c.id, 0),
            (members, members.c.workspace_id, 0),
            (events, events.c.workspace_id, 2),
        ):
            by_store, by_types = raw_rows(sql_engine, table, key)
            differs = [
                (column.name, a, b)
                for column, a, b in zip(table.columns, by_store, by_types, strict=True)
                if a != b
                and column.name != "cursor"
                and column.name != table.columns[ws_column].name
            ]
            assert differs == []
        stored = store.snapshot()
        assert stored.workspaces[0] == mine
        assert stored.members[0] == member
        assert [e for e in stored.events if e.workspace_id == "a"] == [event]

    @given(
        st.dictionaries(
            st.text(),
            st.one_of(
                st.text(), st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False)
            ),
        )
    )
    def test_event_payloads_are_the_text_json_dumps_writes(self, payload: dict[str, Any]) -> None:
        """The SQLite codec writes an event's mappings itself (text and whole numbers),
        byte for byte as ``json.dumps`` does, and hands anything else to it."""
        assert codec_for("sqlite").json_out(payload) == json.dumps(payload)

    def test_an_engine_binding_by_name_runs_the_batch_writes(self, tmp_path: Path) -> None:
        """The batch statements follow the engine's parameter style."""
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'named.db'}", paramstyle="named")
        store = SQLStore(engine)
        store.create_schema()
        clock = FakeClock()
        provider = FakePaymentProvider(clock=clock)
        billing = Billing(catalog=Catalog.default(), store=store, provider=provider, clock=clock)
        billing.create_workspace(owner="alice", name="Acme", workspace_id="ws_1")
        for user in ("bob", "carol"):
            billing.add_member("ws_1", actor="alice", user=user)
        billing.apply_custom_terms(
            "ws_1", operator="ops", seats=5, unit_amount=Money(900, "EUR"), interval="month"
        )
        clock.advance(days=40)
        assert billing.run_renewals().changed == 1
        assert billing.workspace("ws_1").subscription.period_start is not None
        engine.dispose()


def acme_on_its_own_file(path: Path) -> tuple[SQLStore, Billing, Workspace]:
    """A store that opened its SQLite file itself (``from_url``), and a workspace."""
    store = SQLStore.from_url(f"sqlite:///{path}", create_schema=True)
    billing, _ = billing_on(store)
    return store, billing, billing.create_workspace(owner="alice", name="Acme")


def _thread_connections(store: SQLStore) -> dict[str, Any]:
    """The calling thread's connections of ``store`` (None before its first use): its
    driver connection for reads, its SQLAlchemy connection for units of work."""
    threads = store._threads
    assert threads is not None
    held = {slot: getattr(threads._local, slot, None) for slot in ("reader", "writer")}
    return {slot: one.conn if one is not None else None for slot, one in held.items()}
