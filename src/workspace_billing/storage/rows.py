"""Rows of the SQL store: the library's values to driver parameters and back.

SQLAlchemy's column types convert values on every row of every statement. On
the renewal sweep's batches that per-row work cost more than the database's
own (profiled: over half of a SQLite batch went to parameter and result
processing), so the store reads columns raw, binds raw parameters and converts
here, once per value, with its dialect's :class:`Codec`. What is stored is
exactly what the column types write (the same text for SQLite's datetimes, the
same JSON), so a host reading the tables through ``metadata``, or migrating
them with Alembic, sees no difference.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs
import sqlalchemy as sa

from ..catalog import Interval
from ..events import Event, EventType
from ..money import Money
from ..subscription import Subscription, SubscriptionStatus
from ..workspace import Member, MemberStatus, Role, Workspace

__all__ = [
    "RAW",
    "Codec",
    "codec_for",
    "event_from",
    "event_row",
    "member_from",
    "member_row",
    "raw_columns",
    "raw_param",
    "workspace_from",
    "workspace_row",
]


class _Unprocessed(sa.types.UserDefinedType[Any]):
    """A type without processors: the value goes to and comes from the driver as is.

    (``NullType`` would not do: SQLAlchemy gives an untyped parameter the type of
    the column it meets, processors included.)"""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        raise NotImplementedError("only for reading and binding, never for a column")


RAW = _Unprocessed()


def raw_columns(table: sa.Table) -> list[sa.Label[Any]]:
    """Every column of ``table``, under its own name, read without type processing."""
    return [sa.type_coerce(column, RAW).label(column.name) for column in table.columns]


def raw_param(name: str) -> sa.BindParameter[Any]:
    return sa.bindparam(name, type_=RAW)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetimes are not stored: give a timezone")
    return value


def _sqlite_datetime_out(value: datetime | None) -> str | None:
    # SQLAlchemy's SQLite DATETIME text: naive UTC, microseconds always written,
    # so that text order is time order in the store's comparisons.
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = _aware(value).astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]  # without the "+00:00"


def _sqlite_datetime_in(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)  # also text another writer left with an offset
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _postgres_datetime_out(value: datetime | None) -> datetime | None:
    return None if value is None else _aware(value)


def _postgres_datetime_in(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _json_out(value: Mapping[str, Any]) -> str:
    return json.dumps(dict(value)) if value else "{}"


def _json_in(value: str) -> dict[str, Any]:
    loaded = json.loads(value)
    assert isinstance(loaded, dict)
    return loaded


def _parsed(value: dict[str, Any]) -> dict[str, Any]:
    return value


@attrs.frozen
class Codec:
    """How one dialect's driver takes and gives back what the column types convert."""

    datetime_out: Callable[[datetime | None], Any]
    datetime_in: Callable[[Any], datetime | None]
    json_out: Callable[[Mapping[str, Any]], Any]
    json_in: Callable[[Any], dict[str, Any]]
    """psycopg parses JSON columns itself; sqlite3 returns their text."""


_CODECS = {
    "sqlite": Codec(_sqlite_datetime_out, _sqlite_datetime_in, _json_out, _json_in),
    # PostgreSQL's batches go as one JSON document: event payloads nest in it as is.
    "postgresql": Codec(_postgres_datetime_out, _postgres_datetime_in, dict, _parsed),
}


def codec_for(dialect: str) -> Codec:
    return _CODECS[dialect]


def workspace_row(ws: Workspace, codec: Codec) -> dict[str, Any]:
    sub = ws.subscription
    dt = codec.datetime_out
    return {
        "id": ws.id,
        "name": ws.name,
        "owner": ws.owner,
        "created_at": dt(ws.created_at),
        "member_seq": ws.member_seq,
        "version": ws.version,
        "due_at": dt(ws.due_at),
        "plan": sub.plan,
        "status": sub.status.value,
        "seats": sub.seats,
        "interval": sub.interval.value if sub.interval else None,
        "pending_seats": sub.pending_seats,
        "trial_ends_at": dt(sub.trial_ends_at),
        "period_start": dt(sub.period_start),
        "period_end": dt(sub.period_end),
        "anchor": dt(sub.anchor),
        "cancel_at_period_end": sub.cancel_at_period_end,
        "past_due_since": dt(sub.past_due_since),
        "unit_amount": sub.unit_amount.amount if sub.unit_amount else None,
        "unit_currency": sub.unit_amount.currency if sub.unit_amount else None,
        "customer_ref": sub.customer_ref,
        "subscription_ref": sub.subscription_ref,
    }


def workspace_from(row: sa.RowMapping, codec: Codec) -> Workspace:
    dt = codec.datetime_in
    amount = row["unit_amount"]
    sub = Subscription(
        plan=row["plan"],
        status=SubscriptionStatus(row["status"]),
        seats=row["seats"],
        interval=Interval(row["interval"]) if row["interval"] else None,
        pending_seats=row["pending_seats"],
        trial_ends_at=dt(row["trial_ends_at"]),
        period_start=dt(row["period_start"]),
        period_end=dt(row["period_end"]),
        anchor=dt(row["anchor"]),
        cancel_at_period_end=bool(row["cancel_at_period_end"]),
        past_due_since=dt(row["past_due_since"]),
        unit_amount=Money(amount, row["unit_currency"]) if amount is not None else None,
        customer_ref=row["customer_ref"],
        subscription_ref=row["subscription_ref"],
    )
    created_at = dt(row["created_at"])
    assert created_at is not None
    return Workspace(
        id=row["id"],
        name=row["name"],
        owner=row["owner"],
        created_at=created_at,
        subscription=sub,
        member_seq=row["member_seq"],
        version=row["version"],
        due_at=dt(row["due_at"]),
    )


def member_row(m: Member, codec: Codec) -> dict[str, Any]:
    dt = codec.datetime_out
    return {
        "workspace_id": m.workspace_id,
        "user": m.user,
        "role": m.role.value,
        "status": m.status.value,
        "added_at": dt(m.added_at),
        "active_since": dt(m.active_since),
        "seq": m.seq,
        "deactivated_at": dt(m.deactivated_at),
    }


def member_from(row: sa.RowMapping, codec: Codec) -> Member:
    dt = codec.datetime_in
    added_at, active_since = dt(row["added_at"]), dt(row["active_since"])
    assert added_at is not None
    assert active_since is not None
    return Member(
        workspace_id=row["workspace_id"],
        user=row["user"],
        role=Role(row["role"]),
        status=MemberStatus(row["status"]),
        added_at=added_at,
        active_since=active_since,
        seq=row["seq"],
        deactivated_at=dt(row["deactivated_at"]),
    )


def event_row(e: Event, codec: Codec) -> dict[str, Any]:
    return {
        "type": e.type.value,
        "workspace_id": e.workspace_id,
        "at": codec.datetime_out(e.at),
        "actor": e.actor,
        "subject": e.subject,
        "before": codec.json_out(e.before),
        "after": codec.json_out(e.after),
        "data": codec.json_out(e.data),
    }


def event_from(row: sa.RowMapping, codec: Codec) -> Event:
    at = codec.datetime_in(row["at"])
    assert at is not None
    return Event(
        type=EventType(row["type"]),
        workspace_id=row["workspace_id"],
        at=at,
        actor=row["actor"],
        subject=row["subject"],
        before=codec.json_in(row["before"]),
        after=codec.json_in(row["after"]),
        data=codec.json_in(row["data"]),
        cursor=row["cursor"],
    )
