"""The local provider's pages: an ASGI app (Starlette) the host mounts at the
provider's ``base_url``, in English and French.

- ``/checkout/{id}``: the plan, the licences, the price, a card field; then
  the bank's authentication step when the card asks for it, and a redirect to
  the checkout's success URL (its cancel URL is the way back);
- ``/portal/{session}``: the subscription, the card on file and the invoices;
  ``Update subscription`` → the number of licences → ``Continue`` → the
  prorated amount due now → ``Subscribe and pay``; cancel and renew;
- ``/authenticate/{payment}``: the bank's page for a payment that waits for
  the customer (``PaymentActionRequired.url``);
- ``/invoices/{id}``: one invoice, and paying it when it is overdue.

Server-rendered with Jinja2 templates that escape everything they show; no
JavaScript. Provider calls run in a worker thread, so a webhook the provider
delivers over HTTP to the same server while a page waits is served.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

try:
    from jinja2 import Environment, FileSystemLoader, select_autoescape
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, RedirectResponse, Response
    from starlette.routing import Route
except ImportError as missing:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "the local provider's pages need Starlette and Jinja2: "
        'pip install "workspace-billing[local]"'
    ) from missing

from ...errors import InvalidRequest, NotFound, PaymentActionRequired, PaymentFailed
from .cards import TestCard, read_card
from .customer import CheckoutOutcome
from .provider import LocalPaymentProvider
from .texts import LANGUAGES, TEXTS, choose_language, date_text, money_text, period_text, plan_name

__all__ = ["build_app"]

_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
)


def build_app(provider: LocalPaymentProvider) -> Starlette:
    """The pages of ``provider``, to mount at its ``base_url`` (see the module's docstring)."""
    pages = _Pages(provider)
    return Starlette(
        routes=[
            Route("/checkout/{checkout_id}", pages.checkout, methods=["GET", "POST"]),
            Route(
                "/checkout/{checkout_id}/authenticate",
                pages.checkout_authenticate,
                methods=["GET", "POST"],
            ),
            Route("/portal/{session_id}", pages.portal),
            Route("/portal/{session_id}/subscriptions/{ref}", pages.seats),
            Route(
                "/portal/{session_id}/subscriptions/{ref}/confirm",
                pages.confirm,
                methods=["GET", "POST"],
            ),
            Route(
                "/portal/{session_id}/subscriptions/{ref}/{change:str}",
                pages.cancel,
                methods=["POST"],
            ),
            Route("/portal/{session_id}/card", pages.card, methods=["GET", "POST"]),
            Route("/authenticate/{action_id}", pages.authenticate, methods=["GET", "POST"]),
            Route("/invoices/{invoice_id}", pages.invoice),
            Route("/invoices/{invoice_id}/pay", pages.pay_invoice, methods=["POST"]),
        ],
        exception_handlers={NotFound: _not_found, InvalidRequest: _refused},
    )


class _Pages:
    def __init__(self, provider: LocalPaymentProvider) -> None:
        self.p = provider

    # ------------------------------------------------------------ checkout

    async def checkout(self, request: Request) -> Response:
        checkout_id = request.path_params["checkout_id"]
        form = await _form(request)
        page = await run_in_threadpool(self.p.checkout_page, checkout_id)
        if request.method == "GET" and page.waiting_card is not None:
            return _see(request, form, f"/checkout/{checkout_id}/authenticate")
        error: str | None = None
        if request.method == "POST" and page.subscription_ref is None:
            try:
                card = self._typed_card(form)
            except InvalidRequest as e:
                error = f"error_{e.details.get('field', 'number')}"
            else:
                outcome = await run_in_threadpool(self.p.pay_checkout, checkout_id, card)
                return await self._after_checkout(request, form, checkout_id, outcome)
        status = 400 if error else 200
        return self._render(
            request,
            "checkout.html",
            status,
            error=error,
            form=form,
            checkout_id=checkout_id,
            order=page.request,
            paid=page.subscription_ref is not None,
        )

    async def checkout_authenticate(self, request: Request) -> Response:
        checkout_id = request.path_params["checkout_id"]
        form = await _form(request)
        if request.method == "POST":
            confirmed = form.get("decision") == "complete"
            outcome = await run_in_threadpool(
                lambda: self.p.authenticate_checkout(checkout_id, confirmed=confirmed)
            )
            return await self._after_checkout(request, form, checkout_id, outcome)
        page = await run_in_threadpool(self.p.checkout_page, checkout_id)
        if page.waiting_card is None:
            return _see(request, form, f"/checkout/{checkout_id}")
        total = page.request.unit_amount * page.request.seats
        return self._render(
            request,
            "authenticate.html",
            amount=total,
            done=False,
            action=f"{_root(request)}/checkout/{checkout_id}/authenticate",
        )

    async def _after_checkout(
        self, request: Request, form: dict[str, str], checkout_id: str, outcome: CheckoutOutcome
    ) -> Response:
        page = await run_in_threadpool(self.p.checkout_page, checkout_id)
        if outcome is CheckoutOutcome.PAID:
            return RedirectResponse(page.request.success_url, status_code=303)
        if outcome is CheckoutOutcome.AUTHENTICATE:
            return _see(request, form, f"/checkout/{checkout_id}/authenticate")
        error = "declined" if outcome is CheckoutOutcome.DECLINED else "not_authenticated"
        return self._render(
            request,
            "checkout.html",
            402,
            error=error,
            form={"lang": _lang(request, form)},
            checkout_id=checkout_id,
            order=page.request,
            paid=False,
            here=f"/checkout/{checkout_id}",
        )

    # ------------------------------------------------------------ portal

    async def portal(self, request: Request) -> Response:
        page = await run_in_threadpool(self.p.portal_page, request.path_params["session_id"])
        return self._render(request, "portal.html", page=page, message=_done(request))

    async def seats(self, request: Request) -> Response:
        session_id, ref = request.path_params["session_id"], request.path_params["ref"]
        sub, _ = await run_in_threadpool(self._quote, session_id, ref, None)
        return self._render(
            request,
            "seats.html",
            session_id=session_id,
            sub=sub,
            seats=request.query_params.get("seats", sub.seats),
            max_seats=self.p.max_seats,
        )

    async def confirm(self, request: Request) -> Response:
        session_id, ref = request.path_params["session_id"], request.path_params["ref"]
        form = await _form(request) if request.method == "POST" else dict(request.query_params)
        try:
            seats = _whole(form.get("seats", ""))
            sub, quote = await run_in_threadpool(self._quote, session_id, ref, seats)
        except InvalidRequest as e:
            sub, _ = await run_in_threadpool(self._quote, session_id, ref, None)
            return self._render(
                request,
                "seats.html",
                400,
                error=f"error_{e.code}",
                session_id=session_id,
                sub=sub,
                seats=form.get("seats", ""),
                max_seats=self.p.max_seats,
                here=f"/portal/{session_id}/subscriptions/{ref}",
            )
        key = form.get("key") or f"portal:{secrets.token_hex(16)}"
        error = None
        if request.method == "POST":
            change = self.p.portal_change_seats
            try:
                await run_in_threadpool(lambda: change(session_id, ref, seats, key=key))
            except PaymentActionRequired as waiting:
                return RedirectResponse(f"{waiting.url}?lang={_lang(request, form)}", 303)
            except PaymentFailed:
                error, key = "declined", f"portal:{secrets.token_hex(16)}"
            else:
                return _see(request, form, f"/portal/{session_id}", done="updated")
        here = f"/portal/{session_id}/subscriptions/{ref}/confirm?seats={seats}"
        return self._render(
            request,
            "confirm.html",
            402 if error else 200,
            error=error,
            session_id=session_id,
            sub=sub,
            quote=quote,
            seats=seats,
            key=key,
            here=here,
        )

    def _quote(self, session_id: str, ref: str, seats: int | None) -> Any:
        if seats is None:
            return self.p.portal_quote(session_id, ref, 1)[0], None
        return self.p.portal_quote(session_id, ref, seats)

    async def cancel(self, request: Request) -> Response:
        session_id, ref = request.path_params["session_id"], request.path_params["ref"]
        change = request.path_params["change"]
        if change not in ("cancel", "resume"):
            raise NotFound(f"no page {change!r}")
        resume, form = change == "resume", await _form(request)
        await run_in_threadpool(lambda: self.p.portal_cancel(session_id, ref, resume=resume))
        done = "resumed" if resume else "canceled"
        return _see(request, form, f"/portal/{session_id}", done=done)

    async def card(self, request: Request) -> Response:
        session_id = request.path_params["session_id"]
        await run_in_threadpool(self.p.portal_page, session_id)  # NotFound for a stranger
        form = await _form(request)
        error = None
        if request.method == "POST":
            try:
                card = self._typed_card(form)
                await run_in_threadpool(self.p.portal_update_card, session_id, card)
            except InvalidRequest as e:
                error = f"error_{e.details.get('field', 'number')}"
            except PaymentFailed:
                error = "declined"
            else:
                return _see(request, form, f"/portal/{session_id}", done="card_saved")
        return self._render(
            request,
            "card.html",
            400 if error else 200,
            error=error,
            form=form,
            session_id=session_id,
        )

    # ------------------------------------------------------------ payments, invoices

    async def authenticate(self, request: Request) -> Response:
        action_id, form = request.path_params["action_id"], await _form(request)
        confirmed = form.get("decision") == "complete"
        if confirmed:
            await run_in_threadpool(self.p.confirm_payment, action_id)
        waiting = await run_in_threadpool(self.p.waiting_payment, action_id)
        if confirmed and waiting.return_url:
            return RedirectResponse(f"{waiting.return_url}?lang={_lang(request, form)}", 303)
        error = "not_authenticated" if request.method == "POST" and not confirmed else None
        return self._render(
            request,
            "authenticate.html",
            402 if error else 200,
            error=error,
            form=form,
            amount=waiting.amount,
            done=waiting.done,
            return_url=waiting.return_url,
            action=f"{_root(request)}/authenticate/{action_id}",
        )

    async def invoice(self, request: Request) -> Response:
        page = await run_in_threadpool(self.p.invoice_page, request.path_params["invoice_id"])
        message = "invoice_paid" if page.invoice.status.value == "paid" else None
        return self._render(request, "invoice.html", page=page, message=message)

    async def pay_invoice(self, request: Request) -> Response:
        invoice_id, form = request.path_params["invoice_id"], await _form(request)
        try:
            await run_in_threadpool(self.p.pay_invoice, invoice_id)
        except PaymentFailed:
            page = await run_in_threadpool(self.p.invoice_page, invoice_id)
            return self._render(
                request,
                "invoice.html",
                402,
                page=page,
                error="declined",
                form=form,
                here=f"/invoices/{invoice_id}",
            )
        return _see(request, form, f"/invoices/{invoice_id}")

    # ------------------------------------------------------------ rendering

    def _typed_card(self, form: Mapping[str, str]) -> TestCard:
        """The card of a form's fields; ``InvalidRequest`` naming the wrong ``field``."""
        number, expiry, cvc = (form.get(name, "") for name in ("card_number", "expiry", "cvc"))
        return read_card(number, expiry, cvc, self.p.clock.now())

    def _render(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        return _render(request, name, status, self.p, **context)


def _render(
    request: Request,
    name: str,
    status: int,
    provider: LocalPaymentProvider | None,
    *,
    error: str | None = None,
    message: str | None = None,
    here: str | None = None,
    **context: Any,
) -> Response:
    lang = _lang(request, context.get("form") or {})
    texts = TEXTS[lang]
    catalog = provider.catalog if provider is not None else None
    path = here or request.url.path.removeprefix(_root(request))
    query = {k: v for k, v in parse_qsl(path.partition("?")[2]) if k != "lang"}
    helpers: Mapping[str, Callable[..., str]] = {
        "money": lambda money: money_text(money, lang),
        "date": lambda at: date_text(at, lang),
        "period": lambda interval: period_text(interval, lang),
        "plan_name": lambda code: plan_name(catalog, code, lang),
    }
    languages = {
        code: f"{_root(request)}{path.partition('?')[0]}?{urlencode({**query, 'lang': code})}"
        for code in LANGUAGES
    }
    body = _TEMPLATES.get_template(name).render(
        lang=lang,
        t=texts,
        root=_root(request),
        languages=languages,
        error=texts[error] if error else None,
        message=texts[message] if message else None,
        **helpers,
        **context,
    )
    return HTMLResponse(body, status_code=status)


async def _not_found(request: Request, exc: Exception) -> Response:
    return _render(request, "problem.html", 404, None, heading="title_not_found", body="not_found")


async def _refused(request: Request, exc: Exception) -> Response:
    """A step the page's state does not allow (a subscription that has ended...)."""
    return _render(request, "problem.html", 400, None, heading="title_refused", body="refused")


async def _form(request: Request) -> dict[str, str]:
    """The urlencoded form of a POST (read without python-multipart)."""
    if request.method != "POST":
        return {}
    body = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(body, max_num_fields=20))


def _whole(text: str) -> int:
    if not (text.strip().isascii() and text.strip().isdigit()) or len(text.strip()) > 9:
        raise InvalidRequest(f"not a whole number: {text!r}", code="seats_not_whole")
    return int(text)


def _lang(request: Request, form: Mapping[str, str]) -> str:
    asked = form.get("lang") or request.query_params.get("lang")
    return choose_language(asked, request.headers.get("accept-language"))


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _see(request: Request, form: Mapping[str, str], path: str, **query: str) -> Response:
    """303 to another page of the app, in the language of this one."""
    params = urlencode({**query, "lang": _lang(request, form)})
    return RedirectResponse(f"{_root(request)}{path}?{params}", status_code=303)


def _done(request: Request) -> str | None:
    done = request.query_params.get("done")
    return done if done in ("updated", "canceled", "resumed", "card_saved") else None
