"""Negotiated plans through sales (R7); ``service/sales.py``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.conftest import PaidWorkspace
from tests.service.support import (
    CANCEL_URL,
    OK_URL,
    OWNER,
    refused,
)

from workspace_billing import (
    Billing,
    EventType,
    Interval,
    InvalidRequest,
    Money,
    PlanNotSelfServe,
    SubscriptionStatus,
)
from workspace_billing.testing import FakeClock, FakePaymentProvider, InMemoryStore


class TestSales:
    """Rule R7: custom plans go through sales; an operator applies the terms."""

    def test_r7_contact_sales_records_the_request_for_the_host(self, billing: Billing) -> None:
        ws = billing.create_workspace(owner="alice", name="Acme")
        event = billing.contact_sales(ws.id, actor="alice", message="200 seats, SSO")
        assert event.type is EventType.SALES_CONTACTED
        assert event.data["plan"] == "enterprise"
        assert event.data["message"] == "200 seats, SSO"
        assert billing.events()[-1] == event

    def test_r7_an_operator_applies_negotiated_terms(
        self, billing: Billing, paid_workspace: PaidWorkspace, provider: FakePaymentProvider
    ) -> None:
        ws = paid_workspace(seats=3, members=("bob",))
        ref = billing.workspace(ws.id).subscription.subscription_ref
        assert ref is not None
        o = billing.apply_custom_terms(
            ws.id,
            operator="sales@vendor",
            seats=200,
            unit_amount=Money(900, "EUR"),
            interval="year",
        )
        assert (o.plan, o.status, o.seats, o.interval) == (
            "enterprise",
            SubscriptionStatus.ACTIVE,
            200,
            Interval.YEAR,
        )
        assert o.total == Money(180000, "EUR")
        assert billing.has_feature(ws.id, "custom_contract")
        assert provider.subscription(ref).status.value == "canceled"
        assert billing.events()[-1].actor == "sales@vendor"

    def test_r7_a_negotiated_plan_renews_on_the_library_schedule(
        self, billing: Billing, clock: FakeClock
    ) -> None:
        ws = billing.create_workspace(owner="alice", name="Acme")
        billing.apply_custom_terms(
            ws.id, operator="ops", seats=10, unit_amount=Money(900, "EUR"), interval="month"
        )
        first_end = billing.workspace(ws.id).subscription.period_end
        assert first_end is not None
        clock.set(first_end + timedelta(hours=1))
        assert billing.run_renewals().changed == 1
        sub = billing.workspace(ws.id).subscription
        assert sub.period_start == first_end
        assert billing.run_renewals().changed == 0


class TestSalesOnlyPlan:
    """Rule R7: Enterprise cannot be bought; it is refused before seats or interval are checked."""

    @pytest.mark.parametrize(
        ("seats", "interval"),
        [(5, "month"), (0, "month"), (-1, "fortnight"), ("3", "month"), (10_001, "decade")],
        ids=["valid", "zero-seats", "negative-and-bad-interval", "str-seats", "too-many"],
    )
    def test_upgrading_to_enterprise_is_plan_not_self_serve(
        self,
        billing: Billing,
        store: InMemoryStore,
        trial_id: str,
        seats: object,
        interval: str,
    ) -> None:
        """Rule R7/R17: PlanNotSelfServe, even when seats or interval are also wrong."""
        refused(
            store,
            PlanNotSelfServe,
            "plan_not_self_serve",
            lambda: billing.upgrade(
                trial_id,
                actor="tess",
                plan="enterprise",
                seats=seats,  # type: ignore[arg-type]
                interval=interval,
                success_url=OK_URL,
                cancel_url=CANCEL_URL,
            ),
        )

    def test_upgrading_a_paid_workspace_to_enterprise_is_plan_not_self_serve(
        self, billing: Billing, store: InMemoryStore, paid_id: str
    ) -> None:
        """Rule R7: from a paid plan too, and the provider is never asked."""
        refused(
            store,
            PlanNotSelfServe,
            "plan_not_self_serve",
            lambda: billing.upgrade(
                paid_id,
                actor=OWNER,
                plan="enterprise",
                seats=0,
                interval="fortnight",
                success_url=OK_URL,
                cancel_url=CANCEL_URL,
            ),
        )

    def test_previewing_enterprise_is_plan_not_self_serve(
        self, billing: Billing, store: InMemoryStore, paid_id: str
    ) -> None:
        """Rule R7: preview_change(plan='enterprise') is PlanNotSelfServe, seats aside."""
        refused(
            store,
            PlanNotSelfServe,
            "plan_not_self_serve",
            lambda: billing.preview_change(
                paid_id, actor=OWNER, plan="enterprise", seats=-1, interval="week"
            ),
        )

    def test_plan_not_self_serve_is_an_invalid_request(self) -> None:
        """Section 3: hosts that catch InvalidRequest also catch PlanNotSelfServe."""
        assert issubclass(PlanNotSelfServe, InvalidRequest)
