"""The local provider's set-up and its transactions: the engine, the clock, the
settings, one transaction per call (``_run``), idempotent writes (``_once``)
and the webhooks' delivery after each write.

Apart from ``LocalPaymentProvider`` so that its public face (the port, the
test levers, what the pages do) reads on its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Self, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from ...catalog import Catalog
from ...errors import BillingError, InvalidRequest, PaymentActionRequired, PaymentFailed
from ...ports import Clock
from ...storage.engine import BEGIN_OPTION, configure_sqlite, secrets_of, translated
from ..simulated import check_key, fingerprint, replay
from ..simulated_webhooks import sign
from . import schema
from .answers import decode_result, encode_result
from .books import Books
from .delivery import DeliveryReport, PendingWebhook, WebhookHandler, check_target, send

__all__ = ["SIGNATURE_HEADER", "LocalProviderState"]

SIGNATURE_HEADER = "Local-Billing-Signature"
"""The header of the local provider's webhook signatures: ``t=<seconds>,v1=<HMAC-SHA256
of "<t>." + body, hex>``."""

_T = TypeVar("_T")
_log = logging.getLogger("workspace_billing.local")


class LocalProviderState:
    """The local provider's engine, settings and transactions (see ``LocalPaymentProvider``)."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock,
        base_url: str,
        webhook_secret: str = "whsec_local",
        tolerance: timedelta = timedelta(minutes=5),
        deliver_to: str | WebhookHandler | None = None,
        auto_deliver: bool = True,
        catalog: Catalog | None = None,
        max_seats: int = 10_000,
        timeout: float = 10.0,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise InvalidRequest(
                f"base_url is where the pages are mounted (http:// or https://), not {base_url!r}",
                code="invalid_text",
            )
        self._engine = engine
        self._clock = clock
        self.base_url = base_url.rstrip("/")
        """Where the host mounts ``pages()``: checkout and portal URLs start with it."""
        self._secret = webhook_secret.encode()
        self._tolerance = tolerance
        self.deliver_to = check_target(deliver_to)
        """Where webhooks go: the host's endpoint URL, or a callable such as
        ``billing.handle_webhook``."""
        self.auto_deliver = auto_deliver
        """Deliver after each write and each page action (when ``deliver_to`` is set)."""
        self.catalog = catalog
        """Names plans on the pages, in the page's language, when given."""
        self.max_seats = max_seats
        """The most licences the portal sells."""
        self.timeout = timeout
        """Seconds an HTTP delivery may take."""
        self._secrets = secrets_of(engine.url)
        self._sqlite = engine.dialect.name == "sqlite"
        if self._sqlite:
            configure_sqlite(engine)
        self._lock = threading.RLock()
        self._delivering = threading.local()

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        clock: Clock,
        base_url: str,
        create_schema: bool = False,
        engine_options: dict[str, Any] | None = None,
        **settings: Any,
    ) -> Self:
        """A provider on its own engine for ``url`` (the store's database);
        ``create_schema=True`` creates its tables when they are missing."""
        options = dict(engine_options or {})
        try:
            parsed = sa.make_url(url)
        except (sa_exc.ArgumentError, ValueError, TypeError):
            raise InvalidRequest(
                "not a database URL; it is not shown, as it may hold a password",
                code="invalid_text",
            ) from None
        if parsed.get_backend_name() == "sqlite":
            if parsed.database in (None, "", ":memory:"):
                raise InvalidRequest(
                    "the local provider keeps its state in a database file (sqlite:///billing.db)",
                    code="invalid_text",
                )
            options.setdefault("connect_args", {}).setdefault("timeout", 30.0)
        with translated(secrets_of(parsed)):
            provider = cls(sa.create_engine(parsed, **options), clock=clock,
                           base_url=base_url, **settings)  # fmt: skip
            if create_schema:
                provider.create_schema()
        return provider

    def create_schema(self) -> None:
        """Create the ``wb_local_`` tables that are missing (see ``local.schema``)."""
        with translated(self._secrets):
            schema.create_schema(self._engine)

    def dispose(self) -> None:
        """Close the engine's pooled connections."""
        self._engine.dispose()

    @property
    def clock(self) -> Clock:
        return self._clock

    def __repr__(self) -> str:
        return f"LocalPaymentProvider(base_url={self.base_url!r})"

    # ------------------------------------------------------------ transactions

    @contextmanager
    def _books(self) -> Iterator[Books]:
        """One transaction, the write lock taken and renewals caught up with the clock."""
        with self._lock, translated(self._secrets), self._engine.connect() as connection:
            conn = connection
            if self._sqlite:  # the write lock at BEGIN: no deadlock between two writers
                conn = connection.execution_options(**{BEGIN_OPTION: "BEGIN IMMEDIATE"})
            with conn.begin():
                books = Books(conn, self._clock, self.base_url)
                books.lock()
                books.catch_up()
                yield books

    def _run(self, work: Callable[[Books], _T]) -> _T:
        """``work`` in one transaction. A declined payment, or one waiting for the
        customer, keeps what it left (its invoice, a lever spent) before it is raised."""
        stopped: PaymentFailed | PaymentActionRequired
        with self._books() as books:
            try:
                return work(books)
            except (PaymentFailed, PaymentActionRequired) as e:
                stopped = e
        raise stopped

    def _once(self, key: str, params: object, work: Callable[[Books], _T]) -> _T:
        """Run ``work`` once per idempotency key; a replay returns the first answer.

        As the fake's ``_once``: a failed payment is not remembered (the same
        change can be retried once the card is fixed); a payment waiting for the
        customer is, and its page is answered again until they authenticate.
        Webhooks the write queued are delivered after it (``auto_deliver``).
        """
        check_key(key)
        seen_as = fingerprint(params)

        def attempt(books: Books) -> _T:
            kept = books.remembered(key)
            if kept is not None:
                seen, answer = kept
                return cast(_T, replay(key, seen_as, seen, decode_result(answer)))
            try:
                value = work(books)
            except PaymentActionRequired as waiting:
                books.remember(key, seen_as, encode_result(waiting))
                raise
            books.remember(key, seen_as, encode_result(value))
            return value

        try:
            return self._run(attempt)
        finally:
            self._after_write()

    def _after_write(self) -> None:
        """Deliver what the write queued, unless delivering already (a handler that
        writes back) or not asked to; a delivery's failure is kept on its webhook."""
        if self.deliver_to is None or not self.auto_deliver:
            return
        if getattr(self._delivering, "active", False):
            return
        try:
            self.deliver_pending()
        except BillingError as e:  # the write is done; the webhooks wait for the next call
            _log.warning("local provider: webhooks not delivered: %s", e)

    # ------------------------------------------------------------ webhooks

    def deliver_pending(self, handler: WebhookHandler | None = None) -> DeliveryReport:
        """Deliver every queued webhook, oldest first, each signed as it is sent.

        To ``handler`` when given, else to ``deliver_to`` (the host's endpoint
        URL, or a callable). A delivery that fails stops the round: that webhook
        keeps its error and its count of attempts, and it and those after it are
        tried again by the next call (``pending_webhooks()`` lists them). A
        webhook is delivered at least once, maybe twice when two processes
        deliver at the same time: the host deduplicates by event id (R14).
        """
        target = check_target(handler) if handler is not None else self.deliver_to
        if target is None:
            raise InvalidRequest(
                "no webhook endpoint: pass deliver_to= to the provider, or a handler",
                code="invalid_callback",
            )
        delivered, self._delivering.active = 0, True
        try:
            while (queued := self._run(Books.next_webhook)) is not None:
                seq, payload = queued
                error = send(target, payload, self.sign(payload), self.timeout)
                failed = self._run(partial(Books.attempted_delivery, seq=seq, error=error))
                if failed is not None:
                    _log.warning("local provider: webhook %s not delivered: %s",
                                 failed.event_id, failed.last_error)  # fmt: skip
                    left = len(self.pending_webhooks())
                    return DeliveryReport(delivered, left, failed)
                delivered += 1
            return DeliveryReport(delivered, 0)
        finally:
            self._delivering.active = False

    def pending_webhooks(self) -> list[PendingWebhook]:
        """The webhooks not delivered yet, oldest first, with their attempts and errors."""
        return self._run(Books.pending_webhooks)

    def take_webhooks(self) -> list[tuple[bytes, dict[str, str]]]:
        """Remove the queued webhooks and return them signed, for a test to deliver."""
        taken = self._run(Books.take_webhooks)
        return [(payload, self.sign(payload)) for payload in taken]

    def sign(self, payload: bytes, *, at: datetime | None = None) -> dict[str, str]:
        """Headers that authenticate ``payload`` as this provider sends it (at ``at``)."""
        return sign(self._secret, payload, at or self._clock.now(), header=SIGNATURE_HEADER)
