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
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs
import sqlalchemy as sa

from ..catalog import Interval
from ..events import Event, EventType
from ..money import Money
from ..provider_values import PaymentMethod
from ..subscription import Subscription, SubscriptionStatus
from ..workspace import Member, MemberStatus, Role, Workspace

__all__ = [
    "RAW",
    "Codec",
    "Decoder",
    "codec_for",
    "decoder_for",
    "event_from",
    "event_row",
    "member_from",
    "member_row",
    "raw_columns",
    "raw_param",
    "workspace_changes",
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


_json_text = json.encoder.encode_basestring_ascii  # what ``dumps`` writes a string with


def _json_out(value: Mapping[str, Any]) -> str:
    """``json.dumps(value)``, the same text, written directly for the flat
    mappings of text and whole numbers events carry: a member change writes
    three of them, and ``dumps`` builds an encoder for each."""
    if not value:
        return "{}"
    parts = []
    for key, item in value.items():
        kind = type(item)
        if type(key) is not str or (kind is not str and kind is not int):
            return json.dumps(dict(value))
        shown = _json_text(item) if kind is str else int.__repr__(item)
        parts.append(f"{_json_text(key)}: {shown}")
    return "{" + ", ".join(parts) + "}"


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
    """The workspace's row, the columns in the table's order."""
    return {**_workspace_columns(ws, codec), **_subscription_columns(ws.subscription, codec)}


def workspace_changes(old: Workspace, new: Workspace, codec: Codec) -> dict[str, Any]:
    """The columns of ``new``'s row whose values differ from ``old``'s: a change
    leaves the subscription as it was more often than not (the same object)."""
    before, after = _workspace_columns(old, codec), _workspace_columns(new, codec)
    changed = {name: value for name, value in after.items() if before[name] != value}
    if new.subscription is not old.subscription:
        before = _subscription_columns(old.subscription, codec)
        after = _subscription_columns(new.subscription, codec)
        changed.update((name, value) for name, value in after.items() if before[name] != value)
    return changed


def _workspace_columns(ws: Workspace, codec: Codec) -> dict[str, Any]:
    dt = codec.datetime_out
    return {
        "id": ws.id,
        "name": ws.name,
        "owner": ws.owner,
        "created_at": dt(ws.created_at),
        "member_seq": ws.member_seq,
        "version": ws.version,
        "due_at": dt(ws.due_at),
    }


def _subscription_columns(sub: Subscription, codec: Codec) -> dict[str, Any]:
    dt = codec.datetime_out
    card = sub.payment_method
    return {
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
        "pm_brand": card.brand if card else None,
        "pm_last4": card.last4 if card else None,
        "pm_exp_month": card.exp_month if card else None,
        "pm_exp_year": card.exp_year if card else None,
    }


def workspace_from(row: Sequence[Any], codec: Codec) -> Workspace:
    """A workspace from its row, the columns in the table's order (``raw_columns``)."""
    (id_, name, owner, created_at, member_seq, version, due_at, plan, status, seats, interval,
     pending_seats, trial_ends_at, period_start, period_end, anchor, cancel_at_period_end,
     past_due_since, unit_amount, unit_currency, customer_ref, subscription_ref,
     pm_brand, pm_last4, pm_exp_month, pm_exp_year) = row  # fmt: skip
    dt = codec.datetime_in
    sub = Subscription(
        plan=plan,
        status=SubscriptionStatus(status),
        seats=seats,
        interval=Interval(interval) if interval else None,
        pending_seats=pending_seats,
        trial_ends_at=dt(trial_ends_at),
        period_start=dt(period_start),
        period_end=dt(period_end),
        anchor=dt(anchor),
        cancel_at_period_end=bool(cancel_at_period_end),
        past_due_since=dt(past_due_since),
        unit_amount=Money(unit_amount, unit_currency) if unit_amount is not None else None,
        customer_ref=customer_ref,
        subscription_ref=subscription_ref,
        payment_method=PaymentMethod(pm_brand, pm_last4, pm_exp_month, pm_exp_year)
        if pm_brand is not None
        else None,
    )
    created = dt(created_at)
    assert created is not None
    return Workspace(
        id=id_,
        name=name,
        owner=owner,
        created_at=created,
        subscription=sub,
        member_seq=member_seq,
        version=version,
        due_at=dt(due_at),
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


def member_columns_out(codec: Codec) -> tuple[Callable[[Any], Any], ...]:
    """Each column's conversion of a member's field, in the table's order: what
    ``member_row`` does, one column at a time."""
    return _MEMBER_OUT[codec]


def _same(value: Any) -> Any:
    return value


def _value(member: Any) -> Any:
    return member.value


def member_from(row: Sequence[Any], codec: Codec) -> Member:
    """A member from its row, the columns in the table's order (``raw_columns``)."""
    workspace_id, user, role, status, added_at, active_since, seq, deactivated_at = row
    dt = codec.datetime_in
    added, since = dt(added_at), dt(active_since)
    assert added is not None
    assert since is not None
    return Member(
        workspace_id=workspace_id,
        user=user,
        role=Role(role),
        status=MemberStatus(status),
        added_at=added,
        active_since=since,
        seq=seq,
        deactivated_at=dt(deactivated_at),
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


def event_from(row: Sequence[Any], codec: Codec) -> Event:
    """An event from its row, the columns in the table's order (``raw_columns``)."""
    cursor, type_, workspace_id, at, actor, subject, before, after, data = row
    when = codec.datetime_in(at)
    assert when is not None
    return Event(
        type=EventType(type_),
        workspace_id=workspace_id,
        at=when,
        actor=actor,
        subject=subject,
        before=codec.json_in(before),
        after=codec.json_in(after),
        data=codec.json_in(data),
        cursor=cursor,
    )


class Decoder:
    """One dialect's rows to values, each distinct row decoded once.

    A request reads the same workspace and members again and again; decoding a
    workspace row (its datetimes, enums and two objects) cost more than the
    statement that read it. Values are immutable, so the value decoded from a
    row serves every later read of that same row: the key is the whole raw row,
    so a changed row is a new key and a stale value cannot be returned. The
    memory is bounded: the oldest rows are forgotten first. The renewal sweep's
    batches, which read each row once, decode without it.
    """

    def __init__(self, codec: Codec, *, workspaces: int = 512, members: int = 4096) -> None:
        self.codec = codec
        self._workspaces: dict[tuple[Any, ...], Workspace] = {}
        self._members: dict[tuple[Any, ...], Member] = {}
        self._limits = (workspaces, members)
        self._lock = threading.Lock()

    def workspace(self, row: Sequence[Any]) -> Workspace:
        key = row if type(row) is tuple else tuple(row)
        found = self._workspaces.get(key)
        if found is None:
            found = workspace_from(key, self.codec)
            self._remember(self._workspaces, self._limits[0], key, found)
        return found

    def members(self, rows: Iterable[Sequence[Any]]) -> list[Member]:
        seen = self._members
        found: list[Member] = []
        for row in rows:
            key = row if type(row) is tuple else tuple(row)
            member = seen.get(key)
            if member is None:
                member = member_from(key, self.codec)
                self._remember(seen, self._limits[1], key, member)
            found.append(member)
        return found

    def remember(self, row: Sequence[Any], value: Workspace | Member) -> None:
        """``value`` as written in ``row`` (the values of ``workspace_row`` or
        ``member_row``, in the table's order): the next read of that row finds it
        decoded. The driver gives back what was written (a stored ``False`` reads
        as ``0``, which is an equal key)."""
        key = row if type(row) is tuple else tuple(row)
        if isinstance(value, Workspace):
            self._remember(self._workspaces, self._limits[0], key, value)
        else:
            self._remember(self._members, self._limits[1], key, value)

    def _remember(
        self, memo: dict[tuple[Any, ...], Any], limit: int, key: tuple[Any, ...], value: Any
    ) -> None:
        with self._lock:  # readers never wait: only the eviction needs it
            if len(memo) >= limit:
                del memo[next(iter(memo))]
            memo[key] = value


_DECODERS = {dialect: Decoder(codec) for dialect, codec in _CODECS.items()}
_MEMBER_OUT = {
    codec: (_same, _same, _value, _value, codec.datetime_out, codec.datetime_out, _same,
            codec.datetime_out)
    for codec in _CODECS.values()
}  # fmt: skip


def decoder_for(dialect: str) -> Decoder:
    return _DECODERS[dialect]
