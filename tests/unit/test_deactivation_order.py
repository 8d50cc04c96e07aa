"""Rule R11 as a pure function: who goes when seats < active members."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from workspace_billing import Member, MemberStatus, Role, select_deactivations

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def member(
    user: str, *, minute: int, seq: int, role: Role = Role.MEMBER, active: bool = True
) -> Member:
    at = T0 + timedelta(minutes=minute)
    status = MemberStatus.ACTIVE if active else MemberStatus.DEACTIVATED
    return Member("ws", user, role, status, T0, at, seq)


class TestSelectDeactivations:
    """Rule R11: the most recently added active members go first, never the owner."""

    def test_nobody_goes_when_seats_cover_the_active_members(self) -> None:
        members = [
            member("owner", minute=0, seq=1, role=Role.OWNER),
            member("bob", minute=1, seq=2),
        ]
        assert select_deactivations(members, 2) == ()
        assert select_deactivations(members, 5) == ()

    def test_the_last_added_go_first_in_order(self) -> None:
        members = [
            member("owner", minute=0, seq=1, role=Role.OWNER),
            member("bob", minute=1, seq=2),
            member("carol", minute=2, seq=3),
            member("dan", minute=3, seq=4),
        ]
        assert [m.user for m in select_deactivations(members, 2)] == ["dan", "carol"]

    def test_the_owner_is_never_deactivated_even_if_added_last(self) -> None:
        """Rule R11: the owner is protected whatever the order."""
        members = [
            member("bob", minute=0, seq=1),
            member("owner", minute=5, seq=2, role=Role.OWNER),
        ]
        assert [m.user for m in select_deactivations(members, 1)] == ["bob"]
        alone = [member("owner", minute=0, seq=1, role=Role.OWNER)]
        assert select_deactivations(alone, 0) == ()

    def test_admins_are_deactivated_like_any_member(self) -> None:
        members = [
            member("owner", minute=0, seq=1, role=Role.OWNER),
            member("bob", minute=1, seq=2),
            member("admin", minute=2, seq=3, role=Role.ADMIN),
        ]
        assert [m.user for m in select_deactivations(members, 2)] == ["admin"]

    def test_ties_in_time_are_broken_by_sequence(self) -> None:
        """Rule R11: same instant, the higher sequence was added later."""
        members = [
            member("owner", minute=0, seq=1, role=Role.OWNER),
            member("zoe", minute=1, seq=2),
            member("amy", minute=1, seq=3),
        ]
        assert [m.user for m in select_deactivations(members, 2)] == ["amy"]

    def test_a_reactivated_member_counts_as_added_at_reactivation(self) -> None:
        """Rule R11: the time a member last became active orders them."""
        members = [
            member("owner", minute=0, seq=1, role=Role.OWNER),
            member("early", minute=60, seq=5),  # added first, reactivated an hour later
            member("bob", minute=2, seq=3),
        ]
        assert [m.user for m in select_deactivations(members, 2)] == ["early"]

    def test_deactivated_members_are_not_counted(self) -> None:
        members = [
            member("owner", minute=0, seq=1, role=Role.OWNER),
            member("gone", minute=9, seq=9, active=False),
            member("bob", minute=1, seq=2),
        ]
        assert select_deactivations(members, 2) == ()

    @given(
        times=st.lists(st.integers(0, 5), min_size=1, max_size=12),
        owner_at=st.integers(0, 12),
        seats=st.integers(1, 14),
    )
    def test_exactly_the_excess_goes_and_they_are_the_latest(
        self, times: list[int], owner_at: int, seats: int
    ) -> None:
        """Rule R11 for any members: active after = min(seats, active) and the owner stays."""
        members = [member(f"u{i}", minute=t, seq=i + 2) for i, t in enumerate(times)]
        members.insert(
            min(owner_at, len(members)), member("owner", minute=0, seq=1, role=Role.OWNER)
        )
        gone = select_deactivations(members, seats)
        assert len(gone) == max(len(members) - seats, 0)
        assert all(not m.is_owner for m in gone)
        kept = [m for m in members if m not in gone and not m.is_owner]
        if gone and kept:
            assert min((m.active_since, m.seq) for m in gone) > max(
                (m.active_since, m.seq) for m in kept
            )
