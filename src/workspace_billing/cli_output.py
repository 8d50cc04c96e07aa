"""What the ``workspace-billing`` command prints: counts, tables, JSON, progress.

Every count is printed by :func:`counted` or :func:`number`: thousands
separators (``1,200``) and the noun in the singular for one (``1 workspace``,
``2 workspaces``), so a line reads the same whatever the numbers.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from typing import Any, TextIO

from .catalog import Catalog, FeatureKind
from .money import Money
from .overview import RenewalReport, SubscriptionOverview

__all__ = [
    "Progress",
    "counted",
    "number",
    "overview_json",
    "overview_rows",
    "print_json",
    "progress_line",
    "renewal_json",
    "renewal_summary",
]


def number(n: int) -> str:
    """A count with thousands separators: ``1,200``."""
    return f"{n:,}"


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``1 workspace``, ``0 workspaces``, ``1,200 workspaces``."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


# -------------------------------------------------------------- workspace show


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="minutes") if value else "-"


def _limit(value: int | None) -> str:
    return "unlimited" if value is None else number(value)


def overview_rows(
    name: str, owner: str, o: SubscriptionOverview, catalog: Catalog
) -> list[tuple[str, str]]:
    """The table ``workspace show`` prints: (label, value) rows.

    ``limits`` and ``flags`` list every feature of the catalog with the value the
    workspace has now (``projects: unlimited``, ``sso: no``), in catalog order.
    """
    limits = [f"{f.id}: {_limit(o.features.limit(f.id))}"
              for f in catalog.features if f.kind is FeatureKind.LIMIT]  # fmt: skip
    flags = [f"{f.id}: {'yes' if f.id in o.features.flags else 'no'}"
             for f in catalog.features if f.kind is FeatureKind.FLAG]  # fmt: skip
    gone = ", ".join(m.user for m in o.preview.deactivate) or "nobody"
    return [
        ("workspace", f"{o.workspace_id} ({name}, owner {owner})"),
        ("plan", f"{o.plan_name} ({o.plan})"),
        ("status", o.status.value + (" (cancels at period end)" if o.cancel_at_period_end else "")),
        ("interval", o.interval.value if o.interval else "-"),
        ("seats", f"{number(o.seats_used)} used of {number(o.seats)}"),
        ("pending seats",
         f"{number(o.pending_seats)} from {_when(o.pending_seats_at)}" if o.pending_seats else "-"),
        ("trial ends", _when(o.trial_ends_at)),
        ("renews", _when(o.renews_at)),
        ("grace ends", _when(o.grace_ends_at)),
        ("price per seat", str(o.price_per_seat) if o.price_per_seat else "-"),
        ("total", str(o.total) if o.total else "-"),
        ("next boundary",
         f"{o.preview.kind.value if o.preview.kind else '-'} at {_when(o.preview.at)}"),
        ("would deactivate", gone),
        ("limits", ", ".join(limits) or "-"),
        ("flags", ", ".join(flags) or "-"),
    ]  # fmt: skip


def overview_json(name: str, owner: str, o: SubscriptionOverview) -> dict[str, Any]:
    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    def money(value: Money | None) -> dict[str, Any] | None:
        return {"amount": value.amount, "currency": value.currency} if value else None

    return {
        "workspace": o.workspace_id, "name": name, "owner": owner, "plan": o.plan,
        "status": o.status.value, "interval": o.interval.value if o.interval else None,
        "seats": o.seats, "seats_used": o.seats_used, "pending_seats": o.pending_seats,
        "trial_ends_at": when(o.trial_ends_at), "renews_at": when(o.renews_at),
        "cancel_at_period_end": o.cancel_at_period_end,
        "price_per_seat": money(o.price_per_seat), "total": money(o.total),
        "features": sorted(o.features.flags), "limits": dict(o.features.limits),
        "preview": {
            "kind": o.preview.kind.value if o.preview.kind else None, "at": when(o.preview.at),
            "seats": o.preview.seats, "deactivate": [m.user for m in o.preview.deactivate],
        },
    }  # fmt: skip


# --------------------------------------------------------------------- renew


def renewal_json(report: RenewalReport) -> dict[str, Any]:
    return {
        "examined": report.examined,
        "changed": report.changed,
        "deactivated": report.deactivated,
        "noticed": report.noticed,
        "revoked": report.revoked,
        "expired": report.expired,
        "waiting": list(report.waiting),
        "failed": [{"workspace": ws, "code": code} for ws, code in report.failed],
    }


def renewal_summary(report: RenewalReport) -> str:
    """``renewals: 3 workspaces due, 3 changed, 3 members deactivated, 2 notices
    recorded, 0 waiting on the provider, 0 failed``; the invitations revoked (R11)
    and expired are named when there are some."""
    invitations = "".join(
        f", {counted(n, 'invitation')} {what}"
        for n, what in ((report.revoked, "revoked"), (report.expired, "expired"))
        if n
    )
    return (
        f"renewals: {counted(report.examined, 'workspace')} due, {report.changed:,} changed, "
        f"{counted(report.deactivated, 'member')} deactivated{invitations}, "
        f"{counted(report.noticed, 'notice')} recorded, {len(report.waiting):,} "
        f"waiting on the provider, {len(report.failed):,} failed"
    )


def progress_line(report: RenewalReport, total: int | None, rate: float) -> str:
    """``1,200 of 5,000 workspaces (24%), 830/s; 1,180 changed, 37 members deactivated``.

    ``total`` is the count due when the run began (``None``: unknown); workspaces
    that fall due during the run count in it as they are examined. Once the
    notice pass (after the boundaries) has recorded some, the line ends with
    them: ``, 12 notices recorded``.
    """
    done = report.examined
    if total is None:
        head = counted(done, "workspace")
    else:
        total = max(total, done)
        percent = 100 * done // total if total else 100
        head = f"{number(done)} of {counted(total, 'workspace')} ({percent}%)"
    notices = f", {counted(report.noticed, 'notice')} recorded" if report.noticed else ""
    return (
        f"renewals: {head}, {rate:,.0f}/s; {number(report.changed)} changed, "
        f"{counted(report.deactivated, 'member')} deactivated{notices}"
    )


class Progress:
    """A one-line counter on a terminal; a log line every few seconds elsewhere."""

    def __init__(
        self, out: TextIO, *, total: int | None = None, quiet: bool = False, every_s: float = 5.0
    ) -> None:
        self._out = out
        self._total = total
        self._quiet = quiet
        self._tty = out.isatty()
        self._every = every_s
        self._start = self._last = time.monotonic()
        self._width = 0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._tty and not self._quiet and self._width:
            self._out.write("\n")

    def __call__(self, report: RenewalReport) -> None:
        if self._quiet:
            return
        now = time.monotonic()
        line = progress_line(report, self._total, report.examined / max(now - self._start, 1e-9))
        if self._tty:  # padded over a longer line before it
            self._out.write(f"\r{line:<{self._width}}")
            self._out.flush()
            self._width = max(self._width, len(line))
        elif now - self._last >= self._every:
            self._out.write(line + "\n")
            self._last = now
