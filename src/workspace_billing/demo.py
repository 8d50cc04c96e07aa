"""The product story, told by the library itself: ``workspace-billing demo``.

It runs on the embedded default (a SQLite file) or a database URL, with the
fake provider and a fake clock, so it needs no network and no account, and
prints one line per step. It refuses a database that already holds workspaces:
its story is never mixed into real data.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO

from .billing import Billing
from .catalog import Catalog
from .cli_output import counted, number
from .clock import FakeClock
from .errors import BillingError, Conflict, InvalidRequest
from .overview import SubscriptionOverview
from .ports import Store
from .providers.fake import FakePaymentProvider
from .storage.memory import InMemoryStore
from .workspace import Role

__all__ = ["run_demo"]

_END_OF_TIME = datetime(9999, 1, 1, tzinfo=UTC)
_IN_USE = (
    "the database already holds workspaces: the demo writes its own story, so it runs "
    "only on a database without any (a new one), or without --db on a temporary file"
)


def run_demo(out: TextIO, *, db_url: str | None = None) -> int:
    """Walk through the seed's story; returns the process exit code (0).

    ``db_url`` names the database (its schema is created if needed); without
    it the story runs in memory. A database that already holds workspaces is
    refused (``InvalidRequest``) before anything is written or printed.
    """
    if db_url is None:
        return _story(InMemoryStore(), out)
    from .storage.sql import SQLStore  # noqa: PLC0415 - the optional [sql] extra

    store = SQLStore.from_url(db_url)
    try:
        if store.schema_version() > 0 and _in_use(store):
            raise InvalidRequest(_IN_USE)
        store.create_schema()
        out.write(f"Database: {store.url}\n")
        return _story(store, out)
    finally:
        store.dispose()


def _in_use(store: Store) -> bool:
    """Whether the store holds workspaces: every workspace is created with its
    ``workspace_created`` event, and any due one is found by its index."""
    with store.unit_of_work(read_only=True) as uow:
        return bool(uow.events_after(0, 1) or uow.due_workspace_ids(_END_OF_TIME, 1))


def _story(store: Store, out: TextIO) -> int:
    clock = FakeClock()
    provider = FakePaymentProvider(clock=clock)
    billing = Billing(catalog=Catalog.default(), store=store, provider=provider, clock=clock)
    step = _Steps(out)

    try:
        acme = billing.create_workspace(owner="alice", name="Acme", workspace_id="ws_acme")
    except Conflict:
        raise InvalidRequest(_IN_USE) from None
    overview = billing.subscription(acme.id, actor="alice")
    step("Alice creates her first workspace, Acme", _status(overview))
    side = billing.create_workspace(owner="alice", name="Side project", workspace_id="ws_side")
    step("Alice creates a second workspace", _status(billing.subscription(side.id, actor="alice")))

    billing.add_member(acme.id, actor="alice", user="bob", role=Role.MEMBER)
    step("Alice adds Bob as a member", "")
    step.refused(
        "Bob tries to upgrade Acme",
        lambda: billing.upgrade(
            acme.id, actor="bob", plan="business", seats=3,
            success_url="https://app.example/ok", cancel_url="https://app.example/cancel",
        ),
    )  # fmt: skip

    price = billing.preview_change(acme.id, actor="alice", plan="business", seats=3)
    step("Alice previews Business for 3 seats", f"{price.due_now} now, {price.recurring} a month")
    checkout = billing.upgrade(
        acme.id, actor="alice", plan="business", seats=3, interval="month",
        success_url="https://app.example/ok", cancel_url="https://app.example/cancel",
    )  # fmt: skip
    step("Alice is sent to the checkout", checkout.url or "")
    provider.complete_checkout(checkout.id)
    delivered = provider.deliver(billing.handle_webhook)
    step(
        "She pays; the provider's webhooks arrive",
        f"{counted(delivered, 'webhook')}, {_status(billing.subscription(acme.id, actor='alice'))}",
    )

    billing.add_member(acme.id, actor="alice", user="carol", role=Role.ADMIN)
    step("Alice adds Carol as an admin", _seats(billing.subscription(acme.id, actor="alice")))
    step.refused("Carol adds Dan", lambda: billing.add_member(acme.id, actor="carol", user="dan"))

    clock.advance(days=10)
    price = billing.preview_change(acme.id, actor="carol", seats=5)
    step("Carol previews 5 seats", f"{price.due_now} now, then {price.recurring} a month")
    overview = billing.change_seats(acme.id, actor="carol", seats=5)
    step("Carol buys 2 more seats", _seats(overview))
    for user in ("dan", "erin"):
        clock.advance(hours=1)
        billing.add_member(acme.id, actor="carol", user=user)
    step("Carol adds Dan and Erin", _seats(billing.subscription(acme.id, actor="carol")))

    overview = billing.change_seats(acme.id, actor="alice", seats=3)
    when = overview.pending_seats_at.date().isoformat() if overview.pending_seats_at else "?"
    step("Alice lowers the seats to 3", f"scheduled for the renewal on {when}; {_seats(overview)}")
    plan = billing.preview_renewal(acme.id)
    names = ", ".join(m.user for m in plan.deactivate) or "nobody"
    step("The renewal preview", f"{counted(plan.seats, 'seat')}; would deactivate {names}")

    clock.advance(days=30)
    report = billing.run_renewals()
    provider.deliver(billing.handle_webhook)
    members = ", ".join(f"{m.user} ({m.status.value})" for m in billing.members(acme.id))
    gone = counted(report.deactivated, "member")
    step("The month ends: renewal", f"{gone} deactivated; {members}")

    event = billing.contact_sales(acme.id, actor="alice", message="We will need 200 seats and SSO")
    step("Alice asks sales for Enterprise", f"event #{event.cursor} ({event.type.value})")
    step("Events in the outbox", number(len(billing.events())))
    return 0


class _Steps:
    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._n = 0

    def __call__(self, what: str, result: str) -> None:
        self._n += 1
        self._out.write(f"{self._n:2d}. {what}" + (f": {result}" if result else "") + "\n")

    def refused(self, what: str, action: Callable[[], object]) -> None:
        try:
            action()
        except BillingError as e:
            self(what, f"refused ({e.code}): {e.message}")
        else:  # pragma: no cover - the story is wrong if this happens
            raise AssertionError(f"{what} should have been refused")


def _status(o: SubscriptionOverview) -> str:
    trial = f", trial ends {o.trial_ends_at.date().isoformat()}" if o.trial_ends_at else ""
    return f"{o.plan_name}, {o.status.value}{trial}, {_seats(o)}"


def _seats(o: SubscriptionOverview) -> str:
    return f"{number(o.seats_used)}/{counted(o.seats, 'seat')} in use"
