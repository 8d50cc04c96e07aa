"""Exact money: integer minor units with an ISO 4217 currency (rule R15).

No float ever holds an amount. Arithmetic across currencies is refused rather
than converted, because a silent conversion is a pricing bug.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from .errors import InvalidRequest
from .jsonable import JSONDict

__all__ = ["Money"]

_CURRENCY = re.compile(r"^[A-Z]{3}$")
# ISO 4217 exponents that differ from the usual 2; used for display only.
_EXPONENTS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}  # fmt: skip


MAX_AMOUNT = 2**63 - 1
"""Every store keeps amounts as 64-bit integers."""


def _check_amount(_: object, __: attrs.Attribute[int], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(
            f"money amounts are integers in minor units, not {value!r}", code="invalid_money"
        )
    if not -MAX_AMOUNT <= value <= MAX_AMOUNT:
        raise InvalidRequest(
            "money amounts fit in 64 bits (at most 9,223,372,036,854,775,807)", code="invalid_money"
        )


def _check_currency(_: object, __: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not _CURRENCY.match(value):
        raise InvalidRequest(
            f"currency must be an ISO 4217 code such as 'EUR', not {value!r}", code="invalid_money"
        )


@attrs.frozen(order=False)
class Money:
    """An amount in the currency's minor unit (cents for EUR): ``Money(1200, "EUR")``."""

    amount: int = attrs.field(validator=_check_amount)
    currency: str = attrs.field(validator=_check_currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    def to_dict(self) -> JSONDict:
        """``{"amount": 1200, "currency": "EUR"}``: minor units, never a float."""
        return {"amount": self.amount, "currency": self.currency}

    def _same(self, other: Any) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise InvalidRequest(
                f"cannot combine {self.currency} and {other.currency} amounts",
                code="currency_mismatch",
            )
        return other

    def __add__(self, other: Money) -> Money:
        return Money(self.amount + self._same(other).amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(self.amount - self._same(other).amount, self.currency)

    def __mul__(self, factor: int) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, int):
            raise TypeError("money is multiplied by whole numbers only")
        return Money(self.amount * factor, self.currency)

    __rmul__ = __mul__

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        return self.amount < self._same(other).amount

    def __le__(self, other: Money) -> bool:
        return self.amount <= self._same(other).amount

    def __gt__(self, other: Money) -> bool:
        return self.amount > self._same(other).amount

    def __ge__(self, other: Money) -> bool:
        return self.amount >= self._same(other).amount

    def prorate(self, part: int, whole: int) -> Money:
        """``self * part / whole``, rounded half away from zero, in integers only."""
        if whole <= 0 or part < 0:
            raise InvalidRequest("proration needs 0 <= part and 0 < whole")
        numerator = abs(self.amount) * part
        quotient, remainder = divmod(numerator, whole)
        if 2 * remainder >= whole:
            quotient += 1
        return Money(quotient if self.amount >= 0 else -quotient, self.currency)

    def __str__(self) -> str:
        exponent = _EXPONENTS.get(self.currency, 2)
        sign = "-" if self.amount < 0 else ""
        units, minor = divmod(abs(self.amount), 10**exponent)
        if exponent == 0:
            return f"{sign}{units:,} {self.currency}"
        return f"{sign}{units:,}.{minor:0{exponent}d} {self.currency}"
