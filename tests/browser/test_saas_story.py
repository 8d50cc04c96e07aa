"""The product's story, clicked through the example SaaS in a real browser (Debian's
chromium, headless, driven by Playwright): once in French, once in English.

Each screen is photographed into docs/screenshots/, which the example's tour
(docs/example.md) shows. R1, R2, R3, R4, R5, R6, R7, R8, R9, R11, R16.
"""

from __future__ import annotations

import re
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]' installs Playwright")
pytest.importorskip("uvicorn", reason="pip install -e '.[dev]' installs uvicorn")

import uvicorn
from examples.saas.app import create_app
from examples.saas.config import Config
from playwright.sync_api import Browser, Page, expect, sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CARD_OK = "4242 4242 4242 4242"

WORDS = {
    "fr": {
        "trial": "Essai gratuit", "free": "Gratuit", "active": "Actif",
        "forbidden": "administrateurs", "refused": "licences",
        "update": "Mettre à jour l’abonnement", "continue": "Continuer",
        "pay": "S’abonner et payer", "deactivated": "Désactivé", "contact": "Nous contacter",
        "manage": "Gérer l'abonnement", "sent": "transmise",
    },
    "en": {
        "trial": "Free trial", "free": "Free", "active": "Active",
        "forbidden": "administrators", "refused": "licences",
        "update": "Update subscription", "continue": "Continue",
        "pay": "Subscribe and pay", "deactivated": "Deactivated", "contact": "Contact us",
        "manage": "Manage subscription", "sent": "sales team",
    },
}  # fmt: skip


class Server:
    """The example app on a free port of 127.0.0.1, in a thread of this process, on a
    fresh SQLite file, with the test clock page on."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen()  # connections wait in the backlog until the server accepts
        port = self.socket.getsockname()[1]
        self.dir = Path(tempfile.mkdtemp(prefix="wb_saas_"))
        config = Config(database_url=f"sqlite:///{self.dir / 'saas.db'}", port=port,
                        test_clock=True, renew_every=3600, secret="tests")  # fmt: skip
        self.url = config.public_url
        self.server = uvicorn.Server(
            uvicorn.Config(create_app(config), log_level="warning", lifespan="on")
        )
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(name="server", scope="module")
def server_fixture() -> Iterator[Server]:
    server = Server()
    yield server
    server.stop()


@pytest.fixture(name="browser", scope="module")
def browser_fixture() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip("no chromium: apt-get install -y chromium (.ci/run does), then run again")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])  # fmt: skip
        yield browser
        browser.close()


class Visitor:
    """One person in their own browser context (their own session cookie)."""

    def __init__(self, browser: Browser, server: Server, lang: str, name: str) -> None:
        self.context = browser.new_context(base_url=server.url, locale=lang,
                                           viewport={"width": 1100, "height": 900})  # fmt: skip
        self.context.add_cookies([{"name": "lang", "value": lang, "url": server.url}])
        self.page: Page = self.context.new_page()
        self.lang = lang
        self.words = WORDS[lang]
        self.page.goto("/")
        self.page.fill("input[name=name]", name)
        self.page.locator("form[action='/signin'] button").click()
        expect(self.page).to_have_url(re.compile(r"/workspaces$"))

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{self.lang}-{name}.png"), full_page=True)

    def create_workspace(self, name: str) -> str:
        self.page.goto("/workspaces")
        self.page.fill("form[action='/workspaces'] input[name=name]", name)
        self.page.locator("form[action='/workspaces'] button").click()
        expect(self.page).to_have_url(re.compile(r"/w/ws_\w+$"))
        return self.page.url.rsplit("/", 1)[1]

    def add_member(self, ws: str, user: str) -> None:
        self.page.goto(f"/w/{ws}/members")
        self.page.fill("#add-member input[name=user]", user)
        self.page.locator("#add-member button").click()
        expect(self.page).to_have_url(re.compile(rf"/w/{ws}/members$"))

    def licences_in_portal(self, ws: str, seats: int) -> None:
        """Gérer l'abonnement → Mettre à jour l'abonnement → licences → Continuer →
        the prorated amount → S'abonner et payer, then back to the app."""
        self.page.goto(f"/w/{ws}/subscription")
        self.page.get_by_role("button", name=self.words["manage"]).click()
        expect(self.page).to_have_url(re.compile(r"/_local_billing/portal/"))
        self.page.get_by_role("button", name=self.words["update"]).click()
        self.page.fill("#seats", str(seats))
        self.page.get_by_role("button", name=self.words["continue"]).click()
        self.shot(f"08-portal-confirm-{seats}")
        self.page.get_by_role("button", name=self.words["pay"]).click()
        self.page.goto(f"/w/{ws}/subscription")


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_seed_story_in_a_real_browser(browser: Browser, server: Server, lang: str) -> None:
    owner = Visitor(browser, server, lang, f"olivia-{lang}")
    words = owner.words
    page = owner.page
    owner.shot("01-workspaces")

    # R1: the first workspace starts a trial; R4: its features are listed.
    ws = owner.create_workspace("Acme")
    expect(page.locator("#features li")).not_to_have_count(0)
    owner.shot("02-workspace")
    page.goto(f"/w/{ws}/subscription")
    expect(page.locator("#status")).to_have_text(words["trial"])
    owner.shot("03-subscription-trial")

    # R2: a second workspace of the same owner has no trial.
    second = owner.create_workspace("Side project")
    page.goto(f"/w/{second}/subscription")
    expect(page.locator("#status")).to_have_text(words["free"])

    # R5: a member sees neither the administration nor the subscription.
    owner.add_member(ws, f"mia-{lang}")
    member = Visitor(browser, server, lang, f"mia-{lang}")
    member.page.goto(f"/w/{ws}")
    expect(member.page.locator("nav.tabs a")).to_have_count(1)
    member.page.goto(f"/w/{ws}/subscription")
    expect(member.page.locator(".flash.error")).to_contain_text(words["forbidden"])
    member.shot("04-member-refused")
    member.context.close()

    # R6: upgrade, the provider's checkout page, pay.
    page.goto(f"/w/{ws}/plans")
    owner.shot("05-plans")
    plan = page.locator("#plan-business")
    plan.locator("input[name=seats]").fill("3")
    plan.get_by_role("button").click()
    expect(page).to_have_url(re.compile(r"/_local_billing/checkout/"))
    page.fill("#card_number", CARD_OK)
    page.fill("#expiry", "12/34")
    page.fill("#cvc", "123")
    owner.shot("06-checkout")
    page.locator("form button[type=submit]").first.click()
    expect(page).to_have_url(re.compile(rf"/w/{ws}/subscription\?paid=1"))
    expect(page.locator("#status")).to_have_text(words["active"])
    expect(page.locator("#licences")).to_contain_text("3")
    expect(page.locator("#plan-features li")).not_to_have_count(0)
    owner.shot("07-subscription-paid")

    # R8: members up to the licences, then the refusal says to buy licences.
    owner.add_member(ws, f"noah-{lang}")
    owner.add_member(ws, f"emma-{lang}")
    expect(page.locator(".flash.error")).to_contain_text(words["refused"])
    expect(page.locator("#members tr[data-user]")).to_have_count(3)
    owner.shot("08-members-refused")

    # R9: licences bought in the provider's portal, prorated, then more members.
    owner.licences_in_portal(ws, 5)
    expect(page.locator("#licences")).to_contain_text("5")
    owner.add_member(ws, f"emma-{lang}")
    owner.add_member(ws, f"liam-{lang}")
    expect(page.locator("#members tr[data-user]")).to_have_count(5)

    # R9, R11: fewer licences from the renewal; the page names who will go.
    owner.licences_in_portal(ws, 3)
    warning = page.locator("#will-deactivate")
    expect(warning).to_contain_text(f"liam-{lang}, emma-{lang}")
    owner.shot("09-subscription-decrease-warning")

    # Time passes the renewal: those members are deactivated, the owner never.
    page.goto("/_test/clock")
    page.fill("input[name=days]", "32")
    page.locator("form[action='/_test/clock'] button").click()
    page.goto(f"/w/{ws}/members")
    for user in (f"liam-{lang}", f"emma-{lang}"):
        expect(page.locator(f"tr[data-user='{user}'] .member-status")).to_have_text(
            words["deactivated"]
        )
    expect(page.locator(f"tr[data-user='olivia-{lang}'] .member-status")).not_to_have_text(
        words["deactivated"]
    )
    owner.shot("10-members-after-renewal")

    # R7: Enterprise is "Nous contacter", and the request reaches the mailbox.
    page.goto(f"/w/{ws}/plans")
    page.get_by_role("link", name=words["contact"]).click()
    page.fill("textarea[name=message]", "We are 400 people.")
    page.locator("form button").last.click()
    expect(page.locator(".flash.ok")).to_contain_text(words["sent"])
    page.goto("/mailbox")
    expect(page.locator("#mails")).to_contain_text("We are 400 people.")
    owner.shot("11-mailbox")
    owner.context.close()
