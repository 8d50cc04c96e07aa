"""The pytest plugin hosts get by installing the package (entry point pytest11)."""

from __future__ import annotations

import pytest


class TestPlugin:
    def test_host_tests_get_ready_fixtures(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile(
            """
            from workspace_billing import SubscriptionStatus

            def test_trial(billing, billing_clock):
                ws = billing.create_workspace(owner="ann", name="A")
                billing_clock.advance(days=15)
                billing.run_renewals()
                overview = billing.subscription(ws.id, actor="ann")
                assert overview.status is SubscriptionStatus.FREE

            def test_checkout(billing, billing_provider):
                ws = billing.create_workspace(owner="ann", name="A")
                checkout = billing.upgrade(ws.id, actor="ann", plan="business", seats=2,
                                           success_url="https://h/ok", cancel_url="https://h/no")
                billing_provider.complete_checkout(checkout.id)
                assert billing_provider.deliver(billing.handle_webhook) == 3
                assert billing.subscription(ws.id, actor="ann").seats == 2
            """
        )
        result = pytester.runpytest("-p", "no:cacheprovider", "--no-cov")
        result.assert_outcomes(passed=2)

    def test_a_host_can_override_the_catalog(self, pytester: pytest.Pytester) -> None:
        pytester.makeconftest(
            """
            import attrs, pytest
            from workspace_billing import Catalog, TrialTerms

            @pytest.fixture
            def billing_catalog():
                return attrs.evolve(Catalog.default(), trial=TrialTerms(days=30, member_cap=3))
            """
        )
        pytester.makepyfile(
            """
            from datetime import timedelta

            def test_long_trial(billing, billing_clock):
                ws = billing.create_workspace(owner="ann", name="A")
                sub = billing.workspace(ws.id).subscription
                assert sub.trial_ends_at == billing_clock.now() + timedelta(days=30)
            """
        )
        result = pytester.runpytest("-p", "no:cacheprovider", "--no-cov")
        result.assert_outcomes(passed=1)
