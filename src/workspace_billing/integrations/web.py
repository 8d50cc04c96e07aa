"""The JSON API of a billing page, framework-neutral: what every web integration shares.

Each route is a plain function of ``Billing`` and a parsed request (``Call``)
returning a JSON-ready value; a framework integration (``integrations.fastapi``,
``integrations.django``) only hands the parts of its own request to ``respond``
(which reads the body and answers the value or the ``BillingError`` as a
``Reply``) and turns the ``Reply`` into its own response. The routes check nothing
the library does not check already: ``Billing`` refuses a bad type, a bad
value or a user without the right role with a typed error, which becomes an
HTTP status and a localized message here (``error_reply``).

The URLs the provider sends the user back to are the host's (``ReturnUrls``),
never taken from the request, so the API cannot be used as an open redirect.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from ..billing import Billing
from ..errors import BillingError, InvalidRequest, NotFound
from ..jsonable import JSONDict
from ..messages import negotiate
from ..permissions import require_manager

__all__ = [
    "ROUTES",
    "Call",
    "Reply",
    "ReturnUrls",
    "Route",
    "answer",
    "body_of",
    "error_reply",
    "negotiate_locale",
    "respond",
    "webhook_reply",
]


@attrs.frozen
class ReturnUrls:
    """Where the provider's pages send the user back; ``{workspace_id}`` is replaced.

    ``success`` and ``cancel`` end a checkout, ``portal`` is the billing portal's
    way back. Set by the host, never read from a request.
    """

    success: str
    cancel: str
    portal: str

    def of(self, template: str, workspace_id: str) -> str:
        return template.replace("{workspace_id}", workspace_id)


@attrs.frozen
class Call:
    """One request as the routes see it: who asks (``None`` for no user), the path's
    parameters, the query string and the JSON body (an object)."""

    user: str | None
    params: Mapping[str, str]
    query: Mapping[str, str] = attrs.field(factory=dict)
    body: Mapping[str, Any] = attrs.field(factory=dict)

    def workspace(self) -> str:
        return self.params["workspace_id"]

    def actor(self) -> str:
        assert self.user is not None, "the route needs a user"
        return self.user

    def needs(self, name: str) -> Any:
        """A body field the action cannot do without."""
        if name not in self.body:
            raise InvalidRequest(f"the request body needs {name!r}", field=name)
        return self.body[name]

    def optional(self, name: str, default: Any = None) -> Any:
        return self.body.get(name, default)


@attrs.frozen
class Reply:
    """An HTTP answer: status, JSON body, extra headers."""

    status: int
    body: Any
    headers: Mapping[str, str] = attrs.field(factory=dict)


Handler = Callable[[Billing, ReturnUrls, Call], Any]


@attrs.frozen
class Route:
    """``method`` ``path`` (relative to where the host mounts the API) runs ``handler``."""

    method: str
    path: str
    name: str
    handler: Handler
    status: int = 200


# ------------------------------------------------------------------ answers


def negotiate_locale(accept_language: str | None) -> str:
    """The first language of an ``Accept-Language`` header the library speaks, else ``en``."""
    return negotiate(accept_language)


def error_reply(error: BillingError, locale: str | None) -> Reply:
    """The error's own status (``errors.CODES``) with its JSON (``to_dict``) and the
    sentence for the user in their language under ``user_message``; a retryable
    error says when to try again."""
    body: JSONDict = {**error.to_dict(), "user_message": error.user_message(locale)}
    headers = {"Retry-After": "1"} if error.retryable else {}
    return Reply(error.http_status, {"error": body}, headers)


def webhook_reply(billing: Billing, payload: bytes, headers: Any) -> Reply:
    """A provider's webhook delivery: 200 once applied (or a duplicate, or ignored),
    400 when it is not authentic, 5xx when the provider or the store failed so
    that the provider delivers it again."""
    try:
        result = billing.handle_webhook(payload, headers)
    except BillingError as e:
        return error_reply(e, "en")
    return Reply(200, result.to_dict())


# ------------------------------------------------------------------ routes


def _plans(billing: Billing, urls: ReturnUrls, call: Call) -> JSONDict:
    return {"plans": [plan.to_dict() for plan in billing.plans()]}


def _member_only(billing: Billing, call: Call) -> str:
    """The workspace, when the user is one of its active members (any role)."""
    workspace_id, user = call.workspace(), call.actor()
    if not billing.member(workspace_id, user).is_active:
        raise NotFound(f"{user!r} is not an active member of {workspace_id!r}", code="not_a_member")
    return workspace_id


def _subscription(billing: Billing, urls: ReturnUrls, call: Call) -> JSONDict:
    return billing.subscription(call.workspace(), actor=call.actor()).to_dict()


def _entitlements(billing: Billing, urls: ReturnUrls, call: Call) -> JSONDict:
    return billing.entitlements(_member_only(billing, call)).to_dict()


def _preview(billing: Billing, urls: ReturnUrls, call: Call) -> JSONDict:
    return billing.preview_change(
        call.workspace(), actor=call.actor(), seats=call.optional("seats"),
        plan=call.optional("plan"), interval=call.optional("interval"),
    ).to_dict()  # fmt: skip


def _upgrade(billing: Billing, urls: ReturnUrls, call: Call) -> JSONDict:
    workspace_id = call.workspace()
    checkout = billing.upgrade(
        workspace_id, actor=call.actor(), plan=call.needs("plan"), seats=call.needs("seats"),
        interval=call.optional("interval", "month"),
        success_url=urls.of(urls.success, workspace_id),
        cancel_url=urls.of(urls.cancel, workspace_id),
    )  # fmt: skip
    return {"id": checkout.id, "url": checkout.url}


def _seats(billing: Billing, urls: ReturnUrls, call: Call) -> JSONDict:
    return billing.change_seats(
        call.workspace(), actor=call.actor(), seats=call.needs("seats")
    ).to_dict()


def _portal(billing: Billing, urls: ReturnUrls, call: Call) -> JSONDict:
    workspace_id = call.workspace()
    url = billing.billing_portal(
        workspace_id, actor=call.actor(), return_url=urls.of(urls.portal, workspace_id)
    )
    return {"url": url}


def _cancel(billing: Billing, urls: ReturnUrls, call: Call) -> JSONDict:
    return billing.cancel(
        call.workspace(), actor=call.actor(), now=call.optional("now", False)
    ).to_dict()


def _resume(billing: Billing, urls: ReturnUrls, call: Call) -> JSONDict:
    return billing.resume(call.workspace(), actor=call.actor()).to_dict()


def _contact_sales(billing: Billing, urls: ReturnUrls, call: Call) -> JSONDict:
    return billing.contact_sales(
        call.workspace(), actor=call.actor(), message=call.needs("message"),
        plan=call.optional("plan"),
    ).to_dict()  # fmt: skip


def _members(billing: Billing, urls: ReturnUrls, call: Call) -> JSONDict:
    return {"members": [m.to_dict() for m in billing.members(_member_only(billing, call))]}


def _add_member(billing: Billing, urls: ReturnUrls, call: Call) -> JSONDict:
    return billing.add_member(
        call.workspace(), actor=call.actor(), user=call.needs("user"),
        role=call.optional("role", "member"),
    ).to_dict()  # fmt: skip


def _remove_member(billing: Billing, urls: ReturnUrls, call: Call) -> JSONDict:
    billing.remove_member(call.workspace(), actor=call.actor(), user=call.params["user"])
    return {"removed": call.params["user"]}


def _reactivate_member(billing: Billing, urls: ReturnUrls, call: Call) -> JSONDict:
    return billing.reactivate_member(
        call.workspace(), actor=call.actor(), user=call.params["user"]
    ).to_dict()


def _change_role(billing: Billing, urls: ReturnUrls, call: Call) -> JSONDict:
    return billing.change_role(
        call.workspace(), actor=call.actor(), user=call.params["user"], role=call.needs("role")
    ).to_dict()


def _invoices(billing: Billing, urls: ReturnUrls, call: Call) -> JSONDict:
    limit: Any = call.query.get("limit", "24")
    limit = int(limit) if limit.isdigit() and len(limit) < 10 else limit
    found = billing.invoices(call.workspace(), actor=call.actor(), limit=limit)
    return {"invoices": [i.to_dict() for i in found]}


def _invitations(billing: Billing, urls: ReturnUrls, call: Call) -> JSONDict:
    """Pending invitations, to the owner and admins only: their ids let one join."""
    workspace_id = call.workspace()
    require_manager(workspace_id, billing.members(workspace_id), call.actor())
    return {"invitations": [i.to_dict() for i in billing.invitations(workspace_id)]}


def _invite(billing: Billing, urls: ReturnUrls, call: Call) -> JSONDict:
    return billing.invite(
        call.workspace(), actor=call.actor(), email=call.needs("email"),
        role=call.optional("role", "member"),
    ).to_dict()  # fmt: skip


def _revoke_invitation(billing: Billing, urls: ReturnUrls, call: Call) -> JSONDict:
    invitation_id = call.params["invitation_id"]
    billing.revoke_invitation(call.workspace(), actor=call.actor(), invitation_id=invitation_id)
    return {"revoked": invitation_id}


def _accept_invitation(billing: Billing, urls: ReturnUrls, call: Call) -> JSONDict:
    return billing.accept_invitation(call.params["invitation_id"], user=call.actor()).to_dict()


_WS = "/workspaces/{workspace_id}"

ROUTES: Sequence[Route] = (
    Route("GET", "/plans", "plans", _plans),
    Route("GET", f"{_WS}/subscription", "subscription", _subscription),
    Route("GET", f"{_WS}/entitlements", "entitlements", _entitlements),
    Route("POST", f"{_WS}/preview", "preview", _preview),
    Route("POST", f"{_WS}/upgrade", "upgrade", _upgrade),
    Route("POST", f"{_WS}/seats", "seats", _seats),
    Route("POST", f"{_WS}/portal", "portal", _portal),
    Route("POST", f"{_WS}/cancel", "cancel", _cancel),
    Route("POST", f"{_WS}/resume", "resume", _resume),
    Route("POST", f"{_WS}/contact-sales", "contact_sales", _contact_sales, status=201),
    Route("GET", f"{_WS}/members", "members", _members),
    Route("POST", f"{_WS}/members", "add_member", _add_member, status=201),
    Route("DELETE", f"{_WS}/members/{{user}}", "remove_member", _remove_member),
    Route("POST", f"{_WS}/members/{{user}}/reactivate", "reactivate_member", _reactivate_member),
    Route("PATCH", f"{_WS}/members/{{user}}", "change_role", _change_role),
    Route("GET", f"{_WS}/invoices", "invoices", _invoices),
    Route("GET", f"{_WS}/invitations", "invitations", _invitations),
    Route("POST", f"{_WS}/invitations", "invite", _invite, status=201),
    Route("DELETE", f"{_WS}/invitations/{{invitation_id}}", "revoke_invitation",
          _revoke_invitation),
    Route("POST", "/invitations/{invitation_id}/accept", "accept_invitation",
          _accept_invitation),
)  # fmt: skip
"""Every route of the billing page's API; each needs a signed-in user."""


def body_of(raw: bytes) -> Mapping[str, Any]:
    """A request's JSON body: an object, or empty; ``InvalidRequest`` otherwise."""
    if not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("the request body is not JSON", field="body") from None
    if not isinstance(parsed, dict):
        raise InvalidRequest("the request body must be a JSON object", field="body")
    return parsed


def answer(billing: Billing, urls: ReturnUrls, route: Route, call: Call, locale: str) -> Reply:
    """Run ``route`` for ``call``: its JSON with the route's status, or the error's."""
    try:
        return Reply(route.status, route.handler(billing, urls, call))
    except BillingError as e:
        return error_reply(e, locale)


def respond(
    billing: Billing,
    urls: ReturnUrls,
    route: Route,
    *,
    user: str | None,
    params: Mapping[str, str],
    query: Mapping[str, str],
    raw_body: bytes,
    locale: str,
) -> Reply:
    """A request as a framework hands it over, answered: the raw body of a ``POST`` or
    ``PATCH`` read as JSON (``body_of``; a malformed one is a 400), then ``answer``."""
    try:
        body = body_of(raw_body) if route.method in {"POST", "PATCH"} else {}
    except BillingError as e:
        return error_reply(e, locale)
    return answer(billing, urls, route, Call(user, params, query, body), locale)
