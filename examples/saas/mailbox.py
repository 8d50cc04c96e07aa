"""The outbox reader: the library's events become the emails a real app would send.

A real host reads ``billing.events(after=cursor)`` in a worker and hands each
email to its mail service, keeping the cursor so each event is sent once; here
the "sent" emails land in a table the mailbox page shows. The cursor and the
emails are written in one transaction, so a crash re-sends nothing.
"""

from __future__ import annotations

import threading

import attrs
import sqlalchemy as sa

from workspace_billing import Billing, Event, EventType

metadata = sa.MetaData()

mails = sa.Table(
    "saas_mails",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("cursor", sa.BigInteger, nullable=False, unique=True),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("to", sa.String(320), nullable=False),
    sa.Column("subject", sa.String(300), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
)

outbox_cursor = sa.Table(
    "saas_outbox_cursor",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("cursor", sa.BigInteger, nullable=False),
)

SALES = "sales@acme.example"


@attrs.frozen
class Mail:
    at: str
    to: str
    subject: str
    body: str


def mail_for(event: Event, billing: Billing, public_url: str) -> Mail | None:
    """The email an event calls for, or None. Addresses are the users' names at a
    fake domain: the example has no real accounts."""
    ws = event.workspace_id
    data = event.data
    at = event.at.isoformat(timespec="seconds")

    def owner() -> str:  # read only for the emails that go to the owner
        return f"{billing.workspace(ws).owner}@acme.example"

    kind = event.type
    if kind is EventType.SALES_CONTACTED:
        return Mail(
            at,
            SALES,
            f"Enterprise request from workspace {ws}",
            f"{event.actor} asks: {data.get('message', '')}",
        )
    if kind is EventType.TRIAL_ENDING:
        return Mail(
            at,
            owner(),
            "Your trial ends soon",
            f"The trial of {ws} ends at {data.get('at')}. Upgrade to keep its features.",
        )
    if kind is EventType.RENEWAL_UPCOMING:
        going = data.get("deactivate") or "nobody"
        return Mail(
            at,
            owner(),
            "Your subscription renews soon",
            f"{ws} renews at {data.get('at')} with {data.get('seats')} licences; "
            f"deactivated then: {going}.",
        )
    if kind is EventType.MEMBER_DEACTIVATED:
        return Mail(
            at,
            f"{event.subject}@acme.example",
            "Your access was deactivated",
            f"The licences of {ws} no longer cover your seat.",
        )
    if kind is EventType.INVITATION_CREATED:
        # The event never holds the invitation's id (the secret that lets one join):
        # the reader, trusted, finds it among the pending invitations.
        pending = [i for i in billing.invitations(ws) if i.email == event.subject]
        if not pending:
            return None  # accepted, revoked or expired before the email went out
        link = f"{public_url}/invitations/{pending[0].id}"
        return Mail(at, str(event.subject), "You are invited", f"Join {ws}: {link}")
    if kind in (EventType.PAYMENT_FAILED, EventType.PAYMENT_ACTION_REQUIRED):
        return Mail(
            at,
            owner(),
            "Your payment needs attention",
            f"{kind.value} for {ws}: {data.get('url') or 'update your card'}",
        )
    if kind is EventType.SUBSCRIPTION_ENDED:
        return Mail(at, owner(), "Your subscription ended", f"{ws} is back on the free plan.")
    return None


class Outbox:
    """Sends (stores) the emails for every event after the cursor; safe to call
    from several threads (one pump at a time)."""

    def __init__(self, engine: sa.Engine, billing: Billing, public_url: str) -> None:
        self._engine = engine
        self._billing = billing
        self._public_url = public_url
        self._lock = threading.Lock()
        metadata.create_all(engine)

    def pump(self) -> int:
        """Send what happened since the last call; returns how many emails."""
        sent = 0
        with self._lock:
            while True:
                with self._engine.begin() as conn:
                    cursor = conn.execute(sa.select(outbox_cursor.c.cursor)).scalar() or 0
                    events = self._billing.events(after=cursor, limit=200)
                    if not events:
                        return sent
                    rows = [
                        {"cursor": e.cursor, **attrs.asdict(m)}
                        for e in events
                        if (m := mail_for(e, self._billing, self._public_url)) is not None
                    ]
                    if rows:
                        conn.execute(sa.insert(mails), rows)
                    last = events[-1].cursor
                    if cursor:
                        conn.execute(sa.update(outbox_cursor).values(cursor=last))
                    else:
                        conn.execute(sa.insert(outbox_cursor).values(id=1, cursor=last))
                    sent += len(rows)

    def mails(self) -> list[Mail]:
        """Newest first."""
        with self._engine.connect() as conn:
            found = conn.execute(
                sa.select(mails.c.at, mails.c.to, mails.c.subject, mails.c.body).order_by(
                    mails.c.id.desc()
                )
            ).all()
        return [Mail(*row) for row in found]
