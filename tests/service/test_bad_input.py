"""Rule R17 across every action: bad input raises the documented typed error and
changes nothing.

Each case names the error class and its stable ``code`` (the contract hosts
map to messages) and compares ``store.snapshot()`` before and after: the
workspaces, members, events, trials and webhook ids are exactly as they were.
The refusals proper to one capability sit in that capability's test file.
"""

from __future__ import annotations

import pytest
from tests.service.support import (
    CANCEL_URL,
    MEMBER,
    OK_URL,
    OWNER,
    UNKNOWN_WORKSPACE,
    refused,
)

from workspace_billing import (
    Billing,
    BillingError,
    InvalidRequest,
    Money,
    NotFound,
    SubscriptionStatus,
)
from workspace_billing.testing import InMemoryStore

UNKNOWN_WORKSPACE_CALLS = {
    "workspace": lambda b, ws: b.workspace(ws),
    "members": lambda b, ws: b.members(ws),
    "entitlements": lambda b, ws: b.entitlements(ws),
    "has_feature": lambda b, ws: b.has_feature(ws, "sso"),
    "preview_renewal": lambda b, ws: b.preview_renewal(ws),
    "subscription": lambda b, ws: b.subscription(ws, actor=OWNER),
    "preview_change": lambda b, ws: b.preview_change(ws, actor=OWNER, seats=5),
    "upgrade": lambda b, ws: b.upgrade(
        ws, actor=OWNER, plan="business", seats=5, success_url=OK_URL, cancel_url=CANCEL_URL
    ),
    "change_seats": lambda b, ws: b.change_seats(ws, actor=OWNER, seats=5),
    "cancel": lambda b, ws: b.cancel(ws, actor=OWNER),
    "resume": lambda b, ws: b.resume(ws, actor=OWNER),
    "billing_portal": lambda b, ws: b.billing_portal(ws, actor=OWNER, return_url=OK_URL),
    "contact_sales": lambda b, ws: b.contact_sales(ws, actor=OWNER, message="200 seats"),
    "add_member": lambda b, ws: b.add_member(ws, actor=OWNER, user="nina"),
    "remove_member": lambda b, ws: b.remove_member(ws, actor=OWNER, user=MEMBER),
    "reactivate_member": lambda b, ws: b.reactivate_member(ws, actor=OWNER, user=MEMBER),
    "change_role": lambda b, ws: b.change_role(ws, actor=OWNER, user=MEMBER, role="admin"),
    "apply_custom_terms": lambda b, ws: b.apply_custom_terms(
        ws, operator="ops", seats=50, unit_amount=Money(900, "EUR"), interval="year"
    ),
}


class TestUnknownWorkspace:
    """Rule R17: an unknown workspace id is NotFound, whatever the action."""

    @pytest.mark.parametrize("method", UNKNOWN_WORKSPACE_CALLS)
    def test_an_unknown_workspace_id_is_not_found(
        self, billing: Billing, store: InMemoryStore, paid_id: str, method: str
    ) -> None:
        """Rule R17: NotFound ('not_found'), and nothing changes."""
        call = UNKNOWN_WORKSPACE_CALLS[method]
        refused(store, NotFound, "not_found", lambda: call(billing, UNKNOWN_WORKSPACE))

    @pytest.mark.parametrize("method", UNKNOWN_WORKSPACE_CALLS)
    def test_the_same_call_on_an_existing_workspace_is_not_refused_as_unknown(
        self, billing: Billing, paid_id: str, method: str
    ) -> None:
        """Rule R17 control: the NotFound above comes from the id, not from the other arguments."""
        try:
            UNKNOWN_WORKSPACE_CALLS[method](billing, paid_id)
        except NotFound as e:  # pragma: no cover - shown only when the library is wrong
            pytest.fail(f"{method} on an existing workspace raised {e!r}")
        except BillingError:
            pass  # e.g. resume with nothing to resume, adding a member without seat

    @pytest.mark.parametrize("bad_id", [42, None, b"ws_1"], ids=["int", "none", "bytes"])
    def test_a_workspace_id_that_is_not_a_string_is_invalid(
        self, billing: Billing, store: InMemoryStore, bad_id: object
    ) -> None:
        """Rule R17: a non-string id is InvalidRequest, never a crash inside the store."""
        refused(store, InvalidRequest, "invalid_id", lambda: billing.members(bad_id))  # type: ignore[arg-type]


class TestUnknownPlanOrInterval:
    """Rule R17: a plan or interval the catalog does not know is InvalidRequest."""

    def test_upgrading_to_an_unknown_plan_is_invalid(
        self, billing: Billing, store: InMemoryStore, trial_id: str
    ) -> None:
        """Rule R17: upgrade(plan='platinum') is InvalidRequest."""
        refused(
            store,
            InvalidRequest,
            "unknown_plan",
            lambda: billing.upgrade(
                trial_id,
                actor="tess",
                plan="platinum",
                seats=3,
                success_url=OK_URL,
                cancel_url=CANCEL_URL,
            ),
        )

    def test_previewing_an_unknown_plan_is_invalid(
        self, billing: Billing, store: InMemoryStore, paid_id: str
    ) -> None:
        """Rule R17: preview_change(plan='platinum') is InvalidRequest."""
        refused(
            store,
            InvalidRequest,
            "unknown_plan",
            lambda: billing.preview_change(paid_id, actor=OWNER, plan="platinum", seats=4),
        )

    @pytest.mark.parametrize("interval", ["fortnight", "monthly", "", "MONTH"])
    def test_upgrading_with_an_unknown_interval_is_invalid(
        self, billing: Billing, store: InMemoryStore, trial_id: str, interval: str
    ) -> None:
        """Rule R17: only 'month' and 'year' are intervals."""
        refused(
            store,
            InvalidRequest,
            "unknown_interval",
            lambda: billing.upgrade(
                trial_id,
                actor="tess",
                plan="business",
                seats=3,
                interval=interval,
                success_url=OK_URL,
                cancel_url=CANCEL_URL,
            ),
        )

    def test_previewing_an_unknown_interval_is_invalid(
        self, billing: Billing, store: InMemoryStore, paid_id: str
    ) -> None:
        """Rule R17: preview_change(interval='week') is InvalidRequest."""
        refused(
            store,
            InvalidRequest,
            "unknown_interval",
            lambda: billing.preview_change(paid_id, actor=OWNER, interval="week"),
        )

    def test_contacting_sales_about_an_unknown_plan_is_invalid(
        self, billing: Billing, store: InMemoryStore, paid_id: str
    ) -> None:
        """Rule R17: contact_sales(plan='platinum') is InvalidRequest and records nothing."""
        refused(
            store,
            InvalidRequest,
            "unknown_plan",
            lambda: billing.contact_sales(paid_id, actor=OWNER, message="hi", plan="platinum"),
        )


class TestNamesAndText:
    """Rule R17: names and messages are non-empty strings of a sane length."""

    @pytest.mark.parametrize("owner", ["", "   ", None])
    def test_creating_a_workspace_for_an_empty_owner_is_invalid(
        self, billing: Billing, store: InMemoryStore, owner: object
    ) -> None:
        """Rule R17: create_workspace needs an owner; no trial is claimed for a blank one."""
        refused(
            store,
            InvalidRequest,
            "invalid_id",
            lambda: billing.create_workspace(owner=owner, name="Acme"),  # type: ignore[arg-type]
        )

    @pytest.mark.parametrize("name", ["", "  \t"])
    def test_creating_a_workspace_with_an_empty_name_is_invalid(
        self, billing: Billing, store: InMemoryStore, name: str
    ) -> None:
        """Rule R17: a workspace needs a name; the owner's trial is not used up by the refusal."""
        refused(
            store,
            InvalidRequest,
            "invalid_text",
            lambda: billing.create_workspace(owner="olga", name=name),
        )
        trial = billing.create_workspace(owner="olga", name="Olga Co", trial=True).subscription
        assert trial.status is SubscriptionStatus.TRIALING

    @pytest.mark.parametrize(
        "message", ["", "    ", "x" * 6000], ids=["empty", "blank", "6000-chars"]
    )
    def test_a_bad_message_to_sales_is_invalid(
        self, billing: Billing, store: InMemoryStore, paid_id: str, message: str
    ) -> None:
        """Rule R7/R17: contact_sales needs a message of reasonable length; nothing is recorded."""
        refused(
            store,
            InvalidRequest,
            "invalid_text",
            lambda: billing.contact_sales(paid_id, actor=OWNER, message=message),
        )

    def test_an_empty_return_url_opens_no_portal_and_creates_no_customer(
        self, billing: Billing, store: InMemoryStore, trial_id: str
    ) -> None:
        """Rule R17: billing_portal(return_url='') is refused before the customer is created."""
        refused(
            store,
            InvalidRequest,
            "invalid_text",
            lambda: billing.billing_portal(trial_id, actor="tess", return_url=""),
        )
        assert billing.workspace(trial_id).subscription.customer_ref is None


class TestActionsTheStateDoesNotAllow:
    """Rule R17: asking for what the workspace's state does not allow changes nothing."""

    @pytest.mark.parametrize("method", ["cancel", "resume"])
    def test_cancel_or_resume_without_a_paid_subscription_is_invalid(
        self, billing: Billing, store: InMemoryStore, trial_id: str, method: str
    ) -> None:
        """Rule R13/R17: a trial has nothing to cancel or resume."""
        refused(
            store,
            InvalidRequest,
            "no_paid_subscription",
            lambda: getattr(billing, method)(trial_id, actor="tess"),
        )

    def test_upgrading_to_the_plan_in_force_is_invalid(
        self, billing: Billing, store: InMemoryStore, paid_id: str
    ) -> None:
        """Rule R6/R17: same plan, same interval is not an upgrade; use change_seats."""
        refused(
            store,
            InvalidRequest,
            "already_on_plan",
            lambda: billing.upgrade(
                paid_id,
                actor=OWNER,
                plan="business",
                seats=4,
                interval="month",
                success_url=OK_URL,
                cancel_url=CANCEL_URL,
            ),
        )

    def test_has_feature_with_an_unknown_feature_is_invalid(
        self, billing: Billing, store: InMemoryStore, paid_id: str
    ) -> None:
        """Rule R4/R17: has_feature('teleport') is InvalidRequest, not a silent False."""
        assert billing.has_feature(paid_id, "sso") is True
        refused(
            store,
            InvalidRequest,
            "unknown_feature",
            lambda: billing.has_feature(paid_id, "teleport"),
        )

    @pytest.mark.parametrize(
        ("seats", "unit_amount", "operator"),
        [
            (0, Money(900, "EUR"), "ops"),
            (50, Money(-1, "EUR"), "ops"),
            (50, Money(900, "USD"), "ops"),
            (50, Money(900, "EUR"), " "),
        ],
        ids=["zero-seats", "negative-price", "other-currency", "blank-operator"],
    )
    def test_bad_custom_terms_are_invalid(
        self,
        billing: Billing,
        store: InMemoryStore,
        paid_id: str,
        seats: int,
        unit_amount: Money,
        operator: str,
    ) -> None:
        """Rule R7/R17: an operator's negotiated terms are validated like any input."""
        refused(
            store,
            InvalidRequest,
            {
                "ops": "seats_below_minimum"
                if seats == 0
                else ("price_out_of_range" if unit_amount.amount < 0 else "currency_mismatch"),
                " ": "invalid_id",
            }[operator],
            lambda: billing.apply_custom_terms(
                paid_id, operator=operator, seats=seats, unit_amount=unit_amount, interval="year"
            ),
        )
