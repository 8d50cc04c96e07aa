"""The example SaaS's other paths, through FastAPI's test client (no browser):
invitations by email (R8), the language switch, what the test clock page
refuses, the JSON API beside the pages."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("uvicorn", reason="pip install -e '.[dev]' installs the example's packages")

from examples.saas.app import create_app
from examples.saas.config import Config
from fastapi.testclient import TestClient

URL = "http://127.0.0.1:8765"


def app_client(test_clock: bool) -> TestClient:
    folder = Path(tempfile.mkdtemp(prefix="wb_saas_pages_"))
    config = Config(database_url=f"sqlite:///{folder / 'saas.db'}", port=8765,
                    test_clock=test_clock, renew_every=3600, secret="tests")  # fmt: skip
    return TestClient(create_app(config), base_url=URL)


@pytest.fixture(name="client")
def client_fixture() -> Iterator[TestClient]:
    with app_client(test_clock=False) as client:
        yield client


def sign_in(client: TestClient, name: str) -> None:
    client.cookies.clear()
    assert client.post("/signin", data={"name": name}).url.path == "/workspaces"


def test_r8_an_invitation_is_emailed_holds_a_seat_and_joins_by_its_link(
    client: TestClient,
) -> None:
    sign_in(client, "olivia")
    ws = client.post("/workspaces", data={"name": "Acme"}).url.path.rsplit("/", 1)[1]
    client.post(f"/w/{ws}/invitations", data={"email": "bob@acme.example"})
    page = client.get(f"/w/{ws}/members").text
    assert "bob@acme.example" in page
    assert re.search(r"2 (licences used|licences utilisées)", page)  # owner and invitation

    mailbox = client.get("/mailbox").text
    link = re.search(r"http://127\.0\.0\.1:8765(/invitations/[\w-]+)", mailbox)
    assert link is not None, "the invitation email carries its link"

    sign_in(client, "bob")
    joined = client.post(link[1])
    assert joined.url.path == f"/w/{ws}"
    sign_in(client, "olivia")
    members = client.get(f"/w/{ws}/members").text
    assert 'data-user="bob"' in members
    again = client.post(link[1], follow_redirects=True)
    assert again.url.path == "/workspaces"  # refused: shown as a message, nothing changes


def test_the_language_follows_the_switch_then_the_cookie(client: TestClient) -> None:
    sign_in(client, "olivia")
    english = client.get("/lang/en", params={"next": "/workspaces"})
    assert english.url.path == "/workspaces"
    assert "Your workspaces" in english.text
    french = client.get("/lang/fr", params={"next": "//evil.example/"}, follow_redirects=False)
    assert french.headers["location"] == "/"  # never redirected off the site
    assert "Vos espaces de travail" in client.get("/workspaces").text


def test_a_bad_name_is_refused_and_a_stranger_sees_no_workspace(client: TestClient) -> None:
    refused = client.post("/signin", data={"name": "Robert'); DROP"}, follow_redirects=True)
    assert refused.url.path == "/"
    sign_in(client, "olivia")
    ws = client.post("/workspaces", data={"name": "Acme"}).url.path.rsplit("/", 1)[1]
    sign_in(client, "mallory")
    assert client.get(f"/w/{ws}").status_code == 404
    assert client.get(f"/w/{ws}/subscription").status_code == 404


def test_the_test_clock_exists_only_when_turned_on(client: TestClient) -> None:
    sign_in(client, "olivia")
    assert client.get("/_test/clock").status_code == 404
    assert client.post("/_test/clock", data={"days": "30"}).status_code == 404
    with app_client(test_clock=True) as on:
        sign_in(on, "olivia")
        assert on.get("/_test/clock").status_code == 200
        assert on.post("/_test/clock", data={"days": "500"}).status_code == 404


def test_the_json_api_is_mounted_beside_the_pages(client: TestClient) -> None:
    assert client.get("/billing/plans").status_code == 401
    sign_in(client, "olivia")
    ws = client.post("/workspaces", data={"name": "Acme"}).url.path.rsplit("/", 1)[1]
    overview = client.get(f"/billing/workspaces/{ws}/subscription")
    assert (overview.status_code, overview.json()["status"]) == (200, "trialing")


def test_stripe_test_mode_is_wired_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With Stripe's keys set, the example runs on the Stripe adapter (no local pages)."""
    from examples.saas.wiring import Services, stripe_prices

    from workspace_billing import Interval
    from workspace_billing.providers.stripe import StripePrice, StripeProvider

    assert stripe_prices(" business:month=price_1Bm, business:year=price_1By ,") == [
        StripePrice(plan="business", interval=Interval.MONTH, id="price_1Bm"),
        StripePrice(plan="business", interval=Interval.YEAR, id="price_1By"),
    ]
    with pytest.raises(ValueError, match="'business=price_X' is not"):
        stripe_prices("business=price_X")

    monkeypatch.setenv("STRIPE_PRICES", "business:month=price_1Bm, business:year=price_1By")
    config = Config(
        database_url=f"sqlite:///{tmp_path / 'saas.db'}",
        stripe_secret_key="sk_test_example",
        stripe_webhook_secret="whsec_example",
    )
    services = Services(config)
    try:
        assert services.local is None
        assert isinstance(services.billing._provider, StripeProvider)
        app = create_app(config)
        assert not any(getattr(r, "path", "") == "/_local_billing" for r in app.routes)
    finally:
        services.stop()
