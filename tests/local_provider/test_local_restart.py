"""A restart: a new provider object on the same database sees every subscription,
invoice, card, waiting payment, lever, idempotent answer and queued webhook."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.local_provider.support import BASE_URL, empty_database, paid

from workspace_billing import PaymentActionRequired, PaymentFailed, ProviderStatus
from workspace_billing.providers.local import LocalPaymentProvider
from workspace_billing.testing import FakeClock


@pytest.fixture(name="db", params=["sqlite", "postgres"])
def db_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return empty_database(request.param, tmp_path)


@pytest.fixture(name="started")
def started_fixture(db: str, clock: FakeClock) -> Iterator[list[LocalPaymentProvider]]:
    made: list[LocalPaymentProvider] = []
    yield made
    for provider in made:
        provider.dispose()


def start(db: str, clock: FakeClock, made: list[LocalPaymentProvider]) -> LocalPaymentProvider:
    made.append(LocalPaymentProvider.from_url(db, clock=clock, base_url=BASE_URL,
                                              create_schema=True))  # fmt: skip
    return made[-1]


class TestRestart:
    def test_everything_is_there_after_a_restart(
        self, db: str, clock: FakeClock, started: list[LocalPaymentProvider]
    ) -> None:
        first = start(db, clock, started)
        customer, ref = paid(first, seats=4)
        _, other = paid(first, seats=2, ws="ws_2")
        first.schedule_seat_decrease(ref, 3, idempotency_key="test:dec:3")
        first.cancel(other, at_period_end=True, idempotency_key="test:cancel")
        first.require_action_next_payment()
        with pytest.raises(PaymentActionRequired) as waiting:
            first.increase_seats(ref, 6, idempotency_key="test:inc:6")
        first.fail_next_payment()
        views = {r: first.fetch_subscription(r) for r in (ref, other)}
        invoices = first.invoices(customer, 24)
        queued = first.pending_webhooks()
        first.dispose()

        second = start(db, clock, started)  # create_schema again: the data stays
        assert {r: second.fetch_subscription(r) for r in (ref, other)} == views
        assert second.invoices(customer, 24) == invoices
        assert second.pending_webhooks() == queued
        assert [v.ref for v in second.subscriptions_of(customer)] == [ref]
        with pytest.raises(PaymentActionRequired) as replayed:  # the same key, the same page
            second.increase_seats(ref, 6, idempotency_key="test:inc:6")
        assert replayed.value.url == waiting.value.url
        with pytest.raises(PaymentFailed):  # the lever pulled before the restart
            second.increase_seats(ref, 5, idempotency_key="test:inc:5")
        second.authenticate(waiting.value.url)
        assert second.fetch_subscription(ref).seats == 6
        assert second.increase_seats(ref, 6, idempotency_key="test:inc:6").seats == 6
        body, headers = second.take_webhooks()[0]
        assert first.parse_webhook(body, headers)  # one secret, either object verifies

    def test_two_providers_on_one_database_take_turns(
        self, db: str, clock: FakeClock, started: list[LocalPaymentProvider]
    ) -> None:
        """Two server processes: each sees the other's writes at once."""
        one, two = start(db, clock, started), start(db, clock, started)
        customer, ref = paid(one, seats=2)
        two.increase_seats(ref, 4, idempotency_key="test:two:inc")
        assert one.fetch_subscription(ref).seats == 4
        clock.set(one.fetch_subscription(ref).period_end)
        assert two.fetch_subscription(ref).period_start == clock.now()  # renewed once
        assert [i.number for i in one.invoices(customer, 24)] == [
            "LOCAL-0003", "LOCAL-0002", "LOCAL-0001",
        ]  # fmt: skip
        assert one.fetch_subscription(ref).status is ProviderStatus.ACTIVE
