"""The one place values become JSON-ready: datetimes, enums, nested values, tuples.

Every ``to_dict()`` of the library builds its dict with these helpers, so a
datetime or an amount has one form wherever it appears:

- a datetime is a UTC string to the second, ``"2026-01-01T09:00:00Z"``
  (always 20 characters, so text order is time order);
- money is ``{"amount": <int, minor units>, "currency": "EUR"}`` (``Money.to_dict``);
- an enum is its string value, a tuple or a set a list, a nested value its own dict.

Pure: no I/O and no import of the rest of the package.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Protocol, TypeAlias

__all__ = [
    "JSON",
    "JSONDict",
    "ToDict",
    "dicts",
    "enum_value",
    "iso",
    "iso_or_none",
    "maybe",
    "scalar",
    "scalars",
]

JSON: TypeAlias = "dict[str, JSON] | list[JSON] | str | int | bool | None"
"""What ``json.dumps`` takes and ``json.loads`` gives back unchanged."""

JSONDict: TypeAlias = "dict[str, JSON]"


class ToDict(Protocol):
    def to_dict(self) -> JSONDict: ...


def iso(when: datetime) -> str:
    """``when`` in UTC, to the second (truncated): ``"2026-01-01T09:00:00Z"``.

    A naive datetime is refused, as the stores refuse it: its zone is unknown.
    """
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"naive datetime {when!r} has no zone: give an aware datetime")
    utc = when.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="seconds") + "Z"


def iso_or_none(when: datetime | None) -> str | None:
    return None if when is None else iso(when)


def enum_value(value: enum.StrEnum | None) -> str | None:
    return None if value is None else value.value


def maybe(value: ToDict | None) -> JSONDict | None:
    """A nested value's dict, or ``None`` (an amount not set, for example)."""
    return None if value is None else value.to_dict()


def dicts(values: Iterable[ToDict]) -> list[JSON]:
    """A tuple of values as a list of their dicts, in order."""
    return [value.to_dict() for value in values]


def scalar(value: object) -> str | int | bool | None:
    """A JSON scalar of exactly its JSON type: an enum gives its value (a ``StrEnum``
    is a ``str`` that ``json.dumps`` accepts but a host's ``type(x) is str`` does not)."""
    raw = value.value if isinstance(value, enum.Enum) else value
    if raw is None or isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        return str(raw)
    if isinstance(raw, int):
        return int(raw)
    raise TypeError(f"{type(value).__name__} is not a JSON scalar")


def scalars(values: Mapping[str, object]) -> JSONDict:
    """A read-only mapping of JSON scalars (an event's ``data``) as a plain dict."""
    return {str(key): scalar(value) for key, value in values.items()}
