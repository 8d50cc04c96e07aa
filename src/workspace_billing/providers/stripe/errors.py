"""Stripe's exceptions, turned into the library's, in one place.

Every SDK call the adapter makes runs inside ``translated()``, so no Stripe type
ever reaches ``Billing`` or the host. Kept apart from the adapter so the whole
mapping, from each Stripe error class to ``PaymentFailed``, ``NotFound`` or
``ProviderError``, reads as one table and a new Stripe error class has one home.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import stripe

from ...errors import NotFound, PaymentFailed, ProviderError

__all__ = ["translated"]


@contextmanager
def translated() -> Iterator[None]:
    """Stripe's errors become the library's, keeping Stripe's request id for support."""
    try:
        yield
    except stripe.CardError as e:
        raise PaymentFailed(
            f"the card was declined ({e.code or 'card_error'}): {e.user_message or ''}".strip(),
            request_id=e.request_id,
        ) from e
    except stripe.InvalidRequestError as e:
        if e.code == "resource_missing":
            raise NotFound(f"Stripe has no such object: {e.user_message or e.param}") from e
        raise ProviderError(
            f"Stripe refused the request: {e.user_message or e.code}", request_id=e.request_id
        ) from e
    except stripe.AuthenticationError as e:
        raise ProviderError(
            "Stripe refused the API key: check the key the StripeClient was given",
            request_id=e.request_id,
        ) from e
    except stripe.RateLimitError as e:
        raise ProviderError(
            "Stripe is rate limiting requests: retry later", request_id=e.request_id
        ) from e
    except stripe.APIConnectionError as e:
        raise ProviderError("Stripe could not be reached: retry later") from e
    except stripe.StripeError as e:
        raise ProviderError(
            f"Stripe failed the request ({type(e).__name__}): {e.user_message or e.code or ''}",
            request_id=e.request_id,
        ) from e
