"""How the example builds its ``Billing``: the SQL store and the local provider on one
database (or Stripe test mode when its keys are set), a clock a test may move,
the renewal job in a background thread and the outbox reader."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from workspace_billing import Billing, Catalog, PaymentProvider

if TYPE_CHECKING:
    from workspace_billing.providers.stripe import StripePrice
from workspace_billing.providers.local import LocalPaymentProvider
from workspace_billing.storage.sql import SQLStore

from .config import Config
from .mailbox import Outbox

log = logging.getLogger("examples.saas")


class DemoClock:
    """The system clock, moved forward by the test clock page when it is enabled."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def advance(self, by: timedelta) -> None:
        with self._lock:
            self._offset += by


class Services:
    """Everything the pages use, built once per app."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.clock = DemoClock()
        self.catalog = Catalog.default()
        self.store = SQLStore.from_url(config.database_url, create_schema=True)
        self.local: LocalPaymentProvider | None = None
        provider: PaymentProvider
        if config.stripe_secret_key:
            provider = _stripe(config, self.catalog)
        else:
            self.local = LocalPaymentProvider.from_url(
                config.database_url,
                clock=self.clock,
                base_url=f"{config.public_url}/_local_billing",
                create_schema=True,
                catalog=self.catalog,
                deliver_to=self._deliver,
            )
            provider = self.local
        self.billing = Billing(
            catalog=self.catalog,
            store=self.store,
            provider=provider,
            clock=self.clock,
            email_of=lambda user: f"{user}@acme.example",
        )
        self.engine = sa.create_engine(config.database_url)
        self.outbox = Outbox(self.engine, self.billing, config.public_url)
        self._stop = threading.Event()
        self._job: threading.Thread | None = None

    def _deliver(self, payload: bytes, headers: Mapping[str, str]) -> object:
        """The local provider's webhooks, handed to the library in process (a
        deployment points the provider at ``/billing/webhook`` instead)."""
        return self.billing.handle_webhook(payload, headers)

    def renew(self) -> None:
        """The scheduled job: apply due boundaries and notices, then send the emails."""
        report = self.billing.run_renewals()
        if report.failed:
            log.warning("renewals failed for %s", report.failed)
        self.outbox.pump()

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.wait(self.config.renew_every):
                self.renew()

        self._job = threading.Thread(target=loop, name="renewals", daemon=True)
        self._job.start()

    def stop(self) -> None:
        self._stop.set()
        if self._job is not None:
            self._job.join(timeout=5)
        self.store.dispose()
        self.engine.dispose()


def _stripe(config: Config, catalog: Catalog) -> PaymentProvider:
    """Stripe test mode: ``STRIPE_SECRET_KEY``, ``STRIPE_WEBHOOK_SECRET`` and one price
    per self-serve plan and interval in ``STRIPE_PRICES``; see docs/stripe.md."""
    import stripe  # noqa: PLC0415 - only on Stripe test mode

    from workspace_billing.providers.stripe import StripeProvider  # noqa: PLC0415

    return StripeProvider(
        stripe.StripeClient(config.stripe_secret_key or ""),
        prices=stripe_prices(os.environ.get("STRIPE_PRICES", "")),
        webhook_secret=config.stripe_webhook_secret or "",
    )


def stripe_prices(text: str) -> list[StripePrice]:
    """``business:month=price_A, business:year=price_B`` as the adapter's price table;
    ``ValueError`` naming the entry that is not ``plan:interval=price``."""
    from workspace_billing.providers.stripe import StripePrice  # noqa: PLC0415

    prices = []
    for entry in filter(None, (part.strip() for part in text.split(","))):
        terms, _, price = entry.partition("=")
        plan, _, interval = terms.partition(":")
        if not (plan.strip() and interval.strip() and price.strip()):
            raise ValueError(f"STRIPE_PRICES: {entry!r} is not plan:interval=price_...")
        prices.append(StripePrice(plan=plan.strip(), interval=interval.strip(), id=price.strip()))
    return prices
