"""How the local provider's webhooks reach the host: over HTTP to its endpoint,
or in process to a callable such as ``billing.handle_webhook``.

A delivery that fails (the host down, a 5xx answer, the handler raising) is
never dropped: the webhook stays queued with its error and its count of
attempts, and the next delivery starts again from it, as a real provider
retries. What is still waiting is listed by ``pending_webhooks()``.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping
from datetime import datetime

import attrs

from ...errors import InvalidRequest
from ..simulated_webhooks import WebhookHandler

__all__ = ["DeliveryReport", "PendingWebhook", "WebhookHandler", "check_target", "send"]


@attrs.frozen
class PendingWebhook:
    """A webhook not delivered yet, and why when a delivery failed."""

    event_id: str
    type: str
    """The provider's event type: ``checkout.completed``, ``subscription.updated``..."""
    created_at: datetime
    attempts: int
    last_error: str | None
    """What the last attempt met (``HTTP 503``, ``ConnectionRefusedError: ...``)."""


@attrs.frozen
class DeliveryReport:
    """What one ``deliver_pending()`` did."""

    delivered: int
    pending: int
    """Left in the queue: the failed webhook and those after it, retried next time."""
    failed: PendingWebhook | None = None
    """The webhook whose delivery failed, with its error; delivery stopped there."""


def check_target(target: str | WebhookHandler | None) -> str | WebhookHandler | None:
    """An endpoint URL (http or https) or a callable; ``InvalidRequest`` otherwise."""
    if target is None or callable(target):
        return target
    if isinstance(target, str) and target.startswith(("http://", "https://")):
        return target
    raise InvalidRequest(
        f"deliver_to is the host's webhook URL (http:// or https://) or a callable, not {target!r}",
        code="invalid_callback",
    )


def send(
    target: str | WebhookHandler, payload: bytes, headers: Mapping[str, str], timeout: float
) -> str | None:
    """Deliver one webhook; ``None`` when the host took it, else what went wrong."""
    if not isinstance(target, str):
        try:
            target(payload, headers)
        except Exception as e:  # noqa: BLE001 - the host's handler: kept as the webhook's error
            return f"{type(e).__name__}: {e}"
        return None
    request = urllib.request.Request(  # check_target allowed http(s) only
        target,
        data=payload,
        method="POST",
        headers={"Content-Type": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status = int(response.status)
    except urllib.error.HTTPError as e:
        return f"HTTP {e.code}"
    except (urllib.error.URLError, OSError) as e:
        reason = e.reason if isinstance(e, urllib.error.URLError) else e
        return f"{type(reason).__name__}: {reason}"
    return None if 200 <= status < 300 else f"HTTP {status}"
