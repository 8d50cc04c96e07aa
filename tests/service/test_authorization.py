"""Rule R5: only the active owner and active admins manage billing and members.

Every billing action is tried by every kind of actor on one workspace where
the action is valid: the owner and an admin succeed (so a refusal here would
be a bug too), a plain member, a stranger and a deactivated admin get
``PermissionDenied`` and the store is exactly as it was, events included.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from workspace_billing import (
    Billing,
    Checkout,
    Event,
    EventType,
    Interval,
    Invitation,
    Invoice,
    Member,
    MemberStatus,
    Money,
    NotFound,
    PermissionDenied,
    PricePreview,
    Role,
    SubscriptionOverview,
    Workspace,
)
from workspace_billing.testing import FakeClock, FakePaymentProvider, InMemoryStore

PaidWorkspace = Callable[..., Workspace]

OWNER = "alice"
ADMIN = "ada"
MEMBER = "bob"
STRANGER = "eve"
DEACTIVATED_ADMIN = "dan"
TARGET = "carol"
"""An active plain member that actions are aimed at (removed, promoted)."""
DEACTIVATED_MEMBER = "dora"
"""A deactivated plain member, for reactivation."""
NEWCOMER = "nina"
"""Not a member yet, for add_member."""
UNKNOWN_WORKSPACE = "ws_does_not_exist"

SEATS = 6
"""Seats bought on the matrix workspace: 4 active members, so 2 are free."""

MANAGERS = {"owner": OWNER, "admin": ADMIN}
OTHERS = {"member": MEMBER, "stranger": STRANGER, "deactivated-admin": DEACTIVATED_ADMIN}


@pytest.fixture(name="ws_id")
def ws_id_fixture(
    billing: Billing,
    provider: FakePaymentProvider,
    clock: FakeClock,
    paid_workspace: PaidWorkspace,
) -> str:
    """A Business workspace with an owner, an admin, two members, a deactivated
    admin, a deactivated member and two free seats; no webhook left queued.

    The two deactivations are produced the way the product produces them
    (R11): a seat decrease, then the renewal deactivates the two most recently
    added members; seats are then bought back so that two are free.
    """
    ws = paid_workspace(
        seats=SEATS,
        owner=OWNER,
        members=(ADMIN, MEMBER, TARGET, DEACTIVATED_ADMIN, DEACTIVATED_MEMBER),
        admins=(ADMIN, DEACTIVATED_ADMIN),
    )
    billing.change_seats(ws.id, actor=OWNER, seats=4)
    clock.advance(days=32)
    billing.run_renewals()
    provider.deliver(billing.handle_webhook)
    billing.change_seats(ws.id, actor=OWNER, seats=SEATS)
    provider.deliver(billing.handle_webhook)
    return ws.id


# ------------------------------------------------------------------ the actions


@dataclass(frozen=True)
class Action:
    """One billing action: how to call it, and what success looks like."""

    name: str
    call: Callable[[Billing, str, str], object]
    """``call(billing, workspace_id, actor)``."""
    succeeded: Callable[[Billing, str, object], None]
    """``succeeded(billing, workspace_id, result)`` asserts the action took effect."""
    writes: bool | None
    """True: records an event by the actor; False: changes nothing at all;
    None: may record bookkeeping (not asserted)."""
    prepare: Callable[[Billing, str], None] | None = None
    """Run by the owner before the action, to put the workspace in a state where
    the action is meaningful (resume needs a cancellation)."""


def _overview(billing: Billing, ws_id: str) -> SubscriptionOverview:
    return billing.subscription(ws_id, actor=OWNER)


def _member(billing: Billing, ws_id: str, user: str) -> Member | None:
    return next((m for m in billing.members(ws_id) if m.user == user), None)


def _read_succeeded(billing: Billing, ws_id: str, result: object) -> None:
    assert isinstance(result, SubscriptionOverview)
    assert (result.plan, result.seats, result.seats_used) == ("business", SEATS, 4)


def _preview_succeeded(billing: Billing, ws_id: str, result: object) -> None:
    assert isinstance(result, PricePreview)
    assert result.seats == SEATS + 1
    assert result.recurring == Money(1200 * (SEATS + 1), "EUR")


def _upgrade_succeeded(billing: Billing, ws_id: str, result: object) -> None:
    assert isinstance(result, Checkout)
    assert result.url is None  # paid plan to paid plan: at once, card on file
    assert billing.workspace(ws_id).subscription.interval is Interval.YEAR


def _seats_succeeded(billing: Billing, ws_id: str, result: object) -> None:
    assert isinstance(result, SubscriptionOverview)
    assert result.seats == SEATS + 1
    assert _overview(billing, ws_id).seats == SEATS + 1


def _cancel_succeeded(billing: Billing, ws_id: str, result: object) -> None:
    assert isinstance(result, SubscriptionOverview)
    assert result.cancel_at_period_end is True
    assert _overview(billing, ws_id).cancel_at_period_end is True


def _ended_succeeded(billing: Billing, ws_id: str, result: object) -> None:
    assert isinstance(result, SubscriptionOverview)
    assert not result.status.is_paid
    assert not _overview(billing, ws_id).status.is_paid


def _invoices_succeeded(billing: Billing, ws_id: str, result: object) -> None:
    assert isinstance(result, list)
    assert result  # the paid checkout's invoice at least
    assert all(isinstance(i, Invoice) for i in result)


def _resume_succeeded(billing: Billing, ws_id: str, result: object) -> None:
    assert isinstance(result, SubscriptionOverview)
    assert result.cancel_at_period_end is False
    assert _overview(billing, ws_id).cancel_at_period_end is False


def _portal_succeeded(billing: Billing, ws_id: str, result: object) -> None:
    assert isinstance(result, str)
    assert result.startswith("https://")


def _sales_succeeded(billing: Billing, ws_id: str, result: object) -> None:
    assert isinstance(result, Event)
    assert result.type is EventType.SALES_CONTACTED
    assert billing.events()[-1] == result


def _added_succeeded(billing: Billing, ws_id: str, result: object) -> None:
    assert isinstance(result, Member)
    assert (result.user, result.role, result.status) == (
        NEWCOMER,
        Role.MEMBER,
        MemberStatus.ACTIVE,
    )
    assert _member(billing, ws_id, NEWCOMER) == result


def _invited_succeeded(billing: Billing, ws_id: str, result: object) -> None:
    assert isinstance(result, Invitation)
    assert billing.invitations(ws_id) == [result]


def _removed_succeeded(billing: Billing, ws_id: str, result: object) -> None:
    assert _member(billing, ws_id, TARGET) is None


def _reactivated_succeeded(billing: Billing, ws_id: str, result: object) -> None:
    assert isinstance(result, Member)
    assert result.status is MemberStatus.ACTIVE
    member = _member(billing, ws_id, DEACTIVATED_MEMBER)
    assert member is not None
    assert member.status is MemberStatus.ACTIVE


def _role_succeeded(billing: Billing, ws_id: str, result: object) -> None:
    assert isinstance(result, Member)
    assert result.role is Role.ADMIN
    member = _member(billing, ws_id, TARGET)
    assert member is not None
    assert member.role is Role.ADMIN


def _cancel_first(billing: Billing, ws_id: str) -> None:
    billing.cancel(ws_id, actor=OWNER)


ACTIONS = (
    Action(
        "subscription",
        lambda b, ws, actor: b.subscription(ws, actor=actor),
        _read_succeeded,
        writes=False,
    ),
    Action(
        "preview_change",
        lambda b, ws, actor: b.preview_change(ws, actor=actor, seats=SEATS + 1),
        _preview_succeeded,
        writes=False,
    ),
    Action(
        "upgrade",
        lambda b, ws, actor: b.upgrade(
            ws,
            actor=actor,
            plan="business",
            seats=SEATS,
            interval="year",
            success_url="https://app.example/ok",
            cancel_url="https://app.example/cancel",
        ),
        _upgrade_succeeded,
        writes=True,
    ),
    Action(
        "change_seats",
        lambda b, ws, actor: b.change_seats(ws, actor=actor, seats=SEATS + 1),
        _seats_succeeded,
        writes=True,
    ),
    Action(
        "cancel",
        lambda b, ws, actor: b.cancel(ws, actor=actor),
        _cancel_succeeded,
        writes=True,
    ),
    Action(
        "cancel_now",
        lambda b, ws, actor: b.cancel(ws, actor=actor, now=True),
        _ended_succeeded,
        writes=True,
    ),
    Action(
        "invoices",
        lambda b, ws, actor: b.invoices(ws, actor=actor),
        _invoices_succeeded,
        writes=False,
    ),
    Action(
        "resume",
        lambda b, ws, actor: b.resume(ws, actor=actor),
        _resume_succeeded,
        writes=True,
        prepare=_cancel_first,
    ),
    Action(
        "billing_portal",
        lambda b, ws, actor: b.billing_portal(
            ws, actor=actor, return_url="https://app.example/billing"
        ),
        _portal_succeeded,
        writes=None,
    ),
    Action(
        "contact_sales",
        lambda b, ws, actor: b.contact_sales(ws, actor=actor, message="We need 200 seats"),
        _sales_succeeded,
        writes=True,
    ),
    Action(
        "add_member",
        lambda b, ws, actor: b.add_member(ws, actor=actor, user=NEWCOMER, role=Role.MEMBER),
        _added_succeeded,
        writes=True,
    ),
    Action(
        "invite",
        lambda b, ws, actor: b.invite(ws, actor=actor, email="newcomer@example.com"),
        _invited_succeeded,
        writes=True,
    ),
    Action(
        "remove_member",
        lambda b, ws, actor: b.remove_member(ws, actor=actor, user=TARGET),
        _removed_succeeded,
        writes=True,
    ),
    Action(
        "reactivate_member",
        lambda b, ws, actor: b.reactivate_member(ws, actor=actor, user=DEACTIVATED_MEMBER),
        _reactivated_succeeded,
        writes=True,
    ),
    Action(
        "change_role",
        lambda b, ws, actor: b.change_role(ws, actor=actor, user=TARGET, role=Role.ADMIN),
        _role_succeeded,
        writes=True,
    ),
)

MANAGER_CASES = [
    pytest.param(action, user, id=f"{action.name}-by-{label}")
    for action in ACTIONS
    for label, user in MANAGERS.items()
]
REFUSED_CASES = [
    pytest.param(action, user, id=f"{action.name}-by-{label}")
    for action in ACTIONS
    for label, user in OTHERS.items()
]
BY_ACTION = [pytest.param(action, id=action.name) for action in ACTIONS]


# -------------------------------------------------------------------- the tests


class TestTheMatrixWorkspace:
    """The workspace the matrix runs on holds the actors the matrix claims."""

    def test_it_has_an_active_owner_admin_and_member_a_deactivated_admin_and_free_seats(
        self, billing: Billing, ws_id: str
    ) -> None:
        """Rule R5 setup: each actor class is present, and seats are free for add/reactivate."""
        members = {m.user: (m.role, m.status) for m in billing.members(ws_id)}
        assert members == {
            OWNER: (Role.OWNER, MemberStatus.ACTIVE),
            ADMIN: (Role.ADMIN, MemberStatus.ACTIVE),
            MEMBER: (Role.MEMBER, MemberStatus.ACTIVE),
            TARGET: (Role.MEMBER, MemberStatus.ACTIVE),
            DEACTIVATED_ADMIN: (Role.ADMIN, MemberStatus.DEACTIVATED),
            DEACTIVATED_MEMBER: (Role.MEMBER, MemberStatus.DEACTIVATED),
        }
        overview = _overview(billing, ws_id)
        assert (overview.seats, overview.seats_used, overview.pending_seats) == (SEATS, 4, None)
        assert STRANGER not in members


class TestManagersMayManageBilling:
    """Rule R5: the active owner and active admins may do every billing action."""

    @pytest.mark.parametrize(("action", "actor"), MANAGER_CASES)
    def test_an_active_owner_or_admin_succeeds(
        self, billing: Billing, store: InMemoryStore, ws_id: str, action: Action, actor: str
    ) -> None:
        """Rule R5: the action takes effect for the owner and for an admin."""
        if action.prepare is not None:
            action.prepare(billing, ws_id)
        before = store.snapshot()
        cursor = billing.events()[-1]

        result = action.call(billing, ws_id, actor)

        action.succeeded(billing, ws_id, result)
        recorded = billing.events(after=cursor)
        if action.writes is True:
            assert any(e.actor == actor for e in recorded), recorded
        elif action.writes is False:
            assert store.snapshot() == before


class TestOthersAreRefused:
    """Rule R5: members, strangers and deactivated admins are refused, and nothing changes."""

    @pytest.mark.parametrize(("action", "actor"), REFUSED_CASES)
    def test_anyone_else_gets_permission_denied_and_the_store_is_unchanged(
        self, billing: Billing, store: InMemoryStore, ws_id: str, action: Action, actor: str
    ) -> None:
        """Rule R5/R17: PermissionDenied, and the snapshot is exactly as before."""
        if action.prepare is not None:
            action.prepare(billing, ws_id)
        before = store.snapshot()

        with pytest.raises(PermissionDenied) as caught:
            action.call(billing, ws_id, actor)

        assert caught.value.code == "permission_denied"
        assert store.snapshot() == before

    @pytest.mark.parametrize(("action", "actor"), REFUSED_CASES)
    def test_a_refused_action_records_no_event(
        self, billing: Billing, ws_id: str, action: Action, actor: str
    ) -> None:
        """Rule R5/R16: a refused action leaves the event log exactly as it was."""
        if action.prepare is not None:
            action.prepare(billing, ws_id)
        events = billing.events()

        with pytest.raises(PermissionDenied):
            action.call(billing, ws_id, actor)

        assert billing.events() == events
        assert [e.cursor for e in billing.events()] == [e.cursor for e in events]

    def test_the_refusal_does_not_reveal_who_belongs_to_the_workspace(
        self, billing: Billing, ws_id: str
    ) -> None:
        """Rule R5: a member, a deactivated admin and a stranger get the same message."""
        messages = set()
        for user in OTHERS.values():
            with pytest.raises(PermissionDenied) as caught:
                billing.subscription(ws_id, actor=user)
            messages.add(str(caught.value).replace(repr(user), "<actor>"))
        assert len(messages) == 1


class TestStrangerVersusUnknown:
    """Section 3: a non-member on an existing workspace is PermissionDenied; an
    unknown workspace id is NotFound."""

    @pytest.mark.parametrize("action", BY_ACTION)
    def test_a_stranger_on_an_existing_workspace_is_permission_denied(
        self, billing: Billing, store: InMemoryStore, ws_id: str, action: Action
    ) -> None:
        """Rule R5: existing workspace, actor not in it: PermissionDenied, nothing changes."""
        before = store.snapshot()
        with pytest.raises(PermissionDenied):
            action.call(billing, ws_id, STRANGER)
        assert store.snapshot() == before

    @pytest.mark.parametrize("action", BY_ACTION)
    def test_an_unknown_workspace_is_not_found_even_for_an_owner_elsewhere(
        self, billing: Billing, store: InMemoryStore, ws_id: str, action: Action
    ) -> None:
        """Rule R17: an unknown workspace id is NotFound, not PermissionDenied."""
        before = store.snapshot()
        with pytest.raises(NotFound) as caught:
            action.call(billing, UNKNOWN_WORKSPACE, OWNER)
        assert caught.value.code == "not_found"
        assert store.snapshot() == before

    def test_the_owner_of_another_workspace_is_a_stranger_here(
        self, billing: Billing, store: InMemoryStore, ws_id: str
    ) -> None:
        """Rule R5: owning a workspace gives no right over another one."""
        other = billing.create_workspace(owner=STRANGER, name="Elsewhere")
        assert billing.subscription(other.id, actor=STRANGER).plan == "business"  # her trial
        before = store.snapshot()
        with pytest.raises(PermissionDenied):
            billing.add_member(ws_id, actor=STRANGER, user=NEWCOMER)
        with pytest.raises(PermissionDenied):
            billing.add_member(other.id, actor=OWNER, user=NEWCOMER)
        assert store.snapshot() == before

    def test_a_stranger_adding_an_existing_member_is_denied_not_told_of_a_conflict(
        self, billing: Billing, store: InMemoryStore, ws_id: str
    ) -> None:
        """Rule R5: permission is checked before membership, which would leak who belongs."""
        before = store.snapshot()
        with pytest.raises(PermissionDenied):
            billing.add_member(ws_id, actor=STRANGER, user=MEMBER)
        with pytest.raises(PermissionDenied):
            billing.remove_member(ws_id, actor=STRANGER, user="nobody-here")
        with pytest.raises(PermissionDenied):
            billing.reactivate_member(ws_id, actor=MEMBER, user=ADMIN)
        assert store.snapshot() == before

    def test_a_stranger_asking_for_a_sales_only_plan_is_denied_first(
        self, billing: Billing, store: InMemoryStore, ws_id: str
    ) -> None:
        """Rule R5: the actor is checked before the plan asked for."""
        before = store.snapshot()
        with pytest.raises(PermissionDenied):
            billing.upgrade(
                ws_id,
                actor=STRANGER,
                plan="enterprise",
                seats=SEATS,
                interval="month",
                success_url="https://app.example/ok",
                cancel_url="https://app.example/cancel",
            )
        with pytest.raises(PermissionDenied):
            billing.preview_change(ws_id, actor=MEMBER, plan="no-such-plan")
        assert store.snapshot() == before


class TestRightsFollowTheMembership:
    """Rule R5: rights follow the actor's current role and status, at once."""

    def test_a_promoted_member_may_manage_billing(self, billing: Billing, ws_id: str) -> None:
        """Rule R5: a member made admin may read the subscription straight away."""
        with pytest.raises(PermissionDenied):
            billing.subscription(ws_id, actor=MEMBER)
        billing.change_role(ws_id, actor=OWNER, user=MEMBER, role=Role.ADMIN)
        assert billing.subscription(ws_id, actor=MEMBER).seats == SEATS

    def test_a_demoted_admin_may_no_longer_manage_billing(
        self, billing: Billing, store: InMemoryStore, ws_id: str
    ) -> None:
        """Rule R5: an admin made a plain member is refused straight away."""
        assert billing.subscription(ws_id, actor=ADMIN).seats == SEATS
        billing.change_role(ws_id, actor=OWNER, user=ADMIN, role=Role.MEMBER)
        before = store.snapshot()
        with pytest.raises(PermissionDenied):
            billing.change_seats(ws_id, actor=ADMIN, seats=SEATS + 1)
        assert store.snapshot() == before

    def test_a_reactivated_admin_regains_their_rights(self, billing: Billing, ws_id: str) -> None:
        """Rule R5/R11: deactivation suspends an admin's rights; reactivation restores them."""
        with pytest.raises(PermissionDenied):
            billing.subscription(ws_id, actor=DEACTIVATED_ADMIN)
        billing.reactivate_member(ws_id, actor=OWNER, user=DEACTIVATED_ADMIN)
        assert billing.subscription(ws_id, actor=DEACTIVATED_ADMIN).seats_used == 5

    def test_a_removed_admin_is_a_stranger(
        self, billing: Billing, store: InMemoryStore, ws_id: str
    ) -> None:
        """Rule R5: once removed, a former admin is refused like anyone outside."""
        billing.remove_member(ws_id, actor=OWNER, user=ADMIN)
        before = store.snapshot()
        with pytest.raises(PermissionDenied):
            billing.add_member(ws_id, actor=ADMIN, user=NEWCOMER)
        assert store.snapshot() == before

    def test_admins_may_promote_and_demote_each_other(self, billing: Billing, ws_id: str) -> None:
        """Rule R5: admins manage roles as the owner does, roles given as plain strings too."""
        member = billing.change_role(ws_id, actor=ADMIN, user=TARGET, role="admin")
        assert member.role is Role.ADMIN
        demoted = billing.change_role(ws_id, actor=TARGET, user=ADMIN, role="member")
        assert demoted.role is Role.MEMBER
