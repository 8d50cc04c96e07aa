"""Stripe's invoices, read as the neutral ``Invoice``.

Apart from the adapter because this reading is pure, and because one of its
choices needs saying: the period. An invoice's own ``period_start`` and
``period_end`` are, as Stripe documents them, the window in which invoice items
could be added to it, which for a subscription's renewal is the period that
just ended; Stripe says to read the service period from the lines' ``period``.
So an invoice's period here spans its lines: from the earliest line's start to
the latest line's end (a renewal: the period it pays for; a prorated change:
from the change to the period's end). Only an invoice without lines falls back
to its own ``period_start`` and ``period_end``.

The other fields are Stripe's: ``number`` (none while a draft), ``status``,
``total`` (discounts and taxes included) in the invoice's currency,
``created``, ``invoice_pdf`` and ``hosted_invoice_url`` (none while a draft). An
invoice whose status is not one of the five Stripe documents (draft, open,
paid, uncollectible, void) is left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ...errors import InvalidRequest
from ...money import Money
from ...ports import Invoice, InvoiceStatus

__all__ = ["checked_limit", "invoice_of"]

_STATUSES = {status.value: status for status in InvoiceStatus}


def invoice_of(found: Mapping[str, Any]) -> Invoice | None:
    """The invoice in the port's terms, or ``None`` for one in an undocumented status."""
    status = _STATUSES.get(str(found.get("status")))
    if status is None:
        return None
    start, end = _service_period(found)
    return Invoice(
        id=str(found["id"]),
        number=_text(found.get("number")),
        status=status,
        total=Money(int(found.get("total") or 0), str(found.get("currency") or "").upper()),
        created_at=_when(found.get("created")),
        period_start=start,
        period_end=end,
        pdf_url=_text(found.get("invoice_pdf")),
        hosted_url=_text(found.get("hosted_invoice_url")),
    )


def checked_limit(limit: object) -> int:
    """``limit`` if it is a whole number of at least 1; else ``InvalidRequest``."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidRequest(
            f"limit must be a whole number of at least 1, not {limit!r}", code="invalid_number"
        )
    return limit


def _service_period(found: Mapping[str, Any]) -> tuple[datetime, datetime]:
    lines = (found.get("lines") or {}).get("data") or []
    periods = [line.get("period") or {} for line in lines if isinstance(line, Mapping)]
    starts = [int(p["start"]) for p in periods if p.get("start") is not None]
    ends = [int(p["end"]) for p in periods if p.get("end") is not None]
    if starts and ends:
        return _when(min(starts)), _when(max(ends))
    return _when(found.get("period_start")), _when(found.get("period_end"))


def _when(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value or 0), UTC)


def _text(value: Any) -> str | None:
    return str(value) if value else None
