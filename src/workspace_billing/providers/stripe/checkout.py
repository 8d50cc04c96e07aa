"""The Checkout Session a new subscription starts from.

Apart from the adapter because its parameters are a decision of their own: what
the session says about the workspace (its id and the installation marker, on
the session and on the subscription it creates), and the options a host turns
on (promotion codes, Stripe Tax) with what each needs from Stripe.

Automatic tax: ``automatic_tax[enabled]`` makes Checkout ask for the billing
address the tax needs. Stripe documents that for an existing customer (the
adapter always passes one) Checkout taxes at the address saved on the customer
unless ``customer_update[address]=auto`` lets it save the address entered
during the session; the adapter's customers have none, so the option is sent
with it. The address then stays on the customer, where Stripe reads it to tax
the subscription's renewals.
"""

from __future__ import annotations

from collections.abc import Mapping

from stripe.params.checkout import SessionCreateParams

from ...ports import CheckoutRequest

__all__ = ["session_params"]


def session_params(
    request: CheckoutRequest,
    price: str,
    marker: Mapping[str, str],
    *,
    allow_promotion_codes: bool,
    automatic_tax: bool,
) -> SessionCreateParams:
    """The session for ``request`` on ``price``, its metadata (on the session and
    on the subscription) the workspace id and the installation's ``marker``.

    Each option is the request's when it names one, else the adapter's setting;
    an option that is off is not sent (Stripe's default is off).
    """
    metadata = {"workspace_id": request.workspace_id} | dict(marker)
    params: SessionCreateParams = {
        "mode": "subscription",
        "customer": request.customer_ref,
        "client_reference_id": request.workspace_id,
        "line_items": [{"price": price, "quantity": request.seats}],
        "success_url": request.success_url,
        "cancel_url": request.cancel_url,
        "metadata": metadata,
        "subscription_data": {"metadata": dict(metadata)},
    }
    if _chosen(request.allow_promotion_codes, allow_promotion_codes):
        params["allow_promotion_codes"] = True
    if _chosen(request.automatic_tax, automatic_tax):
        params["automatic_tax"] = {"enabled": True}
        params["customer_update"] = {"address": "auto"}
    return params


def _chosen(asked: bool | None, default: bool) -> bool:
    return default if asked is None else bool(asked)
