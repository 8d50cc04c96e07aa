"""Shared fixtures: the library wired as a host would wire it, on every store backend.

Every test that takes ``store`` (or ``billing``) runs once per backend:
``memory`` (the shipped fake), ``sqlite`` (a file per test) and ``postgres``.
PostgreSQL runs when ``WORKSPACE_BILLING_TEST_POSTGRES_URL`` names a database
the tests may wipe (``.ci/run`` sets it); elsewhere those tests skip and say
how to enable them, and in CI (``CI=true``) a missing PostgreSQL fails.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from workspace_billing import Billing, Catalog, Role, Store, Workspace
from workspace_billing.storage.schema import metadata
from workspace_billing.storage.sql import SQLStore
from workspace_billing.testing import FakeClock, FakePaymentProvider, InMemoryStore

POSTGRES_ENV = "WORKSPACE_BILLING_TEST_POSTGRES_URL"
BACKENDS = ("memory", "sqlite", "postgres")
StoreFactory = Callable[[], Store]


def postgres_url() -> str:
    """The scratch PostgreSQL database, or a skip (a failure in CI) saying how to get one."""
    url = os.environ.get(POSTGRES_ENV)
    if url:
        return url
    how = (
        f"set {POSTGRES_ENV}=postgresql+psycopg://postgres@127.0.0.1:5432/test "
        "(a database the tests may wipe; .ci/run creates one) to run the PostgreSQL tests"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required in CI: {how}")
    pytest.skip(how)


def pytest_report_header() -> str:
    if os.environ.get(POSTGRES_ENV):
        return f"workspace_billing: PostgreSQL tests run on {POSTGRES_ENV}"
    return (
        f"workspace_billing: PostgreSQL tests skip; set {POSTGRES_ENV}="
        "postgresql+psycopg://postgres@127.0.0.1:5432/test (a database they may wipe) to run them"
    )


@pytest.fixture(scope="session", name="postgres_engine")
def postgres_engine_fixture() -> Iterator[sa.Engine]:
    engine = sa.create_engine(postgres_url())
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA IF EXISTS wb_test_worlds CASCADE"))
        metadata.drop_all(conn)
    SQLStore(engine).create_schema()
    yield engine
    engine.dispose()


def _wipe(engine: sa.Engine) -> None:
    tables = ", ".join(t.name for t in metadata.sorted_tables if t.name != "wb_schema_version")
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


_world_numbers = itertools.count(1)


@pytest.fixture(name="store_factory", params=BACKENDS)
def store_factory_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Makes empty, independent stores of one backend; the first one is ``store``."""
    made: list[SQLStore] = []
    backend = request.param
    if backend == "memory":
        yield InMemoryStore
        return
    if backend == "sqlite":

        def sqlite_store() -> Store:
            path = tmp_path / f"billing-{len(made)}.db"
            made.append(SQLStore.from_url(f"sqlite:///{path}", create_schema=True))
            return made[-1]

        yield sqlite_store
    else:
        engine: sa.Engine = request.getfixturevalue("postgres_engine")
        _wipe(engine)
        schemas: list[str] = []

        def postgres_store() -> Store:
            if not made:  # the first store: the shared schema, wiped above
                made.append(SQLStore(engine))
                return made[-1]
            name = f"wb_world_{next(_world_numbers)}"
            with engine.begin() as conn:
                conn.execute(sa.text(f"CREATE SCHEMA {name}"))
            schemas.append(name)
            world = engine.execution_options(schema_translate_map={None: name})
            made.append(SQLStore(world))
            made[-1].create_schema()
            return made[-1]

        yield postgres_store
        with engine.begin() as conn:
            for name in schemas:
                conn.execute(sa.text(f"DROP SCHEMA {name} CASCADE"))
    for store in made:
        store.dispose()


@pytest.fixture(name="clock")
def clock_fixture() -> FakeClock:
    return FakeClock()


@pytest.fixture(name="catalog")
def catalog_fixture() -> Catalog:
    return Catalog.default()


@pytest.fixture(name="store")
def store_fixture(store_factory: StoreFactory) -> Store:
    return store_factory()


@pytest.fixture(name="provider")
def provider_fixture(clock: FakeClock) -> FakePaymentProvider:
    return FakePaymentProvider(clock=clock)


@pytest.fixture(name="billing")
def billing_fixture(
    catalog: Catalog, store: Store, provider: FakePaymentProvider, clock: FakeClock
) -> Billing:
    return Billing(catalog=catalog, store=store, provider=provider, clock=clock)


PaidWorkspace = Callable[..., Workspace]


@pytest.fixture(name="paid_workspace")
def paid_workspace_fixture(billing: Billing, provider: FakePaymentProvider) -> PaidWorkspace:
    """A workspace of ``owner`` on Business with ``seats`` paid, webhooks delivered.

    ``members`` are added (as plain members, or admins when named in ``admins``)
    after the payment, in the order given.
    """

    def make(
        seats: int = 3,
        *,
        owner: str = "alice",
        members: tuple[str, ...] = (),
        admins: tuple[str, ...] = (),
        interval: str = "month",
        workspace_id: str | None = None,
    ) -> Workspace:
        ws = billing.create_workspace(owner=owner, name="Acme", workspace_id=workspace_id)
        checkout = billing.upgrade(
            ws.id, actor=owner, plan="business", seats=seats, interval=interval,
            success_url="https://app.example/ok", cancel_url="https://app.example/cancel",
        )  # fmt: skip
        provider.complete_checkout(checkout.id)
        provider.deliver(billing.handle_webhook)
        for user in members:
            role = Role.ADMIN if user in admins else Role.MEMBER
            billing.add_member(ws.id, actor=owner, user=user, role=role)
        return billing.workspace(ws.id)

    return make
