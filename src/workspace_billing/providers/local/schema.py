"""The local provider's tables, as SQLAlchemy Core ``MetaData`` of their own.

They live in the same database as the store's, prefixed ``wb_local_`` so they
never meet the store's ``wb_`` tables nor the host's. They are not part of the
store's schema version: a host's Alembic may pick up ``metadata`` for a
development database, or ``create_schema`` creates what is missing.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ...storage.schema import UTCDateTime

__all__ = ["create_schema", "metadata"]

metadata = sa.MetaData()

_ID = 64
_KEY = 255

state = sa.Table(
    "wb_local_state",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("declines", sa.Integer, nullable=False),
    sa.Column("actions", sa.Integer, nullable=False),
    comment="One row: the test levers, and the row every write locks first.",
)

customers = sa.Table(
    "wb_local_customers",
    metadata,
    sa.Column("ref", sa.String(_ID), primary_key=True),
    sa.Column("workspace_id", sa.String(_KEY), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("owner", sa.String(_KEY), nullable=False),
    sa.Column("email", sa.Text),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("card_brand", sa.String(16)),
    sa.Column("card_last4", sa.String(4)),
    sa.Column("card_exp_month", sa.Integer),
    sa.Column("card_exp_year", sa.Integer),
    sa.Column("card_behaviour", sa.String(32)),
)

checkouts = sa.Table(
    "wb_local_checkouts",
    metadata,
    sa.Column("id", sa.String(_ID), primary_key=True),
    sa.Column("customer_ref", sa.String(_ID), nullable=False),
    sa.Column("workspace_id", sa.String(_KEY), nullable=False),
    sa.Column("plan", sa.String(_ID), nullable=False),
    sa.Column("interval", sa.String(8), nullable=False),
    sa.Column("seats", sa.Integer, nullable=False),
    sa.Column("unit_amount", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("success_url", sa.Text, nullable=False),
    sa.Column("cancel_url", sa.Text, nullable=False),
    sa.Column("allow_promotion_codes", sa.Boolean),
    sa.Column("automatic_tax", sa.Boolean),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("subscription_ref", sa.String(_ID)),
    sa.Column("waiting_card", sa.Text, comment="The card whose bank asked to authenticate, JSON"),
)

subscriptions = sa.Table(
    "wb_local_subscriptions",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ref", sa.String(_ID), nullable=False, unique=True),
    sa.Column("customer_ref", sa.String(_ID), nullable=False, index=True),
    sa.Column("workspace_id", sa.String(_KEY), nullable=False),
    sa.Column("plan", sa.String(_ID), nullable=False),
    sa.Column("interval", sa.String(8), nullable=False),
    sa.Column("seats", sa.Integer, nullable=False),
    sa.Column("unit_amount", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("anchor", UTCDateTime(), nullable=False),
    sa.Column("period_index", sa.Integer, nullable=False),
    sa.Column("period_end", UTCDateTime(), nullable=False, index=True),
    sa.Column("pending_seats", sa.Integer),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("cancel_at_period_end", sa.Boolean, nullable=False),
    sa.Column("action_url", sa.Text),
)

invoices = sa.Table(
    "wb_local_invoices",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(_ID), nullable=False, unique=True),
    sa.Column("number", sa.String(32), nullable=False),
    sa.Column("customer_ref", sa.String(_ID), nullable=False, index=True),
    sa.Column("subscription_ref", sa.String(_ID), nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("total", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("period_start", UTCDateTime(), nullable=False),
    sa.Column("period_end", UTCDateTime(), nullable=False),
)

actions = sa.Table(
    "wb_local_actions",
    metadata,
    sa.Column("id", sa.String(_ID), primary_key=True),
    sa.Column("invoice_id", sa.String(_ID), nullable=False),
    sa.Column("subscription_ref", sa.String(_ID), nullable=False),
    sa.Column("grant", sa.Text, nullable=False, comment="What paying it grants, JSON"),
    sa.Column("idempotency_key", sa.String(_KEY)),
    sa.Column("return_url", sa.Text),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("done_at", UTCDateTime()),
)

idempotency = sa.Table(
    "wb_local_idempotency",
    metadata,
    sa.Column("key", sa.String(_KEY), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("result", sa.Text, nullable=False, comment="The first answer, JSON"),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

portal_sessions = sa.Table(
    "wb_local_portal_sessions",
    metadata,
    sa.Column("id", sa.String(_ID), primary_key=True),
    sa.Column("customer_ref", sa.String(_ID), nullable=False),
    sa.Column("return_url", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

webhooks = sa.Table(
    "wb_local_webhooks",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(_ID), nullable=False, unique=True),
    sa.Column("kind", sa.String(_ID), nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_attempt_at", UTCDateTime()),
    sa.Column("last_error", sa.Text),
    sa.Column("delivered_at", UTCDateTime(), index=True),
)


def create_schema(bind: Engine | Connection) -> None:
    """Create the tables that are missing and the levers' row; leaves data alone.

    On a ``Connection`` the caller's transaction holds the change (commit it).
    """
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            create_schema(conn)
        return
    metadata.create_all(bind)
    if bind.execute(sa.select(state.c.id).where(state.c.id == 1)).first() is None:
        bind.execute(state.insert().values(id=1, declines=0, actions=0))
