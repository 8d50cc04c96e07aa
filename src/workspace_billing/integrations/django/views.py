"""The billing page's JSON API and the webhook as Django views (``integrations.web``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from ..web import Reply, Route, negotiate_locale, respond, webhook_reply
from . import conf

__all__ = ["api_view", "webhook"]


@csrf_exempt
def webhook(request: HttpRequest) -> HttpResponse:
    """The provider's webhook: the raw body, 400 when not authentic, 5xx when the
    provider must deliver it again. Exempt from CSRF: the signature is its proof."""
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "POST"})
    return _response(webhook_reply(conf.billing(), request.body, dict(request.headers)))


def api_view(routes: Mapping[str, Route]) -> Callable[..., HttpResponse]:
    """One view for one path: ``routes`` by HTTP method. Django's CSRF protection
    stays on: a browser's session-authenticated calls send the CSRF token."""

    def view(request: HttpRequest, **params: str) -> HttpResponse:
        route = routes.get(request.method or "")
        if route is None:
            return HttpResponse(status=405, headers={"Allow": ", ".join(sorted(routes))})
        language = _locale(request)
        user = conf.current_user(request)
        if user is None:
            return JsonResponse({"error": {"code": "not_signed_in"}}, status=401)
        query = {k: request.GET.get(k, "") for k in request.GET}
        return _response(respond(
            conf.billing(), conf.return_urls(), route, user=user, params=params, query=query,
            raw_body=request.body, locale=language,
        ))  # fmt: skip

    return view


def _locale(request: HttpRequest) -> str:
    """Django's active language when ``LocaleMiddleware`` set one, else ``Accept-Language``."""
    chosen = getattr(request, "LANGUAGE_CODE", None)
    if isinstance(chosen, str) and chosen:
        return negotiate_locale(chosen)
    return negotiate_locale(request.headers.get("Accept-Language"))


def _response(reply: Reply) -> HttpResponse:
    return HttpResponse(
        json.dumps(reply.body),
        status=reply.status,
        content_type="application/json",
        headers=dict(reply.headers),
    )
