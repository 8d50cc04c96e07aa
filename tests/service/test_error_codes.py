"""One stable code per distinct refusal (issue 12), raised by its own case, with the
class, HTTP status and retry advice ``workspace_billing.CODES`` gives, and the
table in docs/errors.md kept equal to it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest
from jsonschema import Draft202012Validator
from tests.conftest import PaidWorkspace
from tests.service.support import CANCEL_URL, OK_URL, OWNER

from workspace_billing import (
    CODES,
    Billing,
    BillingError,
    Catalog,
    Interval,
    Money,
    Notices,
    SeatFloor,
    Store,
)
from workspace_billing.testing import FakeClock, FakePaymentProvider

DOCS = Path(__file__).resolve().parents[2] / "docs" / "errors.md"
SCHEMA = DOCS.parent / "schema" / "error.schema.json"
ERROR_SCHEMA = Draft202012Validator(json.loads(SCHEMA.read_text()))

Case = Callable[[Billing, dict[str, str], FakePaymentProvider], object]


def _naive_clock() -> object:
    class Naive:
        def now(self) -> datetime:
            return datetime(2026, 1, 1)

    return Naive()


CASES: dict[str, Case] = {
    "permission_denied": lambda b, w, p: b.subscription(w["paid"], actor="eve"),
    "not_found": lambda b, w, p: b.workspace("ws_unknown"),
    "not_a_member": lambda b, w, p: b.remove_member(w["paid"], actor=OWNER, user="zed"),
    "invalid_id": lambda b, w, p: b.add_member(w["paid"], actor=OWNER, user="  "),
    "invalid_text": lambda b, w, p: b.contact_sales(w["paid"], actor=OWNER, message=""),
    "invalid_number": lambda b, w, p: b.events(limit=0),
    "invalid_flag": lambda b, w, p: b.create_workspace("zoe", "Z", trial="no"),  # type: ignore[arg-type]
    "invalid_webhook_body": lambda b, w, p: b.handle_webhook("{}", {}),  # type: ignore[arg-type]
    "invalid_callback": lambda b, w, p: b.run_renewals(progress=5),  # type: ignore[arg-type]
    "invalid_clock": lambda b, w, p: Billing(
        catalog=Catalog.default(),
        store=b._store,
        provider=p,
        clock=_naive_clock(),  # type: ignore[arg-type]
    ),
    "invalid_notices": lambda b, w, p: Notices(renewal_upcoming=timedelta(days=-7)),
    "invalid_duration": lambda b, w, p: Billing(
        catalog=Catalog.default(), store=b._store, provider=p, invitation_ttl=timedelta(0)
    ),
    "invalid_email": lambda b, w, p: b.invite(w["paid"], actor=OWNER, email="bob at example"),
    "already_invited": lambda b, w, p: b.invite(w["paid"], actor=OWNER, email="ivy@example.com"),
    "invitation_not_found": lambda b, w, p: b.accept_invitation("inv_gone", user="ivy"),
    "invitation_expired": lambda b, w, p: _later(b, p, days=8).accept_invitation(
        w["invitation"], user="ivy"
    ),
    "unknown_role": lambda b, w, p: b.add_member(w["paid"], actor=OWNER, user="n", role="boss"),
    "role_not_assignable": lambda b, w, p: b.add_member(
        w["paid"], actor=OWNER, user="n", role="owner"
    ),
    "owner_cannot_leave": lambda b, w, p: b.remove_member(w["paid"], actor=OWNER, user=OWNER),
    "owner_role_fixed": lambda b, w, p: b.change_role(
        w["paid"], actor=OWNER, user=OWNER, role="admin"
    ),
    "plan_required": lambda b, w, p: b.preview_change(w["trial"], actor="tess", seats=2),
    "plan_not_paid": lambda b, w, p: b.preview_change(w["trial"], actor="tess", plan="free"),
    "not_on_paid_plan": lambda b, w, p: b.change_seats(w["trial"], actor="tess", seats=3),
    "negotiated_plan": lambda b, w, p: b.change_seats(w["negotiated"], actor="nora", seats=3),
    "already_on_plan": lambda b, w, p: b.upgrade(
        w["paid"], actor=OWNER, plan="business", seats=4, success_url=OK_URL, cancel_url=CANCEL_URL
    ),
    "no_paid_subscription": lambda b, w, p: b.cancel(w["trial"], actor="tess"),
    "trial_not_extendable": lambda b, w, p: b.extend_trial(
        w["paid"], operator="ops", until=datetime(2026, 2, 1, tzinfo=UTC)
    ),
    "trial_end_out_of_range": lambda b, w, p: b.extend_trial(
        w["trial"], operator="ops", until=datetime(2026, 1, 2, tzinfo=UTC)
    ),
    "invalid_datetime": lambda b, w, p: b.extend_trial(
        w["trial"], operator="ops", until=datetime(2026, 2, 1)
    ),
    "seats_not_whole": lambda b, w, p: b.change_seats(w["paid"], actor=OWNER, seats=2.5),  # type: ignore[arg-type]
    "seats_below_minimum": lambda b, w, p: b.change_seats(w["paid"], actor=OWNER, seats=0),
    "seats_above_maximum": lambda b, w, p: b.change_seats(w["paid"], actor=OWNER, seats=10_001),
    "seats_below_in_use": lambda b, w, p: _floored(b, p).change_seats(
        w["paid"], actor=OWNER, seats=1
    ),
    "price_out_of_range": lambda b, w, p: b.apply_custom_terms(
        w["paid"], operator="ops", seats=5, unit_amount=Money(-1, "EUR"), interval="year"
    ),
    "currency_mismatch": lambda b, w, p: b.apply_custom_terms(
        w["paid"], operator="ops", seats=5, unit_amount=Money(900, "USD"), interval="year"
    ),
    "unknown_plan": lambda b, w, p: b.preview_change(w["paid"], actor=OWNER, plan="platinum"),
    "unknown_feature": lambda b, w, p: b.has_feature(w["paid"], "teleport"),
    "unknown_interval": lambda b, w, p: b.preview_change(w["paid"], actor=OWNER, interval="week"),
    "interval_not_sold": lambda b, w, p: b.catalog.plan("enterprise").price(Interval.MONTH),
    "invalid_money": lambda b, w, p: b.apply_custom_terms(
        w["paid"], operator="ops", seats=5, unit_amount=Money(1, "euro"), interval="year"
    ),
    "no_sales_plan": lambda b, w, p: _without_sales(b, p).contact_sales(
        w["paid"], actor=OWNER, message="200 seats"
    ),
    "plan_not_self_serve": lambda b, w, p: b.preview_change(
        w["paid"], actor=OWNER, plan="enterprise"
    ),
    "trial_not_eligible": lambda b, w, p: b.create_workspace("tess", "Again", trial=True),
    "seat_limit_reached": lambda b, w, p: b.add_member(w["full"], actor="fay", user="x"),
    "already_member": lambda b, w, p: b.add_member(w["paid"], actor=OWNER, user="bob"),
    "already_active": lambda b, w, p: b.reactivate_member(w["paid"], actor=OWNER, user="bob"),
    "workspace_exists": lambda b, w, p: b.create_workspace("yan", "Y", workspace_id=w["paid"]),
    "payment_failed": lambda b, w, p: (
        p.fail_next_payment(),
        b.change_seats(w["paid"], actor=OWNER, seats=6),
    ),
    "payment_action_required": lambda b, w, p: (
        p.require_action_next_payment(),
        b.change_seats(w["paid"], actor=OWNER, seats=6),
    ),
    "webhook_verification_failed": lambda b, w, p: b.handle_webhook(b"{}", {}),
}

ELSEWHERE = {
    "billing_error": "the base class, never raised as such",
    "invalid_request": "the generic code, for refusals no finer code names (the CLI's own)",
    "conflict": "a database integrity error: tests/integration/test_sql_store.py",
    "store_busy": "a stale write or a busy database: tests/contract (StoreContract)",
    "store_error": "a failing database: tests/integration/test_sql_store.py",
    "provider_error": "a provider failing: tests/contract and tests/stripe_adapter",
    "invalid_catalog": "a catalog built wrong: tests/unit/test_catalog.py",
}


def _with_catalog(billing: Billing, provider: FakePaymentProvider, catalog: Catalog) -> Billing:
    """The same store, provider and clock under another catalog."""
    return Billing(catalog=catalog, store=billing._store, provider=provider,
                   clock=billing._clock)  # fmt: skip


def _later(billing: Billing, provider: FakePaymentProvider, *, days: int) -> Billing:
    """The same store and provider, ``days`` later."""
    clock = FakeClock(billing._clock.now() + timedelta(days=days))
    return Billing(catalog=billing.catalog, store=billing._store, provider=provider, clock=clock)


def _floored(billing: Billing, provider: FakePaymentProvider) -> Billing:
    floored = attrs.evolve(Catalog.default(), seat_floor=SeatFloor.SEATS_IN_USE)
    return _with_catalog(billing, provider, floored)


def _without_sales(billing: Billing, provider: FakePaymentProvider) -> Billing:
    default = Catalog.default()
    self_serve = attrs.evolve(default, plans=tuple(p for p in default.plans if p.self_serve))
    return _with_catalog(billing, provider, self_serve)


@pytest.fixture(name="worlds")
def worlds_fixture(
    billing: Billing, paid_workspace: PaidWorkspace, clock: FakeClock
) -> dict[str, str]:
    paid = paid_workspace(seats=4, owner=OWNER, members=("bob",)).id
    invitation = billing.invite(paid, actor=OWNER, email="ivy@example.com").id
    trial = billing.create_workspace(owner="tess", name="Trial").id
    full = billing.create_workspace(owner="fay", name="Full", trial=False).id
    billing.add_member(full, actor="fay", user="gil")  # the free plan holds 2
    negotiated = billing.create_workspace(owner="nora", name="Deal", trial=False).id
    billing.apply_custom_terms(negotiated, operator="ops", seats=10,
                               unit_amount=Money(900, "EUR"), interval="year")  # fmt: skip
    return {"paid": paid, "trial": trial, "full": full, "negotiated": negotiated,
            "invitation": invitation}  # fmt: skip


class TestEveryCode:
    def test_every_code_has_a_case_here_or_says_where(self) -> None:
        assert set(CASES) | set(ELSEWHERE) == set(CODES)
        assert not set(CASES) & set(ELSEWHERE)

    @pytest.mark.parametrize("code", sorted(CASES))
    def test_each_code_is_raised_by_its_case(
        self,
        billing: Billing,
        store: Store,
        provider: FakePaymentProvider,
        worlds: dict[str, str],
        code: str,
    ) -> None:
        before = store.snapshot()
        with pytest.raises(BillingError) as raised:
            CASES[code](billing, worlds, provider)
        error = raised.value
        assert (error.code, type(error)) == (code, CODES[code].kind)
        assert error.retryable is CODES[code].retryable
        assert error.http_status == CODES[code].http_status
        body = error.to_dict()
        assert json.loads(json.dumps(body)) == body
        ERROR_SCHEMA.validate(body)
        assert (body["code"], body["message"]) == (code, error.message)
        assert store.snapshot() == before


class TestTheTable:
    def test_docs_errors_lists_every_code_as_codes_says(self) -> None:
        rows = re.findall(r"^\| `([a-z_]+)` \| `(\w+)` \| (\d{3}) \| (yes|no) \|", DOCS.read_text(),
                          re.MULTILINE)  # fmt: skip
        table = {code: (kind, int(status), retry == "yes") for code, kind, status, retry in rows}
        expected = {
            code: (c.kind.__name__, c.http_status, c.retryable) for code, c in CODES.items()
        }
        assert table == expected

    def test_the_error_schema_names_every_code(self) -> None:
        schema = json.loads(SCHEMA.read_text())
        assert set(schema["properties"]["code"]["enum"]) == set(CODES)

    def test_only_a_busy_store_a_failing_store_or_provider_is_worth_retrying(self) -> None:
        retry = {code for code, c in CODES.items() if c.retryable}
        assert retry == {"store_busy", "store_error", "provider_error"}


class TestUserMessages:
    """``error.user_message(locale)``: safe to show the workspace's users, in English
    and French, with the facts they need and no internal id or word."""

    @pytest.mark.parametrize("code", sorted(CASES))
    def test_each_refusal_reads_well_in_english_and_french(
        self,
        billing: Billing,
        provider: FakePaymentProvider,
        worlds: dict[str, str],
        code: str,
    ) -> None:
        with pytest.raises(BillingError) as raised:
            CASES[code](billing, worlds, provider)
        english, french = raised.value.user_message("en"), raised.value.user_message("fr")
        assert english
        assert french
        assert english != french
        for text in (english, french):
            assert not any(ws_id in text for ws_id in worlds.values())
            assert "ws_" not in text
            assert "_" not in text.replace("%", "")  # no code or internal word
            assert "%(" not in text  # every fact filled in
        assert raised.value.user_message("de") == english  # unknown: English
        assert raised.value.user_message("fr_FR") == french

    def test_the_facts_a_user_needs_are_in_the_sentence(
        self, billing: Billing, provider: FakePaymentProvider, worlds: dict[str, str]
    ) -> None:
        with pytest.raises(BillingError) as full:
            CASES["seat_limit_reached"](billing, worlds, provider)
        assert full.value.user_message("en").startswith("2 of 2 licences are used")
        assert "2 licences sur 2 sont utilisées" in full.value.user_message("fr")
        assert "vous devez acheter des licences" in full.value.user_message("fr")
