"""What the local provider's tests share: an empty database, a paid subscription."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from tests.conftest import postgres_url

from workspace_billing import Checkout, CheckoutRequest, Interval, Money
from workspace_billing.providers.local import LocalPaymentProvider, metadata

BASE_URL = "http://testserver/_local_billing"
"""Where the tests mount the pages (Starlette's TestClient calls its host ``testserver``)."""
PRICE = Money(1200, "EUR")


def empty_database(kind: str, tmp_path: Path) -> str:
    """The URL of a database without the provider's tables: a SQLite file, or the
    PostgreSQL test database (skipped, or failed in CI, when it is not set)."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'local.db'}"
    url = postgres_url()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        metadata.drop_all(conn)
    engine.dispose()
    return url


def checkout(
    local: LocalPaymentProvider, seats: int = 3, ws: str = "ws_1", plan: str = "business"
) -> tuple[str, Checkout]:
    """A customer of workspace ``ws`` and a checkout of ``seats`` licences of ``plan``."""
    customer = local.create_customer(
        workspace_id=ws, name="Acme", owner="alice", idempotency_key=f"test:{ws}:customer"
    )
    request = CheckoutRequest(
        workspace_id=ws,
        customer_ref=customer,
        plan=plan,
        interval=Interval.MONTH,
        seats=seats,
        unit_amount=PRICE,
        success_url="https://host.example/billing/ok",
        cancel_url="https://host.example/billing",
    )
    return customer, local.create_checkout(request, idempotency_key=f"test:{ws}:checkout:{seats}")


def paid(local: LocalPaymentProvider, seats: int = 3, ws: str = "ws_1") -> tuple[str, str]:
    """A subscription paid through the checkout with the test Visa; (customer, subscription)."""
    customer, started = checkout(local, seats, ws)
    return customer, local.complete_checkout(started.id)
