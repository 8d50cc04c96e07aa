"""The provider contract over the SDK's HTTP boundary, against ``StripeDouble``.

localstripe cannot serve the money paths (see test_localstripe.py's gaps); this
harness runs the same contract cases, 3-D Secure included, through the real SDK
and its HTTP stack against a double that answers as Stripe documents those
flows. What it proves is the adapter's reading of Stripe's documented answers;
the live suite (test_stripe_live.py) checks the answers themselves.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from stripe_doubles import RecordingHTTPClient, StripeDouble, provider, sign

from workspace_billing.testing.contracts import PaymentProviderContract, ProviderHarness


class StripeClock:
    """Stripe's clock as the double keeps it (the time its answers are dated)."""

    def __init__(self, double: StripeDouble) -> None:
        self._double = double

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._double.now, UTC)


class TestStripeProviderContractOverHTTP(PaymentProviderContract):
    """Every contract case but one, at the HTTP boundary."""

    @pytest.fixture(name="harness")
    def harness_fixture(self) -> ProviderHarness:
        double = StripeDouble(RecordingHTTPClient(), subscribed=False)
        taken = [0]

        def take_webhooks() -> list[tuple[bytes, dict[str, str]]]:
            fresh, taken[0] = double.events[taken[0] :], len(double.events)
            bodies = [json.dumps(event).encode() for event in fresh]
            return [(body, sign(body)) for body in bodies]

        def advance(delta: timedelta) -> None:
            double.advance(int(delta.total_seconds()))

        return ProviderHarness(
            provider=provider(double.http),
            clock=StripeClock(double),
            complete_checkout=double.subscribe,
            advance=advance,
            fail_next_payment=lambda: double.outcomes.append("decline"),
            take_webhooks=take_webhooks,  # type: ignore[arg-type]
            require_action_next_payment=lambda: double.outcomes.append("action"),
            authenticate=double.authenticate,
            gaps={
                "test_a_stale_webhook_is_refused": "the SDK checks timestamps on the real clock; "
                "test_stripe_requests signs stale ones",
            },
        )
