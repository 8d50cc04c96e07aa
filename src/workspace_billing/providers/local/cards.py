"""The test cards the local provider's pages take, and what each one does.

Numbers are Stripe's test cards, so a developer types what they already know.
A card is read from what the customer typed (number, expiry, security code)
and never kept: the provider keeps its brand, last four digits, expiry and
behaviour, as a real provider keeps a payment method.
"""

from __future__ import annotations

import enum
import re
from datetime import datetime

import attrs

from ...errors import InvalidRequest
from ...provider_values import PaymentMethod

__all__ = ["TEST_CARDS", "CardBehaviour", "TestCard", "read_card"]


class CardBehaviour(enum.StrEnum):
    """What a card does when it is charged."""

    SUCCEEDS = "succeeds"
    DECLINED = "declined"
    """Refused wherever it is used (never kept on file)."""
    AUTHENTICATE_ONCE = "authenticate_once"
    """The bank asks the customer to authenticate on the payment page; kept on
    file, it then pays off session without asking again."""
    ALWAYS_AUTHENTICATE = "always_authenticate"
    """Every payment needs the customer, off session too (a renewal goes past
    due with the page to authenticate on)."""
    DECLINES_LATER = "declines_later"
    """Kept on file by the portal, but every charge on it is declined."""


TEST_CARDS: dict[str, CardBehaviour] = {
    "4242424242424242": CardBehaviour.SUCCEEDS,
    "4000000000000002": CardBehaviour.DECLINED,
    "4000002500003155": CardBehaviour.AUTHENTICATE_ONCE,
    "4000002760003184": CardBehaviour.ALWAYS_AUTHENTICATE,
    "4000000000000341": CardBehaviour.DECLINES_LATER,
}
"""The numbers with a behaviour of their own; any other valid number succeeds."""

_BRANDS = (("4", "visa"), ("5", "mastercard"), ("2", "mastercard"), ("34", "amex"), ("37", "amex"))
_EXPIRY = re.compile(r"^\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*$")


@attrs.frozen
class TestCard:
    """A card the customer typed: what is kept of it, and how it behaves."""

    __test__ = False  # not a pytest test class, whatever its name

    method: PaymentMethod
    behaviour: CardBehaviour


def read_card(number: str, expiry: str, cvc: str, now: datetime) -> TestCard:
    """The card typed on a page; ``InvalidRequest`` (code ``invalid_text``, with
    the ``field`` at fault: ``number``, ``expiry`` or ``cvc``) when it is not one."""
    digits = re.sub(r"[\s-]", "", number)
    if not (digits.isascii() and digits.isdigit() and 12 <= len(digits) <= 19 and _luhn(digits)):
        raise InvalidRequest("the card number is not valid", code="invalid_text", field="number")
    matched = _EXPIRY.match(expiry)
    month, year = (int(matched[1]), int(matched[2])) if matched else (0, 0)
    year += 2000 if year < 100 else 0
    if not 1 <= month <= 12 or (year, month) < (now.year, now.month):
        raise InvalidRequest("the expiry date is not valid", code="invalid_text", field="expiry")
    if not (cvc.strip().isascii() and cvc.strip().isdigit() and len(cvc.strip()) in (3, 4)):
        raise InvalidRequest("the security code is not valid", code="invalid_text", field="cvc")
    brand = next((name for prefix, name in _BRANDS if digits.startswith(prefix)), "card")
    method = PaymentMethod(brand=brand, last4=digits[-4:], exp_month=month, exp_year=year)
    return TestCard(method, TEST_CARDS.get(digits, CardBehaviour.SUCCEEDS))


def _luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0
