"""Rules R8, R9 and R11 under random sequences of member, invitation, seat, clock and
renewal steps.

A hypothesis state machine drives one paid Business workspace through the
public API and keeps a model of its own (who is active, in what order they
became active, the invitations waiting and until when, the seats in force and
the decrease waiting for the renewal). After every step the library must
agree with the model, and the seats held (active members and pending
invitations) never exceed the seats in force: a decrease waits for the
renewal, which revokes and deactivates down to the new count.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from tests.conftest import StoreFactory

from workspace_billing import (
    Billing,
    Catalog,
    InvalidRequest,
    NotFound,
    PaymentFailed,
    SeatLimitReached,
    Store,
)
from workspace_billing.testing import FakeClock, FakePaymentProvider

OWNER = "alice"
WORKSPACE = "ws_acme"
MAX_SEATS = 15

CLOCK_STEPS = st.one_of(
    st.integers(1, 72).map(lambda hours: timedelta(hours=hours)),
    st.integers(1, 35).map(lambda days: timedelta(days=days)),
)


class SeatsAndRenewals(RuleBasedStateMachine):
    """Rules R8, R9, R11: seats bound active members, and renewals deactivate the newest.

    R8: adding or reactivating a member, or inviting someone, needs a free seat
    (pending invitations hold theirs), else ``SeatLimitReached``; accepting takes
    the invitation's seat, and an expired invitation holds none.
    R9: an increase is charged and applies at once (a declined card changes
    nothing); a decrease waits for the renewal, so seats in force never drop
    mid-period. R11: at the renewal the members who most recently became
    active (ties by sequence; a reactivation counts as an addition) are
    deactivated until active = seats; the owner never is. Before them, the
    newest pending invitations are revoked, so that those left fit beside the
    members who stay.
    """

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.provider = FakePaymentProvider(clock=self.clock)
        self.store = store
        numbers = itertools.count(1)
        self.billing = Billing(
            catalog=Catalog.default(), store=self.store, provider=self.provider, clock=self.clock,
            invitation_id_factory=lambda: f"inv_{next(numbers):03d}",  # the same ids each run
            invitation_ttl=timedelta(days=35),  # most meet the next renewal; some expire
        )  # fmt: skip
        self.names = itertools.count(1)
        self.activations = itertools.count(1)
        self.active: dict[str, tuple[datetime, int]] = {}
        self.deactivated: set[str] = set()
        self.invited: dict[str, tuple[datetime, int, datetime]] = {}
        """Invitation id -> (created_at, creation order, expires_at), until it ends or
        an expired one is swept."""
        self._settled = False
        """Whether the step under way applied a renewal that was due (then re-read)."""
        self.seats = 0
        self.pending: int | None = None
        self.renews_at = self.clock.now()
        self.subscription_ref = ""

    # ----------------------------------------------------------------- set-up

    @initialize(
        seats=st.integers(1, 5),
        members=st.integers(0, 4),
        invitations=st.integers(0, 3),
        decrease=st.none() | st.integers(1, 4),
    )
    def paid_business_workspace(
        self, seats: int, members: int, invitations: int, decrease: int | None
    ) -> None:
        """A paid Business workspace, some seats taken by members and invitations,
        maybe a decrease scheduled."""
        ws = self.billing.create_workspace(owner=OWNER, name="Acme", workspace_id=WORKSPACE)
        checkout = self.billing.upgrade(
            ws.id, actor=OWNER, plan="business", seats=seats, interval="month",
            success_url="https://app.example/ok", cancel_url="https://app.example/cancel",
        )  # fmt: skip
        self.subscription_ref = self.provider.complete_checkout(checkout.id)
        self.provider.deliver(self.billing.handle_webhook)
        self.active[OWNER] = (self.clock.now(), 0)
        self.seats = seats
        self.renews_at = self.provider.subscription(self.subscription_ref).period_end
        overview = self.billing.subscription(WORKSPACE, actor=OWNER)
        assert overview.plan == "business"
        assert overview.seats == seats
        for _ in range(min(members, seats - 1)):
            self.add_member()
        for admin in [False, True, False][: min(invitations, seats - len(self.active))]:
            self.invite(admin)
        if decrease is not None and decrease < seats:
            overview = self.billing.change_seats(WORKSPACE, actor=OWNER, seats=decrease)
            assert overview.pending_seats == decrease
            self.pending = decrease

    # ---------------------------------------------------------------- helpers

    def _pending(self) -> list[str]:
        """The invitations holding a seat now, oldest first."""
        now = self.clock.now()
        held = [i for i, (_, _, expires) in self.invited.items() if now < expires]
        return sorted(held, key=lambda i: self.invited[i][:2])

    def _held(self) -> int:
        return len(self.active) + len(self._pending())

    def _has_free_seat(self) -> bool:
        return self._held() < self.seats

    def _activate(self, user: str) -> None:
        self.deactivated.discard(user)
        self.active[user] = (self.clock.now(), next(self.activations))

    def _renewal_due(self) -> bool:
        return self.clock.now() >= self.renews_at

    def _others(self) -> list[str]:
        return sorted((set(self.active) | self.deactivated) - {OWNER})

    def _newest_first(self) -> list[str]:
        """Active members other than the owner, the most recently activated first."""
        others = [user for user in self.active if user != OWNER]
        return sorted(others, key=lambda user: self.active[user], reverse=True)

    def _expected_deactivations(self, seats: int) -> set[str]:
        excess = max(len(self.active) - seats, 0)
        return set(self._newest_first()[:excess])

    def _expected_revocations(self, seats: int) -> list[str]:
        """R11: the newest pending invitations beyond what the staying members leave."""
        staying = len(self.active) - len(self._expected_deactivations(seats))
        pending = self._pending()
        return list(reversed(pending))[: max(staying + len(pending) - seats, 0)]

    def _statuses(self) -> dict[str, bool]:
        return {m.user: m.is_active for m in self.billing.members(WORKSPACE)}

    def _settle_due_renewal(self) -> bool:
        """R9, R11: an owner's change first applies a renewal already due.

        Updates the model as the renewal will; the caller reads the new renewal
        date from the provider once the library has made the call.
        """
        if not self._renewal_due():
            return False
        seats = self.pending if self.pending is not None else self.seats
        expected = self._expected_deactivations(seats)
        for invitation in self._expected_revocations(seats):
            del self.invited[invitation]
        for user in expected:
            del self.active[user]
        self.deactivated |= expected
        self.seats, self.pending = seats, None
        event("a change applied the renewal that was due")
        return True

    def _after_settling(self, settled: bool) -> None:
        if settled:
            self.renews_at = self.provider.subscription(self.subscription_ref).period_end

    def _refused_seat(self, action: Callable[[], object], what: str, *, settled: bool) -> None:
        """R8: without a free seat the action is refused with the seat counts. Refused on
        the state as it was, it changes nothing; refused only once the due renewal was
        applied, that renewal stays applied."""
        before = self.store.snapshot()
        with pytest.raises(SeatLimitReached) as refused:
            action()
        event(f"{what}: seat limit reached")
        assert refused.value.seats == self.seats
        assert refused.value.seats_used == self._held()
        if not settled:
            assert self.store.snapshot() == before

    # ------------------------------------------------------------------ rules

    @rule()
    def add_member(self) -> None:
        """R8: a new member joins iff a seat is free."""
        user = f"user{next(self.names)}"
        if not self._has_free_seat():  # refused before anything, a due renewal included
            self._refused_seat(
                lambda: self.billing.add_member(WORKSPACE, actor=OWNER, user=user),
                "add",
                settled=False,
            )
            return
        settled = self._settle_due_renewal()
        if not self._has_free_seat():
            self._refused_seat(
                lambda: self.billing.add_member(WORKSPACE, actor=OWNER, user=user),
                "add",
                settled=settled,
            )
            self._after_settling(settled)
            return
        member = self.billing.add_member(WORKSPACE, actor=OWNER, user=user)
        self._after_settling(settled)
        assert member.is_active
        self._activate(user)

    @precondition(lambda self: bool(self._others()))
    @rule(data=st.data())
    def remove_member(self, data: st.DataObject) -> None:
        """Removing a member for good frees their seat if they held one."""
        user = data.draw(st.sampled_from(self._others()), label="removed")
        settled = self._settle_due_renewal()
        self.billing.remove_member(WORKSPACE, actor=OWNER, user=user)
        self._after_settling(settled)
        self.active.pop(user, None)
        self.deactivated.discard(user)

    @precondition(lambda self: bool(self.deactivated))
    @rule(data=st.data())
    def reactivate_member(self, data: st.DataObject) -> None:
        """R8, R11: a deactivated member comes back iff a seat is free, as if just added."""
        user = data.draw(st.sampled_from(sorted(self.deactivated)), label="reactivated")
        if not self._has_free_seat():  # refused before anything, a due renewal included
            self._refused_seat(
                lambda: self.billing.reactivate_member(WORKSPACE, actor=OWNER, user=user),
                "reactivate",
                settled=False,
            )
            return
        settled = self._settle_due_renewal()
        if not self._has_free_seat():
            self._refused_seat(
                lambda: self.billing.reactivate_member(WORKSPACE, actor=OWNER, user=user),
                "reactivate",
                settled=settled,
            )
            self._after_settling(settled)
            return
        member = self.billing.reactivate_member(WORKSPACE, actor=OWNER, user=user)
        self._after_settling(settled)
        assert member.is_active
        self._activate(user)

    @rule(admin=st.booleans())
    def invite(self, admin: bool) -> None:
        """R8: an invitation is created iff a seat is free, and holds it."""
        email = f"guest{next(self.names)}@example.com"
        role = "admin" if admin else "member"

        def invite() -> object:
            return self.billing.invite(WORKSPACE, actor=OWNER, email=email, role=role)

        if not self._has_free_seat():  # refused before anything, a due renewal included
            self._refused_seat(invite, "invite", settled=False)
            return
        settled = self._settle_due_renewal()
        if not self._has_free_seat():
            self._refused_seat(invite, "invite", settled=settled)
            self._after_settling(settled)
            return
        invitation = self.billing.invite(WORKSPACE, actor=OWNER, email=email, role=role)
        self._after_settling(settled)
        assert invitation.is_pending(self.clock.now())
        self.invited[invitation.id] = (
            invitation.created_at, next(self.activations), invitation.expires_at,
        )  # fmt: skip

    def _ended_by_the_clock_or_the_renewal(
        self, invitation: str, action: Callable[[], object], what: str
    ) -> bool:
        """An invitation expired is refused with nothing changed; one a due renewal
        revokes is not found once that renewal is applied. True when it was either."""
        if not self.invited[invitation][2] > self.clock.now():
            before = self.store.snapshot()
            with pytest.raises(InvalidRequest) as refused:
                action()
            assert refused.value.code == "invitation_expired"
            assert self.store.snapshot() == before
            event(f"{what}: expired")
            return True
        settled = self._settle_due_renewal()
        if invitation not in self.invited:
            with pytest.raises(NotFound):
                action()
            self._after_settling(settled)
            event(f"{what}: revoked by the renewal it applied")
            return True
        self._settled = settled
        return False

    @precondition(lambda self: bool(self.invited))
    @rule(data=st.data())
    def accept_invitation(self, data: st.DataObject) -> None:
        """R8, R11: the invited person takes the held seat, as the newest member."""
        invitation = data.draw(st.sampled_from(sorted(self.invited)), label="accepted")
        user = f"user{next(self.names)}"

        def accept() -> object:
            return self.billing.accept_invitation(invitation, user=user)

        if self._ended_by_the_clock_or_the_renewal(invitation, accept, "accept"):
            return
        held = self._held()
        member = self.billing.accept_invitation(invitation, user=user)
        self._after_settling(self._settled)
        assert member.is_active
        del self.invited[invitation]
        self._activate(user)
        assert self._held() == held  # the invitation's seat became the member's

    @precondition(lambda self: bool(self.invited))
    @rule(data=st.data())
    def revoke_invitation(self, data: st.DataObject) -> None:
        """R5: withdrawing a pending invitation frees its seat."""
        invitation = data.draw(st.sampled_from(sorted(self.invited)), label="revoked")

        def revoke() -> None:
            self.billing.revoke_invitation(WORKSPACE, actor=OWNER, invitation_id=invitation)

        if self._ended_by_the_clock_or_the_renewal(invitation, revoke, "revoke"):
            return
        revoke()
        self._after_settling(self._settled)
        del self.invited[invitation]

    @rule(up=st.booleans(), declined=st.booleans(), data=st.data())
    def change_seats(self, up: bool, declined: bool, data: st.DataObject) -> None:
        """R9: an increase is paid and applies at once, a decrease waits for the renewal.

        After the renewal date, the renewal that was due is applied first.
        """
        if self._renewal_due():
            # The renewal charge would take the declined card; that is R12's story.
            declined = False
        settled = self._settle_due_renewal()
        if up and self.seats < MAX_SEATS:
            wanted = st.integers(self.seats + 1, MAX_SEATS)
        else:
            wanted = st.integers(1, self.seats)
        seats = data.draw(wanted, label="seats")
        invoices = len(self.provider.invoices)
        if seats > self.seats and declined:
            event("increase: card declined")
            before = self.store.snapshot()
            self.provider.fail_next_payment()
            with pytest.raises(PaymentFailed):
                self.billing.change_seats(WORKSPACE, actor=OWNER, seats=seats)
            assert self.store.snapshot() == before
            assert self.provider.subscription(self.subscription_ref).seats == self.seats
            return
        overview = self.billing.change_seats(WORKSPACE, actor=OWNER, seats=seats)
        self._after_settling(settled)
        if seats > self.seats:
            self.seats, self.pending = seats, None
            charged = self.provider.invoices[invoices:]
            assert [(i.reason, i.paid) for i in charged][-1:] == [("seat_increase", True)]
        elif seats < self.seats:
            self.pending = seats
            assert all(i.reason == "renewal" for i in self.provider.invoices[invoices:])
        else:
            self.pending = None
        assert overview.seats == self.seats
        assert overview.pending_seats == self.pending

    @rule(step=CLOCK_STEPS, past_renewal=st.booleans())
    def advance_clock(self, step: timedelta, past_renewal: bool) -> None:
        """Time passes: some hours or days, or that much past the renewal date."""
        start = max(self.clock.now(), self.renews_at) if past_renewal else self.clock.now()
        self.clock.set(start + step)

    @rule(hours=st.integers(1, 96))
    def approach_renewal(self, hours: int) -> None:
        """Time passes to some hours before the renewal: invitations made then are
        still pending when it comes, for R11 to revoke."""
        self.clock.set(max(self.clock.now(), self.renews_at - timedelta(hours=hours)))

    @rule(webhooks_first=st.booleans())
    def observe_renewal(self, webhooks_first: bool) -> None:
        """R9, R11: the renewal applies the scheduled decrease and deactivates the newest."""
        due = self._renewal_due()
        seats = (self.pending if self.pending is not None else self.seats) if due else self.seats
        expected = self._expected_deactivations(seats) if due else set()
        revoked = self._expected_revocations(seats) if due else []
        now = self.clock.now()
        expired = {i for i, (_, _, expires) in self.invited.items() if expires <= now}
        if due:
            named = self.billing.preview_renewal(WORKSPACE)
            assert {m.user for m in named.deactivate} == expected
            assert [i.id for i in named.revoke] == revoked
        before = self._statuses()
        if webhooks_first:
            self.provider.deliver(self.billing.handle_webhook)
            report = self.billing.run_renewals()
        else:
            report = self.billing.run_renewals()
            self.provider.deliver(self.billing.handle_webhook)
        after = self._statuses()
        assert set(after) == set(before)
        went = {user for user, active in before.items() if active and not after[user]}
        came_back = {user for user, active in after.items() if active and not before[user]}
        assert went == expected
        assert not came_back
        swept = due and not webhooks_first
        assert report.changed == (1 if swept else 0)
        assert report.deactivated == (len(expected) if swept else 0)
        assert report.revoked == (len(revoked) if swept else 0)
        assert report.expired == len(expired)
        for invitation in expired:
            del self.invited[invitation]
        if due:
            event(f"renewal: {'some' if expected else 'no'} members deactivated")
            event(f"renewal: {'some' if revoked else 'no'} invitations revoked")
            for invitation in revoked:
                del self.invited[invitation]
            for user in expected:
                del self.active[user]
            self.deactivated |= expected
            self.seats, self.pending = seats, None
            self.renews_at = self.provider.subscription(self.subscription_ref).period_end
            assert self.renews_at > self.clock.now()
            assert sum(after.values()) <= seats
        unchanged = self.store.snapshot()
        again = self.billing.run_renewals()
        assert (again.changed, again.deactivated, again.revoked, again.expired) == (0, 0, 0, 0)
        assert self.store.snapshot() == unchanged

    # ------------------------------------------------------------- invariants

    @invariant()
    def library_agrees_with_model(self) -> None:
        """R8, R9: active members and pending invitations never exceed the seats in
        force; the owner stays active."""
        overview = self.billing.subscription(WORKSPACE, actor=OWNER)
        members = self.billing.members(WORKSPACE)
        active = [m for m in members if m.is_active]
        pending = [i.id for i in self.billing.invitations(WORKSPACE)]
        assert pending == self._pending()
        assert overview.invitations_pending == len(pending)
        assert overview.seats_used == len(active) + len(pending) <= overview.seats
        assert overview.seats == self.seats
        assert overview.pending_seats == self.pending
        assert overview.renews_at == self.renews_at
        assert OWNER in {m.user for m in active}
        assert {m.user for m in active} == set(self.active)
        assert {m.user for m in members if not m.is_active} == self.deactivated

    @invariant()
    def activation_order_is_kept(self) -> None:
        """R11: the library orders active members by when they last became active."""
        active = [m for m in self.billing.members(WORKSPACE) if m.is_active and not m.is_owner]
        newest_first = sorted(active, key=lambda m: (m.active_since, m.seq), reverse=True)
        assert [m.user for m in newest_first] == self._newest_first()


EXAMPLES = {"memory": 250, "sqlite": 40, "postgres": 40}


def test_seats_and_renewals_hold_under_random_steps(
    store_factory: StoreFactory, request: pytest.FixtureRequest
) -> None:
    """Rules R8, R9, R11 on every store backend (fewer runs on the SQL ones, for time)."""
    backend = request.node.callspec.params["store_factory"]
    run_state_machine_as_test(
        lambda: SeatsAndRenewals(store_factory()),
        settings=settings(
            max_examples=EXAMPLES[backend],
            stateful_step_count=50,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
        ),
    )
