"""Shared fixtures: the library's own fakes, wired as a host would wire them."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from workspace_billing import Billing, Catalog, Role, Workspace
from workspace_billing.testing import FakeClock, FakePaymentProvider, InMemoryStore


@pytest.fixture(name="clock")
def clock_fixture() -> FakeClock:
    return FakeClock()


@pytest.fixture(name="catalog")
def catalog_fixture() -> Catalog:
    return Catalog.default()


@pytest.fixture(name="store")
def store_fixture() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture(name="provider")
def provider_fixture(clock: FakeClock) -> FakePaymentProvider:
    return FakePaymentProvider(clock=clock)


@pytest.fixture(name="billing")
def billing_fixture(
    catalog: Catalog, store: InMemoryStore, provider: FakePaymentProvider, clock: FakeClock
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
