"""Billing on the local provider, end to end: upgrade, pay on the checkout page, the
webhook, the workspace active; licences bought in the portal; a restart and the
CLI's ``--app`` on the same database (Rules R6, R9, R11, R14)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient
from tests.local_provider import local_app
from tests.local_provider.support import BASE_URL, empty_database

from workspace_billing import Billing, Catalog, SubscriptionStatus
from workspace_billing import cli as cli_module
from workspace_billing.providers.local import LocalPaymentProvider
from workspace_billing.storage.sql import SQLStore
from workspace_billing.testing import FakeClock

URLS = {
    "success_url": "https://host.example/billing?paid=1",
    "cancel_url": "https://host.example/billing",
}
VISA = {"card_number": "4242 4242 4242 4242", "expiry": "12/30", "cvc": "123"}


class Host:
    """A development server's wiring: one database, the store and the local provider."""

    def __init__(self, url: str, clock: FakeClock) -> None:
        self.store = SQLStore.from_url(url, create_schema=True)
        self.provider = LocalPaymentProvider.from_url(
            url, clock=clock, base_url=BASE_URL, create_schema=True, catalog=Catalog.default()
        )
        self.billing = Billing(catalog=Catalog.default(), store=self.store,
                               provider=self.provider, clock=clock)  # fmt: skip
        self.provider.deliver_to = self.billing.handle_webhook
        app = Starlette(routes=[Mount("/_local_billing", app=self.provider.pages())])
        self.browser = TestClient(app, follow_redirects=False)

    def stop(self) -> None:
        self.browser.close()
        self.provider.dispose()
        self.store.dispose()


@pytest.fixture(name="db", params=["sqlite", "postgres"])
def db_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    url = empty_database(request.param, tmp_path)
    if request.param == "postgres":
        import sqlalchemy as sa

        from workspace_billing.storage.schema import metadata

        engine = sa.create_engine(url)
        with engine.begin() as conn:
            metadata.drop_all(conn)
        engine.dispose()
    return url


@pytest.fixture(name="host")
def host_fixture(db: str, clock: FakeClock) -> Iterator[Host]:
    host = Host(db, clock)
    yield host
    host.stop()


def visit(url: str) -> str:
    assert url.startswith(BASE_URL)
    return url.removeprefix("http://testserver")


def paid_workspace(host: Host, seats: int = 3) -> str:
    ws = host.billing.create_workspace(owner="alice", name="Acme")
    checkout = host.billing.upgrade(ws.id, actor="alice", plan="business", seats=seats, **URLS)
    assert checkout.url is not None
    paid = host.browser.post(visit(checkout.url), data=VISA)
    assert paid.headers["location"] == URLS["success_url"]
    return ws.id


class TestUpgradeOnTheCheckoutPage:
    def test_paying_on_the_page_makes_the_workspace_active(self, host: Host) -> None:
        """Rule R6: upgrade → checkout page → the webhook, delivered in process → active."""
        ws = host.billing.create_workspace(owner="alice", name="Acme")
        assert host.billing.subscription(ws.id, actor="alice").status is SubscriptionStatus.TRIALING
        checkout = host.billing.upgrade(ws.id, actor="alice", plan="business", seats=5, **URLS)
        assert checkout.url is not None
        page = host.browser.get(visit(checkout.url))
        assert "60.00 EUR" in page.text
        trialing = host.billing.subscription(ws.id, actor="alice")
        assert trialing.status is SubscriptionStatus.TRIALING  # not paid yet
        host.browser.post(visit(checkout.url), data=VISA)
        overview = host.billing.subscription(ws.id, actor="alice")
        assert (overview.plan, overview.status, overview.seats) == (
            "business", SubscriptionStatus.ACTIVE, 5,
        )  # fmt: skip
        assert overview.payment_method is not None
        assert overview.payment_method.last4 == "4242"
        assert host.provider.pending_webhooks() == []
        assert [i.total.amount for i in host.billing.invoices(ws.id, actor="alice")] == [6000]

    def test_a_declined_card_leaves_the_workspace_as_it_was(self, host: Host) -> None:
        """Rule R6/R17."""
        ws = host.billing.create_workspace(owner="alice", name="Acme")
        before = host.billing.subscription(ws.id, actor="alice")
        checkout = host.billing.upgrade(ws.id, actor="alice", plan="business", seats=5, **URLS)
        assert checkout.url is not None
        host.browser.post(visit(checkout.url), data={**VISA, "card_number": "4000000000000002"})
        assert host.billing.subscription(ws.id, actor="alice") == before


class TestLicencesInThePortal:
    def test_licences_bought_in_the_portal_reach_the_workspace(
        self, host: Host, clock: FakeClock
    ) -> None:
        """Rule R9 via the portal: the webhook grants the seats; R18's amount was shown."""
        ws = paid_workspace(host, seats=3)
        clock.advance(timedelta(days=5))
        back = "https://host.example/billing"
        portal = visit(host.billing.billing_portal(ws, actor="alice", return_url=back))
        ref = host.billing.workspace(ws).subscription.subscription_ref
        home = host.browser.get(portal)
        assert f"{portal}/subscriptions/{ref}?" in home.text  # Update subscription
        assert back in home.text
        confirm = host.browser.get(f"{portal}/subscriptions/{ref}/confirm?seats=8")
        preview = host.billing.preview_change(ws, actor="alice", seats=8)
        due = preview.due_now.amount
        assert f"{due // 100}.{due % 100:02d} EUR" in confirm.text
        key = re.search(r'name="key" value="([^"]*)"', confirm.text)
        assert key is not None
        assert host.billing.subscription(ws, actor="alice").seats == 3
        host.browser.post(f"{portal}/subscriptions/{ref}/confirm",
                          data={"seats": "8", "key": key[1]})  # fmt: skip
        assert host.billing.subscription(ws, actor="alice").seats == 8

    def test_a_card_put_on_file_in_the_portal_reaches_the_billing_page(self, host: Host) -> None:
        """Rule R14: the new card is announced by ``customer.updated`` alone; the
        workspace's subscription is read again and the page shows the new card."""
        ws = paid_workspace(host, seats=3)
        portal = visit(host.billing.billing_portal(ws, actor="alice", return_url="https://h.x/"))
        mastercard = {"card_number": "5555 5555 5555 4444", "expiry": "01/31", "cvc": "123"}
        host.browser.post(f"{portal}/card", data=mastercard)
        card = host.billing.subscription(ws, actor="alice").payment_method
        assert card is not None
        assert (card.last4, card.exp_month, card.exp_year) == ("4444", 1, 2031)
        assert host.provider.pending_webhooks() == []


class TestRestart:
    def test_a_new_server_on_the_same_database_keeps_every_subscription(
        self, host: Host, db: str, clock: FakeClock
    ) -> None:
        """The issue's symptom: after a restart the paid workspace still renews (R11 path)."""
        ws = paid_workspace(host, seats=3)
        before = host.billing.subscription(ws, actor="alice")
        host.stop()
        again = Host(db, clock)
        try:
            assert again.billing.subscription(ws, actor="alice") == before
            clock.set(before.renews_at + timedelta(hours=1))
            report = again.billing.run_renewals()
            assert report.failed == ()
            renewed = again.billing.subscription(ws, actor="alice")
            assert renewed.status is SubscriptionStatus.ACTIVE
            assert renewed.renews_at > before.renews_at
        finally:
            again.stop()

    def test_the_cli_app_option_runs_renewals_on_the_local_provider(
        self, host: Host, db: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:  # fmt: skip
        """``workspace-billing renew --app`` builds its own provider on the database."""
        ws = paid_workspace(host, seats=3)
        renews_at = host.billing.subscription(ws, actor="alice").renews_at
        host.stop()
        monkeypatch.setenv("LOCAL_APP_NOW", (renews_at + timedelta(hours=2)).isoformat())
        try:
            status = cli_module.main(["renew", "--db", db, "--app",
                                      "tests.local_provider.local_app:make", "--json"])  # fmt: skip
        finally:
            while local_app.MADE:
                local_app.MADE.pop().dispose()
        out = json.loads(capsys.readouterr().out)
        assert status == 0
        assert (out["changed"], out["failed"]) == (1, [])
        clock.set(renews_at + timedelta(hours=3))
        again = Host(db, clock)
        try:
            assert again.billing.subscription(ws, actor="alice").renews_at > renews_at
        finally:
            again.stop()
