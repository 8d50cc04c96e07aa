"""FastAPI (and any ASGI host through Starlette): the billing API as an ``APIRouter``.

::

    from workspace_billing.integrations.fastapi import billing_router, billing_error_handler
    from workspace_billing.integrations.web import ReturnUrls

    app.include_router(billing_router(
        billing,
        current_user=current_user,          # your dependency: the signed-in user's id
        urls=ReturnUrls(success="https://app.example/w/{workspace_id}/billing?paid=1",
                        cancel="https://app.example/w/{workspace_id}/billing",
                        portal="https://app.example/w/{workspace_id}/billing"),
    ), prefix="/billing")
    app.add_exception_handler(BillingError, billing_error_handler)  # for your own routes

The routes are ``integrations.web.ROUTES`` plus ``POST /webhook``, which reads
the raw body (the signature covers its bytes). ``Billing`` is synchronous: each
call runs in Starlette's thread pool, so the event loop never waits on the
store or the provider.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ..billing import Billing
from ..errors import BillingError
from .web import ROUTES, Reply, ReturnUrls, Route, error_reply, respond
from .web import negotiate_locale as _negotiate
from .web import webhook_reply as _webhook_reply

__all__ = ["billing_error_handler", "billing_router", "request_locale", "webhook_endpoint"]


def request_locale(request: Request) -> str:
    """The user's language from ``Accept-Language`` (``en`` or ``fr``); a dependency
    a host replaces with its own (a cookie, the user's settings)."""
    return _negotiate(request.headers.get("accept-language"))


def billing_error_handler(request: Request, exc: Exception) -> Response:
    """For ``app.add_exception_handler(BillingError, ...)``: a ``BillingError`` raised in
    the host's own routes answers like the router's (status, JSON, localized message)."""
    assert isinstance(exc, BillingError)
    return _response(error_reply(exc, request_locale(request)))


def billing_router(
    billing: Billing,
    *,
    current_user: Callable[..., Any],
    urls: ReturnUrls,
    locale: Callable[..., Any] = request_locale,
    webhook_path: str | None = "/webhook",
) -> APIRouter:
    """The billing page's JSON API and the provider's webhook route.

    ``current_user`` is a FastAPI dependency returning the signed-in user's id
    (raise ``HTTPException(401)`` in it for anonymous requests); ``locale`` one
    returning the language of error messages. ``webhook_path=None`` leaves the
    webhook out (mount it elsewhere with ``webhook_endpoint``).
    """
    router = APIRouter()
    for route in ROUTES:
        router.add_api_route(
            route.path,
            _endpoint(billing, urls, route, current_user, locale),
            methods=[route.method],
            name=f"billing_{route.name}",
            response_class=JSONResponse,
        )
    if webhook_path is not None:
        router.add_api_route(
            webhook_path, webhook_endpoint(billing), methods=["POST"], name="billing_webhook"
        )
    return router


def webhook_endpoint(billing: Billing) -> Callable[[Request], Any]:
    """The provider's webhook as an endpoint: the raw body, 400 when not authentic,
    5xx when it must be delivered again."""

    async def webhook(request: Request) -> Response:
        payload = await request.body()
        reply = await run_in_threadpool(_webhook_reply, billing, payload, request.headers.items())
        return _response(reply)

    return webhook


def _endpoint(
    billing: Billing,
    urls: ReturnUrls,
    route: Route,
    current_user: Callable[..., Any],
    locale: Callable[..., Any],
) -> Callable[..., Any]:
    async def endpoint(
        request: Request, user: str = Depends(current_user), language: str = Depends(locale)
    ) -> Response:
        raw_body = await request.body()
        reply = await run_in_threadpool(
            respond, billing, urls, route, user=user, params=dict(request.path_params),
            query=dict(request.query_params), raw_body=raw_body, locale=language,
        )  # fmt: skip
        return _response(reply)

    endpoint.__name__ = f"billing_{route.name}"
    return endpoint


def _response(reply: Reply) -> Response:
    return JSONResponse(reply.body, status_code=reply.status, headers=dict(reply.headers))
