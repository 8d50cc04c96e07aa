"""The public surface: what hosts import, and nothing they should not need."""

from __future__ import annotations

import subprocess
import sys

import workspace_billing
from workspace_billing import errors

PUBLIC = {
    "CODES", "Billing", "BillingError", "BoundaryKind", "Catalog", "CatalogError", "Checkout",
    "CheckoutRequest", "Clock", "Conflict", "Entitlements", "Event", "EventType", "Feature",
    "FeatureKind", "FeatureMatrix", "Interval", "InvalidRequest", "Invitation", "Invoice",
    "InvoiceStatus",
    "Member", "MemberStatus", "Money", "NotFound", "Notices", "PaymentActionRequired",
    "PaymentFailed", "PaymentMethod", "PaymentProvider",
    "PermissionDenied", "Plan",
    "PlanNotSelfServe", "PricePreview", "ProviderError", "ProviderEvent", "ProviderEventType",
    "ProviderStatus", "ProviderSubscription", "Quote", "QuoteRequest", "ReconcileReport",
    "Renewal", "RenewalPreview", "RenewalReport", "Role", "SeatFloor", "SeatLimitReached", "Store",
    "StoreBusy",
    "StoreError", "StoreSnapshot", "Subscription", "SubscriptionOverview", "SubscriptionStatus",
    "SystemClock",
    "TrialNotEligible", "TrialTerms", "UnitOfWork", "WebhookResult",
    "WebhookVerificationError", "Workspace", "__version__", "select_deactivations",
}  # fmt: skip


class TestPublicSurface:
    def test_all_is_exactly_the_intended_public_list(self) -> None:
        assert set(workspace_billing.__all__) == PUBLIC

        def isort_style(name: str) -> tuple[int, str]:  # as ruff's RUF022 orders it
            return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

        assert workspace_billing.__all__ == sorted(workspace_billing.__all__, key=isort_style)
        for name in PUBLIC:
            assert hasattr(workspace_billing, name), name

    def test_the_testing_package_exports_the_fakes(self) -> None:
        from workspace_billing import testing

        assert set(testing.__all__) == {
            "FakeClock",
            "FakeInvoice",
            "FakePaymentProvider",
            "InMemoryStore",
        }

    def test_every_error_has_a_stable_distinct_code_and_one_root(self) -> None:
        classes = [getattr(errors, name) for name in errors.__all__ if name != "CODES"]
        assert all(issubclass(c, workspace_billing.BillingError) for c in classes)
        codes = [c.code for c in classes]
        assert len(set(codes)) == len(codes)
        assert all(code.islower() and " " not in code for code in codes)
        assert all(errors.CODES[cls.code].kind is cls for cls in classes)
        tree = errors.__doc__ or ""
        for cls in classes:
            assert cls.__name__ in tree, f"{cls.__name__} missing from the tree"
            assert cls.code in tree, f"{cls.code} missing from the tree"

    def test_importing_the_library_loads_no_optional_dependency(self) -> None:
        code = (
            "import sys, workspace_billing, workspace_billing.testing;"
            "bad = [m for m in ('stripe', 'sqlalchemy', 'psycopg', 'pytest') if m in sys.modules];"
            "print(','.join(bad))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        )
        assert out.stdout.strip() == ""

    def test_the_package_is_typed(self) -> None:
        from importlib.resources import files

        assert files("workspace_billing").joinpath("py.typed").is_file()
