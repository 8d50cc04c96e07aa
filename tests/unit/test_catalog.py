"""Rule R4: plans list their features; the catalog is checked when it is built."""

from __future__ import annotations

import pytest

from workspace_billing import (
    Catalog,
    CatalogError,
    Feature,
    FeatureKind,
    Interval,
    InvalidRequest,
    Money,
    Plan,
    TrialTerms,
)


def _catalog(**changes: object) -> Catalog:
    base: dict[str, object] = {
        "features": (Feature("sso", "SSO"), Feature("projects", "Projects", FeatureKind.LIMIT)),
        "plans": (
            Plan("free", "Free", {"projects": 1}, per_seat=False, member_cap=2),
            Plan(
                "pro", "Pro", {"sso": True, "projects": None}, {Interval.MONTH: Money(900, "EUR")}
            ),
        ),
        "fallback": "free",
        "trial": TrialTerms(plan="pro", days=7, member_cap=3),
    }
    base.update(changes)
    plans = base["plans"]
    assert isinstance(plans, tuple)
    if "trial" not in changes and all(p.code != "pro" for p in plans):
        base["trial"] = TrialTerms(plan=plans[0].code)
    return Catalog(**base)  # type: ignore[arg-type]


class TestDefaultCatalog:
    """The shipped catalog: free fallback, self-serve Business, Enterprise through sales."""

    def test_it_has_the_three_plans_of_the_help_page(self) -> None:
        catalog = Catalog.default()
        assert [p.code for p in catalog.plans] == ["free", "business", "enterprise"]
        assert catalog.fallback == "free"
        assert catalog.plan("business").self_serve
        assert not catalog.plan("enterprise").self_serve

    def test_business_is_priced_per_seat_in_eur_monthly_and_yearly(self) -> None:
        business = Catalog.default().plan("business")
        assert business.per_seat
        assert business.price(Interval.MONTH) == Money(1200, "EUR")
        assert business.price(Interval.YEAR) == Money(12000, "EUR")

    def test_the_trial_lasts_14_days_with_at_least_3_members(self) -> None:
        """Rule R1 defaults."""
        trial = Catalog.default().trial
        assert trial.days == 14
        assert trial.member_cap >= 3

    def test_features_are_compared_side_by_side(self) -> None:
        """Rule R4: the upgrade picker's matrix."""
        matrix = Catalog.default().compare()
        sso = [f.id for f in matrix.features].index("sso")
        projects = [f.id for f in matrix.features].index("projects")
        assert matrix.rows[sso] == (False, True, True)
        assert matrix.rows[projects] == (3, None, None)
        assert [p.code for p in Catalog.default().compare("business").plans] == ["business"]

    def test_entitlements_say_what_a_plan_grants(self) -> None:
        catalog = Catalog.default()
        free = catalog.entitlements("free")
        assert not free.has("sso")
        assert free.has("projects")
        assert free.limit("projects") == 3
        business = catalog.entitlements("business")
        assert business.has("sso")
        assert business.limit("projects") is None
        assert not catalog.entitlements("business", expired=True).has("sso")


class TestCatalogValidation:
    """A catalog built in code fails at construction, with a clear message."""

    def test_a_valid_catalog_builds(self) -> None:
        assert _catalog().plan("pro").name == "Pro"

    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            ({"fallback": "gold"}, "fallback plan 'gold'"),
            ({"trial": TrialTerms(plan="gold")}, "trial plan 'gold'"),
            ({"trial": TrialTerms(plan="pro", days=0)}, "at least 1 day"),
            (
                {"plans": (Plan("free", "Free", per_seat=False, member_cap=2),) * 2},
                "duplicate plan code 'free'",
            ),
            ({"features": (Feature("sso", "SSO"),) * 2}, "duplicate feature id 'sso'"),
            (
                {
                    "plans": (
                        Plan("free", "Free", {"teleport": True}, per_seat=False, member_cap=2),
                    )
                },
                "unknown feature 'teleport'",
            ),
            (
                {
                    "plans": (
                        Plan("free", "Free", per_seat=False, member_cap=2),
                        Plan("pro", "Pro"),
                    )
                },
                "self-serve but has no price",
            ),
            (
                {
                    "plans": (
                        Plan("free", "Free", per_seat=False, member_cap=2),
                        Plan("pro", "Pro", prices={Interval.MONTH: Money(-1, "EUR")}),
                    )
                },
                "negative",
            ),
            (
                {
                    "plans": (
                        Plan("free", "Free", per_seat=False, member_cap=2),
                        Plan("pro", "Pro", prices={Interval.MONTH: Money(1, "USD")}),
                    )
                },
                "in USD",
            ),
            (
                {"plans": (Plan("free", "Free", {"sso": 1}, per_seat=False, member_cap=2),)},
                "is a flag",
            ),
            (
                {"plans": (Plan("free", "Free", {"projects": -1}, per_seat=False, member_cap=2),)},
                "is a limit",
            ),
            ({"plans": (Plan("free", "Free", per_seat=False),)}, "member cap"),
        ],
    )
    def test_an_inconsistent_catalog_is_refused(
        self, changes: dict[str, object], message: str
    ) -> None:
        with pytest.raises(CatalogError, match=message) as info:
            _catalog(**changes)
        assert info.value.code == "invalid_catalog"

    def test_an_unknown_plan_or_interval_names_what_exists(self) -> None:
        with pytest.raises(InvalidRequest, match="'free', 'pro'"):
            _catalog().plan("gold")
        with pytest.raises(InvalidRequest, match="'month', 'year'"):
            Interval.parse("week")
        with pytest.raises(InvalidRequest, match="no yearly price"):
            _catalog().plan("pro").price(Interval.YEAR)
