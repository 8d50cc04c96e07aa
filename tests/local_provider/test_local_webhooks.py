"""The local provider's webhooks: signed, verified, delivered over HTTP or in
process, and kept until delivered (Rule R14)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from tests.local_provider.support import BASE_URL, checkout, paid

from workspace_billing import InvalidRequest, ProviderEventType, WebhookVerificationError
from workspace_billing.providers.local import SIGNATURE_HEADER, LocalPaymentProvider
from workspace_billing.testing import FakeClock


class Endpoint:
    """A host's webhook endpoint on 127.0.0.1: records what it is sent, answers ``status``."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, dict[str, str]]] = []
        self.status = 200
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                endpoint.received.append((body, dict(self.headers.items())))
                self.send_response(endpoint.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/billing/webhook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture(name="endpoint")
def endpoint_fixture() -> Iterator[Endpoint]:
    endpoint = Endpoint()
    yield endpoint
    endpoint.close()


class TestSignatures:
    def test_each_webhook_is_signed_and_verifies(self, local: LocalPaymentProvider) -> None:
        """Rule R14: HMAC-SHA256 over the timestamp and the body, under its own header."""
        _, ref = paid(local)
        webhooks = local.take_webhooks()
        assert [set(headers) for _, headers in webhooks] == [{SIGNATURE_HEADER}] * 3
        events = [e for body, headers in webhooks for e in local.parse_webhook(body, headers)]
        assert [e.type for e in events] == [
            ProviderEventType.CHECKOUT_COMPLETED,
            ProviderEventType.SUBSCRIPTION_UPDATED,
            ProviderEventType.INVOICE_PAID,
        ]
        assert {e.subscription_ref for e in events} == {ref}
        assert local.take_webhooks() == []  # taken once

    def test_a_forged_altered_or_stale_webhook_is_refused(
        self, local: LocalPaymentProvider, clock: FakeClock, local_url: str
    ) -> None:
        """Rule R14/R17."""
        paid(local)
        body, headers = local.take_webhooks()[0]
        other = LocalPaymentProvider.from_url(local_url, clock=clock, base_url=BASE_URL,
                                              webhook_secret="whsec_other")  # fmt: skip
        forged = other.sign(body)
        other.dispose()
        with pytest.raises(WebhookVerificationError):
            local.parse_webhook(body, forged)
        with pytest.raises(WebhookVerificationError):
            local.parse_webhook(body.replace(b"ws_1", b"ws_2"), headers)
        with pytest.raises(WebhookVerificationError):
            local.parse_webhook(body, {"Fake-Signature": headers[SIGNATURE_HEADER]})
        lowered = {SIGNATURE_HEADER.lower(): headers[SIGNATURE_HEADER]}
        assert local.parse_webhook(body, lowered)  # header names in any case
        clock.advance(timedelta(minutes=6))
        with pytest.raises(WebhookVerificationError, match="tolerance"):
            local.parse_webhook(body, headers)


class TestDelivery:
    def test_in_process_to_a_callable_each_once(self, local: LocalPaymentProvider) -> None:
        paid(local)
        received: list[bytes] = []

        def handler(body: bytes, headers: Mapping[str, str]) -> None:
            local.parse_webhook(body, headers)
            received.append(body)

        report = local.deliver_pending(handler)
        assert (report.delivered, report.pending, report.failed) == (3, 0, None)
        assert local.deliver_pending(handler).delivered == 0
        assert len(received) == 3

    def test_a_failed_delivery_stays_queued_with_its_error_then_goes(
        self, local: LocalPaymentProvider
    ) -> None:
        """Never silently dropped: the error is kept and the next call retries it."""
        paid(local)

        def down(body: bytes, headers: Mapping[str, str]) -> None:
            raise ConnectionError("host restarting")

        report = local.deliver_pending(down)
        assert (report.delivered, report.pending) == (0, 3)
        assert report.failed is not None
        assert report.failed.type == "checkout.completed"
        assert report.failed.last_error == "ConnectionError: host restarting"
        pending = local.pending_webhooks()
        assert [(p.attempts, p.last_error is not None) for p in pending] == [
            (1, True), (0, False), (0, False),
        ]  # fmt: skip
        assert local.deliver_pending(lambda body, headers: None).delivered == 3
        assert local.pending_webhooks() == []

    def test_over_http_to_the_hosts_endpoint(
        self, local: LocalPaymentProvider, endpoint: Endpoint
    ) -> None:
        _, ref = paid(local)
        local.deliver_to = endpoint.url
        endpoint.status = 503
        failed = local.deliver_pending()
        assert failed.failed is not None
        assert failed.failed.last_error == "HTTP 503"
        assert failed.pending == 3
        endpoint.status = 204
        assert local.deliver_pending().delivered == 3
        bodies = [body for body, _ in endpoint.received]
        assert bodies[0] == bodies[1]  # the failed one again, first
        for body, headers in endpoint.received[1:]:
            assert headers["Content-Type"] == "application/json"
            assert local.parse_webhook(body, headers)[0].subscription_ref == ref

    def test_an_unreachable_endpoint_is_an_error_kept_on_the_webhook(
        self, local: LocalPaymentProvider, endpoint: Endpoint
    ) -> None:
        paid(local)
        url = endpoint.url
        endpoint.close()
        local.deliver_to = url
        report = local.deliver_pending()
        assert report.failed is not None
        assert report.failed.last_error is not None
        assert "Connection" in report.failed.last_error
        assert len(local.pending_webhooks()) == 3

    def test_after_each_write_when_a_target_is_set(
        self, local: LocalPaymentProvider, clock: FakeClock
    ) -> None:
        received: list[bytes] = []
        local.deliver_to = lambda body, headers: received.append(body)
        _, ref = paid(local)  # the checkout page's payment: delivered at once
        assert len(received) == 3
        local.increase_seats(ref, 5, idempotency_key="test:inc:5")
        assert len(received) == 4
        assert local.pending_webhooks() == []
        local.auto_deliver = False
        local.increase_seats(ref, 6, idempotency_key="test:inc:6")
        assert len(received) == 4
        assert len(local.pending_webhooks()) == 1

    def test_without_a_target_nothing_is_delivered_and_a_bad_one_is_refused(
        self, local: LocalPaymentProvider, local_url: str
    ) -> None:
        checkout(local)
        with pytest.raises(InvalidRequest):
            local.deliver_pending()
        with pytest.raises(InvalidRequest):
            local.deliver_pending("ftp://host.example/hook")  # type: ignore[arg-type]
        with pytest.raises(InvalidRequest):
            LocalPaymentProvider.from_url(local_url, clock=local.clock, base_url=BASE_URL,
                                          deliver_to="host.example/hook")  # fmt: skip
        with pytest.raises(InvalidRequest):
            LocalPaymentProvider.from_url(local_url, clock=local.clock, base_url="/_local")
        with pytest.raises(InvalidRequest):
            LocalPaymentProvider.from_url("sqlite://", clock=local.clock, base_url=BASE_URL)
        with pytest.raises(InvalidRequest):
            LocalPaymentProvider.from_url("not a url", clock=local.clock, base_url=BASE_URL)
