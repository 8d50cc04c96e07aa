"""The jobs: the renewal sweep (R11, R12), its dry run and reconcile.

The sweep decides a whole batch of the boundaries the library owns with the
pure functions at the end of this module and writes them with a few
set-based statements; provider-managed renewals are settled one at a time
outside any lock, from the provider's view. A notice pass then announces the
boundaries coming within the host's ``Notices`` leads, a batch at a time too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import attrs

from ..catalog import Catalog
from ..errors import BillingError, InvalidRequest
from ..events import Event, EventType
from ..invitation import Invitation, invitation_event, pending
from ..jsonable import iso
from ..mirror import apply_view, belongs_to
from ..notices import Notices, notice_for
from ..overview import ReconcileReport, RenewalReport
from ..ports import ProviderStatus, UnitOfWork
from ..renewal import (
    Change,
    Renewal,
    RenewalPreview,
    local_boundary,
    next_boundary_terms,
    preview,
    renewal_in_place,
    revoke_beyond_seats,
)
from ..workspace import Member, Workspace
from .base import ServiceBase, with_due
from .checks import count

log = logging.getLogger("workspace_billing")

Pager = Callable[[UnitOfWork, "str | None"], list[str]]


class RenewalJobs(ServiceBase):
    def run_renewals(
        self,
        *,
        batch_size: int = 500,
        progress: Callable[[RenewalReport], object] | None = None,
    ) -> RenewalReport:
        """Apply every boundary due by now: trial ends, renewals, ends of grace (R11, R12).

        The due workspaces are claimed in batches, in ``(due_at, id)`` order. The
        boundaries the library owns (trial ends, negotiated plans, ends of grace)
        are decided for the whole batch and written in one transaction with a
        few set-based statements: a negotiated plan's renewal that deactivates
        nobody, the bulk of a sweep, is a narrow update of its period; members
        are loaded only where R11 has someone to deactivate. Provider-managed
        renewals are then fetched from the provider, one workspace at a time,
        outside any lock. On PostgreSQL a batch skips rows another worker holds,
        so several workers share the sweep.

        Safe to run as often as you like, and to kill: a batch commits whole or
        not at all, a boundary is applied once per period, and a second run
        finds nothing to do. In the outbox, a batch's events come grouped by
        the way they were written (the general path's, then the renewals in
        place); each workspace's own events keep their order. A workspace that
        fails is logged, reported and retried by the next run; it does not stop
        the others. ``progress`` is called with the report so far after each batch.

        Then the advance notices (``Billing(notices=...)``): each trial ending and
        each renewal coming within its lead is announced once, by a
        ``trial_ending`` or ``renewal_upcoming`` event saying what it will do
        (the plan, the seats, the amount, who R11 would deactivate), claimed and
        written a batch at a time like the boundaries, so two workers never
        announce one boundary twice; a boundary that moves (a trial extended, a
        new period) is announced again. Run the job at least daily for notices
        to go out on time.
        """
        batch_size = count("batch_size", batch_size)
        if progress is not None and not callable(progress):
            raise InvalidRequest(
                "progress must be a callable taking the report so far", code="invalid_callback"
            )
        now = self._clock.now()
        after: tuple[datetime, str] | None = None
        report = _Tally()
        self._expire_invitations(now, batch_size, report, progress)
        while True:
            with self._store.unit_of_work() as uow:
                batch = uow.claim_due(now, batch_size, after=after)
                if not batch:
                    break
                last_due = batch[-1].due_at
                assert last_due is not None
                after = (last_due, batch[-1].id)
                remote = [ws.id for ws in batch if ws.subscription.is_provider_managed]
                local = [ws for ws in batch if not ws.subscription.is_provider_managed]
                ids = [ws.id for ws in local]
                invited = uow.invitation_counts(ids, now)
                held = seats_held(uow.active_member_counts(ids), invited)
                in_place, rest = split_in_place(local, held, now, self.catalog)
                short = short_of_seats(rest, held, self.catalog)
                members: dict[str, list[Member]] = {ws.id: [] for ws in rest}
                members.update(uow.members_of(short))
                invitations = uow.invitations_of([ws_id for ws_id in short if invited[ws_id]])
                decided = decide_boundaries(rest, members, invitations, now, self.catalog)
                self._save_many(uow, decided)
                uow.renew_in_place(in_place)
            report.examined += len(batch)
            report.changed += len(in_place)
            for _, change in decided:
                report.count(change)
            for ws_id in remote:
                try:
                    outcome = self._settle_boundary(ws_id, now)
                except BillingError as e:
                    log.warning("renewal of %s failed: %s", ws_id, e)
                    report.failed.append((ws_id, e.code))
                    continue
                if outcome is None:
                    report.waiting.append(ws_id)
                else:
                    report.count(outcome)
            if progress is not None:
                progress(report.freeze())
        self._announce(now, batch_size, report, progress)
        return report.freeze()

    def _announce(
        self,
        now: datetime,
        batch_size: int,
        report: _Tally,
        progress: Callable[[RenewalReport], object] | None,
    ) -> None:
        """The notice pass: announce the boundaries within their leads, once each."""
        notices = self._notices
        trial_until = now + notices.trial_ending if notices.trial_ending else None
        renewal_until = now + notices.renewal_upcoming if notices.renewal_upcoming else None
        if trial_until is None and renewal_until is None:
            return
        after: tuple[datetime, str] | None = None
        while True:
            with self._store.unit_of_work() as uow:
                if not all(hasattr(uow, name) for name in ("claim_upcoming", "mark_noticed")):
                    log.warning(
                        "advance notices skipped: %r has no claim_upcoming and mark_noticed "
                        "(see docs/testing.md, contract suites)", self._store
                    )  # fmt: skip
                    return
                batch = uow.claim_upcoming(
                    now, batch_size, trial_until=trial_until, renewal_until=renewal_until,
                    after=after,
                )  # fmt: skip
                if not batch:
                    return
                last_due = batch[-1].due_at
                assert last_due is not None
                after = (last_due, batch[-1].id)
                counts = uow.active_member_counts([ws.id for ws in batch])
                members: dict[str, list[Member]] = {ws.id: [] for ws in batch}
                members.update(uow.members_of(short_of_seats(batch, counts, self.catalog)))
                invited = uow.invitations_of([ws.id for ws in batch])
                decided = decide_notices(
                    batch, members, counts, invited, now, self.catalog, notices
                )
                marked = uow.mark_noticed([(ws.id, due) for ws, due, _ in decided])
                recorded = [event for ws, _, event in decided if ws.id in marked]
                uow.append_events(recorded)
            report.noticed += len(recorded)
            if progress is not None:
                progress(report.freeze())

    def due_renewals(self, *, limit: int = 1000) -> list[tuple[Workspace, RenewalPreview]]:
        """The workspaces whose boundary is due now and what applying it would do,
        changing nothing: a dry run of ``run_renewals`` (names who would go, and
        the pending invitations it would revoke first)."""
        limit = count("limit", limit)
        now = self._clock.now()
        with self._store.unit_of_work(read_only=True) as uow:
            due = [ws for ws_id in uow.due_workspace_ids(now, limit)
                   if (ws := uow.get_workspace(ws_id)) is not None]  # fmt: skip
            members = uow.members_of([ws.id for ws in due])
            invited = uow.invitations_of([ws.id for ws in due])
        return [
            (ws, preview(ws, members[ws.id], self.catalog, pending(invited[ws.id], now)))
            for ws in due
        ]

    def _expire_invitations(
        self,
        now: datetime,
        batch_size: int,
        report: _Tally,
        progress: Callable[[RenewalReport], object] | None,
    ) -> None:
        """Delete the invitations past their ``expires_at`` and record each expiry,
        a batch per transaction. They held no seat since then already; this
        frees their emails for a new invitation and tells the host (R16)."""
        while True:
            with self._store.unit_of_work() as uow:
                expired = uow.expire_invitations(now, batch_size)
                uow.append_events([expiry_event(i, now) for i in expired])
            report.expired += len(expired)
            if expired and progress is not None:
                progress(report.freeze())
            if len(expired) < batch_size:
                return

    def reconcile(self, *, page_size: int = 100) -> ReconcileReport:
        """Compare every provider-managed workspace with the provider's view and repair
        drift (a lost webhook, a change made in the provider's dashboard).

        Workspaces with a provider customer but no live subscription are asked
        about too: a checkout paid while all its webhooks were lost is found
        among the customer's subscriptions and taken up. Repairs go through the
        same code path as webhooks, so a repair is what the missing webhook
        would have done. Run it daily; it is idempotent.
        """
        page_size = count("page_size", page_size)
        examined = 0
        repaired: list[tuple[str, tuple[EventType, ...]]] = []
        failed: list[tuple[str, str]] = []

        def subscribed(uow: UnitOfWork, after: str | None) -> list[str]:
            return uow.subscribed_workspace_ids(after=after, limit=page_size)

        def customers(uow: UnitOfWork, after: str | None) -> list[str]:
            return uow.unsubscribed_customer_ids(after=after, limit=page_size)

        passes: tuple[tuple[Pager, Callable[[str], Change | None]], ...] = (
            (subscribed, self._resync),
            (customers, self._find_lost_checkout),
        )
        for page_of, repair in passes:
            after: str | None = None
            while True:
                with self._store.unit_of_work(read_only=True) as uow:
                    page = page_of(uow, after)
                if not page:
                    break
                after = page[-1]
                for ws_id in page:
                    examined += 1
                    try:
                        change = repair(ws_id)
                    except BillingError as e:
                        log.warning("reconciling %s failed: %s", ws_id, e)
                        failed.append((ws_id, e.code))
                        continue
                    if change is not None and change.events:
                        repaired.append((ws_id, tuple(e.type for e in change.events)))
        return ReconcileReport(examined, tuple(repaired), tuple(failed))

    def _resync(self, workspace_id: str) -> Change | None:
        ref = self._load(workspace_id).subscription.subscription_ref
        if ref is None:
            return None
        view = self._provider.fetch_subscription(ref)
        now = self._clock.now()
        return self._boundary_tx(
            workspace_id, lambda ws, m: apply_view(ws, m, view, now, self.catalog)
        )

    def _find_lost_checkout(self, workspace_id: str) -> Change | None:
        """Take up the customer's newest active subscription, if the workspace
        follows none: what the lost webhooks of a paid checkout would have done."""
        customer = self._load(workspace_id).subscription.customer_ref
        if customer is None:
            return None
        live = [v for v in self._provider.subscriptions_of(customer)
                if v.status is ProviderStatus.ACTIVE]  # fmt: skip
        if not live:
            return None
        view, now = live[0], self._clock.now()
        return self._boundary_tx(
            workspace_id,
            lambda ws, m: (
                apply_view(ws, m, view, now, self.catalog) if belongs_to(ws, view) else None
            ),
        )

    def _save_many(self, uow: UnitOfWork, decided: list[tuple[Workspace, Change]]) -> None:
        """Write a batch of decisions with one statement per kind of row."""
        if not decided:
            return
        uow.save_workspaces([with_due(change.workspace, self.catalog) for _, change in decided])
        uow.save_members([m for _, change in decided for m in change.members])
        uow.delete_invitations([i for _, change in decided for i in change.uninvited])
        uow.append_events([e for _, change in decided for e in change.events])


# ----------------------------------------------------------------- decisions


@attrs.define
class _Tally:
    """A sweep's report while it runs."""

    examined: int = 0
    changed: int = 0
    deactivated: int = 0
    waiting: list[str] = attrs.Factory(list)
    failed: list[tuple[str, str]] = attrs.Factory(list)
    noticed: int = 0
    revoked: int = 0
    expired: int = 0

    def count(self, change: Change) -> None:
        if change.events:
            self.changed += 1
        self.deactivated += sum(1 for e in change.events if e.type is EventType.MEMBER_DEACTIVATED)
        self.revoked += sum(1 for e in change.events if e.type is EventType.INVITATION_REVOKED)

    def freeze(self) -> RenewalReport:
        return RenewalReport(
            self.examined, self.changed, self.deactivated, tuple(self.waiting),
            tuple(self.failed), self.noticed, self.revoked, self.expired,
        )  # fmt: skip


def seats_held(active: Mapping[str, int], invited: Mapping[str, int]) -> dict[str, int]:
    """The seats each workspace holds: its active members and pending invitations (R8)."""
    return {ws_id: count + invited.get(ws_id, 0) for ws_id, count in active.items()}


def split_in_place(
    local: Sequence[Workspace], held: Mapping[str, int], now: datetime, catalog: Catalog
) -> tuple[list[Renewal], list[Workspace]]:
    """The renewals written in place (a negotiated plan that deactivates and revokes
    nobody: ``held`` seats fit) and the workspaces that take the general path."""
    in_place: list[Renewal] = []
    rest: list[Workspace] = []
    for ws in local:
        renewal = renewal_in_place(ws, held[ws.id], now, catalog)
        if renewal is None:
            rest.append(ws)
        else:
            in_place.append(renewal)
    return in_place, rest


def short_of_seats(
    batch: Sequence[Workspace], held: Mapping[str, int], catalog: Catalog
) -> list[str]:
    """The workspaces whose boundary leaves fewer seats than ``held`` (active members,
    with the pending invitations where counted): R11 needs their members (and
    invitations); the others lose nobody, so theirs are not read."""
    return [ws.id for ws in batch if next_boundary_terms(ws.subscription, catalog)[2] < held[ws.id]]


def decide_boundaries(
    batch: Sequence[Workspace],
    members: Mapping[str, list[Member]],
    invitations: Mapping[str, list[Invitation]],
    now: datetime,
    catalog: Catalog,
) -> list[tuple[Workspace, Change]]:
    """The boundary of each workspace the library renews itself (trial end,
    negotiated renewal, end of grace), where one is due, with the pending
    invitations that no longer fit revoked first (R11; ``invitations`` holds
    those of the workspaces short of seats that have some)."""
    decided = []
    for ws in batch:
        change = local_boundary(ws, members[ws.id], now, catalog)
        if change is None:
            continue
        if invitations.get(ws.id):
            change = revoke_beyond_seats(change, members[ws.id], invitations[ws.id], now)
        decided.append((ws, change))
    return decided


def expiry_event(invitation: Invitation, now: datetime) -> Event:
    """An invitation's expiry, recorded when the sweep deletes it (no actor)."""
    return invitation_event(
        EventType.INVITATION_EXPIRED, invitation, now, None, expires_at=iso(invitation.expires_at)
    )


def decide_notices(
    batch: Sequence[Workspace],
    members: Mapping[str, list[Member]],
    active: Mapping[str, int],
    invitations: Mapping[str, list[Invitation]],
    now: datetime,
    catalog: Catalog,
    notices: Notices,
) -> list[tuple[Workspace, datetime, Event]]:
    """The advance notice of each claimed workspace that gets one now, with the
    ``due_at`` it announces (what the store records, so it is announced once)."""
    decided = []
    for ws in batch:
        event = notice_for(ws, members[ws.id], now, catalog, notices, active=active[ws.id],
                           invitations=invitations.get(ws.id, ()))  # fmt: skip
        if event is not None and ws.due_at is not None:
            decided.append((ws, ws.due_at, event))
    return decided
