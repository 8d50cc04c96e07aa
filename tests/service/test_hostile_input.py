"""Rule R17 against an adversary: every bad input is a typed error, identical on
every store, and a refused call changes nothing.

The numbered classes follow the adversarial review's findings (issue 11); the
last class generates arbitrary arguments for every public ``Billing`` method
and the webhook entry and checks the two promises on memory, SQLite and
PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import PaidWorkspace
from tests.service.support import OK_URL, OWNER, refused

from workspace_billing import (
    Billing,
    BillingError,
    Catalog,
    InvalidRequest,
    Money,
    NotFound,
    Store,
    WebhookVerificationError,
)
from workspace_billing.testing import FakeClock, FakePaymentProvider

SURROGATE = "bob\udcff"
NUL = "bob\x00"
CONTROL = "bob\x1b[31m"


@pytest.fixture(name="ws_id")
def ws_id_fixture(paid_workspace: PaidWorkspace) -> str:
    return paid_workspace(seats=4, owner=OWNER, members=("bob",)).id


class TestTextNoStoreCanKeep:
    """Items 4 and 5: lone surrogates and NUL are refused before any store sees them:
    a write is ``InvalidRequest``, a lookup ``NotFound``, the same on every store."""

    @pytest.mark.parametrize("bad", [SURROGATE, NUL, CONTROL], ids=["surrogate", "nul", "ctrl"])
    def test_r17_an_id_no_store_can_keep_is_refused_on_write(
        self, billing: Billing, store: Store, ws_id: str, bad: str
    ) -> None:
        refused(store, InvalidRequest, "invalid_id",
                lambda: billing.add_member(ws_id, actor=OWNER, user=bad))  # fmt: skip
        refused(store, InvalidRequest, "invalid_id",
                lambda: billing.create_workspace(owner=bad, name="Acme"))  # fmt: skip
        refused(store, InvalidRequest, "invalid_id",
                lambda: billing.create_workspace("x", "A", workspace_id=bad))  # fmt: skip

    @pytest.mark.parametrize("bad", [SURROGATE, NUL], ids=["surrogate", "nul"])
    def test_r17_text_no_store_can_keep_is_refused(
        self, billing: Billing, store: Store, ws_id: str, bad: str
    ) -> None:
        refused(store, InvalidRequest, "invalid_text",
                lambda: billing.create_workspace(owner="x", name=f"Acme {bad}"))  # fmt: skip
        refused(store, InvalidRequest, "invalid_text",
                lambda: billing.contact_sales(ws_id, actor=OWNER, message=bad))  # fmt: skip

    def test_r17_a_message_keeps_its_newlines(self, billing: Billing, ws_id: str) -> None:
        event = billing.contact_sales(ws_id, actor=OWNER, message="200 seats\nby May\tplease")
        assert event.data["message"] == "200 seats\nby May\tplease"

    @pytest.mark.parametrize("bad", [SURROGATE, NUL, "x" * 65], ids=["surrogate", "nul", "long"])
    def test_r17_a_lookup_by_an_impossible_id_is_not_found(
        self, billing: Billing, store: Store, bad: str
    ) -> None:
        refused(store, NotFound, "not_found", lambda: billing.workspace(bad))
        refused(store, NotFound, "not_found", lambda: billing.subscription(bad, actor=OWNER))


class TestNumbersOutOfRange:
    """Items 6 and 7: numbers are whole, in range, the same on every store."""

    @pytest.mark.parametrize(
        "call",
        [
            lambda b: b.events(after=2**70),
            lambda b: b.events(after=-1),
            lambda b: b.events(after="10"),
            lambda b: b.events(after=1.5),
            lambda b: b.events(limit=0),
            lambda b: b.events(limit=10**30),
            lambda b: b.events(limit=None),
            lambda b: b.events(limit=True),
            lambda b: b.run_renewals(batch_size=10**30),
            lambda b: b.run_renewals(batch_size=-1),
            lambda b: b.run_renewals(batch_size="500"),
            lambda b: b.reconcile(page_size=None),
            lambda b: b.reconcile(page_size=0),
            lambda b: b.due_renewals(limit=-5),
            lambda b: b.due_renewals(limit=2.0),
        ],
        ids=lambda _: "",
    )
    def test_r17_job_and_outbox_numbers_are_checked(
        self, billing: Billing, store: Store, ws_id: str, call: Callable[[Billing], object]
    ) -> None:
        refused(store, InvalidRequest, "invalid_number", lambda: call(billing))

    def test_r17_a_progress_callback_must_be_callable(
        self, billing: Billing, store: Store, ws_id: str
    ) -> None:
        refused(store, InvalidRequest, "invalid_callback",
                lambda: billing.run_renewals(progress="not callable"))  # type: ignore[arg-type]  # fmt: skip

    def test_r15_money_beyond_64_bits_is_refused(self) -> None:
        with pytest.raises(InvalidRequest):
            Money(2**63, "EUR")
        assert Money(2**63 - 1, "EUR").amount == 2**63 - 1

    def test_r17_a_negotiated_price_too_large_to_total_is_refused(
        self, billing: Billing, store: Store, ws_id: str
    ) -> None:
        refused(store, InvalidRequest, "price_out_of_range", lambda: billing.apply_custom_terms(
            ws_id, operator="ops", seats=10, unit_amount=Money(2**62, "EUR"), interval="year",
        ))  # fmt: skip


class TestWebhookShapes:
    """Items 8 and 9: headers in any shape a server gives, and bodies that are signed
    but malformed, end as ``WebhookVerificationError`` (answer 400), nothing changed."""

    def test_r14_headers_as_pairs_of_bytes_are_accepted(
        self, billing: Billing, provider: FakePaymentProvider, ws_id: str
    ) -> None:
        billing.change_seats(ws_id, actor=OWNER, seats=5)
        payload, headers = provider.take_webhooks()[-1]
        pairs = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        assert billing.handle_webhook(payload, pairs).duplicates + 1 >= 1

    @pytest.mark.parametrize(
        "headers",
        [None, 42, "Fake-Signature: x", [("a",)], [(1, "x")], {"Fake-Signature": 7}],
        ids=["none", "int", "str", "short-pair", "int-name", "int-value"],
    )
    def test_r17_headers_of_another_shape_are_refused(
        self, billing: Billing, store: Store, provider: FakePaymentProvider, ws_id: str,
        headers: object,
    ) -> None:  # fmt: skip
        refused(store, WebhookVerificationError, "webhook_verification_failed",
                lambda: billing.handle_webhook(b"{}", headers))  # type: ignore[arg-type]  # fmt: skip

    @pytest.mark.parametrize(
        "body",
        [
            b"null",
            b"[]",
            b'"event"',
            b"{}",
            b'{"id": "evt_1"}',
            b'{"id": "evt_1", "type": "invoice.paid", "data": []}',
            b'{"id": "evt_1", "type": "invoice.paid", "data": {"object": "x"}}',
            b'{"id": 5, "type": "invoice.paid", "data": {"object": {}}}',
            b'{"id": "evt_1", "type": "invoice.paid", "data": {"object": {"subscription": 5}}}',
            b"[" * 100_000 + b"]" * 100_000,
            b"\xff\xfe",
        ],
        ids=lambda _: "",
    )
    def test_r17_a_signed_but_malformed_body_is_refused(
        self, billing: Billing, store: Store, provider: FakePaymentProvider, body: bytes
    ) -> None:
        refused(store, WebhookVerificationError, "webhook_verification_failed",
                lambda: billing.handle_webhook(body, provider.sign(body)))  # fmt: skip

    def test_r14_a_signature_dated_in_the_future_is_refused(
        self, billing: Billing, store: Store, provider: FakePaymentProvider, clock: FakeClock
    ) -> None:
        body = json.dumps({"id": "evt_x", "type": "x", "data": {"object": {}}}).encode()
        later = provider.sign(body, at=clock.now().replace(year=clock.now().year + 1))
        refused(store, WebhookVerificationError, "webhook_verification_failed",
                lambda: billing.handle_webhook(body, later))  # fmt: skip


class TestWorkspaceCreationFlags:
    """Item 13: no falsy value stands for "generate an id", no truthy string for a flag."""

    @pytest.mark.parametrize("workspace_id", ["", 0, False, "   "], ids=repr)
    def test_r17_an_empty_or_falsy_workspace_id_is_refused(
        self, billing: Billing, store: Store, workspace_id: object
    ) -> None:
        refused(store, InvalidRequest, "invalid_id", lambda: billing.create_workspace(
            owner="alice", name="Acme", workspace_id=workspace_id,  # type: ignore[arg-type]
        ))  # fmt: skip

    @pytest.mark.parametrize("trial", ["false", 0, "no", 1, "yes"], ids=repr)
    def test_r17_a_trial_flag_is_a_bool_or_none(
        self, billing: Billing, store: Store, trial: object
    ) -> None:
        refused(store, InvalidRequest, "invalid_flag", lambda: billing.create_workspace(
            owner="alice", name="Acme", trial=trial,  # type: ignore[arg-type]
        ))  # fmt: skip


class _NaiveClock:
    def now(self) -> datetime:
        return datetime(2026, 1, 1, 9, 0)


class TestNaiveClock:
    """Item 14: a clock without a time zone is refused when Billing is built."""

    def test_r17_a_naive_clock_is_refused_at_once(self, store: Store) -> None:
        provider = FakePaymentProvider(clock=FakeClock())
        with pytest.raises(InvalidRequest, match="aware"):
            Billing(catalog=Catalog.default(), store=store, provider=provider, clock=_NaiveClock())


# ------------------------------------------------------------------ property

HOSTILE_CHARS = st.one_of(
    st.sampled_from(["\x00", "\ud800", "\udcff", "\x1b", "\x7f", "\n", " ", "'", "é", "漢"]),
    st.characters(codec=None, categories=["Cs", "Cc", "L", "N", "P", "S", "Zs"]),
)
# Joined by hand: ``st.text`` leaves surrogates out of a mixed alphabet.
HOSTILE_TEXT = st.lists(HOSTILE_CHARS, max_size=300).map("".join)
JUNK = st.one_of(
    HOSTILE_TEXT,
    HOSTILE_TEXT.map(lambda t: f"bob{t}"),  # near a valid value, so checks past the first run
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True),
    st.none(),
    st.booleans(),
    st.binary(max_size=50),
    st.lists(st.integers(), max_size=3),
)  # fmt: skip

WS = "ws_fixed"
VALID: dict[str, dict[str, Any]] = {
    "create_workspace": {"owner": "zoe", "name": "Z", "trial": None, "workspace_id": None},
    "workspace": {"workspace_id": WS},
    "members": {"workspace_id": WS},
    "subscription": {"workspace_id": WS, "actor": OWNER},
    "entitlements": {"workspace_id": WS},
    "has_feature": {"workspace_id": WS, "feature": "sso"},
    "preview_renewal": {"workspace_id": WS},
    "events": {"after": None, "limit": 10},
    "preview_change": {"workspace_id": WS, "actor": OWNER, "seats": 5, "plan": None,
                       "interval": None},
    "upgrade": {"workspace_id": WS, "actor": OWNER, "plan": "business", "seats": 3,
                "interval": "year", "success_url": OK_URL, "cancel_url": OK_URL},
    "change_seats": {"workspace_id": WS, "actor": OWNER, "seats": 5},
    "cancel": {"workspace_id": WS, "actor": OWNER, "now": False},
    "resume": {"workspace_id": WS, "actor": OWNER},
    "billing_portal": {"workspace_id": WS, "actor": OWNER, "return_url": OK_URL},
    "invoices": {"workspace_id": WS, "actor": OWNER, "limit": 24},
    "contact_sales": {"workspace_id": WS, "actor": OWNER, "message": "hi", "plan": None},
    "apply_custom_terms": {"workspace_id": WS, "operator": "ops", "seats": 9,
                           "unit_amount": Money(900, "EUR"), "interval": "year", "plan": None},
    "extend_trial": {"workspace_id": WS, "operator": "ops",
                     "until": datetime(2026, 2, 1, 9, 0, tzinfo=UTC)},
    "add_member": {"workspace_id": WS, "actor": OWNER, "user": "nina", "role": "member"},
    "remove_member": {"workspace_id": WS, "actor": OWNER, "user": "bob"},
    "reactivate_member": {"workspace_id": WS, "actor": OWNER, "user": "bob"},
    "change_role": {"workspace_id": WS, "actor": OWNER, "user": "bob", "role": "admin"},
    "invite": {"workspace_id": WS, "actor": OWNER, "email": "nina@example.com", "role": "member"},
    "invitations": {"workspace_id": WS},
    "revoke_invitation": {"workspace_id": WS, "actor": OWNER, "invitation_id": "inv_fixed"},
    "accept_invitation": {"invitation_id": "inv_fixed", "user": "nina"},
    "run_renewals": {"batch_size": 100},
    "due_renewals": {"limit": 10},
    "reconcile": {"page_size": 10},
    "handle_webhook": {"payload": b"{}", "headers": {}},
}  # fmt: skip
POSITIONAL = {"create_workspace": ("owner", "name"), "handle_webhook": ("payload", "headers"),
              "accept_invitation": ("invitation_id",)}  # fmt: skip


@st.composite
def hostile_arguments(draw: st.DrawFn, method: str) -> dict[str, Any]:
    """The method's valid arguments with one replaced by junk, so each check is
    reached past the ones before it (and sometimes a second one, for mixes)."""
    args = dict(VALID[method])
    names = sorted(args)
    corrupt = [draw(st.sampled_from(names))]
    if draw(st.integers(0, 4)) == 0:
        corrupt.append(draw(st.sampled_from(names)))
    for name in corrupt:
        args[name] = draw(JUNK)
    return args


class TestArbitraryArguments:
    """Only ``BillingError`` escapes any public method, and a refused call changes nothing."""

    @pytest.mark.parametrize("method", sorted(VALID))
    @settings(max_examples=40, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])  # fmt: skip
    @given(data=st.data())
    def test_r17_any_argument_gives_a_typed_error_or_a_result(
        self, paid_workspace: PaidWorkspace, billing: Billing, store: Store,
        method: str, data: st.DataObject,
    ) -> None:  # fmt: skip
        if billing.events(limit=1) == []:
            paid_workspace(seats=9000, owner=OWNER, members=("bob",), workspace_id=WS)
        args = data.draw(hostile_arguments(method))
        first = POSITIONAL.get(method, ("workspace_id",) if "workspace_id" in args else ())
        positional = [args.pop(name) for name in first]
        before = store.snapshot()
        try:
            getattr(billing, method)(*positional, **args)
        except BillingError:
            assert store.snapshot() == before, f"{method} refused but changed the store"
