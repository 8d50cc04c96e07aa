"""The jobs: the renewal sweep (R11, R12), its dry run and reconcile.

The sweep decides a whole batch of the boundaries the library owns with the
pure functions at the end of this module and writes them with a few
set-based statements; provider-managed renewals are settled one at a time
outside any lock, from the provider's view.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import attrs

from ..catalog import Catalog
from ..errors import BillingError, InvalidRequest
from ..events import EventType
from ..mirror import apply_view, belongs_to
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
        """
        batch_size = count("batch_size", batch_size)
        if progress is not None and not callable(progress):
            raise InvalidRequest(
                "progress must be a callable taking the report so far", code="invalid_callback"
            )
        now = self._clock.now()
        after: tuple[datetime, str] | None = None
        report = _Tally()
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
                counts = uow.active_member_counts([ws.id for ws in local])
                in_place, rest = split_in_place(local, counts, now, self.catalog)
                members: dict[str, list[Member]] = {ws.id: [] for ws in rest}
                members.update(uow.members_of(short_of_seats(rest, counts, self.catalog)))
                decided = decide_boundaries(rest, members, now, self.catalog)
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
        return report.freeze()

    def due_renewals(self, *, limit: int = 1000) -> list[tuple[Workspace, RenewalPreview]]:
        """The workspaces whose boundary is due now and what applying it would do,
        changing nothing: a dry run of ``run_renewals`` (names who would go)."""
        limit = count("limit", limit)
        with self._store.unit_of_work(read_only=True) as uow:
            due = [ws for ws_id in uow.due_workspace_ids(self._clock.now(), limit)
                   if (ws := uow.get_workspace(ws_id)) is not None]  # fmt: skip
            members = uow.members_of([ws.id for ws in due])
        return [(ws, preview(ws, members[ws.id], self.catalog)) for ws in due]

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

    def count(self, change: Change) -> None:
        if change.events:
            self.changed += 1
        self.deactivated += sum(1 for e in change.events if e.type is EventType.MEMBER_DEACTIVATED)

    def freeze(self) -> RenewalReport:
        return RenewalReport(
            self.examined, self.changed, self.deactivated, tuple(self.waiting), tuple(self.failed)
        )


def split_in_place(
    local: Sequence[Workspace], active: Mapping[str, int], now: datetime, catalog: Catalog
) -> tuple[list[Renewal], list[Workspace]]:
    """The renewals written in place (a negotiated plan that deactivates nobody)
    and the workspaces that take the general path."""
    in_place: list[Renewal] = []
    rest: list[Workspace] = []
    for ws in local:
        renewal = renewal_in_place(ws, active[ws.id], now, catalog)
        if renewal is None:
            rest.append(ws)
        else:
            in_place.append(renewal)
    return in_place, rest


def short_of_seats(
    batch: Sequence[Workspace], active: Mapping[str, int], catalog: Catalog
) -> list[str]:
    """The workspaces whose boundary leaves fewer seats than ``active`` members:
    R11 needs their members; the others lose nobody, so theirs are not read."""
    return [
        ws.id for ws in batch if next_boundary_terms(ws.subscription, catalog)[2] < active[ws.id]
    ]


def decide_boundaries(
    batch: Sequence[Workspace], members: Mapping[str, list[Member]], now: datetime, catalog: Catalog
) -> list[tuple[Workspace, Change]]:
    """The boundary of each workspace the library renews itself (trial end,
    negotiated renewal, end of grace), where one is due."""
    return [
        (ws, change) for ws in batch if (change := local_boundary(ws, members[ws.id], now, catalog))
    ]
