"""JSON-ready values: ``to_dict()`` gives JSON types only, in one form, valid against
the schemas of docs/schema (docs/json.md).

The values are built through a real ``Billing`` on every store backend, so what is
checked is what a host gets back; each dict is compared with the value it came
from, attribute by attribute, by the rules the docs state.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from tests.conftest import PaidWorkspace

from workspace_billing import (
    Billing,
    BoundaryKind,
    Catalog,
    CheckoutRequest,
    Entitlements,
    Event,
    EventType,
    Feature,
    FeatureKind,
    FeatureMatrix,
    Interval,
    Invitation,
    Invoice,
    InvoiceStatus,
    Member,
    MemberStatus,
    Money,
    PaymentFailed,
    PaymentMethod,
    Plan,
    PricePreview,
    ReconcileReport,
    RenewalPreview,
    RenewalReport,
    Role,
    Subscription,
    SubscriptionOverview,
    SubscriptionStatus,
    WebhookResult,
    Workspace,
)
from workspace_billing.money import MAX_AMOUNT
from workspace_billing.testing import FakeClock, FakePaymentProvider

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schema"
REGISTRY: Registry[Any] = Registry().with_resources(
    (path.name, Resource.from_contents(json.loads(path.read_text())))
    for path in SCHEMAS.glob("*.schema.json")
)
SCHEMA_OF: dict[type, str] = {
    SubscriptionOverview: "subscription_overview",
    PricePreview: "price_preview",
    RenewalPreview: "renewal_preview",
    Member: "member",
    Workspace: "workspace",
    Subscription: "subscription",
    Event: "event",
    Entitlements: "entitlements",
    Plan: "plan",
    Feature: "feature",
    FeatureMatrix: "feature_matrix",
    Money: "money",
    RenewalReport: "renewal_report",
    ReconcileReport: "reconcile_report",
    WebhookResult: "webhook_result",
    Invoice: "invoice",
    PaymentMethod: "payment_method",
    Invitation: "invitation",
}
DERIVED: dict[type, set[str]] = {SubscriptionOverview: {"seats_available"}}
"""Properties a dict adds to the attributes (docs/json.md says which)."""
UTC_TEXT = re.compile(r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\Z")
START = "2026-01-01T09:00:00Z"  # FakeClock's default start
RENEWAL = "2026-02-01T09:00:00Z"


def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    return loaded


def utc_text(when: datetime) -> str:
    """The documented form, written independently of the library's helper."""
    return f"{when.astimezone(UTC):%Y-%m-%dT%H:%M:%S}Z"


def expected(value: object) -> object:
    """What the rules of docs/json.md make of ``value``: attributes by name, datetimes
    as UTC text, enums as values, tuples as lists, sets sorted, nested values as dicts."""
    if isinstance(value, enum.Enum):
        return value.value
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, datetime):
        return utc_text(value)
    if isinstance(value, tuple | list):
        return [expected(v) for v in value]
    if isinstance(value, frozenset):
        return sorted(value)
    if isinstance(value, Mapping):
        return {str(expected(k)): expected(v) for k, v in value.items()}
    assert attrs.has(type(value)), f"no rule for {type(value).__name__}"
    found = {
        f.name: expected(getattr(value, f.name))
        for f in attrs.fields(type(value))
        if not f.name.startswith("_")
    }
    for name in DERIVED.get(type(value), set()):
        found[name] = expected(getattr(value, name))
    return found


def assert_json_types(data: object, where: str = "$") -> None:
    """Exactly JSON's types: no tuple, no enum (a ``str`` subclass that survives
    ``json.dumps``), no datetime, no float."""
    assert type(data) in {dict, list, str, int, bool, type(None)}, f"{where}: {type(data)}"
    if isinstance(data, dict):
        for key, item in data.items():
            assert type(key) is str, f"{where}: key {key!r}"
            assert_json_types(item, f"{where}.{key}")
    elif isinstance(data, list):
        for index, item in enumerate(data):
            assert_json_types(item, f"{where}[{index}]")


def check(value: Any) -> dict[str, Any]:
    """The dict of ``value``: JSON types only, a lossless JSON round trip, valid
    against its schema, and each attribute converted by the documented rules."""
    data: dict[str, Any] = value.to_dict()
    assert_json_types(data)
    assert json.loads(json.dumps(data)) == data
    validator = Draft202012Validator(schema(SCHEMA_OF[type(value)]), registry=REGISTRY)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(data)]
    assert not errors, errors
    assert data == expected(value)
    derived = DERIVED.get(type(value), set())
    in_order = [f.name for f in attrs.fields(type(value)) if not f.name.startswith("_")]
    assert [key for key in data if key not in derived] == in_order
    return data


def money(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "EUR"}


class TestSchemas:
    def test_every_schema_is_valid_draft_2020_12(self) -> None:
        """Each file under docs/schema is itself a valid draft 2020-12 schema."""
        paths = sorted(SCHEMAS.glob("*.schema.json"))
        assert paths
        for path in paths:
            loaded = json.loads(path.read_text())
            assert loaded["$schema"] == "https://json-schema.org/draft/2020-12/schema"
            Draft202012Validator.check_schema(loaded)

    def test_there_is_one_schema_per_dict_and_nothing_else(self) -> None:
        """Every value with ``to_dict`` has a schema; the only shared piece is the timestamp."""
        names = {p.name.removesuffix(".schema.json") for p in SCHEMAS.glob("*.schema.json")}
        assert names == {*SCHEMA_OF.values(), "timestamp", "error"}  # errors: test_error_codes
        for cls in SCHEMA_OF:
            assert callable(getattr(cls, "to_dict", None)), cls.__name__

    def test_each_schema_requires_exactly_the_attributes(self) -> None:
        """Keys are the attribute names (plus the documented derived ones), all required."""
        for cls, name in SCHEMA_OF.items():
            loaded = schema(name)
            names = [f.name for f in attrs.fields(cls) if not f.name.startswith("_")]
            names += sorted(DERIVED.get(cls, set()))
            assert set(loaded["properties"]) == set(names), name
            assert set(loaded["required"]) == set(names), name
            assert loaded["additionalProperties"] is False, name

    @pytest.mark.parametrize(
        ("name", "path", "values"),
        [
            ("member", ["role"], Role),
            ("member", ["status"], MemberStatus),
            ("subscription", ["status"], SubscriptionStatus),
            ("subscription", ["interval"], Interval),
            ("subscription_overview", ["status"], SubscriptionStatus),
            ("subscription_overview", ["interval"], Interval),
            ("price_preview", ["interval"], Interval),
            ("renewal_preview", ["kind"], BoundaryKind),
            ("feature", ["kind"], FeatureKind),
            ("event", ["type"], EventType),
            ("plan", ["prices", "propertyNames"], Interval),
            ("reconcile_report", ["repaired", "items", "prefixItems", 1, "items"], EventType),
            ("invoice", ["status"], InvoiceStatus),
        ],
    )
    def test_the_schemas_enums_are_the_librarys(
        self, name: str, path: list[str | int], values: type[enum.StrEnum]
    ) -> None:
        """An enum value added in the code without its schema fails here: update the schema."""
        node: Any = schema(name)["properties"]
        for step in path:
            node = node[step]
        listed = [v for v in node["enum"] if v is not None]
        assert listed == [v.value for v in values], f"docs/schema/{name}.schema.json"


class TestSubscriptionOverview:
    def test_a_paid_workspace_with_a_decrease_scheduled(
        self, billing: Billing, paid_workspace: PaidWorkspace
    ) -> None:
        """Rule R3 as JSON: money in minor units, UTC datetimes, features and preview nested."""
        ws = paid_workspace(seats=3, members=("bob", "carol"))
        billing.change_seats(ws.id, actor="alice", seats=2)
        data = check(billing.subscription(ws.id, actor="alice"))
        assert (data["plan"], data["status"], data["interval"]) == ("business", "active", "month")
        assert (data["seats"], data["seats_used"], data["seats_available"]) == (3, 3, 0)
        assert (data["pending_seats"], data["pending_seats_at"]) == (2, RENEWAL)
        assert (data["period_start"], data["renews_at"]) == (START, RENEWAL)
        assert data["price_per_seat"] == money(1200)
        assert (data["total"], data["next_total"]) == (money(3600), money(2400))
        assert data["features"] == {
            "plan": "business",
            "flags": ["api_access", "audit_log", "sso"],
            "limits": {"projects": None, "storage_gb": 100},
        }
        assert data["preview"]["kind"] == "renewal"
        assert data["preview"]["at"] == RENEWAL
        assert [m["user"] for m in data["preview"]["deactivate"]] == ["carol"]

    def test_a_trial(self, billing: Billing) -> None:
        """A trial has its end as UTC text and no amounts (null, not zero)."""
        ws = billing.create_workspace(owner="alice", name="Acme")
        billing.add_member(ws.id, actor="alice", user="bob")
        data = check(billing.subscription(ws.id, actor="alice"))
        assert data["status"] == "trialing"
        assert data["trial_ends_at"] == "2026-01-15T09:00:00Z"
        assert data["seats_available"] == data["seats"] - 2
        assert data["price_per_seat"] is None
        assert data["total"] is None
        assert data["preview"]["kind"] == "trial_end"

    def test_past_due_in_grace(
        self,
        billing: Billing,
        paid_workspace: PaidWorkspace,
        provider: FakePaymentProvider,
        clock: FakeClock,
    ) -> None:
        """Rule R12 as JSON: the grace end is a UTC datetime; the workspace shows since when."""
        ws = paid_workspace(seats=2)
        provider.fail_next_payment()
        clock.set(datetime(2026, 2, 1, 9, 1, 30, 250_000, tzinfo=UTC))
        provider.deliver(billing.handle_webhook)
        data = check(billing.subscription(ws.id, actor="alice"))
        assert data["status"] == "past_due"
        assert data["preview"]["kind"] == "grace_end"
        workspace = check(billing.workspace(ws.id))
        since = workspace["subscription"]["past_due_since"]
        assert UTC_TEXT.match(since)
        grace = datetime.fromisoformat(since) + Catalog.default().grace_period
        assert data["grace_ends_at"] == utc_text(grace)


class TestPricePreview:
    def test_a_decrease_names_who_would_go(
        self, billing: Billing, paid_workspace: PaidWorkspace
    ) -> None:
        """Rule R18 as JSON: amounts as money, ``deactivate`` as member dicts, last added first."""
        ws = paid_workspace(seats=3, members=("bob", "carol"))
        data = check(billing.preview_change(ws.id, actor="alice", seats=1))
        assert (data["plan"], data["interval"], data["seats"], data["seats_now"]) == (
            "business",
            "month",
            1,
            3,
        )
        assert (data["due_now"], data["recurring"]) == (money(0), money(1200))
        assert data["applies_at"] == RENEWAL
        assert [(m["user"], m["role"], m["status"]) for m in data["deactivate"]] == [
            ("carol", "member", "active"),
            ("bob", "member", "active"),
        ]

    def test_an_upgrade_from_the_trial(self, billing: Billing) -> None:
        """An upgrade is charged once paid: ``applies_at`` is null."""
        ws = billing.create_workspace(owner="alice", name="Acme")
        data = check(
            billing.preview_change(ws.id, actor="alice", plan="business", seats=4, interval="year")
        )
        assert (data["interval"], data["applies_at"], data["deactivate"]) == ("year", None, [])
        assert data["recurring"] == money(48000)


class TestMembersAndWorkspaces:
    def test_members_and_their_renewal_preview(
        self, billing: Billing, paid_workspace: PaidWorkspace, clock: FakeClock
    ) -> None:
        """Members in UTC text, owner included; the renewal preview nests them."""
        ws = paid_workspace(seats=3, members=("bob",), admins=("bob",))
        clock.advance(minutes=5, seconds=7)
        billing.add_member(ws.id, actor="alice", user="carol")
        billing.change_seats(ws.id, actor="alice", seats=2)
        members = {m.user: check(m) for m in billing.members(ws.id)}
        assert members["alice"]["role"] == "owner"
        assert members["bob"]["role"] == "admin"
        assert members["carol"]["added_at"] == "2026-01-01T09:05:07Z"
        assert members["carol"]["deactivated_at"] is None
        preview = check(billing.preview_renewal(ws.id))
        assert preview["deactivate"] == [members["carol"]]

    def test_a_deactivated_member(
        self, billing: Billing, paid_workspace: PaidWorkspace, clock: FakeClock
    ) -> None:
        """After R11, ``deactivated_at`` is the renewal's UTC time."""
        ws = paid_workspace(seats=3, members=("bob", "carol"))
        billing.change_seats(ws.id, actor="alice", seats=2)
        clock.set(datetime(2026, 2, 1, 9, 0, tzinfo=UTC))
        report = check(billing.run_renewals())
        assert report["deactivated"] == 1
        carol = check(billing.member(ws.id, "carol"))
        assert (carol["status"], carol["deactivated_at"]) == ("deactivated", RENEWAL)

    def test_a_workspace_nests_its_subscription(
        self, billing: Billing, paid_workspace: PaidWorkspace
    ) -> None:
        """The workspace's ``subscription`` is the subscription's own dict."""
        ws = paid_workspace(seats=3)
        data = check(billing.workspace(ws.id))
        assert data["subscription"] == check(ws.subscription)
        assert (data["id"], data["owner"], data["created_at"]) == (ws.id, "alice", START)
        assert data["subscription"]["unit_amount"] == money(1200)
        assert data["due_at"] == data["subscription"]["period_end"] == RENEWAL
        assert [check(w)["id"] for w in billing.workspaces_of("alice")] == [ws.id]


class TestInvitations:
    def test_an_invitation_and_the_seat_it_holds(
        self, billing: Billing, paid_workspace: PaidWorkspace, clock: FakeClock
    ) -> None:
        """Rules R8 and R11 as JSON: the invitation, the overview's count of what it
        holds, the preview's ``revoke`` and the events; its id is in no event."""
        ws = paid_workspace(seats=3, members=("bob",))
        clock.advance(days=27, minutes=5)  # the invitation is still pending at the renewal
        invitation = billing.invite(ws.id, actor="alice", email=" Carol@Example.COM ", role="admin")
        data = check(invitation)
        assert (data["email"], data["role"], data["invited_by"]) == (
            "carol@example.com",
            "admin",
            "alice",
        )
        assert (data["created_at"], data["expires_at"]) == (
            "2026-01-28T09:05:00Z",
            "2026-02-04T09:05:00Z",
        )
        billing.change_seats(ws.id, actor="alice", seats=2)
        page = check(billing.subscription(ws.id, actor="alice"))
        assert (page["seats_used"], page["invitations_pending"], page["seats_available"]) == (
            3,
            1,
            0,
        )
        assert page["preview"]["revoke"] == [data]
        assert page["preview"]["deactivate"] == []
        created = check(billing.events()[-2])
        assert created["type"] == "invitation_created"
        assert (created["subject"], created["data"]) == (
            "carol@example.com",
            {"role": "admin", "expires_at": "2026-02-04T09:05:00Z"},
        )
        assert all(invitation.id not in json.dumps(check(e)) for e in billing.events())


class TestEvents:
    def test_every_event_of_a_story(self, billing: Billing, paid_workspace: PaidWorkspace) -> None:
        """Rule R16 as JSON: each event validates, with its cursor and UTC time."""
        ws = paid_workspace(seats=3, members=("bob",))
        billing.change_role(ws.id, actor="alice", user="bob", role=Role.ADMIN)
        billing.change_seats(ws.id, actor="alice", seats=2)
        billing.contact_sales(ws.id, actor="alice", message="200 seats")
        events = billing.events()
        dicts = [check(event) for event in events]
        assert [d["cursor"] for d in dicts] == [e.cursor for e in events]
        assert all(d["at"] == START for d in dicts)
        assert dicts[0]["type"] == "workspace_created"
        assert (dicts[-1]["type"], dicts[-1]["actor"]) == ("sales_contacted", "alice")
        assert dicts[-1]["data"]["message"] == "200 seats"

    def test_an_enum_in_an_events_data_is_its_value(self) -> None:
        """Whatever the store kept (an enum in memory, text in SQL), the dict holds plain text."""
        at = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
        event = Event(EventType.ROLE_CHANGED, "ws_1", at, after={"role": Role.ADMIN, "n": 2})
        data = check(event)
        assert type(data["after"]["role"]) is str
        assert data["after"] == {"role": "admin", "n": 2}


class TestCatalogValues:
    def test_entitlements_plans_and_the_matrix(self, billing: Billing) -> None:
        """Rule R4 as JSON: flags sorted, null is unlimited, prices by interval."""
        ws = billing.create_workspace(owner="alice", name="Acme")
        assert check(billing.entitlements(ws.id))["limits"] == {"projects": None, "storage_gb": 100}
        plans = {p.code: check(p) for p in billing.plans()}
        assert plans["business"]["prices"] == {"month": money(1200), "year": money(12000)}
        assert plans["free"]["prices"] == {}
        assert plans["enterprise"]["self_serve"] is False
        matrix = check(billing.catalog.compare())
        assert [p["code"] for p in matrix["plans"]] == ["free", "business", "enterprise"]
        assert matrix["rows"][0] == [3, None, None]  # projects


class TestReports:
    def test_a_webhook_delivery(self, billing: Billing, provider: FakePaymentProvider) -> None:
        """What each delivery did, as counts."""
        ws = billing.create_workspace(owner="alice", name="Acme")
        checkout = billing.upgrade(
            ws.id, actor="alice", plan="business", seats=2, interval="month",
            success_url="https://app.example/ok", cancel_url="https://app.example/cancel",
        )  # fmt: skip
        provider.complete_checkout(checkout.id)
        results: list[dict[str, Any]] = []
        provider.deliver(
            lambda body, headers: results.append(check(billing.handle_webhook(body, headers)))
        )
        assert results
        assert sum(r["applied"] for r in results) >= 1

    def test_a_reconcile_that_repaired_drift(
        self, billing: Billing, provider: FakePaymentProvider, paid_workspace: PaidWorkspace
    ) -> None:
        """Repairs as ``[workspace id, [event types]]`` pairs."""
        ws = paid_workspace(seats=3)
        ref = billing.workspace(ws.id).subscription.subscription_ref
        assert ref is not None
        provider.cancel(ref, at_period_end=True, idempotency_key="dashboard-cancel")
        provider.take_webhooks()  # lost
        data = check(billing.reconcile())
        assert data["repaired"] == [[ws.id, ["cancellation_scheduled"]]]
        assert data["failed"] == []
        cancelled = check(billing.subscription(ws.id, actor="alice"))
        assert (cancelled["cancel_at_period_end"], cancelled["renews_at"]) == (True, None)

    def test_reports_with_every_part_filled(self) -> None:
        """Tuples of pairs become lists of pairs, in order."""
        renewal = check(
            RenewalReport(3, 2, 1, waiting=("ws_b",), failed=(("ws_c", "conflict"),), expired=4)
        )
        assert (renewal["revoked"], renewal["expired"]) == (0, 4)
        assert (renewal["waiting"], renewal["failed"]) == (["ws_b"], [["ws_c", "conflict"]])
        types = (EventType.PLAN_CHANGED, EventType.SEATS_CHANGED)
        reconcile = check(ReconcileReport(2, repaired=(("ws_a", types),)))
        assert reconcile["repaired"] == [["ws_a", ["plan_changed", "seats_changed"]]]
        assert check(WebhookResult(1, 2, 3)) == {"applied": 1, "duplicates": 2, "ignored": 3}


class TestProviderValues:
    """What the payment provider returns for a billing page: invoices and the card on file."""

    def test_a_paid_checkout_and_a_declined_increase_as_json(self) -> None:
        """Invoices as JSON: number, status, total as money, UTC times, the provider's pages."""
        clock = FakeClock()
        provider = FakePaymentProvider(clock=clock)
        customer = provider.create_customer(
            workspace_id="ws_1", name="Acme", owner="alice", idempotency_key="k"
        )
        request = CheckoutRequest(
            "ws_1", customer, "business", Interval.MONTH, 3, Money(1200, "EUR"), "u", "c"
        )
        ref = provider.complete_checkout(provider.create_checkout(request, idempotency_key="c").id)
        clock.advance(days=15, seconds=30)
        provider.fail_next_payment()
        with pytest.raises(PaymentFailed):
            provider.increase_seats(ref, 4, idempotency_key="inc")
        declined, paid = (check(invoice) for invoice in provider.invoices(customer, 24))
        assert (paid["number"], paid["status"], paid["total"]) == ("FAKE-0001", "paid", money(3600))
        assert (paid["created_at"], paid["period_start"], paid["period_end"]) == (
            START,
            START,
            RENEWAL,
        )
        assert paid["hosted_url"] == f"https://fake-provider.invalid/invoices/{paid['id']}"
        assert (declined["status"], declined["period_start"]) == ("void", "2026-01-16T09:00:30Z")

    def test_the_card_on_file_as_json(self) -> None:
        card = check(PaymentMethod(brand="visa", last4="4242", exp_month=12, exp_year=2030))
        assert card == {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030}


class TestDatetimes:
    def test_any_zone_becomes_utc_to_the_second(self) -> None:
        """Paris 10:00:59.999 is 09:00:59 UTC: converted, fraction dropped, never rounded up."""
        paris = timezone(timedelta(hours=1))
        when = datetime(2026, 1, 1, 10, 0, 59, 999_999, tzinfo=paris)
        data = check(member(added_at=when, active_since=when))
        assert data["added_at"] == data["active_since"] == "2026-01-01T09:00:59Z"

    def test_a_naive_datetime_is_refused(self) -> None:
        """Its zone is unknown: guessing would shift it silently."""
        naive = datetime(2026, 1, 1, 9, 0)
        with pytest.raises(ValueError, match="naive"):
            member(added_at=naive).to_dict()


def member(**changes: Any) -> Member:
    at = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
    fields: dict[str, Any] = {
        "workspace_id": "ws_1",
        "user": "bob",
        "role": Role.MEMBER,
        "status": MemberStatus.ACTIVE,
        "added_at": at,
        "active_since": at,
        "seq": 1,
    }
    return Member(**{**fields, **changes})


ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=45)), timezone(-timedelta(hours=9, minutes=30))]
)
MOMENTS = st.datetimes(
    min_value=datetime(1970, 1, 2),
    max_value=datetime(2200, 1, 1),
    timezones=ZONES,
)
MONEY = st.builds(
    Money,
    amount=st.integers(-MAX_AMOUNT, MAX_AMOUNT),
    currency=st.from_regex(r"\A[A-Z]{3}\Z"),
)
MEMBERS = st.builds(
    Member,
    workspace_id=st.text(min_size=1, max_size=20),
    user=st.text(min_size=1, max_size=20),
    role=st.sampled_from(Role),
    status=st.sampled_from(MemberStatus),
    added_at=MOMENTS,
    active_since=MOMENTS,
    seq=st.integers(0, 2**63 - 1),
    deactivated_at=st.none() | MOMENTS,
)


class TestProperties:
    @given(MONEY)
    def test_money_is_minor_units_and_a_currency(self, value: Money) -> None:
        """Any amount survives JSON exactly as an integer, whatever its size."""
        data = check(value)
        assert data == {"amount": value.amount, "currency": value.currency}
        assert Money(**json.loads(json.dumps(data))) == value

    @given(MEMBERS)
    def test_a_member_is_json_with_utc_times(self, value: Member) -> None:
        """Every datetime reads back as the same moment in UTC, to the second."""
        data = check(value)
        for name in ("added_at", "active_since", "deactivated_at"):
            original = getattr(value, name)
            if original is None:
                assert data[name] is None
                continue
            parsed = datetime.fromisoformat(data[name])
            assert UTC_TEXT.match(data[name])
            assert parsed.utcoffset() == timedelta(0)
            assert parsed == original.replace(microsecond=0)

    @given(
        st.builds(
            Invoice,
            id=st.text(min_size=1, max_size=20),
            number=st.none() | st.text(max_size=20),
            status=st.sampled_from(InvoiceStatus),
            total=MONEY,
            created_at=MOMENTS,
            period_start=MOMENTS,
            period_end=MOMENTS,
            pdf_url=st.none() | st.just("https://provider.example/in_1.pdf"),
            hosted_url=st.none() | st.just("https://provider.example/in_1"),
        )
    )
    def test_an_invoice_is_json_with_utc_times(self, value: Invoice) -> None:
        """Whatever the zone the provider's times came in, the dict holds them in UTC."""
        data = check(value)
        for name in ("created_at", "period_start", "period_end"):
            assert datetime.fromisoformat(data[name]) == getattr(value, name).replace(microsecond=0)
