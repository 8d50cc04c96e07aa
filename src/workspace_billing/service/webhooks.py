"""Webhook intake (R14): verify, then apply the provider's current view once per event.

The payload only says which subscription changed; its snapshot is never
trusted, because deliveries repeat and arrive in any order. The intake
re-fetches the subscription, claims the event id and applies the view in one
transaction, then fetches once more so racing handlers end on the newest view.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from ..errors import InvalidRequest
from ..mirror import apply_view
from ..overview import WebhookResult
from ..ports import ProviderEventType, ProviderStatus, ProviderSubscription
from ..workspace import Workspace
from .base import ServiceBase

log = logging.getLogger("workspace_billing")


class WebhookIntake(ServiceBase):
    def handle_webhook(self, payload: bytes, headers: Mapping[str, str]) -> WebhookResult:
        """Verify and apply a provider webhook (R14).

        The event's subscription is re-fetched from the provider and its current
        view applied, once per event id, so duplicates and any delivery order
        converge. A forged or altered webhook raises ``WebhookVerificationError``
        and changes nothing; answer it with HTTP 400. Unknown event types are
        acknowledged and ignored; answer them with 2xx.
        """
        if not isinstance(payload, bytes):
            raise InvalidRequest("pass the webhook's raw body as bytes, before any JSON parsing")
        applied = duplicates = ignored = 0
        for event in self._provider.parse_webhook(payload, headers):
            if event.type is ProviderEventType.OTHER or event.subscription_ref is None:
                with self._store.unit_of_work() as uow:
                    fresh = uow.claim_webhook_event(event.id)
                ignored, duplicates = ignored + fresh, duplicates + (not fresh)
                continue
            view = self._provider.fetch_subscription(event.subscription_ref)
            with self._store.unit_of_work() as uow:
                if not uow.claim_webhook_event(event.id):
                    duplicates += 1
                    continue
                ws_id = uow.find_workspace_id(subscription_ref=view.ref) or view.workspace_id
                ws = uow.get_workspace(ws_id, for_update=True)
                if ws is None or _foreign(ws, view.customer_ref):
                    log.info("webhook %s names no workspace of this host; ignored", event.id)
                    ignored += 1
                    continue
                members = uow.members(ws.id)
                change = apply_view(ws, members, view, self._clock.now(), self.catalog)
                self._save(uow, ws, change)
            if _stray(ws, view):
                log.warning(
                    "workspace %s follows subscription %s, but %s is live too (a second "
                    "checkout paid?): refund or cancel it at the provider",
                    ws.id, ws.subscription.subscription_ref, view.ref,
                )  # fmt: skip
                ignored += 1
                continue
            applied += 1
            if change.events:
                self._converge(ws.id, view)
        return WebhookResult(applied, duplicates, ignored)

    # -------------------------------------------------------------- internals

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


def _stray(ws: Workspace, view: ProviderSubscription) -> bool:
    """A live subscription the workspace does not follow, while it follows another."""
    sub = ws.subscription
    return (
        sub.status.is_paid
        and sub.subscription_ref != view.ref
        and view.status in (ProviderStatus.ACTIVE, ProviderStatus.PAST_DUE)
    )


def _foreign(ws: Workspace, customer_ref: str) -> bool:
    """True when the view's customer is not the workspace's: never apply it."""
    known = ws.subscription.customer_ref
    return known is not None and known != customer_ref
