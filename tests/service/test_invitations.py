"""Invitations that hold seats: invite, list, revoke, accept, expire, and R11's order
at a boundary short of seats (invitations first, newest first); ``service/invitations.py``.

Every test runs on memory, SQLite and PostgreSQL (``billing`` and ``store`` are
parametrized in tests/conftest.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta

import pytest
from tests.conftest import PaidWorkspace
from tests.service.support import ADMIN, MEMBER, OWNER, refused, statuses
from tests.unit.test_concurrency import outcomes, run_together

from workspace_billing import (
    Billing,
    Catalog,
    Conflict,
    EventType,
    InvalidRequest,
    Invitation,
    MemberStatus,
    Money,
    NotFound,
    PermissionDenied,
    Role,
    SeatLimitReached,
)
from workspace_billing.testing import FakeClock, FakePaymentProvider, InMemoryStore

CAROL = "carol@example.com"


def of_type(billing: Billing, kind: EventType) -> list[object]:
    return [e for e in billing.events() if e.type is kind]


def used(billing: Billing, ws_id: str) -> tuple[int, int]:
    """(seats_used, invitations_pending) as the subscription screen shows them."""
    overview = billing.subscription(ws_id, actor=OWNER)
    return overview.seats_used, overview.invitations_pending


@pytest.fixture(name="ws_id")
def ws_id_fixture(paid_workspace: PaidWorkspace) -> str:
    """Business, 4 seats: the owner, an admin and a member; one seat free."""
    return paid_workspace(seats=4, owner=OWNER, members=(ADMIN, MEMBER), admins=(ADMIN,)).id


class TestInviting:
    """Rules R5 and R8: owners and admins invite into a free seat, which it then holds."""

    def test_r8_an_invitation_holds_a_seat_until_it_ends(
        self, billing: Billing, store: InMemoryStore, ws_id: str
    ) -> None:
        """Rule R8: the last free seat, once invited into, refuses additions and invitations."""
        invitation = billing.invite(ws_id, actor=ADMIN, email=CAROL)
        assert used(billing, ws_id) == (4, 1)
        assert billing.subscription(ws_id, actor=OWNER).seats_available == 0
        error = refused(
            store, SeatLimitReached, "seat_limit_reached",
            lambda: billing.add_member(ws_id, actor=OWNER, user="dan"),
        )  # fmt: skip
        assert (error.details["seats_used"], error.details["seats"]) == (4, 4)
        refused(store, SeatLimitReached, "seat_limit_reached",
                lambda: billing.invite(ws_id, actor=OWNER, email="dan@example.com"))  # fmt: skip
        billing.revoke_invitation(ws_id, actor=OWNER, invitation_id=invitation.id)
        assert used(billing, ws_id) == (3, 0)
        billing.add_member(ws_id, actor=OWNER, user="dan")

    def test_r8_a_reactivation_needs_a_seat_no_invitation_holds(
        self,
        billing: Billing,
        store: InMemoryStore,
        paid_workspace: PaidWorkspace,
        clock: FakeClock,
    ) -> None:
        """Rule R8: a deactivated member comes back only into a seat nobody holds."""
        ws = paid_workspace(seats=3, members=("bob", "carol"))
        billing.change_seats(ws.id, actor=OWNER, seats=2)
        renews_at = billing.subscription(ws.id, actor=OWNER).renews_at
        assert renews_at is not None
        clock.set(renews_at)
        billing.run_renewals()  # carol is deactivated
        billing.change_seats(ws.id, actor=OWNER, seats=3)
        billing.invite(ws.id, actor=OWNER, email=CAROL)
        refused(store, SeatLimitReached, "seat_limit_reached",
                lambda: billing.reactivate_member(ws.id, actor=OWNER, user="carol"))  # fmt: skip

    def test_r16_inviting_records_who_invited_whom_and_until_when(
        self, billing: Billing, ws_id: str, clock: FakeClock
    ) -> None:
        """Rule R16: ``invitation_created`` by the actor, about the email; never the id."""
        invitation = billing.invite(ws_id, actor=ADMIN, email="  Carol@Example.COM ", role="admin")
        assert (invitation.email, invitation.role, invitation.invited_by) == (
            CAROL, Role.ADMIN, ADMIN,
        )  # fmt: skip
        assert invitation.created_at == clock.now()
        assert invitation.expires_at == clock.now() + timedelta(days=7)
        (created,) = of_type(billing, EventType.INVITATION_CREATED)
        assert (created.actor, created.subject) == (ADMIN, CAROL)  # type: ignore[attr-defined]
        assert created.data == {  # type: ignore[attr-defined]
            "role": "admin",
            "expires_at": "2026-01-08T09:00:00Z",
        }
        assert invitation.id not in repr([e.to_dict() for e in billing.events()])

    def test_an_invitation_id_is_unguessable_and_a_factory_makes_it_deterministic(
        self, catalog: Catalog, store: InMemoryStore, provider: FakePaymentProvider,
        clock: FakeClock, billing: Billing, ws_id: str,
    ) -> None:  # fmt: skip
        """Ids carry at least 128 random bits (22 URL-safe characters); tests may fix them."""
        ids = {billing.invite(ws_id, actor=OWNER, email=CAROL).id}
        billing.change_seats(ws_id, actor=OWNER, seats=20)
        ids |= {billing.invite(ws_id, actor=OWNER, email=f"u{n}@example.com").id for n in range(8)}
        assert len(ids) == 9
        assert all(len(i) >= 22 and i.replace("-", "").replace("_", "").isalnum() for i in ids)
        numbers = itertools.count(1)
        fixed = Billing(catalog=catalog, store=store, provider=provider, clock=clock,
                        invitation_id_factory=lambda: f"inv_{next(numbers)}")  # fmt: skip
        assert fixed.invite(ws_id, actor=OWNER, email="fixed@example.com").id == "inv_1"

    def test_the_time_an_invitation_holds_its_seat_is_configurable(
        self, catalog: Catalog, store: InMemoryStore, provider: FakePaymentProvider,
        clock: FakeClock, ws_id: str,
    ) -> None:  # fmt: skip
        billing = Billing(catalog=catalog, store=store, provider=provider, clock=clock,
                          invitation_ttl=timedelta(hours=36))  # fmt: skip
        invitation = billing.invite(ws_id, actor=OWNER, email=CAROL)
        assert invitation.expires_at - invitation.created_at == timedelta(hours=36)

    @pytest.mark.parametrize(
        "ttl", [timedelta(0), timedelta(seconds=-1), timedelta(days=91), 7, None, "7d"]
    )
    def test_r17_an_invitation_ttl_out_of_range_fails_the_wiring(
        self, catalog: Catalog, store: InMemoryStore, provider: FakePaymentProvider, ttl: object
    ) -> None:
        """Rule R17: a wrong setting fails when Billing is built, not on a request."""
        with pytest.raises(InvalidRequest) as caught:
            Billing(catalog=catalog, store=store, provider=provider,
                    invitation_ttl=ttl)  # type: ignore[arg-type]  # fmt: skip
        assert caught.value.code == "invalid_duration"

    @pytest.mark.parametrize("actor", [MEMBER, "stranger", OWNER.upper()])
    def test_r5_only_owners_and_admins_invite(
        self, billing: Billing, store: InMemoryStore, ws_id: str, actor: str
    ) -> None:
        """Rule R5: a plain member or a stranger is refused and nothing changes."""
        refused(store, PermissionDenied, "permission_denied",
                lambda: billing.invite(ws_id, actor=actor, email=CAROL))  # fmt: skip

    @pytest.mark.parametrize(
        "email",
        ["", "   ", "carol", "carol@", "@example.com", "a@b@example.com", "car ol@example.com",
         "carol@exa\tmple.com", "carol\x00@example.com", "carol\u200b@example.com",
         "carol\udcff@example.com", "a" * 310 + "@example.com", 42, None, b"c@example.com"],
    )  # fmt: skip
    def test_r17_a_malformed_email_is_refused(
        self, billing: Billing, store: InMemoryStore, ws_id: str, email: object
    ) -> None:
        """Rule R17: ``invalid_email``, before anything is read or written."""
        refused(store, InvalidRequest, "invalid_email",
                lambda: billing.invite(ws_id, actor=OWNER, email=email))  # type: ignore[arg-type]  # fmt: skip

    @pytest.mark.parametrize(
        ("role", "code"), [("owner", "role_not_assignable"), ("boss", "unknown_role")]
    )
    def test_r17_only_the_member_and_admin_roles_are_offered(
        self, billing: Billing, store: InMemoryStore, ws_id: str, role: str, code: str
    ) -> None:
        refused(store, InvalidRequest, code,
                lambda: billing.invite(ws_id, actor=OWNER, email=CAROL, role=role))  # fmt: skip

    def test_r17_an_email_already_invited_is_a_conflict_whatever_its_case(
        self, billing: Billing, store: InMemoryStore, paid_workspace: PaidWorkspace, ws_id: str
    ) -> None:
        """Rule R17: one pending invitation per email and workspace; another workspace
        may invite the same address."""
        billing.invite(ws_id, actor=OWNER, email=CAROL)
        refused(store, Conflict, "already_invited",
                lambda: billing.invite(ws_id, actor=ADMIN, email="CAROL@example.com"))  # fmt: skip
        other = paid_workspace(seats=2, owner="olga")
        assert billing.invite(other.id, actor="olga", email=CAROL).workspace_id == other.id

    def test_an_expired_invitation_not_swept_yet_is_replaced(
        self, billing: Billing, ws_id: str, clock: FakeClock
    ) -> None:
        """Rule R16: inviting again after the expiry records the old one's expiry."""
        first = billing.invite(ws_id, actor=OWNER, email=CAROL)
        clock.set(first.expires_at)
        second = billing.invite(ws_id, actor=OWNER, email=CAROL)
        assert second.id != first.id
        assert billing.invitations(ws_id) == [second]
        types = [e.type for e in billing.events()[-2:]]
        assert types == [EventType.INVITATION_EXPIRED, EventType.INVITATION_CREATED]


class TestListing:
    def test_the_pending_invitations_oldest_first(
        self, billing: Billing, ws_id: str, clock: FakeClock
    ) -> None:
        """Expired ones are not listed, even before ``run_renewals`` deletes them."""
        billing.change_seats(ws_id, actor=OWNER, seats=6)
        first = billing.invite(ws_id, actor=OWNER, email="first@example.com")
        clock.advance(days=2)
        second = billing.invite(ws_id, actor=OWNER, email="second@example.com")
        third = billing.invite(ws_id, actor=OWNER, email="third@example.com")
        assert billing.invitations(ws_id) == [first, second, third]
        clock.set(first.expires_at)
        assert billing.invitations(ws_id) == [second, third]
        assert used(billing, ws_id) == (5, 2)

    def test_r3_the_overview_is_never_stale_across_invitations(
        self, billing: Billing, ws_id: str, clock: FakeClock
    ) -> None:
        """Rule R3: the subscription screen, kept while the subscription is unchanged,
        counts each invitation, acceptance, revocation and expiry at once."""
        assert used(billing, ws_id) == (3, 0)
        billing.change_seats(ws_id, actor=OWNER, seats=6)
        assert used(billing, ws_id) == (3, 0)  # kept for this subscription from here on
        first = billing.invite(ws_id, actor=OWNER, email=CAROL)
        assert used(billing, ws_id) == (4, 1)
        billing.accept_invitation(first.id, user="carol")
        assert used(billing, ws_id) == (4, 0)
        second = billing.invite(ws_id, actor=OWNER, email="dan@example.com")
        third = billing.invite(ws_id, actor=OWNER, email="erin@example.com")
        assert used(billing, ws_id) == (6, 2)
        billing.revoke_invitation(ws_id, actor=OWNER, invitation_id=second.id)
        assert used(billing, ws_id) == (5, 1)
        clock.set(third.expires_at)
        assert used(billing, ws_id) == (4, 0)

    def test_r17_an_unknown_workspace_is_not_found(self, billing: Billing) -> None:
        with pytest.raises(NotFound):
            billing.invitations("ws_unknown")


class TestRevoking:
    """Rule R5: owners and admins withdraw a pending invitation, freeing its seat."""

    def test_r16_revoking_frees_the_seat_and_records_who_did(
        self, billing: Billing, ws_id: str
    ) -> None:
        invitation = billing.invite(ws_id, actor=OWNER, email=CAROL)
        billing.revoke_invitation(ws_id, actor=ADMIN, invitation_id=invitation.id)
        assert billing.invitations(ws_id) == []
        assert used(billing, ws_id) == (3, 0)
        (revoked,) = of_type(billing, EventType.INVITATION_REVOKED)
        assert (revoked.actor, revoked.subject, revoked.data) == (  # type: ignore[attr-defined]
            ADMIN, CAROL, {"role": "member"},
        )  # fmt: skip

    @pytest.mark.parametrize(
        ("actor", "invitation", "error", "code"),
        [
            (MEMBER, "held", PermissionDenied, "permission_denied"),
            (OWNER, "inv_unknown", NotFound, "invitation_not_found"),
            (OWNER, "other", NotFound, "invitation_not_found"),
            (OWNER, "", InvalidRequest, "invalid_id"),
        ],
    )
    def test_r17_a_refused_revocation_changes_nothing(
        self, billing: Billing, store: InMemoryStore, paid_workspace: PaidWorkspace, ws_id: str,
        actor: str, invitation: str, error: type[Exception], code: str,
    ) -> None:  # fmt: skip
        """Rules R5, R17: a member, an unknown id, another workspace's invitation."""
        held = billing.invite(ws_id, actor=OWNER, email=CAROL)
        other = paid_workspace(seats=2, owner="olga")
        elsewhere = billing.invite(other.id, actor="olga", email=CAROL)
        given = {"held": held.id, "other": elsewhere.id}.get(invitation, invitation)

        def revoke() -> None:
            billing.revoke_invitation(ws_id, actor=actor, invitation_id=given)

        refused(store, error, code, revoke)  # type: ignore[arg-type]

    def test_r17_an_expired_invitation_is_not_revoked(
        self, billing: Billing, store: InMemoryStore, ws_id: str, clock: FakeClock
    ) -> None:
        """Its seat is free already; ``run_renewals`` records the expiry."""
        invitation = billing.invite(ws_id, actor=OWNER, email=CAROL)
        clock.set(invitation.expires_at)
        refused(store, InvalidRequest, "invitation_expired",
                lambda: billing.revoke_invitation(ws_id, actor=OWNER,
                                                  invitation_id=invitation.id))  # fmt: skip


class TestAccepting:
    """Rules R8 and R10: the invitation's seat becomes the member's."""

    def test_r8_accepting_takes_the_held_seat_even_when_every_seat_is_held(
        self, billing: Billing, ws_id: str, clock: FakeClock
    ) -> None:
        """Rule R8: no second seat check; the member is the newest for R11."""
        invitation = billing.invite(ws_id, actor=ADMIN, email=CAROL, role=Role.ADMIN)
        assert used(billing, ws_id) == (4, 1)  # full
        clock.advance(hours=2)
        member = billing.accept_invitation(invitation.id, user="carol")
        assert (member.user, member.role, member.status) == ("carol", Role.ADMIN,
                                                              MemberStatus.ACTIVE)  # fmt: skip
        assert member.active_since == clock.now()
        assert member.seq == max(m.seq for m in billing.members(ws_id))
        assert used(billing, ws_id) == (4, 0)
        assert billing.invitations(ws_id) == []
        accepted, added = billing.events()[-2:]
        assert (accepted.type, accepted.actor, accepted.subject) == (
            EventType.INVITATION_ACCEPTED, "carol", "carol",
        )  # fmt: skip
        assert accepted.data == {"role": "admin", "email": CAROL}
        assert (added.type, added.subject, added.after) == (
            EventType.MEMBER_ADDED, "carol", {"role": "admin"},
        )  # fmt: skip

    def test_r17_an_invitation_is_accepted_once(
        self, billing: Billing, store: InMemoryStore, ws_id: str
    ) -> None:
        invitation = billing.invite(ws_id, actor=OWNER, email=CAROL)
        billing.accept_invitation(invitation.id, user="carol")
        refused(store, NotFound, "invitation_not_found",
                lambda: billing.accept_invitation(invitation.id, user="dan"))  # fmt: skip

    def test_r17_an_expired_invitation_is_refused_and_its_seat_is_free(
        self, billing: Billing, store: InMemoryStore, ws_id: str, clock: FakeClock
    ) -> None:
        """Refused with nothing written; the seat was free from ``expires_at`` on."""
        invitation = billing.invite(ws_id, actor=OWNER, email=CAROL)
        clock.set(invitation.expires_at)
        refused(store, InvalidRequest, "invitation_expired",
                lambda: billing.accept_invitation(invitation.id, user="carol"))  # fmt: skip
        assert used(billing, ws_id) == (3, 0)
        billing.add_member(ws_id, actor=OWNER, user="dan")

    @pytest.mark.parametrize("user", [MEMBER, OWNER])
    def test_r17_an_active_member_cannot_accept(
        self, billing: Billing, store: InMemoryStore, ws_id: str, user: str
    ) -> None:
        """The invitation stays pending, for an owner or admin to revoke."""
        invitation = billing.invite(ws_id, actor=OWNER, email=CAROL)
        refused(store, Conflict, "already_member",
                lambda: billing.accept_invitation(invitation.id, user=user))  # fmt: skip
        assert billing.invitations(ws_id) == [invitation]

    def test_r11_a_deactivated_member_accepting_is_reactivated_with_the_invited_role(
        self, billing: Billing, paid_workspace: PaidWorkspace, clock: FakeClock
    ) -> None:
        """Rule R11: back in the held seat as the newest member, with the role invited."""
        ws = paid_workspace(seats=3, members=("bob", "carol"))
        billing.change_seats(ws.id, actor=OWNER, seats=2)
        renews_at = billing.subscription(ws.id, actor=OWNER).renews_at
        assert renews_at is not None
        clock.set(renews_at)
        billing.run_renewals()
        billing.change_seats(ws.id, actor=OWNER, seats=3)
        invitation = billing.invite(ws.id, actor=OWNER, email=CAROL, role="admin")
        member = billing.accept_invitation(invitation.id, user="carol")
        assert (member.status, member.role, member.deactivated_at) == (
            MemberStatus.ACTIVE, Role.ADMIN, None,
        )  # fmt: skip
        assert member.active_since == clock.now()
        types = [e.type for e in billing.events()[-3:]]
        assert types == [EventType.INVITATION_ACCEPTED, EventType.MEMBER_REACTIVATED,
                         EventType.ROLE_CHANGED]  # fmt: skip
        assert used(billing, ws.id) == (3, 0)

    @pytest.mark.parametrize(
        ("invitation_id", "user", "error", "code"),
        [
            ("inv_unknown", "carol", NotFound, "invitation_not_found"),
            ("", "carol", InvalidRequest, "invalid_id"),
            (None, "carol", InvalidRequest, "invalid_id"),
            ("held", "", InvalidRequest, "invalid_id"),
            ("held", "carol\x00", InvalidRequest, "invalid_id"),
        ],
    )
    def test_r17_a_malformed_or_unknown_acceptance_changes_nothing(
        self, billing: Billing, store: InMemoryStore, ws_id: str,
        invitation_id: str | None, user: str, error: type[Exception], code: str,
    ) -> None:  # fmt: skip
        held = billing.invite(ws_id, actor=OWNER, email=CAROL)
        given = held.id if invitation_id == "held" else invitation_id
        refused(store, error, code,  # type: ignore[arg-type]
                lambda: billing.accept_invitation(given, user=user))  # type: ignore[arg-type]  # fmt: skip


class TestExpiry:
    """``run_renewals`` deletes expired invitations and records each expiry once."""

    def test_expired_invitations_are_swept_in_batches_and_recorded_once(
        self, billing: Billing, ws_id: str, clock: FakeClock
    ) -> None:
        billing.change_seats(ws_id, actor=OWNER, seats=10)
        invited = [billing.invite(ws_id, actor=OWNER, email=f"u{n}@example.com") for n in range(5)]
        clock.advance(days=3)
        kept = billing.invite(ws_id, actor=OWNER, email=CAROL)
        clock.set(invited[0].expires_at)
        report = billing.run_renewals(batch_size=2)
        assert (report.expired, report.revoked) == (5, 0)
        expired = of_type(billing, EventType.INVITATION_EXPIRED)
        assert sorted(e.subject for e in expired) == sorted(i.email for i in invited)  # type: ignore[attr-defined]
        assert all(e.actor is None for e in expired)  # type: ignore[attr-defined]
        assert billing.invitations(ws_id) == [kept]
        again = billing.run_renewals(batch_size=2)
        assert again.expired == 0
        assert len(of_type(billing, EventType.INVITATION_EXPIRED)) == 5


class TestBoundaries:
    """Rule R11: at a boundary short of seats, pending invitations are revoked first,
    newest first, and only then members deactivated (never for an invitation's seat)."""

    def _with_invitations(
        self, billing: Billing, paid_workspace: PaidWorkspace, clock: FakeClock, seats: int
    ) -> tuple[str, Invitation, Invitation]:
        """Business x5: the owner, bob, carol; two invitations, ``late`` the newest;
        a decrease to ``seats`` scheduled; the clock a day before the renewal."""
        ws = paid_workspace(seats=5, members=("bob", "carol"))
        clock.advance(days=25)
        early = billing.invite(ws.id, actor=OWNER, email="early@example.com")
        clock.advance(minutes=1)
        late = billing.invite(ws.id, actor=OWNER, email="late@example.com")
        billing.change_seats(ws.id, actor=OWNER, seats=seats)
        return ws.id, early, late

    def test_r18_the_price_preview_of_a_decrease_names_the_invitations_it_revokes(
        self, billing: Billing, paid_workspace: PaidWorkspace, clock: FakeClock
    ) -> None:
        """Rules R18, R11: before it is confirmed, a decrease shows the invitations
        that would go (newest first) and the members, who go only past them."""
        ws = paid_workspace(seats=5, members=("bob", "carol"))
        early = billing.invite(ws.id, actor=OWNER, email="early@example.com")
        clock.advance(minutes=1)
        late = billing.invite(ws.id, actor=OWNER, email="late@example.com")
        one = billing.preview_change(ws.id, actor=OWNER, seats=4)
        assert (one.revoke, one.deactivate) == ((late,), ())
        both = billing.preview_change(ws.id, actor=OWNER, seats=2)
        assert both.revoke == (late, early)
        assert [m.user for m in both.deactivate] == ["carol"]
        assert billing.preview_change(ws.id, actor=OWNER, seats=5).revoke == ()
        assert billing.invitations(ws.id) == [early, late]  # a preview changes nothing

    def test_r11_a_renewal_revokes_the_newest_invitation_and_spares_every_member(
        self, billing: Billing, paid_workspace: PaidWorkspace, clock: FakeClock
    ) -> None:
        ws_id, early, late = self._with_invitations(billing, paid_workspace, clock, 4)
        preview = billing.preview_renewal(ws_id)
        assert (preview.revoke, preview.deactivate) == ((late,), ())
        assert preview.at is not None
        clock.set(preview.at)
        report = billing.run_renewals()
        assert (report.revoked, report.deactivated) == (1, 0)
        assert billing.invitations(ws_id) == [early]
        assert set(statuses(billing, ws_id).values()) == {MemberStatus.ACTIVE}
        (revoked,) = of_type(billing, EventType.INVITATION_REVOKED)
        assert (revoked.actor, revoked.subject) == (None, late.email)  # type: ignore[attr-defined]
        assert revoked.data == {"role": "member", "reason": "renewal", "seats": 4}  # type: ignore[attr-defined]
        assert used(billing, ws_id) == (4, 1)

    def test_r11_every_invitation_goes_before_the_newest_member(
        self, billing: Billing, paid_workspace: PaidWorkspace, clock: FakeClock
    ) -> None:
        """Members beyond the seats are deactivated as before; the invitations first."""
        ws_id, early, late = self._with_invitations(billing, paid_workspace, clock, 2)
        preview = billing.preview_renewal(ws_id)
        assert preview.revoke == (late, early)
        assert [m.user for m in preview.deactivate] == ["carol"]
        assert preview.at is not None
        clock.set(preview.at)
        billing.run_renewals()
        assert billing.invitations(ws_id) == []
        assert statuses(billing, ws_id)["carol"] is MemberStatus.DEACTIVATED
        types = [e.type for e in billing.events()[-3:]]
        assert types == [EventType.INVITATION_REVOKED, EventType.INVITATION_REVOKED,
                         EventType.MEMBER_DEACTIVATED]  # fmt: skip
        assert used(billing, ws_id) == (2, 0)

    def test_r11_the_webhook_of_a_renewal_revokes_as_the_sweep_does(
        self, billing: Billing, paid_workspace: PaidWorkspace, clock: FakeClock,
        provider: FakePaymentProvider,
    ) -> None:  # fmt: skip
        """Rule R14: the provider's view, applied from its webhook, gives the same result."""
        ws_id, early, _ = self._with_invitations(billing, paid_workspace, clock, 4)
        renews_at = billing.subscription(ws_id, actor=OWNER).renews_at
        assert renews_at is not None
        clock.set(renews_at)
        provider.deliver(billing.handle_webhook)
        assert billing.invitations(ws_id) == [early]
        assert len(of_type(billing, EventType.INVITATION_REVOKED)) == 1
        assert billing.run_renewals().revoked == 0

    def test_r11_a_trial_end_revokes_invitations_beyond_the_free_plan(
        self, billing: Billing, clock: FakeClock
    ) -> None:
        """Rules R2, R11: the fallback's member cap (2) holds the owner and bob."""
        ws = billing.create_workspace(owner=OWNER, name="Trial Co")
        billing.add_member(ws.id, actor=OWNER, user="bob")
        invitation = billing.invite(ws.id, actor=OWNER, email=CAROL)
        due = billing.due_renewals()
        assert due == []
        trial_end = billing.workspace(ws.id).subscription.trial_ends_at
        assert trial_end is not None
        assert invitation.expires_at < trial_end
        clock.advance(days=10)  # a second invitation still pending at the trial's end
        later = billing.invite(ws.id, actor=OWNER, email="later@example.com")
        assert billing.preview_renewal(ws.id).revoke == (later,)
        clock.set(trial_end)
        [(_, preview)] = billing.due_renewals()
        assert preview.revoke == (later,)
        report = billing.run_renewals()
        assert (report.expired, report.revoked, report.deactivated) == (1, 1, 0)
        assert billing.invitations(ws.id) == []
        assert set(statuses(billing, ws.id).values()) == {MemberStatus.ACTIVE}

    def test_r11_negotiated_terms_with_fewer_seats_revoke_invitations(
        self, billing: Billing, ws_id: str
    ) -> None:
        """Rule R7: an operator's terms apply at once, R11 with them."""
        invitation = billing.invite(ws_id, actor=OWNER, email=CAROL)
        billing.apply_custom_terms(ws_id, operator="ops", seats=3,
                                   unit_amount=Money(900, "EUR"), interval="year")  # fmt: skip
        assert billing.invitations(ws_id) == []
        (revoked,) = of_type(billing, EventType.INVITATION_REVOKED)
        assert revoked.subject == invitation.email  # type: ignore[attr-defined]
        assert revoked.data["reason"] == "plan_changed"  # type: ignore[attr-defined]
        assert used(billing, ws_id) == (3, 0)


class TestRaces:
    """Rule R8 under contention: the seat is held or taken once, never twice."""

    def test_r8_eight_threads_inviting_accepting_and_adding_never_oversell(
        self, billing: Billing, store: InMemoryStore, paid_workspace: PaidWorkspace,
        request: pytest.FixtureRequest,
    ) -> None:  # fmt: skip
        if request.node.callspec.params["store_factory"] != "postgres":
            pytest.skip("the race that matters runs on PostgreSQL's row locks")
        ws = paid_workspace(seats=6, members=("bob",))  # 4 seats free

        def act(i: int) -> str:
            if i % 2:
                billing.add_member(ws.id, actor=OWNER, user=f"added{i}")
                return "added"
            invitation = billing.invite(ws.id, actor=OWNER, email=f"u{i}@example.com")
            billing.accept_invitation(invitation.id, user=f"invited{i}")
            return "accepted"

        done, errors = outcomes(run_together(8, act))
        assert all(isinstance(e, SeatLimitReached) for e in errors), errors
        assert len(done) == 4
        assert used(billing, ws.id) == (6, 0)
        active = [m for m in billing.members(ws.id) if m.is_active]
        assert len(active) == 6

    def test_r17_one_acceptance_of_an_invitation_wins(
        self, billing: Billing, ws_id: str, request: pytest.FixtureRequest
    ) -> None:
        if request.node.callspec.params["store_factory"] != "postgres":
            pytest.skip("the race that matters runs on PostgreSQL's row locks")
        invitation = billing.invite(ws_id, actor=OWNER, email=CAROL)
        accept: Callable[[int], object] = lambda i: billing.accept_invitation(  # noqa: E731
            invitation.id, user=f"user{i}"
        )
        done, errors = outcomes(run_together(8, accept))
        assert len(done) == 1
        assert {getattr(e, "code", None) for e in errors} == {"invitation_not_found"}
        assert used(billing, ws_id) == (4, 0)
