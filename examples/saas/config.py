"""The example's settings, from the environment (every one has a default)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import attrs

HERE = Path(__file__).parent


@attrs.frozen
class Config:
    """``SAAS_DATABASE_URL`` (a SQLite file under ``.data/`` by default), ``SAAS_HOST``
    and ``SAAS_PORT``, ``SAAS_SECRET`` (the session cookie's key), ``SAAS_TEST_CLOCK=1``
    (a page that moves time, for demos and the browser tests), ``SAAS_RENEW_EVERY``
    (seconds between runs of the renewal job), and ``STRIPE_SECRET_KEY`` with
    ``STRIPE_WEBHOOK_SECRET`` to run on Stripe test mode instead of the local provider."""

    database_url: str
    host: str = "127.0.0.1"
    port: int = 8000
    secret: str = attrs.field(factory=lambda: secrets.token_urlsafe(32))
    test_clock: bool = False
    renew_every: float = 60.0
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None

    @property
    def public_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @classmethod
    def from_environment(cls) -> Config:
        env = os.environ
        data = HERE / ".data"
        data.mkdir(exist_ok=True)
        return cls(
            database_url=env.get("SAAS_DATABASE_URL", f"sqlite:///{data / 'saas.db'}"),
            host=env.get("SAAS_HOST", "127.0.0.1"),
            port=int(env.get("SAAS_PORT", "8000")),
            secret=env.get("SAAS_SECRET") or secrets.token_urlsafe(32),
            test_clock=env.get("SAAS_TEST_CLOCK") == "1",
            renew_every=float(env.get("SAAS_RENEW_EVERY", "60")),
            stripe_secret_key=env.get("STRIPE_SECRET_KEY") or None,
            stripe_webhook_secret=env.get("STRIPE_WEBHOOK_SECRET") or None,
        )
