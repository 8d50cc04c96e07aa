"""Members: seats before members (R8), one operation from either screen (R10),
and what a member request may not do (R17); ``service/members.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.conftest import PaidWorkspace
from tests.service.support import (
    ADMIN,
    MEMBER,
    OWNER,
    refused,
)

from workspace_billing import (
    Billing,
    Catalog,
    Conflict,
    InvalidRequest,
    MemberStatus,
    NotFound,
    Role,
    SeatLimitReached,
)
from workspace_billing.testing import FakeClock, FakePaymentProvider, InMemoryStore


class TestSeatsBeforeMembers:
    """Rules R8 and R10: a member needs a free seat, from whichever screen."""

    def test_r8_a_member_needs_a_free_seat_and_the_owner_holds_one(
        self, billing: Billing, paid_workspace: PaidWorkspace
    ) -> None:
        ws = paid_workspace(seats=2, members=("bob",))
        with pytest.raises(SeatLimitReached) as refused:
            billing.add_member(ws.id, actor="alice", user="carol")
        assert (refused.value.seats_used, refused.value.seats) == (2, 2)
        assert "2 seats" in refused.value.message

    def test_r10_adding_a_member_is_one_operation(
        self, billing: Billing, paid_workspace: PaidWorkspace
    ) -> None:
        ws = paid_workspace(seats=3)
        member = billing.add_member(ws.id, actor="alice", user="bob", role="admin")
        assert (member.user, member.role, member.status) == ("bob", Role.ADMIN, MemberStatus.ACTIVE)
        assert billing.members(ws.id)[-1] == member
        assert billing.subscription(ws.id, actor="bob").seats_used == 2


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
        refused(store, NotFound, "not_a_member", lambda: method(billing, paid_id))

    def test_the_owner_cannot_be_removed(
        self, billing: Billing, store: InMemoryStore, paid_id: str
    ) -> None:
        """Rule R17: removing the owner is InvalidRequest, by an admin or by the owner."""
        for actor in (OWNER, ADMIN):
            refused(
                store,
                InvalidRequest,
                "owner_cannot_leave",
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
            "owner_role_fixed",
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
            ("role_not_assignable" if role in (Role.OWNER, "owner") else "unknown_role"),
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
            ("role_not_assignable" if role in (Role.OWNER, "owner") else "unknown_role"),
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
            "already_member",
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
            "already_active",
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
            "invalid_id",
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
