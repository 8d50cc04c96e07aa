"""Bad input to the local provider: a typed error, and its tables exactly as they
were (Rule R17); concurrent writers take turns."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient
from tests.local_provider.support import BASE_URL, checkout, paid

from workspace_billing import (
    Interval,
    InvalidRequest,
    Money,
    NotFound,
    ProviderError,
    WebhookVerificationError,
)
from workspace_billing.providers.local import LocalPaymentProvider, metadata
from workspace_billing.testing import FakeClock


def tables(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the provider's tables: what must not move when input is refused."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {t.name: sorted(map(tuple, conn.execute(sa.select(t))), key=repr)
                    for t in metadata.sorted_tables}  # fmt: skip
    finally:
        engine.dispose()


class TestRefusals:
    def test_each_refused_write_changes_nothing(
        self, local: LocalPaymentProvider, local_url: str
    ) -> None:
        """Rule R17: refused by a typed error, before anything is written."""
        customer, ref = paid(local, seats=3)
        before = tables(local_url)
        refusals: list[tuple[type[Exception], Any]] = [
            (ProviderError, lambda: local.increase_seats(ref, 3, idempotency_key="k1")),
            (ProviderError, lambda: local.schedule_seat_decrease(ref, 0, idempotency_key="k2")),
            (ProviderError, lambda: local.schedule_seat_decrease(ref, 4, idempotency_key="k3")),
            (NotFound, lambda: local.increase_seats("sub_missing", 5, idempotency_key="k4")),
            (NotFound, lambda: local.portal_url("cus_missing", return_url="u",
                                                idempotency_key="k5")),
            (ProviderError, lambda: local.increase_seats(ref, 5, idempotency_key="")),
            (ProviderError, lambda: local.increase_seats(ref, 5, idempotency_key="k" * 256)),
            (ProviderError, lambda: local.create_customer(
                workspace_id="ws_9", name="Other", owner="bob",
                idempotency_key="test:ws_1:customer")),
            (InvalidRequest, lambda: local.invoices(customer, 0)),
            (NotFound, lambda: local.invoices("cus_missing", 24)),
            (NotFound, lambda: local.authenticate(f"{BASE_URL}/authenticate/pi_missing")),
            (NotFound, lambda: local.authenticate("https://elsewhere.example/authenticate/x")),
            (WebhookVerificationError, lambda: local.parse_webhook(b"{}", {})),
        ]  # fmt: skip
        for error, call in refusals:
            with pytest.raises(error):
                call()
        local.cancel(ref, at_period_end=False, idempotency_key="test:end")
        ended = tables(local_url)
        with pytest.raises(ProviderError, match="canceled"):
            local.change_plan(ref, plan="business", interval=Interval.YEAR, seats=3,
                              unit_amount=Money(12000, "EUR"), idempotency_key="k6")  # fmt: skip
        assert tables(local_url) == ended
        assert before != ended  # the dump sees a change when there is one

    def test_a_refused_page_changes_nothing(
        self, local: LocalPaymentProvider, client: TestClient, local_url: str
    ) -> None:
        """Rule R17 on the pages: a mistyped card, a foreign subscription, a bad count."""
        customer, ref = paid(local, seats=3)
        _, started = checkout(local, ws="ws_2")
        assert started.url is not None
        url = local.portal_url(customer, return_url="https://host.example", idempotency_key="p")
        portal = url.removeprefix("http://testserver")
        before = tables(local_url)
        page = started.url.removeprefix("http://testserver")
        assert client.post(page, data={"card_number": "1234"}).status_code == 400
        assert client.post(f"{portal}/subscriptions/{ref}/confirm",
                           data={"seats": "-1", "key": "x"}).status_code == 400  # fmt: skip
        assert client.post(f"{portal}/subscriptions/sub_x/cancel").status_code == 404
        assert client.post(f"{portal}/subscriptions/{ref}/pause").status_code == 404
        assert client.post(f"{portal}/card", data={"card_number": "4242"}).status_code == 400
        assert client.post("/_local_billing/invoices/in_x/pay").status_code == 404
        not_waiting = client.post(f"{page}/authenticate", data={"decision": "complete"})
        assert not_waiting.status_code == 400
        assert "This cannot be done" in not_waiting.text
        assert tables(local_url) == before


class TestConcurrency:
    def test_writers_in_threads_and_two_objects_take_turns(
        self, local: LocalPaymentProvider, clock: FakeClock, local_url: str
    ) -> None:
        """One write at a time across objects: each checkout paid once, numbers unique."""
        other = LocalPaymentProvider.from_url(local_url, clock=clock, base_url=BASE_URL)
        started = [checkout(local, ws=f"ws_{n}") for n in range(6)]
        errors: list[BaseException] = []

        def pay(provider: LocalPaymentProvider, checkout_id: str) -> None:
            try:
                provider.complete_checkout(checkout_id)
            except BaseException as e:  # noqa: BLE001 - reported by the assertion below
                errors.append(e)

        threads = [
            threading.Thread(target=pay, args=(local if n % 2 else other, c.id))
            for n, (_, c) in enumerate(started)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        other.dispose()
        assert errors == []
        numbers = sorted(local.invoices(customer, 24)[0].number for customer, _ in started)
        assert numbers == [f"LOCAL-{n:04d}" for n in range(1, 7)]
