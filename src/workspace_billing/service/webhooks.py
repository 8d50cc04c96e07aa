"""Webhook intake (R14): verify, then apply the provider's current view once per event.

The payload only says which subscription changed; its snapshot is never
trusted, because deliveries repeat and arrive in any order. The intake
re-fetches the subscription, claims the event id and applies the view in one
transaction, then fetches once more so racing handlers end on the newest view.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Protocol, cast, runtime_checkable

import attrs

from ..errors import InvalidRequest, WebhookVerificationError
from ..events import Event, EventType
from ..mirror import apply_view, belongs_to
from ..overview import WebhookResult
from ..ports import ProviderEventType, ProviderStatus, ProviderSubscription
from ..renewal import Change
from ..workspace import Member, Workspace
from .base import ServiceBase

log = logging.getLogger("workspace_billing")


class WebhookIntake(ServiceBase):
    def handle_webhook(self, payload: bytes, headers: Mapping[str, str]) -> WebhookResult:
        """Verify and apply a provider webhook (R14).

        The event's subscription is re-fetched from the provider and its current
        view applied, once per event id, so duplicates and any delivery order
        converge. A forged or altered webhook raises ``WebhookVerificationError``
        and changes nothing; answer it with HTTP 400. Unknown event types are
        acknowledged and ignored; answer them with 2xx. ``headers`` is a mapping
        or the (name, value) pairs an ASGI or WSGI server gives, str or bytes.
        """
        if not isinstance(payload, bytes):
            raise InvalidRequest(
                "pass the webhook's raw body as bytes, before any JSON parsing",
                code="invalid_webhook_body",
            )
        applied = duplicates = ignored = 0
        for event in self._provider.parse_webhook(payload, header_map(headers)):
            if event.type is ProviderEventType.CUSTOMER_DELETED and event.customer_ref:
                outcome = self._forget_customer(event.id, event.customer_ref)
            elif event.type is ProviderEventType.CUSTOMER_UPDATED and event.customer_ref:
                outcome = self._refresh_customer(event.id, event.customer_ref)
            elif event.type is ProviderEventType.OTHER or event.subscription_ref is None:
                outcome = self._acknowledge(event.id)
            else:
                outcome = self._apply_event(event.id, event.subscription_ref)
            applied += outcome == "applied"
            duplicates += outcome == "duplicate"
            ignored += outcome == "ignored"
        return WebhookResult(applied, duplicates, ignored)

    # -------------------------------------------------------------- internals

    def _refresh_customer(self, event_id: str, customer_ref: str) -> str:
        """A changed customer (its default card): the subscription its workspace
        follows is read again and applied like any webhook's (once per event id);
        a customer whose workspace follows none has nothing to refresh."""
        with self._store.unit_of_work(read_only=True) as uow:
            ws_id = uow.find_workspace_id(customer_ref=customer_ref)
            ws = uow.get_workspace(ws_id) if ws_id is not None else None
        sub = ws.subscription if ws is not None else None
        if sub is None or sub.subscription_ref is None or not sub.is_provider_managed:
            return self._acknowledge(event_id)
        return self._apply_event(event_id, sub.subscription_ref)

    def _acknowledge(self, event_id: str) -> str:
        """An event with nothing to apply, claimed so that a redelivery is a duplicate."""
        with self._store.unit_of_work() as uow:
            fresh = uow.claim_webhook_event(event_id)
        return "ignored" if fresh else "duplicate"

    def _apply_event(self, event_id: str, subscription_ref: str) -> str:
        """Apply the provider's current view of the subscription an event names.

        The workspace is locked before the event id is claimed, so every writer
        of one workspace takes its place in the outbox in the order of the lock
        (on PostgreSQL a transaction's first write fixes its events' cursors).
        """
        view = self._provider.fetch_subscription(subscription_ref)
        with self._store.unit_of_work() as uow:
            if _webhook_steps(type(uow)):  # the same steps, in fewer statements
                steps = cast(WebhookSteps, uow)
                ws = steps.lock_workspace_of(
                    subscription_ref=view.ref, customer_ref=view.customer_ref
                )
                if ws is not None and belongs_to(ws, view):
                    fresh, members = steps.claim_with_members(event_id, ws.id)
                else:
                    fresh, members = uow.claim_webhook_event(event_id), []
            else:
                ws_id = uow.find_workspace_id(subscription_ref=view.ref) or uow.find_workspace_id(
                    customer_ref=view.customer_ref
                )
                ws = uow.get_workspace(ws_id, for_update=True) if ws_id is not None else None
                fresh, members = uow.claim_webhook_event(event_id), None
            if not fresh:
                return "duplicate"
            if ws is None or not belongs_to(ws, view):
                log.info("webhook %s is about no workspace of this installation; ignored", event_id)
                return "ignored"
            if members is None:
                members = uow.members(ws.id)
            change = apply_view(ws, members, view, self._clock.now(), self.catalog)
            self._save(uow, ws, change)
        if _stray(ws, view):
            log.warning(
                "workspace %s follows subscription %s, but %s is live too (a second "
                "checkout paid?): refund or cancel it at the provider",
                ws.id, ws.subscription.subscription_ref, view.ref,
            )  # fmt: skip
            return "ignored"
        if change.events:
            self._converge(ws.id, view)
        return "applied"

    def _forget_customer(self, event_id: str, customer_ref: str) -> str:
        """The provider customer was deleted: the next checkout creates another."""
        with self._store.unit_of_work() as uow:
            ws_id = uow.find_workspace_id(customer_ref=customer_ref)
            ws = uow.get_workspace(ws_id, for_update=True) if ws_id is not None else None
            if not uow.claim_webhook_event(event_id):
                return "duplicate"
            if ws is None:
                return "ignored"
            self._save(uow, ws, forget_customer(ws, self._clock.now()))
        return "applied"

    def _converge(self, workspace_id: str, applied: ProviderSubscription) -> None:
        """Fetch again after a change and apply any newer view.

        Two handlers may fetch around one change and commit in the other order;
        the view applied last could then be the older one. A second fetch after
        the commit sees at least the newest state, so the mirror ends on it.
        """
        for _ in range(2):
            fresh = self._provider.fetch_subscription(applied.ref)
            if fresh == applied:
                return
            self._apply_view(workspace_id, None, fresh)
            applied = fresh


@runtime_checkable
class WebhookSteps(Protocol):
    """What a unit of work may offer beyond the port for webhooks: the lookups of the
    workspace and its lock as one step, the claim of the event id and the read of
    the members as another (one statement each on PostgreSQL, where each
    statement is a round trip)."""

    def lock_workspace_of(
        self, *, subscription_ref: str, customer_ref: str
    ) -> Workspace | None: ...

    def claim_with_members(self, event_id: str, workspace_id: str) -> tuple[bool, list[Member]]: ...


@functools.cache
def _webhook_steps(kind: type) -> bool:
    return issubclass(kind, WebhookSteps)  # once a class: the check is slow


def header_map(headers: object) -> dict[str, str]:
    """The request's headers as ``{name: value}``, whatever shape the host's server
    gives them in; ``WebhookVerificationError`` (answer 400) when they are none."""
    if isinstance(headers, Mapping):
        pairs: Iterable[object] = headers.items()
    elif isinstance(headers, Iterable) and not isinstance(headers, str | bytes):
        pairs = headers
    else:
        shape = type(headers).__name__
        raise WebhookVerificationError(
            f"the webhook's headers are a mapping or (name, value) pairs, not {shape}"
        )
    found: dict[str, str] = {}
    for pair in pairs:
        if not (isinstance(pair, tuple | list) and len(pair) == 2):
            raise WebhookVerificationError("the webhook's headers are (name, value) pairs")
        name, value = (_header_text(part) for part in pair)
        found[name] = value
    return found


def _header_text(part: object) -> str:
    if isinstance(part, bytes):
        return part.decode("latin-1")  # HTTP header bytes, as ASGI servers give them
    if isinstance(part, str):
        return part
    raise WebhookVerificationError(f"a webhook header is text, not {type(part).__name__}")


def _stray(ws: Workspace, view: ProviderSubscription) -> bool:
    """A live subscription the workspace does not follow, while it follows another."""
    sub = ws.subscription
    return (
        sub.status.is_paid
        and sub.subscription_ref != view.ref
        and view.status in (ProviderStatus.ACTIVE, ProviderStatus.PAST_DUE)
    )


def forget_customer(ws: Workspace, now: datetime) -> Change:
    sub = attrs.evolve(ws.subscription, customer_ref=None)
    event = Event(
        type=EventType.CUSTOMER_DELETED,
        workspace_id=ws.id,
        at=now,
        data={"customer_ref": ws.subscription.customer_ref},
    )
    return Change(attrs.evolve(ws, subscription=sub), (), (event,))
