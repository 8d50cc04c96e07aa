"""The FastAPI router: the billing page's API and the webhook route, through
FastAPI's own test client (R3, R5, R6, R8, R9, R13, R14); ``integrations/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="pip install -e '.[dev]' (the fastapi extra) to run these")

import jsonschema
from fastapi import FastAPI, Header, HTTPException
from fastapi.testclient import TestClient

from workspace_billing import Billing, BillingError, Catalog, ProviderError
from workspace_billing.integrations.fastapi import billing_error_handler, billing_router
from workspace_billing.integrations.web import ReturnUrls, negotiate_locale
from workspace_billing.storage.sql import SQLStore
from workspace_billing.testing import FakeClock, FakePaymentProvider, InMemoryStore

URLS = ReturnUrls(
    success="https://app.example/w/{workspace_id}/billing?paid=1",
    cancel="https://app.example/w/{workspace_id}/billing",
    portal="https://app.example/w/{workspace_id}/billing",
)


def signed_in(x_user: str | None = Header(default=None)) -> str:
    """The host's dependency: here a header names the user; none is a 401."""
    if not x_user:
        raise HTTPException(status_code=401, detail="sign in")
    return x_user


class Host:
    """A host app: the router under /billing, a route of its own calling Billing."""

    def __init__(self, store: Any = None) -> None:
        self.clock = FakeClock()
        self.provider = FakePaymentProvider(clock=self.clock)
        self.store = store if store is not None else InMemoryStore()
        self.billing = Billing(catalog=Catalog.default(), store=self.store,
                               provider=self.provider, clock=self.clock)  # fmt: skip
        app = FastAPI()
        app.include_router(
            billing_router(self.billing, current_user=signed_in, urls=URLS), prefix="/billing"
        )
        app.add_exception_handler(BillingError, billing_error_handler)

        @app.get("/own/{workspace_id}")
        def own_route(workspace_id: str) -> dict[str, str]:
            self.billing.workspace(workspace_id)
            return {"ok": workspace_id}

        self.client = TestClient(app)

    def as_user(self, user: str, method: str, path: str, **kw: Any) -> Any:
        headers = {"x-user": user, **kw.pop("headers", {})}
        return self.client.request(method, f"/billing{path}", headers=headers, **kw)

    def paid(self, seats: int = 3) -> str:
        """Alice's workspace on Business with ``seats`` seats, paid through the API."""
        ws = self.billing.create_workspace(owner="alice", name="Acme")
        done = self.as_user("alice", "POST", f"/workspaces/{ws.id}/upgrade",
                            json={"plan": "business", "seats": seats})  # fmt: skip
        assert done.status_code == 200, done.text
        self.provider.complete_checkout(done.json()["id"])
        for payload, headers in self.provider.take_webhooks():
            assert self.client.post("/billing/webhook", content=payload,
                                    headers=headers).status_code == 200  # fmt: skip
        return ws.id


@pytest.fixture(name="host")
def host_fixture() -> Host:
    return Host()


def check(value: Any, name: str) -> None:
    """``value`` is valid for docs/schema/``name``.schema.json (its $refs resolved)."""
    from tests.unit.test_json_values import REGISTRY, schema

    jsonschema.Draft202012Validator(schema(name), registry=REGISTRY).validate(value)


class TestTheBillingPage:
    def test_r3_the_owner_reads_the_subscription_as_the_json_schema_says(self, host: Host) -> None:
        ws_id = host.paid(seats=3)
        got = host.as_user("alice", "GET", f"/workspaces/{ws_id}/subscription")
        assert got.status_code == 200
        body = got.json()
        check(body, "subscription_overview")
        assert (body["plan"], body["seats"], body["status"]) == ("business", 3, "active")

    def test_r5_a_plain_member_is_refused_in_their_language(self, host: Host) -> None:
        ws_id = host.paid(seats=3)
        assert host.as_user("alice", "POST", f"/workspaces/{ws_id}/members",
                            json={"user": "bob"}).status_code == 201  # fmt: skip
        before = host.store.snapshot()

        got = host.as_user("bob", "GET", f"/workspaces/{ws_id}/subscription",
                           headers={"accept-language": "fr-CA,fr;q=0.9,en;q=0.5"})  # fmt: skip

        assert got.status_code == 403
        error = got.json()["error"]
        check({k: v for k, v in error.items() if k != "user_message"}, "error")
        assert error["code"] == "permission_denied"
        assert error["user_message"] != error["message"]
        assert "administrat" in error["user_message"]  # French: "administrateurs"
        assert host.store.snapshot() == before

    def test_r8_members_up_to_the_seats_then_the_refusal_says_to_buy_licences(
        self, host: Host
    ) -> None:
        ws_id = host.paid(seats=2)
        assert host.as_user("alice", "POST", f"/workspaces/{ws_id}/members",
                            json={"user": "bob"}).status_code == 201  # fmt: skip
        before = host.store.snapshot()

        got = host.as_user("alice", "POST", f"/workspaces/{ws_id}/members",
                           json={"user": "carol"})  # fmt: skip

        assert got.status_code == 409
        error = got.json()["error"]
        assert error["code"] == "seat_limit_reached"
        assert "licen" in error["user_message"]
        assert host.store.snapshot() == before
        listed = host.as_user("bob", "GET", f"/workspaces/{ws_id}/members").json()["members"]
        assert [m["user"] for m in listed] == ["alice", "bob"]

    def test_r9_seats_preview_and_change_role(self, host: Host) -> None:
        ws_id = host.paid(seats=2)
        host.as_user("alice", "POST", f"/workspaces/{ws_id}/members", json={"user": "bob"})
        preview = host.as_user("alice", "POST", f"/workspaces/{ws_id}/preview", json={"seats": 4})
        assert preview.status_code == 200
        assert preview.json()["seats"] == 4
        assert preview.json()["due_now"]["amount"] > 0
        seats = host.as_user("alice", "POST", f"/workspaces/{ws_id}/seats", json={"seats": 4})
        assert (seats.status_code, seats.json()["seats"]) == (200, 4)
        role = host.as_user("alice", "PATCH", f"/workspaces/{ws_id}/members/bob",
                            json={"role": "admin"})  # fmt: skip
        assert (role.status_code, role.json()["role"]) == (200, "admin")

    def test_r13_cancel_then_resume(self, host: Host) -> None:
        ws_id = host.paid(seats=2)
        cancel = host.as_user("alice", "POST", f"/workspaces/{ws_id}/cancel")
        assert (cancel.status_code, cancel.json()["cancel_at_period_end"]) == (200, True)
        resume = host.as_user("alice", "POST", f"/workspaces/{ws_id}/resume")
        assert (resume.status_code, resume.json()["cancel_at_period_end"]) == (200, False)

    def test_r6_the_return_urls_are_the_hosts_never_the_requests(
        self, host: Host, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        ws = host.billing.create_workspace(owner="alice", name="Acme")
        got = host.as_user("alice", "POST", f"/workspaces/{ws.id}/upgrade", json={
            "plan": "business", "seats": 2, "success_url": "https://evil.example/",
        })  # fmt: skip
        assert got.status_code == 200
        sent = host.provider.last_checkout_request
        assert sent is not None
        assert sent.success_url == f"https://app.example/w/{ws.id}/billing?paid=1"
        returns: list[str] = []
        portal_url = host.provider.portal_url

        def spy(customer_ref: str, *, return_url: str, idempotency_key: str) -> str:
            returns.append(return_url)
            return portal_url(customer_ref, return_url=return_url,
                              idempotency_key=idempotency_key)  # fmt: skip

        monkeypatch.setattr(host.provider, "portal_url", spy)
        portal = host.as_user("alice", "POST", f"/workspaces/{ws.id}/portal",
                              json={"return_url": "https://evil.example/"})  # fmt: skip
        assert portal.status_code == 200
        assert portal.json()["url"].startswith("https://")
        assert returns == [f"https://app.example/w/{ws.id}/billing"]

    def test_r7_enterprise_goes_to_sales(self, host: Host) -> None:
        ws = host.billing.create_workspace(owner="alice", name="Acme")
        got = host.as_user("alice", "POST", f"/workspaces/{ws.id}/contact-sales",
                           json={"message": "We are 400"})  # fmt: skip
        assert got.status_code == 201
        assert got.json()["type"] == "sales_contacted"

    def test_plans_and_entitlements(self, host: Host) -> None:
        ws = host.billing.create_workspace(owner="alice", name="Acme")
        plans = host.as_user("alice", "GET", "/plans").json()["plans"]
        assert [p["code"] for p in plans] == ["free", "business", "enterprise"]
        got = host.as_user("alice", "GET", f"/workspaces/{ws.id}/entitlements")
        assert got.status_code == 200
        assert "sso" in got.json()["flags"]
        stranger = host.as_user("mallory", "GET", f"/workspaces/{ws.id}/entitlements")
        assert (stranger.status_code, stranger.json()["error"]["code"]) == (404, "not_a_member")


class TestInvoicesInvitationsAndCancelNow:
    def test_r5_invoices_newest_first_for_the_owner_only(self, host: Host) -> None:
        ws_id = host.paid(seats=2)
        host.as_user("alice", "POST", f"/workspaces/{ws_id}/seats", json={"seats": 3})
        got = host.as_user("alice", "GET", f"/workspaces/{ws_id}/invoices?limit=5")
        assert got.status_code == 200
        invoices = got.json()["invoices"]
        assert len(invoices) == 2
        for invoice in invoices:
            check(invoice, "invoice")
        assert invoices[0]["created_at"] >= invoices[1]["created_at"]
        bad = host.as_user("alice", "GET", f"/workspaces/{ws_id}/invoices?limit=lots")
        assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_number")
        host.as_user("alice", "POST", f"/workspaces/{ws_id}/members", json={"user": "bob"})
        assert host.as_user("bob", "GET", f"/workspaces/{ws_id}/invoices").status_code == 403

    def test_r8_an_invitation_holds_a_seat_until_accepted(self, host: Host) -> None:
        ws_id = host.paid(seats=2)
        sent = host.as_user("alice", "POST", f"/workspaces/{ws_id}/invitations",
                            json={"email": "Bob@Example.com"})  # fmt: skip
        assert sent.status_code == 201
        check(sent.json(), "invitation")
        full = host.as_user("alice", "POST", f"/workspaces/{ws_id}/members",
                            json={"user": "carol"})  # fmt: skip
        assert full.json()["error"]["code"] == "seat_limit_reached"
        listed = host.as_user("alice", "GET", f"/workspaces/{ws_id}/invitations").json()
        assert [i["email"] for i in listed["invitations"]] == ["bob@example.com"]

        joined = host.as_user("bob", "POST", f"/invitations/{sent.json()['id']}/accept")

        assert (joined.status_code, joined.json()["user"]) == (200, "bob")
        assert host.as_user("bob", "GET", f"/workspaces/{ws_id}/invitations").status_code == 403
        again = host.as_user("dave", "POST", f"/invitations/{sent.json()['id']}/accept")
        assert again.status_code == 404

    def test_r5_a_revoked_invitation_frees_its_seat(self, host: Host) -> None:
        ws_id = host.paid(seats=2)
        sent = host.as_user("alice", "POST", f"/workspaces/{ws_id}/invitations",
                            json={"email": "bob@example.com"}).json()  # fmt: skip
        gone = host.as_user("alice", "DELETE", f"/workspaces/{ws_id}/invitations/{sent['id']}")
        assert (gone.status_code, gone.json()) == (200, {"revoked": sent["id"]})
        added = host.as_user("alice", "POST", f"/workspaces/{ws_id}/members",
                             json={"user": "carol"})  # fmt: skip
        assert added.status_code == 201

    def test_r13_cancel_now_falls_back_at_once(self, host: Host) -> None:
        ws_id = host.paid(seats=2)
        refused = host.as_user("alice", "POST", f"/workspaces/{ws_id}/cancel",
                               json={"now": "yes"})  # fmt: skip
        assert refused.status_code == 400
        done = host.as_user("alice", "POST", f"/workspaces/{ws_id}/cancel", json={"now": True})
        assert (done.status_code, done.json()["status"]) == (200, "free")


class TestRequestsTheLibraryRefuses:
    def test_no_user_is_a_401_from_the_hosts_dependency(self, host: Host) -> None:
        ws = host.billing.create_workspace(owner="alice", name="Acme")
        assert host.client.get(f"/billing/workspaces/{ws.id}/subscription").status_code == 401

    @pytest.mark.parametrize(
        ("content", "field"),
        [(b"{not json", "body"), (b"[1, 2]", "body"), (b"{}", "user"), (b'{"user": 7}', None)],
    )
    def test_a_malformed_body_is_a_400_and_changes_nothing(
        self, host: Host, content: bytes, field: str | None
    ) -> None:
        ws = host.billing.create_workspace(owner="alice", name="Acme")
        before = host.store.snapshot()
        got = host.as_user("alice", "POST", f"/workspaces/{ws.id}/members", content=content,
                           headers={"content-type": "application/json"})  # fmt: skip
        assert got.status_code == 400
        error = got.json()["error"]
        assert error["code"].startswith("invalid")
        if field is not None:
            assert error["field"] == field
        assert host.store.snapshot() == before

    def test_an_unknown_workspace_is_a_404(self, host: Host) -> None:
        got = host.as_user("alice", "GET", "/workspaces/ws_missing/subscription")
        assert (got.status_code, got.json()["error"]["code"]) == (404, "not_found")

    def test_the_hosts_own_routes_answer_billing_errors_the_same_way(self, host: Host) -> None:
        got = host.client.get("/own/ws_missing", headers={"accept-language": "fr"})
        assert got.status_code == 404
        assert got.json()["error"]["code"] == "not_found"


class TestWebhookRoute:
    def test_r14_an_authentic_delivery_is_applied_once(self, host: Host) -> None:
        ws = host.billing.create_workspace(owner="alice", name="Acme")
        done = host.as_user("alice", "POST", f"/workspaces/{ws.id}/upgrade",
                            json={"plan": "business", "seats": 2})  # fmt: skip
        host.provider.complete_checkout(done.json()["id"])
        deliveries = host.provider.take_webhooks()
        assert deliveries
        for payload, headers in deliveries:
            first = host.client.post("/billing/webhook", content=payload, headers=headers)
            again = host.client.post("/billing/webhook", content=payload, headers=headers)
            assert first.status_code == again.status_code == 200
            assert again.json()["duplicates"] >= 1
        assert host.billing.workspace(ws.id).subscription.status.value == "active"

    def test_r14_a_forged_delivery_is_a_400_and_changes_nothing(self, host: Host) -> None:
        ws_id = host.paid(seats=2)
        host.as_user("alice", "POST", f"/workspaces/{ws_id}/seats", json={"seats": 3})
        payload, headers = host.provider.take_webhooks()[0]
        before = host.store.snapshot()
        got = host.client.post("/billing/webhook", content=payload + b" ", headers=headers)
        assert (got.status_code, got.json()["error"]["code"]) == (
            400, "webhook_verification_failed",
        )  # fmt: skip
        assert host.store.snapshot() == before

    def test_r14_a_provider_failure_is_a_5xx_so_the_provider_delivers_again(
        self, host: Host, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        ws_id = host.paid(seats=2)
        host.as_user("alice", "POST", f"/workspaces/{ws_id}/seats", json={"seats": 3})
        payload, headers = host.provider.take_webhooks()[0]

        def down(ref: str) -> Any:
            raise ProviderError("the provider is unreachable")

        monkeypatch.setattr(host.provider, "fetch_subscription", down)
        got = host.client.post("/billing/webhook", content=payload, headers=headers)
        assert got.status_code >= 500
        assert got.headers["retry-after"] == "1"
        monkeypatch.undo()
        again = host.client.post("/billing/webhook", content=payload, headers=headers)
        assert (again.status_code, again.json()["applied"]) == (200, 1)


def test_the_router_works_on_the_sql_store(tmp_path: Path) -> None:
    """The same API on SQLite: members added through it are in the database."""
    store = SQLStore.from_url(f"sqlite:///{tmp_path / 'host.db'}", create_schema=True)
    host = Host(store)
    ws_id = host.paid(seats=3)
    assert host.as_user("alice", "POST", f"/workspaces/{ws_id}/members",
                        json={"user": "bob"}).status_code == 201  # fmt: skip
    assert [m.user for m in host.billing.members(ws_id)] == ["alice", "bob"]
    store.dispose()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"), ("", "en"), ("fr", "fr"), ("fr-FR,fr;q=0.9", "fr"),
        ("de-DE,fr;q=0.5,en;q=0.8", "en"), ("de, fr;q=0.1", "fr"), ("en;q=oops, fr", "fr"),
        ("fr;q=0", "en"), ("fr;q=0, en;q=0.5", "en"),
    ],
)  # fmt: skip
def test_the_language_of_messages_follows_accept_language(
    header: str | None, expected: str
) -> None:
    assert negotiate_locale(header) == expected
