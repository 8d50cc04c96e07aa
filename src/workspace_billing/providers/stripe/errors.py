"""Stripe's exceptions, turned into the library's, in one place.

Every SDK call the adapter makes runs inside ``translated()``, so no Stripe type
ever reaches ``Billing`` or the host. Kept apart from the adapter so the whole
mapping, from each Stripe error class to ``PaymentFailed``, ``NotFound`` or
``ProviderError``, reads as one table and a new Stripe error class has one home.

No secret leaves through an error. Stripe's messages can name one: a wrong or
under-privileged key ("Invalid API Key provided: sk_test_****abcd", "The provided
key 'rk_live_...' does not have the required permissions"), a client secret. The
parts of Stripe's answer copied into a message (its text, code, parameter) go
through ``redacted`` first; Stripe's request id is kept, it is what support looks
for. And the SDK's exception is not chained (``from None``): its message, its
raw body and headers would otherwise print with any logged traceback, the
library's own log lines included.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import stripe

from ...errors import NotFound, PaymentFailed, ProviderError

__all__ = ["REDACTED", "redacted", "translated"]

REDACTED = "[redacted]"

# Secret and restricted API keys (sk_, rk_; live, test or masked with *), ephemeral
# keys (ek_), webhook signing secrets (whsec_) and client secrets
# (pi_..._secret_..., seti_..._secret_..., cs_..._secret_...).
_SECRETS = re.compile(
    r"\b(?:sk|rk|ek|whsec)_[A-Za-z0-9_*+/=.-]+|\b[A-Za-z0-9_]*_secret_[A-Za-z0-9_*]+",
    re.IGNORECASE,
)


def redacted(text: str) -> str:
    """``text`` with every Stripe key or secret in it replaced by ``[redacted]``."""
    return _SECRETS.sub(REDACTED, text)


@contextmanager
def translated() -> Iterator[None]:
    """Stripe's errors become the library's, keeping Stripe's request id for support."""
    try:
        yield
    except stripe.CardError as e:
        raise PaymentFailed(
            redacted(
                f"the card was declined ({e.code or 'card_error'}): {e.user_message or ''}"
            ).strip(),
            request_id=e.request_id,
        ) from None
    except stripe.InvalidRequestError as e:
        if e.code == "resource_missing":
            raise NotFound(
                redacted(f"Stripe has no such object: {e.user_message or e.param}")
            ) from None
        raise ProviderError(
            redacted(f"Stripe refused the request: {e.user_message or e.code}"),
            request_id=e.request_id,
        ) from None
    except stripe.AuthenticationError as e:
        raise ProviderError(
            "Stripe refused the API key: check the key the StripeClient was given",
            request_id=e.request_id,
        ) from None
    except stripe.RateLimitError as e:
        raise ProviderError(
            "Stripe is rate limiting requests: retry later", request_id=e.request_id
        ) from None
    except stripe.APIConnectionError:
        raise ProviderError("Stripe could not be reached: retry later") from None
    except stripe.StripeError as e:
        raise ProviderError(
            redacted(
                f"Stripe failed the request ({type(e).__name__}): {e.user_message or e.code or ''}"
            ),
            request_id=e.request_id,
        ) from None
