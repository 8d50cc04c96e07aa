"""Rule R15: money is exact."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workspace_billing import InvalidRequest, Money


class TestMoney:
    """Rule R15: integer minor units with an ISO 4217 currency, no float ever."""

    def test_amounts_add_and_multiply_exactly(self) -> None:
        assert Money(1200, "EUR") * 3 + Money(1, "EUR") == Money(3601, "EUR")
        assert 2 * Money(5, "EUR") - Money(3, "EUR") == Money(7, "EUR")

    @pytest.mark.parametrize("amount", [12.0, 1.5, "12", None, True])
    def test_a_non_integer_amount_is_refused(self, amount: object) -> None:
        with pytest.raises(InvalidRequest, match="integers in minor units"):
            Money(amount, "EUR")  # type: ignore[arg-type]

    @pytest.mark.parametrize("currency", ["eur", "EURO", "", "E1R", 978])
    def test_a_currency_that_is_not_iso_4217_is_refused(self, currency: object) -> None:
        with pytest.raises(InvalidRequest, match="ISO 4217"):
            Money(100, currency)  # type: ignore[arg-type]

    def test_mixed_currencies_are_refused_not_converted(self) -> None:
        with pytest.raises(InvalidRequest, match="EUR and USD"):
            Money(100, "EUR") + Money(100, "USD")
        with pytest.raises(InvalidRequest):
            _ = Money(100, "EUR") < Money(100, "USD")

    def test_multiplying_by_a_float_is_refused(self) -> None:
        with pytest.raises(TypeError):
            Money(100, "EUR") * 1.5  # type: ignore[operator]

    def test_comparisons_within_a_currency(self) -> None:
        assert Money(1, "EUR") < Money(2, "EUR") <= Money(2, "EUR")
        assert Money(3, "EUR") > Money(2, "EUR") >= Money(2, "EUR")

    def test_display_uses_the_currency_exponent(self) -> None:
        assert str(Money(123456, "EUR")) == "1,234.56 EUR"
        assert str(Money(-5, "EUR")) == "-0.05 EUR"
        assert str(Money(1500, "JPY")) == "1,500 JPY"
        assert str(Money(1234, "KWD")) == "1.234 KWD"

    def test_proration_rounds_half_away_from_zero(self) -> None:
        assert Money(100, "EUR").prorate(1, 3) == Money(33, "EUR")
        assert Money(100, "EUR").prorate(1, 8) == Money(13, "EUR")
        assert Money(-100, "EUR").prorate(1, 8) == Money(-13, "EUR")
        with pytest.raises(InvalidRequest):
            Money(100, "EUR").prorate(1, 0)

    @given(
        amount=st.integers(-(10**12), 10**12),
        whole=st.integers(1, 10**7),
        data=st.data(),
    )
    def test_proration_is_within_half_a_unit_of_the_exact_value(
        self, amount: int, whole: int, data: st.DataObject
    ) -> None:
        part = data.draw(st.integers(0, whole))
        got = Money(amount, "EUR").prorate(part, whole).amount
        assert abs(2 * (got * whole - amount * part)) <= whole
