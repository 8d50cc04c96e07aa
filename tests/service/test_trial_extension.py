"""An operator extends a trial (issue 14); ``service/sales.py``."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from tests.service.support import UNKNOWN_WORKSPACE, refused

from workspace_billing import (
    Billing,
    EventType,
    InvalidRequest,
    NotFound,
    Store,
    SubscriptionStatus,
)
from workspace_billing.testing import FakeClock

TRIAL_END = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
"""The trial's end: FakeClock's start plus the default 14 days."""


class TestExtendTrial:
    """The trial runs to the new end; the boundary and its preview move with it."""

    def test_r1_an_operator_moves_the_trial_end_later(
        self, billing: Billing, store: Store, trial_id: str
    ) -> None:
        """Rule R1: the same trial, a later end; ``trial_extended`` says before and after."""
        assert billing.workspace(trial_id).subscription.trial_ends_at == TRIAL_END
        until = TRIAL_END + timedelta(days=7)
        overview = billing.extend_trial(trial_id, operator="sales@vendor", until=until)
        assert (overview.status, overview.trial_ends_at) == (SubscriptionStatus.TRIALING, until)
        ws = billing.workspace(trial_id)
        assert (ws.subscription.trial_ends_at, ws.due_at) == (until, until)
        assert billing.preview_renewal(trial_id).at == until
        assert billing.has_feature(trial_id, "sso")  # the trial's features stay
        event = billing.events()[-1]
        assert (event.type, event.actor, event.workspace_id) == (
            EventType.TRIAL_EXTENDED, "sales@vendor", trial_id,
        )  # fmt: skip
        assert event.before == {"trial_ends_at": "2026-01-15T09:00:00+00:00"}
        assert event.after == {"trial_ends_at": "2026-01-22T09:00:00+00:00"}
        (stored,) = [w for w in store.snapshot().workspaces if w.id == trial_id]
        assert (stored.subscription.trial_ends_at, stored.due_at) == (until, until)

    def test_r1_the_cached_overview_shows_the_new_end_at_once(
        self, billing: Billing, trial_id: str
    ) -> None:
        """Rule R3: an overview kept between requests is never stale after the change."""
        assert billing.subscription(trial_id, actor="tess").trial_ends_at == TRIAL_END
        until = TRIAL_END + timedelta(days=3)
        billing.extend_trial(trial_id, operator="ops", until=until)
        assert billing.subscription(trial_id, actor="tess").trial_ends_at == until

    def test_r11_the_trial_ends_at_the_new_end_not_the_old_one(
        self, billing: Billing, clock: FakeClock, trial_id: str
    ) -> None:
        """Rule R11: the sweep leaves the trial running past its old end, then ends it."""
        until = TRIAL_END + timedelta(days=10)
        billing.extend_trial(trial_id, operator="ops", until=until)
        clock.set(TRIAL_END + timedelta(hours=1))
        billing.run_renewals()
        assert billing.workspace(trial_id).subscription.status is SubscriptionStatus.TRIALING
        assert billing.has_feature(trial_id, "sso")
        clock.set(until + timedelta(hours=1))
        billing.run_renewals()
        assert billing.workspace(trial_id).subscription.status is SubscriptionStatus.FREE
        assert EventType.TRIAL_ENDED in [e.type for e in billing.events()]

    def test_r1_until_in_another_zone_is_the_same_moment_in_utc(
        self, billing: Billing, trial_id: str
    ) -> None:
        """Rule R15's sibling for time: an aware datetime in any zone names one moment."""
        paris = timezone(timedelta(hours=1))
        until = datetime(2026, 1, 20, 18, 30, tzinfo=paris)
        overview = billing.extend_trial(trial_id, operator="ops", until=until)
        assert overview.trial_ends_at == until
        assert overview.trial_ends_at is not None
        assert overview.trial_ends_at.utcoffset() == timedelta(0)
        assert overview.to_dict()["trial_ends_at"] == "2026-01-20T17:30:00Z"

    def test_r1_a_year_from_now_is_the_furthest_end(
        self, billing: Billing, clock: FakeClock, trial_id: str
    ) -> None:
        """Rule R17: the bound is inclusive."""
        until = clock.now() + timedelta(days=365)
        assert billing.extend_trial(trial_id, operator="ops", until=until).trial_ends_at == until

    def test_r1_it_can_be_extended_again(self, billing: Billing, trial_id: str) -> None:
        """Rule R1: each extension moves the end further, each recorded."""
        billing.extend_trial(trial_id, operator="ops", until=TRIAL_END + timedelta(days=1))
        billing.extend_trial(trial_id, operator="ops", until=TRIAL_END + timedelta(days=2))
        extended = [e for e in billing.events() if e.type is EventType.TRIAL_EXTENDED]
        assert [e.after["trial_ends_at"] for e in extended] == [
            "2026-01-16T09:00:00+00:00",
            "2026-01-17T09:00:00+00:00",
        ]


class TestExtendTrialRefused:
    """Rule R17: every refusal is typed, with its own code, and changes nothing."""

    def test_r17_a_paid_workspace_has_no_trial_to_extend(
        self, billing: Billing, store: Store, paid_id: str
    ) -> None:
        """Rule R17: ``trial_not_extendable``."""
        refused(store, InvalidRequest, "trial_not_extendable", lambda: billing.extend_trial(
            paid_id, operator="ops", until=TRIAL_END + timedelta(days=60)))  # fmt: skip

    def test_r2_a_workspace_without_a_trial_cannot_get_one_this_way(
        self, billing: Billing, store: Store, free_id: str
    ) -> None:
        """Rule R2: one trial per owner; the free plan is not a trial."""
        refused(store, InvalidRequest, "trial_not_extendable", lambda: billing.extend_trial(
            free_id, operator="ops", until=TRIAL_END + timedelta(days=7)))  # fmt: skip

    def test_r17_a_trial_past_its_end_is_not_revived(
        self, billing: Billing, store: Store, clock: FakeClock, trial_id: str
    ) -> None:
        """Rule R17: ended, even before the sweep applied the end: refused, not revived."""
        clock.set(TRIAL_END + timedelta(minutes=1))
        refused(store, InvalidRequest, "trial_not_extendable", lambda: billing.extend_trial(
            trial_id, operator="ops", until=TRIAL_END + timedelta(days=7)))  # fmt: skip

    @pytest.mark.parametrize(
        "until",
        [TRIAL_END, TRIAL_END - timedelta(days=1), datetime(2027, 1, 1, 9, 0, 1, tzinfo=UTC),
         datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5)))],
        ids=["same", "earlier", "over-a-year", "year-9999"],
    )  # fmt: skip
    def test_r17_an_end_not_later_or_too_far_is_refused(
        self, billing: Billing, store: Store, trial_id: str, until: datetime
    ) -> None:
        """Rule R17: ``trial_end_out_of_range`` (FakeClock starts 2026-01-01T09:00Z)."""
        error = refused(
            store,
            InvalidRequest,
            "trial_end_out_of_range",
            lambda: billing.extend_trial(trial_id, operator="ops", until=until),
        )
        assert error.user_message() == (
            "The trial can only be extended to a later date, at most a year from today."
        )
        assert "au plus tard dans un an" in error.user_message("fr")

    @pytest.mark.parametrize(
        "until",
        [datetime(2026, 2, 1, 9, 0), date(2026, 2, 1), "2026-02-01T09:00:00Z", 1767258000, None],
        ids=["naive", "date", "text", "timestamp", "none"],
    )
    def test_r17_until_must_be_an_aware_datetime(
        self, billing: Billing, store: Store, trial_id: str, until: object
    ) -> None:
        """Rule R17: ``invalid_datetime``; a naive datetime names no moment."""
        refused(store, InvalidRequest, "invalid_datetime", lambda: billing.extend_trial(
            trial_id, operator="ops", until=until))  # type: ignore[arg-type]  # fmt: skip

    @pytest.mark.parametrize("operator", ["", "  ", "ops\x00", 7], ids=repr)
    def test_r17_the_operator_is_named(
        self, billing: Billing, store: Store, trial_id: str, operator: object
    ) -> None:
        """Rule R17: ``invalid_id``, as for ``apply_custom_terms``."""
        refused(store, InvalidRequest, "invalid_id", lambda: billing.extend_trial(
            trial_id, operator=operator, until=TRIAL_END + timedelta(days=1)))  # type: ignore[arg-type]  # fmt: skip

    def test_r17_an_unknown_workspace_is_not_found(self, billing: Billing, store: Store) -> None:
        """Rule R17: NotFound, nothing written."""
        refused(store, NotFound, "not_found", lambda: billing.extend_trial(
            UNKNOWN_WORKSPACE, operator="ops", until=TRIAL_END + timedelta(days=1)))  # fmt: skip
