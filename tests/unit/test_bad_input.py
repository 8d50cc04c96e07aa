"""Rule R17: bad input raises the documented typed error and changes nothing.

Each case names the error class and its stable ``code`` (the contract hosts
map to messages) and compares ``store.snapshot()`` before and after: the
workspaces, members, events, trials and webhook ids are exactly as they were.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import attrs
import pytest

from workspace_billing import (
    Billing,
    BillingError,
    Catalog,
    Conflict,
    InvalidRequest,
    MemberStatus,
    Money,
    NotFound,
    PaymentFailed,
    PlanNotSelfServe,
    Role,
    SeatFloor,
    SeatLimitReached,
    SubscriptionStatus,
    TrialNotEligible,
    WebhookVerificationError,
    Workspace,
)
from workspace_billing.testing import FakeClock, FakePaymentProvider, InMemoryStore

PaidWorkspace = Callable[..., Workspace]

OWNER = "alice"
ADMIN = "ada"
MEMBER = "bob"
UNKNOWN_WORKSPACE = "ws_does_not_exist"
OK_URL = "https://app.example/ok"
CANCEL_URL = "https://app.example/cancel"


def refused(
    store: InMemoryStore, error: type[BillingError], code: str, call: Callable[[], object]
) -> BillingError:
    """Run ``call``, expect exactly ``error`` with ``code``, and the store untouched."""
    before = store.snapshot()
    with pytest.raises(error) as caught:
        call()
    assert type(caught.value) is error, repr(caught.value)
    assert caught.value.code == code
    assert store.snapshot() == before
    return caught.value


@pytest.fixture(name="paid_id")
def paid_id_fixture(paid_workspace: PaidWorkspace) -> str:
    """Business, monthly, 4 seats: the owner, an admin and a member; one seat free."""
    return paid_workspace(seats=4, owner=OWNER, members=(ADMIN, MEMBER), admins=(ADMIN,)).id


@pytest.fixture(name="trial_id")
def trial_id_fixture(billing: Billing) -> str:
    """The owner's first workspace: trialing, no customer at the provider yet."""
    return billing.create_workspace(owner="tess", name="Trial Co").id


@pytest.fixture(name="free_id")
def free_id_fixture(billing: Billing) -> str:
    """An owner's second workspace: on the free fallback, no trial (R2)."""
    billing.create_workspace(owner="fred", name="First")
    return billing.create_workspace(owner="fred", name="Second").id


# ------------------------------------------------------------ unknown workspace

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
        refused(store, InvalidRequest, "invalid_request", lambda: billing.members(bad_id))  # type: ignore[arg-type]


# ---------------------------------------------------------- plans and intervals


class TestUnknownPlanOrInterval:
    """Rule R17: a plan or interval the catalog does not know is InvalidRequest."""

    def test_upgrading_to_an_unknown_plan_is_invalid(
        self, billing: Billing, store: InMemoryStore, trial_id: str
    ) -> None:
        """Rule R17: upgrade(plan='platinum') is InvalidRequest."""
        refused(
            store,
            InvalidRequest,
            "invalid_request",
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
            "invalid_request",
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
            "invalid_request",
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
            "invalid_request",
            lambda: billing.preview_change(paid_id, actor=OWNER, interval="week"),
        )

    def test_contacting_sales_about_an_unknown_plan_is_invalid(
        self, billing: Billing, store: InMemoryStore, paid_id: str
    ) -> None:
        """Rule R17: contact_sales(plan='platinum') is InvalidRequest and records nothing."""
        refused(
            store,
            InvalidRequest,
            "invalid_request",
            lambda: billing.contact_sales(paid_id, actor=OWNER, message="hi", plan="platinum"),
        )


class TestSalesOnlyPlan:
    """Rule R7: Enterprise cannot be bought; it is refused before seats or interval are checked."""

    @pytest.mark.parametrize(
        ("seats", "interval"),
        [(5, "month"), (0, "month"), (-1, "fortnight"), ("3", "month"), (10_001, "decade")],
        ids=["valid", "zero-seats", "negative-and-bad-interval", "str-seats", "too-many"],
    )
    def test_upgrading_to_enterprise_is_plan_not_self_serve(
        self,
        billing: Billing,
        store: InMemoryStore,
        trial_id: str,
        seats: object,
        interval: str,
    ) -> None:
        """Rule R7/R17: PlanNotSelfServe, even when seats or interval are also wrong."""
        refused(
            store,
            PlanNotSelfServe,
            "plan_not_self_serve",
            lambda: billing.upgrade(
                trial_id,
                actor="tess",
                plan="enterprise",
                seats=seats,  # type: ignore[arg-type]
                interval=interval,
                success_url=OK_URL,
                cancel_url=CANCEL_URL,
            ),
        )

    def test_upgrading_a_paid_workspace_to_enterprise_is_plan_not_self_serve(
        self, billing: Billing, store: InMemoryStore, paid_id: str
    ) -> None:
        """Rule R7: from a paid plan too, and the provider is never asked."""
        refused(
            store,
            PlanNotSelfServe,
            "plan_not_self_serve",
            lambda: billing.upgrade(
                paid_id,
                actor=OWNER,
                plan="enterprise",
                seats=0,
                interval="fortnight",
                success_url=OK_URL,
                cancel_url=CANCEL_URL,
            ),
        )

    def test_previewing_enterprise_is_plan_not_self_serve(
        self, billing: Billing, store: InMemoryStore, paid_id: str
    ) -> None:
        """Rule R7: preview_change(plan='enterprise') is PlanNotSelfServe, seats aside."""
        refused(
            store,
            PlanNotSelfServe,
            "plan_not_self_serve",
            lambda: billing.preview_change(
                paid_id, actor=OWNER, plan="enterprise", seats=-1, interval="week"
            ),
        )

    def test_plan_not_self_serve_is_an_invalid_request(self) -> None:
        """Section 3: hosts that catch InvalidRequest also catch PlanNotSelfServe."""
        assert issubclass(PlanNotSelfServe, InvalidRequest)


# ------------------------------------------------------------------------ seats

BAD_SEATS = [
    pytest.param(0, id="zero"),
    pytest.param(-1, id="negative"),
    pytest.param(10_001, id="above-max-seats"),
    pytest.param(10**18, id="absurd"),
    pytest.param(True, id="bool-true"),
    pytest.param(False, id="bool-false"),
    pytest.param(2.5, id="float"),
    pytest.param(5.0, id="whole-float"),
    pytest.param("3", id="str"),
    pytest.param(None, id="none"),
]
NOT_NONE = [p for p in BAD_SEATS if p.id != "none"]
"""For upgrade and preview_change, ``seats=None`` means 'the seats in force'."""


class TestSeatCounts:
    """Rule R17 and section 3: seats are a whole number from 1 to the plan's max_seats."""

    @pytest.mark.parametrize("seats", NOT_NONE)
    def test_upgrading_with_a_bad_seat_count_is_invalid(
        self, billing: Billing, store: InMemoryStore, trial_id: str, seats: object
    ) -> None:
        """Rule R17: upgrade(seats=...) out of bounds or not an int is InvalidRequest."""
        refused(
            store,
            InvalidRequest,
            "invalid_request",
            lambda: billing.upgrade(
                trial_id,
                actor="tess",
                plan="business",
                seats=seats,  # type: ignore[arg-type]
                success_url=OK_URL,
                cancel_url=CANCEL_URL,
            ),
        )

    @pytest.mark.parametrize("seats", BAD_SEATS)
    def test_changing_to_a_bad_seat_count_is_invalid(
        self,
        billing: Billing,
        store: InMemoryStore,
        provider: FakePaymentProvider,
        paid_id: str,
        seats: object,
    ) -> None:
        """Rule R17: change_seats(seats=...) is InvalidRequest, checked before any provider call."""
        invoices = list(provider.invoices)
        refused(
            store,
            InvalidRequest,
            "invalid_request",
            lambda: billing.change_seats(paid_id, actor=OWNER, seats=seats),  # type: ignore[arg-type]
        )
        assert provider.invoices == invoices

    @pytest.mark.parametrize("seats", NOT_NONE)
    def test_previewing_a_bad_seat_count_is_invalid(
        self, billing: Billing, store: InMemoryStore, paid_id: str, seats: object
    ) -> None:
        """Rule R17: preview_change(seats=...) is InvalidRequest (None means 'as now')."""
        refused(
            store,
            InvalidRequest,
            "invalid_request",
            lambda: billing.preview_change(paid_id, actor=OWNER, seats=seats),  # type: ignore[arg-type]
        )

    @pytest.mark.parametrize("seats", [1, 10_000])
    def test_the_bounds_themselves_are_accepted(
        self, billing: Billing, paid_id: str, trial_id: str, seats: int
    ) -> None:
        """Section 3 control: 1 and max_seats (10,000) are valid seat counts."""
        assert billing.preview_change(paid_id, actor=OWNER, seats=seats).seats == seats
        checkout = billing.upgrade(
            trial_id,
            actor="tess",
            plan="business",
            seats=seats,
            success_url=OK_URL,
            cancel_url=CANCEL_URL,
        )
        assert checkout.url is not None

    @pytest.mark.parametrize("workspace", ["trial_id", "free_id"])
    def test_changing_seats_without_a_paid_plan_is_invalid(
        self, billing: Billing, store: InMemoryStore, request: pytest.FixtureRequest, workspace: str
    ) -> None:
        """Rule R9: seats are bought on a paid plan; on a trial or free workspace, upgrade first."""
        ws_id: str = request.getfixturevalue(workspace)
        owner = billing.workspace(ws_id).owner
        refused(
            store,
            InvalidRequest,
            "invalid_request",
            lambda: billing.change_seats(ws_id, actor=owner, seats=8),
        )

    def test_a_host_floor_refuses_going_below_the_seats_in_use(
        self,
        catalog: Catalog,
        store: InMemoryStore,
        provider: FakePaymentProvider,
        clock: FakeClock,
        paid_id: str,
    ) -> None:
        """Section 3: with the 'seats in use' floor, 3 active members refuse 2 seats."""
        floored = Billing(
            catalog=attrs.evolve(catalog, seat_floor=SeatFloor.SEATS_IN_USE),
            store=store,
            provider=provider,
            clock=clock,
        )
        refused(
            store,
            InvalidRequest,
            "invalid_request",
            lambda: floored.change_seats(paid_id, actor=OWNER, seats=2),
        )
        assert floored.change_seats(paid_id, actor=OWNER, seats=3).pending_seats == 3


# ---------------------------------------------------------------------- members


class TestMemberRequests:
    """Rule R17: unknown members, the owner's protection, roles and duplicates."""

    @pytest.mark.parametrize(
        "method",
        [
            pytest.param(lambda b, ws: b.remove_member(ws, actor=OWNER, user="zed"), id="remove"),
            pytest.param(
                lambda b, ws: b.reactivate_member(ws, actor=OWNER, user="zed"), id="reactivate"
            ),
            pytest.param(
                lambda b, ws: b.change_role(ws, actor=OWNER, user="zed", role="admin"),
                id="change_role",
            ),
        ],
    )
    def test_an_unknown_member_is_not_found(
        self,
        billing: Billing,
        store: InMemoryStore,
        paid_id: str,
        method: Callable[[Billing, str], object],
    ) -> None:
        """Rule R17: naming a user who is not a member is NotFound."""
        refused(store, NotFound, "not_found", lambda: method(billing, paid_id))

    def test_the_owner_cannot_be_removed(
        self, billing: Billing, store: InMemoryStore, paid_id: str
    ) -> None:
        """Rule R17: removing the owner is InvalidRequest, by an admin or by the owner."""
        for actor in (OWNER, ADMIN):
            refused(
                store,
                InvalidRequest,
                "invalid_request",
                lambda actor=actor: billing.remove_member(paid_id, actor=actor, user=OWNER),
            )

    @pytest.mark.parametrize("role", [Role.ADMIN, Role.MEMBER, "member"])
    def test_the_owners_role_cannot_change(
        self, billing: Billing, store: InMemoryStore, paid_id: str, role: Role | str
    ) -> None:
        """Rule R17: a workspace has one owner, set when it is created."""
        refused(
            store,
            InvalidRequest,
            "invalid_request",
            lambda: billing.change_role(paid_id, actor=ADMIN, user=OWNER, role=role),
        )

    @pytest.mark.parametrize("role", [Role.OWNER, "owner", "superuser", "", "Admin"])
    def test_adding_a_member_with_the_owner_role_or_an_unknown_role_is_invalid(
        self, billing: Billing, store: InMemoryStore, paid_id: str, role: Role | str
    ) -> None:
        """Rule R17: only 'admin' and 'member' can be given."""
        refused(
            store,
            InvalidRequest,
            "invalid_request",
            lambda: billing.add_member(paid_id, actor=OWNER, user="nina", role=role),
        )

    @pytest.mark.parametrize("role", [Role.OWNER, "owner", "superuser"])
    def test_changing_a_role_to_owner_or_an_unknown_role_is_invalid(
        self, billing: Billing, store: InMemoryStore, paid_id: str, role: Role | str
    ) -> None:
        """Rule R17: change_role cannot hand over ownership or invent roles."""
        refused(
            store,
            InvalidRequest,
            "invalid_request",
            lambda: billing.change_role(paid_id, actor=OWNER, user=MEMBER, role=role),
        )

    @pytest.mark.parametrize("user", [MEMBER, ADMIN, OWNER])
    def test_adding_an_existing_active_member_is_a_conflict(
        self, billing: Billing, store: InMemoryStore, paid_id: str, user: str
    ) -> None:
        """Rule R17: adding someone already active is Conflict, even with a free seat."""
        assert billing.subscription(paid_id, actor=OWNER).seats_used == 3  # of 4
        refused(
            store,
            Conflict,
            "conflict",
            lambda: billing.add_member(paid_id, actor=OWNER, user=user),
        )

    @pytest.mark.parametrize("user", [MEMBER, OWNER])
    def test_reactivating_an_active_member_is_a_conflict(
        self, billing: Billing, store: InMemoryStore, paid_id: str, user: str
    ) -> None:
        """Rule R17: only a deactivated member can be reactivated."""
        refused(
            store,
            Conflict,
            "conflict",
            lambda: billing.reactivate_member(paid_id, actor=OWNER, user=user),
        )

    @pytest.mark.parametrize("user", ["", "   ", "\t\n", None, 7])
    def test_an_empty_or_blank_user_name_is_invalid(
        self, billing: Billing, store: InMemoryStore, paid_id: str, user: object
    ) -> None:
        """Rule R17: add_member needs a non-empty user name."""
        refused(
            store,
            InvalidRequest,
            "invalid_request",
            lambda: billing.add_member(paid_id, actor=OWNER, user=user),  # type: ignore[arg-type]
        )


class TestNoFreeSeat:
    """Rule R8: without a free seat, SeatLimitReached says how many are in use and bought."""

    def test_adding_a_member_to_a_full_paid_workspace_is_seat_limit_reached(
        self, billing: Billing, store: InMemoryStore, paid_id: str
    ) -> None:
        """Rule R8: 4 of 4 seats used: the fifth member is refused with (4, 4)."""
        billing.add_member(paid_id, actor=OWNER, user="carol")
        error = refused(
            store,
            SeatLimitReached,
            "seat_limit_reached",
            lambda: billing.add_member(paid_id, actor=ADMIN, user="dave"),
        )
        assert isinstance(error, SeatLimitReached)
        assert (error.seats_used, error.seats) == (4, 4)

    def test_the_trial_member_cap_is_a_seat_limit(
        self, billing: Billing, store: InMemoryStore, trial_id: str, catalog: Catalog
    ) -> None:
        """Rule R1/R8: the trial holds the catalog's member cap, owner included."""
        cap = catalog.trial.member_cap
        for i in range(cap - 1):
            billing.add_member(trial_id, actor="tess", user=f"user{i}")
        error = refused(
            store,
            SeatLimitReached,
            "seat_limit_reached",
            lambda: billing.add_member(trial_id, actor="tess", user="one-too-many"),
        )
        assert isinstance(error, SeatLimitReached)
        assert (error.seats_used, error.seats) == (cap, cap)

    def test_reactivating_into_a_full_workspace_is_seat_limit_reached(
        self,
        billing: Billing,
        store: InMemoryStore,
        provider: FakePaymentProvider,
        clock: FakeClock,
        paid_workspace: PaidWorkspace,
    ) -> None:
        """Rule R11/R8: a deactivated member comes back only into a free seat."""
        ws = paid_workspace(seats=3, owner="olga", members=("pat", "quinn"))
        billing.change_seats(ws.id, actor="olga", seats=2)
        clock.advance(days=32)
        billing.run_renewals()
        provider.deliver(billing.handle_webhook)
        status = {m.user: m.status for m in billing.members(ws.id)}
        assert status["quinn"] is MemberStatus.DEACTIVATED
        error = refused(
            store,
            SeatLimitReached,
            "seat_limit_reached",
            lambda: billing.reactivate_member(ws.id, actor="olga", user="quinn"),
        )
        assert isinstance(error, SeatLimitReached)
        assert (error.seats_used, error.seats) == (2, 2)


# ------------------------------------------------------------- names and text


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
            "invalid_request",
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
            "invalid_request",
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
            "invalid_request",
            lambda: billing.contact_sales(paid_id, actor=OWNER, message=message),
        )

    def test_an_empty_return_url_opens_no_portal_and_creates_no_customer(
        self, billing: Billing, store: InMemoryStore, trial_id: str
    ) -> None:
        """Rule R17: billing_portal(return_url='') is refused before the customer is created."""
        refused(
            store,
            InvalidRequest,
            "invalid_request",
            lambda: billing.billing_portal(trial_id, actor="tess", return_url=""),
        )
        assert billing.workspace(trial_id).subscription.customer_ref is None


# ----------------------------------------------------------------------- trial


class TestTrialEligibility:
    """Rule R2: one trial per owner."""

    def test_insisting_on_a_second_trial_is_trial_not_eligible(
        self, billing: Billing, store: InMemoryStore, trial_id: str
    ) -> None:
        """Rule R2/R17: create_workspace(trial=True) for a past trialist is TrialNotEligible."""
        refused(
            store,
            TrialNotEligible,
            "trial_not_eligible",
            lambda: billing.create_workspace(owner="tess", name="Again", trial=True),
        )

    def test_a_reused_workspace_id_is_a_conflict(
        self, billing: Billing, store: InMemoryStore
    ) -> None:
        """Rule R17: two workspaces never share an id; the second owner's trial is not used up."""
        billing.create_workspace(owner="tess", name="First", workspace_id="ws_taken")
        refused(
            store,
            Conflict,
            "conflict",
            lambda: billing.create_workspace(owner="uma", name="Second", workspace_id="ws_taken"),
        )


# ------------------------------------------------------------ other actions


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
            "invalid_request",
            lambda: getattr(billing, method)(trial_id, actor="tess"),
        )

    def test_upgrading_to_the_plan_in_force_is_invalid(
        self, billing: Billing, store: InMemoryStore, paid_id: str
    ) -> None:
        """Rule R6/R17: same plan, same interval is not an upgrade; use change_seats."""
        refused(
            store,
            InvalidRequest,
            "invalid_request",
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
            "invalid_request",
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
            "invalid_request",
            lambda: billing.apply_custom_terms(
                paid_id, operator=operator, seats=seats, unit_amount=unit_amount, interval="year"
            ),
        )


# -------------------------------------------------------------------- webhooks


@pytest.fixture(name="webhook")
def webhook_fixture(
    billing: Billing, provider: FakePaymentProvider, paid_id: str
) -> tuple[bytes, dict[str, str]]:
    """One genuine, signed, not yet delivered webhook (the seat increase's)."""
    billing.change_seats(paid_id, actor=OWNER, seats=5)
    webhooks = provider.take_webhooks()
    assert webhooks
    return webhooks[-1]


def _flip_one_byte(payload: bytes) -> bytes:
    index = len(payload) // 2
    return payload[:index] + bytes([payload[index] ^ 0x01]) + payload[index + 1 :]


class TestForgedWebhooks:
    """Rule R14/R17: a webhook that is not what the provider sent is refused and changes nothing."""

    def test_the_genuine_webhook_is_accepted(
        self, billing: Billing, store: InMemoryStore, webhook: tuple[bytes, dict[str, str]]
    ) -> None:
        """Rule R14 control: the untouched webhook verifies, and its event id is claimed."""
        payload, headers = webhook
        before = store.snapshot()
        result = billing.handle_webhook(payload, headers)
        assert result.applied + result.ignored == 1
        assert len(store.snapshot().webhook_event_ids) == len(before.webhook_event_ids) + 1

    def test_a_payload_altered_by_one_byte_is_refused(
        self, billing: Billing, store: InMemoryStore, webhook: tuple[bytes, dict[str, str]]
    ) -> None:
        """Rule R14: the signature covers every byte of the body."""
        payload, headers = webhook
        altered = _flip_one_byte(payload)
        assert altered != payload
        assert len(altered) == len(payload)
        refused(
            store,
            WebhookVerificationError,
            "webhook_verification_failed",
            lambda: billing.handle_webhook(altered, headers),
        )

    def test_a_missing_signature_header_is_refused(
        self, billing: Billing, store: InMemoryStore, webhook: tuple[bytes, dict[str, str]]
    ) -> None:
        """Rule R14: an unsigned webhook is refused."""
        payload, _ = webhook
        refused(
            store,
            WebhookVerificationError,
            "webhook_verification_failed",
            lambda: billing.handle_webhook(payload, {}),
        )

    def test_a_malformed_signature_header_is_refused(
        self, billing: Billing, store: InMemoryStore, webhook: tuple[bytes, dict[str, str]]
    ) -> None:
        """Rule R14: a signature header that cannot be parsed is refused, not a crash."""
        payload, headers = webhook
        garbled = dict.fromkeys(headers, "not a signature")
        refused(
            store,
            WebhookVerificationError,
            "webhook_verification_failed",
            lambda: billing.handle_webhook(payload, garbled),
        )

    def test_a_webhook_signed_with_another_secret_is_refused(
        self,
        billing: Billing,
        store: InMemoryStore,
        clock: FakeClock,
        webhook: tuple[bytes, dict[str, str]],
    ) -> None:
        """Rule R14: only the provider's secret authenticates a webhook."""
        payload, _ = webhook
        forger = FakePaymentProvider(clock=clock, webhook_secret="whsec_forged")
        refused(
            store,
            WebhookVerificationError,
            "webhook_verification_failed",
            lambda: billing.handle_webhook(payload, forger.sign(payload)),
        )

    def test_a_webhook_signed_too_long_ago_is_refused(
        self,
        billing: Billing,
        store: InMemoryStore,
        provider: FakePaymentProvider,
        clock: FakeClock,
        webhook: tuple[bytes, dict[str, str]],
    ) -> None:
        """Rule R14: a replayed webhook outside the timestamp tolerance is refused."""
        payload, _ = webhook
        stale = provider.sign(payload, at=clock.now() - timedelta(hours=1))
        refused(
            store,
            WebhookVerificationError,
            "webhook_verification_failed",
            lambda: billing.handle_webhook(payload, stale),
        )

    def test_a_signed_body_that_is_not_an_event_is_refused(
        self, billing: Billing, store: InMemoryStore, provider: FakePaymentProvider
    ) -> None:
        """Rule R14/R17: a correctly signed but malformed body is refused, not a crash."""
        body = b'{"not": "an event"}'
        refused(
            store,
            WebhookVerificationError,
            "webhook_verification_failed",
            lambda: billing.handle_webhook(body, provider.sign(body)),
        )

    @pytest.mark.parametrize("kind", [str, bytearray, memoryview])
    def test_a_payload_that_is_not_bytes_is_invalid(
        self,
        billing: Billing,
        store: InMemoryStore,
        webhook: tuple[bytes, dict[str, str]],
        kind: type,
    ) -> None:
        """Rule R14/R17: the raw body is passed as bytes, before any parsing."""
        payload, headers = webhook
        wrong = payload.decode() if kind is str else kind(payload)
        refused(
            store,
            InvalidRequest,
            "invalid_request",
            lambda: billing.handle_webhook(wrong, headers),
        )


# ------------------------------------------------------------------- payments


class TestPaymentFailed:
    """Section 7 / R9: a payment that fails grants nothing and leaves no trace."""

    def test_a_declined_seat_increase_changes_nothing(
        self,
        billing: Billing,
        store: InMemoryStore,
        provider: FakePaymentProvider,
        paid_id: str,
    ) -> None:
        """Rule R9/R17: PaymentFailed ('payment_failed'); seats and store unchanged."""
        seats_before = billing.subscription(paid_id, actor=OWNER).seats
        ref = billing.workspace(paid_id).subscription.subscription_ref
        assert ref is not None
        provider.fail_next_payment()
        refused(
            store,
            PaymentFailed,
            "payment_failed",
            lambda: billing.change_seats(paid_id, actor=OWNER, seats=seats_before + 2),
        )
        assert billing.subscription(paid_id, actor=OWNER).seats == seats_before
        assert provider.subscription(ref).seats == seats_before

    def test_the_same_increase_succeeds_once_the_card_works(
        self,
        billing: Billing,
        store: InMemoryStore,
        provider: FakePaymentProvider,
        paid_id: str,
    ) -> None:
        """Rule R9: a failed payment is not remembered; retrying the change goes through."""
        provider.fail_next_payment()
        with pytest.raises(PaymentFailed):
            billing.change_seats(paid_id, actor=OWNER, seats=6)
        assert billing.change_seats(paid_id, actor=OWNER, seats=6).seats == 6

    def test_a_declined_plan_change_changes_nothing(
        self,
        billing: Billing,
        store: InMemoryStore,
        provider: FakePaymentProvider,
        paid_id: str,
    ) -> None:
        """Rule R6/R17: the yearly plan applies only once paid; a decline leaves the month."""
        provider.fail_next_payment()
        refused(
            store,
            PaymentFailed,
            "payment_failed",
            lambda: billing.upgrade(
                paid_id,
                actor=OWNER,
                plan="business",
                seats=4,
                interval="year",
                success_url=OK_URL,
                cancel_url=CANCEL_URL,
            ),
        )
        assert billing.subscription(paid_id, actor=OWNER).interval == "month"


class TestUpgradeNeedsSeats:
    """Rule R17: an upgrade names its seats; None is not 'the seats in force'."""

    def test_upgrade_without_seats_is_refused(self, billing, store) -> None:
        ws = billing.create_workspace(owner="alice", name="Acme")
        before = store.snapshot()
        with pytest.raises(InvalidRequest, match="whole number"):
            billing.upgrade(
                ws.id, actor="alice", plan="business", seats=None,
                success_url="https://app.example/ok", cancel_url="https://app.example/no",
            )  # fmt: skip
        assert store.snapshot() == before
