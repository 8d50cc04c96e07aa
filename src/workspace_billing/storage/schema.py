"""The SQL schema, as SQLAlchemy Core ``MetaData`` a host's Alembic can pick up.

Every table is prefixed ``wb_`` so the library's tables sit beside a host's
own. ``upgrade(engine)`` creates or migrates the schema for hosts that do not
run Alembic, and records the version it reached in ``wb_schema_version``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect, Engine

from ..errors import StoreError

__all__ = ["SCHEMA_VERSION", "metadata", "schema_version", "upgrade"]

SCHEMA_VERSION = 3
"""The schema this release reads and writes.

1. The first schema.
2. ``wb_workspaces_customer_ref`` and ``wb_members_user``: workspaces found by
   their provider customer, a user's memberships found at once.
3. ``wb_invitations`` (pending invitations, each holding a seat) and
   ``wb_notices`` (the boundary whose advance notice a workspace was given, so
   ``run_renewals`` records each notice once); the card on file in four
   nullable ``wb_workspaces`` columns (``pm_brand``, ``pm_last4``,
   ``pm_exp_month``, ``pm_exp_year``), NULL in existing rows until the next
   view of their subscription is applied.
"""


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone: stored as UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: give a timezone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()

workspaces = sa.Table(
    "wb_workspaces",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("owner", sa.String(255), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("member_seq", sa.Integer, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("due_at", UTCDateTime()),
    sa.Column("plan", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("seats", sa.Integer, nullable=False),
    sa.Column("interval", sa.String(8)),
    sa.Column("pending_seats", sa.Integer),
    sa.Column("trial_ends_at", UTCDateTime()),
    sa.Column("period_start", UTCDateTime()),
    sa.Column("period_end", UTCDateTime()),
    sa.Column("anchor", UTCDateTime()),
    sa.Column("cancel_at_period_end", sa.Boolean, nullable=False),
    sa.Column("past_due_since", UTCDateTime()),
    sa.Column("unit_amount", sa.BigInteger),
    sa.Column("unit_currency", sa.String(3)),
    sa.Column("customer_ref", sa.String(255)),
    sa.Column("subscription_ref", sa.String(255)),
    # The card on file, mirrored from the provider (``Subscription.payment_method``):
    # all four set, or all four NULL.
    sa.Column("pm_brand", sa.String(64)),
    sa.Column("pm_last4", sa.String(16)),
    sa.Column("pm_exp_month", sa.Integer),
    sa.Column("pm_exp_year", sa.Integer),
    sa.Index("wb_workspaces_due", "due_at", "id"),
    sa.Index("wb_workspaces_subscription_ref", "subscription_ref"),
    sa.Index("wb_workspaces_owner", "owner"),
    sa.Index("wb_workspaces_customer_ref", "customer_ref"),
)

members = sa.Table(
    "wb_members",
    metadata,
    sa.Column(
        "workspace_id",
        sa.String(64),
        sa.ForeignKey("wb_workspaces.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("user", sa.String(255), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("added_at", UTCDateTime(), nullable=False),
    sa.Column("active_since", UTCDateTime(), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("deactivated_at", UTCDateTime()),
    sa.Index("wb_members_user", "user"),
)

invitations = sa.Table(
    "wb_invitations",
    metadata,
    # Only pending invitations are rows: accepting, revoking or expiring one deletes
    # it in the transaction that records its event, which is its history.
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column(
        "workspace_id",
        sa.String(64),
        sa.ForeignKey("wb_workspaces.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("invited_by", sa.String(255), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    # From the workspace's member sequence: "newest first" (R11) without ties.
    sa.Column("seq", sa.Integer, nullable=False),
    sa.UniqueConstraint("workspace_id", "email", name="wb_invitations_email"),
    sa.Index("wb_invitations_expires", "expires_at", "id"),
)

notices = sa.Table(
    "wb_notices",
    metadata,
    # One row per workspace: the ``due_at`` of the last boundary announced. A new
    # boundary (a later ``due_at``) is announced again; the same one never is.
    sa.Column(
        "workspace_id",
        sa.String(64),
        sa.ForeignKey("wb_workspaces.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("due_at", UTCDateTime(), nullable=False),
)

trials = sa.Table(
    "wb_trials",
    metadata,
    sa.Column("owner", sa.String(255), primary_key=True),
    sa.Column("workspace_id", sa.String(64), nullable=False),
)

webhook_events = sa.Table(
    "wb_webhook_events",
    metadata,
    sa.Column("event_id", sa.String(255), primary_key=True),
)

events = sa.Table(
    "wb_events",
    metadata,
    # SQLite numbers rows itself; on PostgreSQL the store sets the cursor (see SQLStore).
    sa.Column(
        "cursor",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement="auto",
    ),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("workspace_id", sa.String(64), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("actor", sa.String(255)),
    sa.Column("subject", sa.String(255)),
    sa.Column("before", sa.JSON, nullable=False),
    sa.Column("after", sa.JSON, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Index("wb_events_workspace", "workspace_id", "cursor"),
)

schema_versions = sa.Table(
    "wb_schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("applied_at", UTCDateTime(), nullable=False),
)


def schema_version(connection: Connection) -> int:
    """The version recorded in the database; 0 when the schema is not there."""
    translate = connection.get_execution_options().get("schema_translate_map") or {}
    where = translate.get(schema_versions.schema)
    if not sa.inspect(connection).has_table(schema_versions.name, schema=where):
        return 0
    found = connection.execute(sa.select(sa.func.max(schema_versions.c.version))).scalar()
    return int(found or 0)


def upgrade(engine: Engine | Connection, *, now: datetime | None = None) -> int:
    """Create or migrate the schema to ``SCHEMA_VERSION``; returns the version reached.

    Running it again is a no-op. Each future version adds one migration step
    here, applied in order inside one transaction.
    """
    applied = now or datetime.now(UTC)
    if isinstance(engine, Connection):
        return _upgrade(engine, applied)
    with engine.begin() as connection:
        return _upgrade(connection, applied)


def _upgrade(connection: Connection, applied: datetime) -> int:
    current = schema_version(connection)
    if current > SCHEMA_VERSION:
        raise StoreError(
            f"the database schema is version {current}, newer than this release "
            f"({SCHEMA_VERSION}): upgrade workspace-billing"
        )
    if current == SCHEMA_VERSION:
        return current
    if current == 0:
        metadata.create_all(connection)
        steps = [SCHEMA_VERSION]
    else:
        steps = list(range(current + 1, SCHEMA_VERSION + 1))
        for version in steps:
            _MIGRATIONS[version](connection)
    for version in steps:
        connection.execute(sa.insert(schema_versions).values(version=version, applied_at=applied))
    return SCHEMA_VERSION


def _steps(*steps: Callable[[Connection], None]) -> Callable[[Connection], None]:
    def run(connection: Connection) -> None:
        for step in steps:
            step(connection)

    return run


def _index(name: str) -> Callable[[Connection], None]:
    """A step that creates one index of ``metadata`` on an existing table."""

    def step(connection: Connection) -> None:
        for table in metadata.sorted_tables:
            for index in table.indexes:
                if index.name == name:
                    index.create(connection)
                    return
        raise AssertionError(f"no index {name!r} in the metadata")  # pragma: no cover

    return step


def _table(table: sa.Table) -> Callable[[Connection], None]:
    """A step that creates one table of ``metadata``, its indexes and constraints."""

    def step(connection: Connection) -> None:
        table.create(connection)

    return step


def _column(table: sa.Table, name: str) -> Callable[[Connection], None]:
    """A step that adds one nullable column of ``metadata`` to an existing table.

    SQLAlchemy Core has no ADD COLUMN construct: the statement is written here,
    the column's type compiled for the connection's dialect, the names quoted,
    and the table found where the connection's ``schema_translate_map`` puts it
    (as ``schema_version`` looks for it). Existing rows get NULL.
    """
    column = table.c[name]
    assert column.nullable, f"{table.name}.{name}: existing rows need a default"

    def step(connection: Connection) -> None:
        dialect = connection.dialect
        quote = dialect.identifier_preparer
        translate = connection.get_execution_options().get("schema_translate_map") or {}
        schema = translate.get(table.schema, table.schema)
        where = quote.quote(table.name)
        if schema is not None:
            where = f"{quote.quote_schema(schema)}.{where}"
        kind = column.type.compile(dialect=dialect)
        connection.exec_driver_sql(f"ALTER TABLE {where} ADD COLUMN {quote.quote(name)} {kind}")

    return step


_CARD_COLUMNS = ("pm_brand", "pm_last4", "pm_exp_month", "pm_exp_year")
"""The card on file's columns of ``wb_workspaces``, added to existing rows by version 3."""

_MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    2: _steps(_index("wb_workspaces_customer_ref"), _index("wb_members_user")),
    3: _steps(
        _table(invitations),
        _table(notices),
        *(_column(workspaces, name) for name in _CARD_COLUMNS),
    ),
}
"""How to move an existing schema from the version before to each version."""
