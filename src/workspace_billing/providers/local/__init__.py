"""The local payment provider: SQL-backed, with its own pages and signed webhooks.

For development servers and end-to-end tests: ``LocalPaymentProvider`` keeps
its state in the store's database (``wb_local_*`` tables), serves a checkout
page and a billing portal (``provider.pages()``, an ASGI app; the ``local``
extra) and delivers signed webhooks over HTTP or in process. Importing this
package needs SQLAlchemy (the ``sql`` extra), not Starlette.
"""

from .cards import TEST_CARDS, CardBehaviour, TestCard
from .delivery import DeliveryReport, PendingWebhook, WebhookHandler
from .provider import LocalPaymentProvider
from .schema import metadata
from .state import SIGNATURE_HEADER

__all__ = [
    "SIGNATURE_HEADER",
    "TEST_CARDS",
    "CardBehaviour",
    "DeliveryReport",
    "LocalPaymentProvider",
    "PendingWebhook",
    "TestCard",
    "WebhookHandler",
    "metadata",
]
