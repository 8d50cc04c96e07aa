"""localstripe, a stateful fake Stripe server, on 127.0.0.1 for the adapter's tests.

It starts once per session from an empty store, and each test that uses it resets
it (``DELETE /_config/data``). Its webhooks reach a receiver on 127.0.0.1 that
queues them for the test to hand to ``Billing.handle_webhook``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

import attrs
import pytest
import stripe

WEBHOOK_SECRET = "whsec_localstripe_tests"
HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], deadline_s: float = 30.0) -> None:
    """Return once the server accepts connections; fail if it exits or takes too long."""
    give_up = time.monotonic() + deadline_s
    while time.monotonic() < give_up:
        if process.poll() is not None:
            raise RuntimeError(f"localstripe exited with code {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)  # readiness polling of a child process, not a test's timing
    raise RuntimeError(f"localstripe did not listen on 127.0.0.1:{port} in {deadline_s} s")


@pytest.fixture(scope="session", name="localstripe_url")
def localstripe_url_fixture() -> Iterator[str]:
    if importlib.util.find_spec("localstripe") is None:
        how = 'localstripe is missing: pip install -e ".[dev]" installs it'
        if os.environ.get("CI") == "true":
            pytest.fail(how)
        pytest.skip(how)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(HERE / "localstripe_server.py"), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@attrs.define
class Receiver:
    """Webhooks localstripe posted to us, as (raw body, headers)."""

    url: str
    inbox: queue.Queue[tuple[bytes, dict[str, str]]]

    def wait_for(
        self, event_type: str, object_id: str, timeout: float = 15.0
    ) -> tuple[bytes, dict[str, str]]:
        """The delivery of ``event_type`` about ``object_id``; others meanwhile are dropped."""
        give_up = time.monotonic() + timeout
        while True:
            remaining = give_up - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {event_type} for {object_id} within {timeout} s")
            body, headers = self.inbox.get(timeout=remaining)
            event = json.loads(body)
            if event["type"] == event_type and event["data"]["object"].get("id") == object_id:
                return body, headers

    def drain(self) -> None:
        while not self.inbox.empty():
            self.inbox.get_nowait()


@pytest.fixture(scope="session", name="receiver")
def receiver_fixture(localstripe_url: str) -> Iterator[Receiver]:
    inbox: queue.Queue[tuple[bytes, dict[str, str]]] = queue.Queue()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            inbox.put((body, dict(self.headers.items())))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/stripe/webhook"
    form = urlencode({"url": url, "secret": WEBHOOK_SECRET}).encode()
    urllib.request.urlopen(
        f"{localstripe_url}/_config/webhooks/tests", data=form, timeout=10
    ).close()
    yield Receiver(url, inbox)
    server.shutdown()
    server.server_close()


@pytest.fixture(name="localstripe")
def localstripe_fixture(localstripe_url: str, receiver: Receiver) -> stripe.StripeClient:
    """A StripeClient on a freshly emptied localstripe, with the seat plans created."""
    reset = urllib.request.Request(f"{localstripe_url}/_config/data", method="DELETE")
    urllib.request.urlopen(reset, timeout=10).close()
    receiver.drain()
    client = stripe.StripeClient(
        "sk_test_localstripe", base_addresses={"api": localstripe_url}, max_network_retries=0
    )
    client.v1.products.create(params={"id": "prod_seats", "name": "Seats"})
    for plan, interval, amount in (("plan_month", "month", 1200), ("plan_year", "year", 12000)):
        client.v1.plans.create(
            params={
                "id": plan,
                "amount": amount,
                "currency": "eur",
                "interval": interval,
                "product": "prod_seats",
            }
        )
    return client
