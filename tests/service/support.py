"""Names and checks the capability tests share (imported, not fixtures)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from workspace_billing import Billing, BillingError, EventType, MemberStatus
from workspace_billing.testing import InMemoryStore

OWNER = "alice"
ADMIN = "ada"
MEMBER = "bob"
UNKNOWN_WORKSPACE = "ws_does_not_exist"
OK_URL = "https://app.example/ok"
CANCEL_URL = "https://app.example/cancel"
URLS = {"success_url": OK_URL, "cancel_url": CANCEL_URL}


def refused(
    store: InMemoryStore, error: type[BillingError], code: str, call: Callable[[], object]
) -> BillingError:
    """Run ``call``, expect exactly ``error`` with ``code``, and the store untouched (R17)."""
    before = store.snapshot()
    with pytest.raises(error) as caught:
        call()
    assert type(caught.value) is error, repr(caught.value)
    assert caught.value.code == code
    assert store.snapshot() == before
    return caught.value


def statuses(billing: Billing, ws_id: str) -> dict[str, MemberStatus]:
    return {m.user: m.status for m in billing.members(ws_id)}


def event_types(billing: Billing) -> list[EventType]:
    return [e.type for e in billing.events()]
