"""What is sold: features, plans, prices and the trial's terms (rules R1, R2, R4, R7).

A catalog is a value. It is checked once, when it is built, so that a typo in a
feature id or a missing price fails at start-up rather than at a customer's
first upgrade.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import timedelta
from types import MappingProxyType

import attrs

from .errors import CatalogError, InvalidRequest
from .jsonable import JSONDict, dicts, scalars
from .money import Money

__all__ = [
    "DEFAULT_MAX_SEATS",
    "Catalog",
    "Entitlements",
    "Feature",
    "FeatureKind",
    "FeatureMatrix",
    "Interval",
    "Plan",
    "SeatFloor",
    "TrialTerms",
]

DEFAULT_MAX_SEATS = 10_000

FeatureValue = bool | int | None
"""A plan's value for a feature: a flag (bool) or a limit (int; None is unlimited)."""


class Interval(enum.StrEnum):
    """How often a subscription renews."""

    MONTH = "month"
    YEAR = "year"

    @classmethod
    def parse(cls, value: str | Interval) -> Interval:
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(repr(i.value) for i in cls)
            raise InvalidRequest(
                f"unknown interval {value!r}: use one of {allowed}", code="unknown_interval"
            ) from None


class FeatureKind(enum.StrEnum):
    FLAG = "flag"
    """On or off for a plan."""
    LIMIT = "limit"
    """A number for a plan (projects, storage in GB); ``None`` means unlimited."""


class SeatFloor(enum.StrEnum):
    """The lowest seat count an admin may choose, beyond the owner's one seat."""

    NONE = "none"
    """A decrease below the active members is allowed; R11 resolves it at renewal."""
    SEATS_IN_USE = "seats_in_use"
    """Never below the active members: the admin removes members first."""


def _freeze_names(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType({language.lower(): name for language, name in value.items()})


def _named(name: str, names: Mapping[str, str], locale: str | None) -> str:
    """``name`` in ``locale`` (``fr``, ``fr_FR``, ``fr-CA``...), else the default."""
    if not isinstance(locale, str):
        return name
    language = locale.replace("-", "_").lower()
    return names.get(language) or names.get(language.split("_", 1)[0]) or name


@attrs.frozen
class Feature:
    """A feature plans grant; ``names`` holds its display name per language
    (``{"fr": "Journal d'audit"}``), ``name`` the default (English)."""

    id: str
    name: str
    kind: FeatureKind = FeatureKind.FLAG
    names: Mapping[str, str] = attrs.field(factory=dict, converter=_freeze_names, eq=False)

    def display_name(self, locale: str | None = None) -> str:
        """The name to show a user of ``locale``; ``name`` when none is given for it."""
        return _named(self.name, self.names, locale)

    def to_dict(self) -> JSONDict:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind.value,
            "names": dict(self.names),
        }


def _freeze_features(value: Mapping[str, FeatureValue]) -> Mapping[str, FeatureValue]:
    return MappingProxyType(dict(value))


def _freeze_prices(value: Mapping[Interval | str, Money]) -> Mapping[Interval, Money]:
    return MappingProxyType({Interval(k): v for k, v in value.items()})


@attrs.frozen
class Plan:
    """A plan of the catalog.

    ``prices`` are per seat and per interval for a per-seat plan. A plan that is
    not per seat has a fixed ``member_cap`` (the free plan); a plan that is not
    ``self_serve`` is sold by sales at negotiated terms (R7) and needs no price.
    """

    code: str
    name: str
    features: Mapping[str, FeatureValue] = attrs.field(
        factory=dict, converter=_freeze_features, eq=False
    )
    prices: Mapping[Interval, Money] = attrs.field(factory=dict, converter=_freeze_prices, eq=False)
    self_serve: bool = True
    per_seat: bool = True
    member_cap: int | None = None
    max_seats: int = DEFAULT_MAX_SEATS
    names: Mapping[str, str] = attrs.field(factory=dict, converter=_freeze_names, eq=False)
    """The display name per language (``{"fr": "Entreprise"}``); ``name`` is the default."""

    def display_name(self, locale: str | None = None) -> str:
        """The name to show a user of ``locale``; ``name`` when none is given for it."""
        return _named(self.name, self.names, locale)

    def to_dict(self) -> JSONDict:
        """JSON-ready: ``features`` by feature id, ``prices`` by interval (docs/json.md)."""
        return {
            "code": self.code,
            "name": self.name,
            "features": scalars(self.features),
            "prices": {interval.value: price.to_dict() for interval, price in self.prices.items()},
            "self_serve": self.self_serve,
            "per_seat": self.per_seat,
            "member_cap": self.member_cap,
            "max_seats": self.max_seats,
            "names": dict(self.names),
        }

    def price(self, interval: Interval) -> Money:
        try:
            return self.prices[interval]
        except KeyError:
            raise InvalidRequest(
                f"plan {self.code!r} has no {interval.value}ly price", code="interval_not_sold"
            ) from None


@attrs.frozen
class TrialTerms:
    """The free trial of an owner's first workspace (R1)."""

    plan: str = "business"
    days: int = 14
    member_cap: int = 5

    @property
    def length(self) -> timedelta:
        return timedelta(days=self.days)


@attrs.frozen
class Entitlements:
    """A snapshot of what a workspace may use now; cheap to query in a hot path.

    ``has`` is one set lookup: the features granted (flags on, limits unlimited
    or above zero) are computed once, when the snapshot is made.
    """

    plan: str
    flags: frozenset[str]
    limits: Mapping[str, int | None] = attrs.field(converter=_freeze_features, eq=False)
    _granted: frozenset[str] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        granted = self.flags | {k for k, v in self.limits.items() if v is None or v > 0}
        object.__setattr__(self, "_granted", frozenset(granted))

    def to_dict(self) -> JSONDict:
        """JSON-ready: ``flags`` sorted, ``limits`` by feature id (``None`` is unlimited)."""
        return {"plan": self.plan, "flags": [*sorted(self.flags)], "limits": scalars(self.limits)}

    @property
    def granted(self) -> frozenset[str]:
        """The features ``has`` answers True for."""
        return self._granted

    def has(self, feature: str) -> bool:
        """True when the flag is on, or the limit is unlimited or above zero."""
        return feature in self._granted

    def limit(self, feature: str) -> int | None:
        """The numeric limit (``None`` is unlimited; 0 when the plan lacks it)."""
        return self.limits.get(feature, 0)


@attrs.frozen
class FeatureMatrix:
    """Plans side by side for an upgrade picker: ``rows[i][j]`` is plan j's value of feature i."""

    plans: tuple[Plan, ...]
    features: tuple[Feature, ...]
    rows: tuple[tuple[FeatureValue, ...], ...]

    def to_dict(self) -> JSONDict:
        return {
            "plans": dicts(self.plans),
            "features": dicts(self.features),
            "rows": [list(row) for row in self.rows],
        }


def _feature_tuple(values: Iterable[Feature]) -> tuple[Feature, ...]:
    return tuple(values)


def _plan_tuple(values: Iterable[Plan]) -> tuple[Plan, ...]:
    return tuple(values)


def _default_features() -> tuple[Feature, ...]:
    return (
        Feature("projects", "Projects", FeatureKind.LIMIT, {"fr": "Projets"}),
        Feature("storage_gb", "Storage (GB)", FeatureKind.LIMIT, {"fr": "Stockage (Go)"}),
        Feature("api_access", "API access", names={"fr": "Accès à l’API"}),
        Feature("audit_log", "Audit log", names={"fr": "Journal d’audit"}),
        Feature("sso", "Single sign-on (SAML)", names={"fr": "Authentification unique (SAML)"}),
        Feature("priority_support", "Priority support", names={"fr": "Support prioritaire"}),
        Feature(
            "custom_contract",
            "Custom contract and invoicing",
            names={"fr": "Contrat et facturation sur mesure"},
        ),
    )


@attrs.frozen
class Catalog:
    """Features, plans, trial terms and the policies hosts may tune.

    ``fallback`` is the plan a workspace has when nothing is paid (R2, R12):
    with ``fallback_expires`` it is shown as ``expired`` and grants no feature.
    """

    features: tuple[Feature, ...] = attrs.field(converter=_feature_tuple)
    plans: tuple[Plan, ...] = attrs.field(converter=_plan_tuple)
    fallback: str
    trial: TrialTerms = TrialTerms()
    fallback_expires: bool = False
    grace_period: timedelta = timedelta(days=7)
    seat_floor: SeatFloor = SeatFloor.NONE
    currency: str = "EUR"

    def __attrs_post_init__(self) -> None:
        _validate(self)

    @classmethod
    def default(cls) -> Catalog:
        """Free (fallback, 2 members), Business (self-serve, per seat), Enterprise (sales)."""
        return cls(
            features=_default_features(),
            plans=(
                Plan(
                    code="free",
                    name="Free",
                    names={"fr": "Gratuit"},
                    features={"projects": 3, "storage_gb": 1},
                    per_seat=False,
                    member_cap=2,
                ),
                Plan(
                    code="business",
                    name="Business",
                    features={
                        "projects": None,
                        "storage_gb": 100,
                        "api_access": True,
                        "audit_log": True,
                        "sso": True,
                    },
                    prices={Interval.MONTH: Money(1200, "EUR"), Interval.YEAR: Money(12000, "EUR")},
                ),
                Plan(
                    code="enterprise",
                    name="Enterprise",
                    names={"fr": "Entreprise"},
                    features={
                        "projects": None,
                        "storage_gb": None,
                        "api_access": True,
                        "audit_log": True,
                        "sso": True,
                        "priority_support": True,
                        "custom_contract": True,
                    },
                    self_serve=False,
                ),
            ),
            fallback="free",
            trial=TrialTerms(plan="business", days=14, member_cap=5),
        )

    def plan(self, code: str) -> Plan:
        for plan in self.plans:
            if plan.code == code:
                return plan
        known = ", ".join(repr(p.code) for p in self.plans)
        raise InvalidRequest(f"unknown plan {code!r}: the catalog has {known}", code="unknown_plan")

    def feature(self, feature_id: str) -> Feature:
        for feature in self.features:
            if feature.id == feature_id:
                return feature
        raise InvalidRequest(f"unknown feature {feature_id!r}", code="unknown_feature")

    @property
    def fallback_plan(self) -> Plan:
        return self.plan(self.fallback)

    def entitlements(self, plan_code: str, *, expired: bool = False) -> Entitlements:
        """What a plan grants; an expired workspace is granted nothing."""
        if expired:
            return Entitlements(plan=plan_code, flags=frozenset(), limits={})
        values = self.plan(plan_code).features
        flags = frozenset(k for k, v in values.items() if v is True)
        limits = {f.id: values.get(f.id, 0) for f in self.features if f.kind is FeatureKind.LIMIT}
        return Entitlements(plan=plan_code, flags=flags, limits=limits)

    def compare(self, *codes: str) -> FeatureMatrix:
        """Plans side by side (all of them, in catalog order, when no code is given)."""
        plans = tuple(self.plan(c) for c in codes) if codes else self.plans
        rows = tuple(tuple(_display_value(f, p) for p in plans) for f in self.features)
        return FeatureMatrix(plans=plans, features=self.features, rows=rows)


def _display_value(feature: Feature, plan: Plan) -> FeatureValue:
    if feature.kind is FeatureKind.FLAG:
        return plan.features.get(feature.id) is True
    return plan.features.get(feature.id, 0)


def _validate(catalog: Catalog) -> None:
    feature_ids = _unique("feature id", (f.id for f in catalog.features))
    plan_codes = _unique("plan code", (p.code for p in catalog.plans))
    kinds = {f.id: f.kind for f in catalog.features}
    if catalog.fallback not in plan_codes:
        raise CatalogError(f"fallback plan {catalog.fallback!r} is not in the catalog")
    if catalog.trial.plan not in plan_codes:
        raise CatalogError(f"trial plan {catalog.trial.plan!r} is not in the catalog")
    if catalog.trial.days < 1 or catalog.trial.member_cap < 1:
        raise CatalogError("trial terms need at least 1 day and 1 member")
    if catalog.grace_period < timedelta(0):
        raise CatalogError("the grace period cannot be negative")
    fallback = catalog.plan(catalog.fallback)
    if fallback.per_seat or fallback.member_cap is None:
        raise CatalogError("the fallback plan must be a free plan with a member cap")
    for plan in catalog.plans:
        _validate_plan(plan, feature_ids, kinds, catalog.currency)


def _validate_plan(
    plan: Plan, feature_ids: set[str], kinds: Mapping[str, FeatureKind], currency: str
) -> None:
    where = f"plan {plan.code!r}"
    if not plan.code or not plan.name:
        raise CatalogError("every plan needs a code and a name")
    for feature_id, value in plan.features.items():
        if feature_id not in feature_ids:
            raise CatalogError(f"{where} lists unknown feature {feature_id!r}")
        if kinds[feature_id] is FeatureKind.FLAG and not isinstance(value, bool):
            raise CatalogError(f"{where}: feature {feature_id!r} is a flag, give True or False")
        if kinds[feature_id] is FeatureKind.LIMIT and (
            isinstance(value, bool) or (value is not None and value < 0)
        ):
            raise CatalogError(
                f"{where}: feature {feature_id!r} is a limit, give an int >= 0 or None"
            )
    if plan.max_seats < 1:
        raise CatalogError(f"{where}: max_seats must be at least 1")
    if not plan.per_seat:
        if plan.member_cap is None or plan.member_cap < 1:
            raise CatalogError(f"{where}: a plan that is not per seat needs a member_cap >= 1")
        if plan.prices:
            raise CatalogError(f"{where}: a plan that is not per seat has no seat price")
    if plan.self_serve and plan.per_seat and not plan.prices:
        raise CatalogError(f"{where} is self-serve but has no price")
    for interval, price in plan.prices.items():
        if price.amount < 0:
            raise CatalogError(f"{where}: the {interval.value}ly price is negative")
        if price.currency != currency:
            raise CatalogError(
                f"{where}: the {interval.value}ly price is in {price.currency}, "
                f"the catalog sells in {currency}"
            )


def _unique(what: str, values: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise CatalogError(f"duplicate {what} {value!r}")
        seen.add(value)
    return seen
