"""The Stripe adapter: ``pip install "workspace-billing[stripe]"``.

See docs/stripe.md for the set-up (prices, portal configuration, webhooks).
"""

from .adapter import StripePrice, StripeProvider

__all__ = ["StripePrice", "StripeProvider"]
