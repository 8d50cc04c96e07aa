"""The Django app: the same billing API, the webhook view, ``manage.py billing_renew``
and a store on Django's database settings, through Django's own test client
(R3, R5, R8, R11, R14); ``integrations/django/``."""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("django", reason="pip install -e '.[dev]' (the django extra) to run these")

import django
import sqlalchemy as sa
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.http import HttpRequest
from django.test import Client
from django.urls import include, path

from workspace_billing import Billing, Catalog
from workspace_billing.integrations.django import conf
from workspace_billing.testing import FakeClock, FakePaymentProvider, InMemoryStore

PG_URL = os.environ.get("WORKSPACE_BILLING_TEST_POSTGRES_URL")
SQLITE_FILE = Path(tempfile.mkdtemp(prefix="wb_django_")) / "project.db"


def _pg_settings() -> dict[str, dict[str, Any]]:
    if not PG_URL:
        return {}
    url = sa.make_url(PG_URL)
    return {"pg": {"ENGINE": "django.db.backends.postgresql", "NAME": url.database,
                   "USER": url.username or "", "PASSWORD": url.password or "",
                   "HOST": url.host or "", "PORT": str(url.port or "")}}  # fmt: skip


if not settings.configured:
    settings.configure(
        SECRET_KEY="tests-only",
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF=__name__,
        USE_TZ=True,
        INSTALLED_APPS=["workspace_billing.integrations.django"],
        MIDDLEWARE=["django.middleware.csrf.CsrfViewMiddleware"],
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(SQLITE_FILE)},
            "other": {"ENGINE": "django.db.backends.mysql", "NAME": "nope"},
            **_pg_settings(),
        },
        WORKSPACE_BILLING={
            "BILLING": f"{__name__}.project_billing",
            "CURRENT_USER": f"{__name__}.header_user",
            "RETURN_URLS": {
                "success": "https://app.example/w/{workspace_id}/billing?paid=1",
                "cancel": "https://app.example/w/{workspace_id}/billing",
                "portal": "https://app.example/w/{workspace_id}/billing",
            },
        },
    )
    django.setup()

urlpatterns = [path("billing/", include("workspace_billing.integrations.django.urls"))]


class Project:
    """What the project's settings point at: one Billing per test."""

    billing: Billing
    provider: FakePaymentProvider
    clock: FakeClock


PROJECT = Project()


def project_billing() -> Billing:
    return PROJECT.billing


def header_user(request: HttpRequest) -> str | None:
    return request.headers.get("X-User") or None


@pytest.fixture(name="project", autouse=True)
def project_fixture() -> Iterator[Project]:
    PROJECT.clock = FakeClock()
    PROJECT.provider = FakePaymentProvider(clock=PROJECT.clock)
    PROJECT.billing = Billing(catalog=Catalog.default(), store=InMemoryStore(),
                              provider=PROJECT.provider, clock=PROJECT.clock)  # fmt: skip
    conf.billing.cache_clear()
    yield PROJECT
    conf.billing.cache_clear()


def call(method: str, url: str, user: str | None = "alice", body: Any = None, **kw: Any) -> Any:
    client = Client(**kw.pop("client", {}))
    headers = {"X-User": user} if user else {}
    headers.update(kw.pop("headers", {}))
    data = json.dumps(body) if body is not None else ""
    return client.generic(method, f"/billing/{url}", data, content_type="application/json",
                          headers=headers)  # fmt: skip


def paid(project: Project, seats: int) -> str:
    ws = project.billing.create_workspace(owner="alice", name="Acme")
    done = call("POST", f"workspaces/{ws.id}/upgrade", body={"plan": "business", "seats": seats})
    assert done.status_code == 200, done.content
    project.provider.complete_checkout(done.json()["id"])
    for payload, headers in project.provider.take_webhooks():
        got = Client().generic("POST", "/billing/webhook", payload, headers=headers)
        assert got.status_code == 200, got.content
    return ws.id


class TestTheViews:
    def test_r3_r8_the_owner_reads_the_subscription_and_adds_members_up_to_the_seats(
        self, project: Project
    ) -> None:
        ws_id = paid(project, seats=2)
        overview = call("GET", f"workspaces/{ws_id}/subscription")
        assert (overview.status_code, overview.json()["seats"]) == (200, 2)
        assert call("POST", f"workspaces/{ws_id}/members", body={"user": "bob"}).status_code == 201
        before = project.billing._store.snapshot()  # type: ignore[attr-defined]

        refused = call("POST", f"workspaces/{ws_id}/members", body={"user": "carol"},
                       headers={"Accept-Language": "fr"})  # fmt: skip

        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "seat_limit_reached"
        assert "licences" in refused.json()["error"]["user_message"]
        assert project.billing._store.snapshot() == before  # type: ignore[attr-defined]

    def test_r5_a_plain_member_is_refused_and_nobody_signed_in_is_a_401(
        self, project: Project
    ) -> None:
        ws_id = paid(project, seats=3)
        call("POST", f"workspaces/{ws_id}/members", body={"user": "bob"})
        assert call("GET", f"workspaces/{ws_id}/subscription", user="bob").status_code == 403
        assert call("GET", f"workspaces/{ws_id}/subscription", user=None).status_code == 401

    def test_one_path_answers_each_of_its_methods_and_refuses_others(
        self, project: Project
    ) -> None:
        ws_id = paid(project, seats=3)
        call("POST", f"workspaces/{ws_id}/members", body={"user": "bob"})
        role = call("PATCH", f"workspaces/{ws_id}/members/bob", body={"role": "admin"})
        assert (role.status_code, role.json()["role"]) == (200, "admin")
        assert call("DELETE", f"workspaces/{ws_id}/members/bob").status_code == 200
        wrong = call("PUT", f"workspaces/{ws_id}/members/bob")
        assert (wrong.status_code, wrong["Allow"]) == (405, "DELETE, PATCH")

    def test_r17_a_malformed_body_is_a_400_and_changes_nothing(self, project: Project) -> None:
        ws = project.billing.create_workspace(owner="alice", name="Acme")
        url = f"/billing/workspaces/{ws.id}/members"
        got = Client().generic("POST", url, b"{not json", headers={"X-User": "alice"})
        assert (got.status_code, got.json()["error"]["field"]) == (400, "body")
        assert [m.user for m in project.billing.members(ws.id)] == ["alice"]

    def test_csrf_protects_the_api_but_not_the_signed_webhook(self, project: Project) -> None:
        ws = project.billing.create_workspace(owner="alice", name="Acme")
        strict = {"client": {"enforce_csrf_checks": True}}
        forged = call("POST", f"workspaces/{ws.id}/members", body={"user": "bob"}, **strict)
        assert forged.status_code == 403
        assert [m.user for m in project.billing.members(ws.id)] == ["alice"]
        done = call("POST", f"workspaces/{ws.id}/upgrade", body={"plan": "business", "seats": 2})
        project.provider.complete_checkout(done.json()["id"])
        payload, headers = project.provider.take_webhooks()[0]
        hook = Client(enforce_csrf_checks=True).generic("POST", "/billing/webhook", payload,
                                                        headers=headers)  # fmt: skip
        assert hook.status_code == 200

    def test_r14_a_forged_webhook_is_a_400(self, project: Project) -> None:
        ws = project.billing.create_workspace(owner="alice", name="Acme")
        done = call("POST", f"workspaces/{ws.id}/upgrade", body={"plan": "business", "seats": 2})
        project.provider.complete_checkout(done.json()["id"])
        payload, headers = project.provider.take_webhooks()[0]
        got = Client().generic("POST", "/billing/webhook", payload + b"x", headers=headers)
        assert (got.status_code, got.json()["error"]["code"]) == (
            400, "webhook_verification_failed",
        )  # fmt: skip
        assert Client().get("/billing/webhook").status_code == 405


class TestInvitationsThroughTheViews:
    def test_r8_invite_then_accept_at_the_invitations_own_path(self, project: Project) -> None:
        ws_id = paid(project, seats=2)
        sent = call("POST", f"workspaces/{ws_id}/invitations", body={"email": "bob@example.com"})
        assert sent.status_code == 201
        listed = call("GET", f"workspaces/{ws_id}/invitations").json()["invitations"]
        assert [i["email"] for i in listed] == ["bob@example.com"]
        joined = call("POST", f"invitations/{sent.json()['id']}/accept", user="bob")
        assert (joined.status_code, joined.json()["user"]) == (200, "bob")
        assert call("GET", f"workspaces/{ws_id}/invitations", user="bob").status_code == 403


class TestTheRenewalCommand:
    def test_r11_billing_renew_applies_the_trial_end_and_reports(self, project: Project) -> None:
        ws = project.billing.create_workspace(owner="alice", name="Acme")
        for user in ("bob", "carol", "dave"):
            project.billing.add_member(ws.id, actor="alice", user=user)
        project.clock.advance(timedelta(days=15))
        out = io.StringIO()

        call_command("billing_renew", "--json", stdout=out)

        report = json.loads(out.getvalue())
        free_cap = project.billing.catalog.fallback_plan.member_cap
        assert free_cap == 2
        assert (report["examined"], report["changed"], report["deactivated"]) == (1, 1, 4 - 2)
        assert project.billing.workspace(ws.id).subscription.status.value == "free"
        again = io.StringIO()
        call_command("billing_renew", stdout=again)
        assert again.getvalue().startswith("0 examined, 0 changed")


class TestTheStoreOnDjangosDatabase:
    def test_sqlite_settings_give_a_store_on_the_same_file(self, project: Project) -> None:
        store = conf.store_from_settings(create_schema=True)
        try:
            project.billing = Billing(catalog=Catalog.default(), store=store,
                                      provider=project.provider, clock=project.clock)  # fmt: skip
            ws = project.billing.create_workspace(owner="alice", name="Acme")
            assert call("GET", f"workspaces/{ws.id}/subscription").status_code == 200
        finally:
            store.dispose()
        engine = sa.create_engine(f"sqlite:///{SQLITE_FILE}")
        with engine.connect() as conn:
            names = conn.execute(sa.text("SELECT name FROM wb_workspaces")).scalars().all()
        engine.dispose()
        assert names == ["Acme"]

    def test_postgresql_settings_give_a_store_on_that_database(self) -> None:
        if not PG_URL:
            pytest.skip("set WORKSPACE_BILLING_TEST_POSTGRES_URL to run the PostgreSQL case")
        store = conf.store_from_settings("pg", create_schema=True)
        try:
            billing = Billing(catalog=Catalog.default(), store=store,
                              provider=PROJECT.provider, clock=PROJECT.clock)  # fmt: skip
            ws = billing.create_workspace(owner="alice", name="On PostgreSQL")
            assert billing.workspace(ws.id).name == "On PostgreSQL"
        finally:
            store.dispose()
        engine = sa.create_engine(PG_URL)
        with engine.connect() as conn:
            found = conn.execute(sa.text("SELECT name FROM wb_workspaces WHERE id = :id"),
                                 {"id": ws.id}).scalar()  # fmt: skip
        engine.dispose()
        assert found == "On PostgreSQL"

    def test_an_unsupported_or_missing_database_is_improperly_configured(self) -> None:
        with pytest.raises(ImproperlyConfigured, match="SQLite or PostgreSQL"):
            conf.store_from_settings("other")
        with pytest.raises(ImproperlyConfigured, match="no database"):
            conf.store_from_settings("missing")
