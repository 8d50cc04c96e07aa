"""The example's pages: the seed's screens, server-rendered, in French and English.

Every action is a plain form posted to a route that calls ``Billing`` and
redirects (post/redirect/get); a refusal comes back as the library's
``user_message`` in the user's language. The JSON API and the webhook route
are the library's FastAPI router, mounted at ``/billing``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.middleware.sessions import SessionMiddleware

from workspace_billing import BillingError, PermissionDenied, Role, SubscriptionOverview
from workspace_billing.integrations.fastapi import billing_router
from workspace_billing.integrations.web import ReturnUrls

from .config import Config
from .texts import LANGUAGES, choose_language, day, money, say
from .wiring import Services

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
USER_NAME = re.compile(r"\A[a-z0-9][a-z0-9._-]{0,39}\Z")


def create_app(config: Config) -> FastAPI:
    services = Services(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services.start()
        yield
        services.stop()

    app = FastAPI(lifespan=lifespan, title="Acme Projects (workspace_billing example)")
    app.state.services = services
    app.add_middleware(SessionMiddleware, secret_key=config.secret, same_site="lax")
    urls = ReturnUrls(
        success=f"{config.public_url}/w/{{workspace_id}}/subscription?paid=1",
        cancel=f"{config.public_url}/w/{{workspace_id}}/plans",
        portal=f"{config.public_url}/w/{{workspace_id}}/subscription",
    )

    def api_user(request: Request) -> str:
        user = request.session.get("user")
        if not user:
            raise HTTPException(status_code=401, detail="sign in")
        return str(user)

    app.include_router(
        billing_router(services.billing, current_user=api_user, urls=urls), prefix="/billing"
    )
    if services.local is not None:
        app.mount("/_local_billing", services.local.pages())
    _pages(app, services, urls)
    return app


# ------------------------------------------------------------------ helpers


def language(request: Request) -> str:
    return choose_language(request.cookies.get("lang"), request.headers.get("accept-language"))


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    lang = language(request)
    services: Services = request.app.state.services
    flashes = request.session.pop("flash", [])
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "t": lambda key, **values: say(lang, key, **values),
            "lang": lang,
            "other_lang": next(code for code in LANGUAGES if code != lang),
            "user": request.session.get("user"),
            "day": lambda when: day(when, lang),
            "money": lambda amount: money(amount, lang),
            "flashes": flashes,
            "test_clock": services.config.test_clock,
            **context,
        },
        status_code=status,
    )


def flash(request: Request, kind: str, text: str) -> None:
    request.session.setdefault("flash", []).append({"kind": kind, "text": text})


def back(to: str) -> RedirectResponse:
    return RedirectResponse(to, status_code=303)


def refused(request: Request, error: BillingError, to: str) -> Response:
    """Back to ``to``, showing the library's reason in the user's language."""
    flash(request, "error", error.user_message(language(request)))
    return back(to)


def attempt(request: Request, to: str, action: Callable[[], object], done: str | None) -> Response:
    """Run ``action``; on a refusal, show the library's message in the user's language."""
    try:
        action()
    except BillingError as e:
        flash(request, "error", e.user_message(language(request)))
    else:
        if done:
            flash(request, "ok", say(language(request), done))
    request.app.state.services.outbox.pump()
    return back(to)


# ------------------------------------------------------------------ pages


def _pages(app: FastAPI, services: Services, urls: ReturnUrls) -> None:
    billing = services.billing

    def signed_in(request: Request) -> str:
        user = request.session.get("user")
        if not user:
            raise HTTPException(status_code=303, headers={"Location": "/"})
        return str(user)

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> Response:
        if request.session.get("user"):
            return back("/workspaces")
        return render(request, "signin.html")

    @app.post("/signin")
    def sign_in(request: Request, name: str = Form(...)) -> Response:
        user = name.strip().lower()
        if not USER_NAME.match(user):
            flash(request, "error", "a-z, 0-9, . _ - (40)")
            return back("/")
        request.session["user"] = user
        return back("/workspaces")

    @app.post("/signout")
    def sign_out(request: Request) -> Response:
        request.session.clear()
        return back("/")

    @app.get("/lang/{code}")
    def switch_language(request: Request, code: str, next: str = "/") -> Response:
        response = back(next if next.startswith("/") and not next.startswith("//") else "/")
        if code in LANGUAGES:
            response.set_cookie("lang", code, samesite="lax")
        return response

    @app.get("/workspaces", response_class=HTMLResponse)
    def workspaces(request: Request) -> Response:
        user = signed_in(request)
        return render(request, "workspaces.html", workspaces=billing.workspaces_of(user))

    @app.post("/workspaces")
    def create_workspace(request: Request, name: str = Form(...)) -> Response:
        user = signed_in(request)
        try:
            ws = billing.create_workspace(owner=user, name=name)
        except BillingError as e:
            return refused(request, e, "/workspaces")
        return back(f"/w/{ws.id}")

    def membership(request: Request, workspace_id: str) -> tuple[str, Role]:
        user = signed_in(request)
        try:
            member = billing.member(workspace_id, user)
        except BillingError:
            raise HTTPException(status_code=404) from None
        if not member.is_active:
            raise HTTPException(status_code=404)
        return user, member.role

    @app.get("/w/{workspace_id}", response_class=HTMLResponse)
    def workspace(request: Request, workspace_id: str) -> Response:
        _, role = membership(request, workspace_id)
        ws = billing.workspace(workspace_id)
        entitlements = billing.entitlements(workspace_id)
        features = [f for f in billing.catalog.features if entitlements.has(f.id)]
        return render(
            request,
            "workspace.html",
            ws=ws,
            role=role,
            features=features,
            entitlements=entitlements,
            plan=billing.catalog.plan(entitlements.plan),
        )

    def admin_page(
        request: Request,
        workspace_id: str,
        template: str,
        more: Callable[[str, SubscriptionOverview], dict[str, Any]],
    ) -> Response:
        """A page of the Administration section: ``template`` with the workspace, its
        overview (``o``) and what ``more`` adds for the owner and admins; for anyone
        else, the library's refusal on a 403 page."""
        user, _ = membership(request, workspace_id)
        ws = billing.workspace(workspace_id)
        try:
            overview = billing.subscription(workspace_id, actor=user)
            context = more(user, overview)
        except PermissionDenied as e:
            message = e.user_message(language(request))
            return render(request, "forbidden.html", status=403, ws=ws, message=message)
        return render(request, template, ws=ws, o=overview, **context)

    @app.get("/w/{workspace_id}/subscription", response_class=HTMLResponse)
    def subscription(request: Request, workspace_id: str, paid: int = 0) -> Response:
        def more(user: str, overview: SubscriptionOverview) -> dict[str, Any]:
            if paid:
                flash(request, "ok", say(language(request), "paid"))
            plan = billing.catalog.plan(overview.plan)
            return {
                "plan": plan,
                "features": [f for f in billing.catalog.features if plan.features.get(f.id)],
                "invoices": billing.invoices(workspace_id, actor=user, limit=12),
            }

        return admin_page(request, workspace_id, "subscription.html", more)

    @app.get("/w/{workspace_id}/plans", response_class=HTMLResponse)
    def plans(request: Request, workspace_id: str) -> Response:
        return admin_page(
            request,
            workspace_id,
            "plans.html",
            lambda user, overview: {"plans": billing.plans(), "catalog": billing.catalog},
        )

    @app.post("/w/{workspace_id}/upgrade")
    def upgrade(
        request: Request, workspace_id: str, plan: str = Form(...), seats: int = Form(...)
    ) -> Response:
        user, _ = membership(request, workspace_id)
        try:
            checkout = billing.upgrade(
                workspace_id,
                actor=user,
                plan=plan,
                seats=seats,
                success_url=urls.of(urls.success, workspace_id),
                cancel_url=urls.of(urls.cancel, workspace_id),
            )
        except BillingError as e:
            return refused(request, e, f"/w/{workspace_id}/plans")
        services.outbox.pump()
        return back(checkout.url or f"/w/{workspace_id}/subscription")

    @app.post("/w/{workspace_id}/portal")
    def portal(request: Request, workspace_id: str) -> Response:
        user, _ = membership(request, workspace_id)
        try:
            url = billing.billing_portal(
                workspace_id, actor=user, return_url=urls.of(urls.portal, workspace_id)
            )
        except BillingError as e:
            return refused(request, e, f"/w/{workspace_id}/subscription")
        lang = language(request)
        return back(f"{url}{'&' if '?' in url else '?'}lang={lang}")

    @app.post("/w/{workspace_id}/cancel")
    def cancel(request: Request, workspace_id: str, now: str = Form("")) -> Response:
        user, _ = membership(request, workspace_id)
        return attempt(
            request,
            f"/w/{workspace_id}/subscription",
            lambda: billing.cancel(workspace_id, actor=user, now=now == "1"),
            None,
        )

    @app.post("/w/{workspace_id}/resume")
    def resume(request: Request, workspace_id: str) -> Response:
        user, _ = membership(request, workspace_id)
        return attempt(
            request,
            f"/w/{workspace_id}/subscription",
            lambda: billing.resume(workspace_id, actor=user),
            None,
        )

    @app.get("/w/{workspace_id}/contact", response_class=HTMLResponse)
    def contact_form(request: Request, workspace_id: str) -> Response:
        membership(request, workspace_id)
        return render(request, "contact.html", ws=billing.workspace(workspace_id))

    @app.post("/w/{workspace_id}/contact")
    def contact(request: Request, workspace_id: str, message: str = Form(...)) -> Response:
        user, _ = membership(request, workspace_id)
        return attempt(
            request,
            f"/w/{workspace_id}/plans",
            lambda: billing.contact_sales(workspace_id, actor=user, message=message),
            "contact_sent",
        )

    @app.get("/w/{workspace_id}/members", response_class=HTMLResponse)
    def members(request: Request, workspace_id: str) -> Response:
        return admin_page(
            request,
            workspace_id,
            "members.html",
            lambda user, overview: {
                "members": billing.members(workspace_id),
                "invitations": billing.invitations(workspace_id),
            },
        )

    @app.post("/w/{workspace_id}/members")
    def add_member(
        request: Request, workspace_id: str, user: str = Form(...), role: str = Form("member")
    ) -> Response:
        actor, _ = membership(request, workspace_id)
        return attempt(
            request,
            f"/w/{workspace_id}/members",
            lambda: billing.add_member(workspace_id, actor=actor, user=user.strip(), role=role),
            None,
        )

    @app.post("/w/{workspace_id}/members/{user}/{action}")
    def member_action(request: Request, workspace_id: str, user: str, action: str) -> Response:
        actor, _ = membership(request, workspace_id)
        do = {"remove": billing.remove_member, "reactivate": billing.reactivate_member}.get(action)
        if do is None:
            raise HTTPException(status_code=404)
        return attempt(
            request,
            f"/w/{workspace_id}/members",
            lambda: do(workspace_id, actor=actor, user=user),
            None,
        )

    @app.post("/w/{workspace_id}/invitations")
    def invite(
        request: Request, workspace_id: str, email: str = Form(...), role: str = Form("member")
    ) -> Response:
        actor, _ = membership(request, workspace_id)
        return attempt(
            request,
            f"/w/{workspace_id}/members",
            lambda: billing.invite(workspace_id, actor=actor, email=email, role=role),
            None,
        )

    @app.post("/w/{workspace_id}/invitations/{invitation_id}/revoke")
    def revoke(request: Request, workspace_id: str, invitation_id: str) -> Response:
        actor, _ = membership(request, workspace_id)
        return attempt(
            request,
            f"/w/{workspace_id}/members",
            lambda: billing.revoke_invitation(
                workspace_id, actor=actor, invitation_id=invitation_id
            ),
            None,
        )

    @app.get("/invitations/{invitation_id}", response_class=HTMLResponse)
    def invitation(request: Request, invitation_id: str) -> Response:
        if not request.session.get("user"):
            return back(f"/?next={quote('/invitations/' + invitation_id)}")
        return render(request, "accept.html", invitation_id=invitation_id)

    @app.post("/invitations/{invitation_id}")
    def accept(request: Request, invitation_id: str) -> Response:
        user = signed_in(request)
        try:
            member = billing.accept_invitation(invitation_id, user=user)
        except BillingError as e:
            return refused(request, e, "/workspaces")
        return back(f"/w/{member.workspace_id}")

    @app.get("/mailbox", response_class=HTMLResponse)
    def mailbox(request: Request) -> Response:
        services.outbox.pump()
        return render(request, "mailbox.html", mails=services.outbox.mails())

    @app.get("/_test/clock", response_class=HTMLResponse)
    def clock_page(request: Request) -> Response:
        if not services.config.test_clock:
            raise HTTPException(status_code=404)
        return render(request, "clock.html", now=services.clock.now())

    @app.post("/_test/clock")
    def advance(request: Request, days: int = Form(...)) -> Response:
        if not services.config.test_clock or not 0 < days <= 400:
            raise HTTPException(status_code=404)
        services.clock.advance(timedelta(days=days))
        services.renew()
        return back("/_test/clock")
