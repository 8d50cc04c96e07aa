"""The local provider's checkout page: test cards that succeed, are declined or ask
the bank's authentication, in English and French (Rule R6: the plan applies only
once the payment is confirmed)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient
from tests.local_provider.support import BASE_URL, checkout

from workspace_billing import Money, PaymentMethod, ProviderStatus
from workspace_billing.providers.local import LocalPaymentProvider

VISA = {"card_number": "4242 4242 4242 4242", "expiry": "12/30", "cvc": "123"}


def page_of(url: str) -> str:
    """The path a browser asks the host for, from the provider's absolute URL."""
    assert url.startswith(BASE_URL)
    return url.removeprefix("http://testserver")


class TestPaying:
    def test_a_card_that_succeeds_pays_and_goes_back_to_the_host(
        self, local: LocalPaymentProvider, client: TestClient
    ) -> None:
        """Rule R6: the test Visa pays; the page sends the user to the success URL."""
        customer, started = checkout(local, seats=3)
        assert started.url is not None
        shown = client.get(page_of(started.url))
        assert shown.status_code == 200
        assert "36.00 EUR" in shown.text  # 3 licences at 12.00
        assert "Business" in shown.text  # the catalog's name for the plan
        paid = client.post(page_of(started.url), data=VISA)
        assert paid.status_code == 303
        assert paid.headers["location"] == "https://host.example/billing/ok"
        (sub,) = local.subscriptions_of(customer)
        assert (sub.status, sub.seats, sub.workspace_id) == (ProviderStatus.ACTIVE, 3, "ws_1")
        assert sub.payment_method == PaymentMethod("visa", "4242", 12, 2030)
        (invoice,) = local.invoices(customer, 24)
        assert invoice.total == Money(3600, "EUR")
        kinds = [p.type for p in local.pending_webhooks()]
        assert kinds == ["checkout.completed", "subscription.created", "invoice.paid"]

    def test_paying_twice_starts_one_subscription(
        self, local: LocalPaymentProvider, client: TestClient
    ) -> None:
        customer, started = checkout(local)
        assert started.url is not None
        client.post(page_of(started.url), data=VISA)
        again = client.post(page_of(started.url), data=VISA)
        assert again.status_code == 200
        assert "This checkout is paid." in again.text
        assert len(local.subscriptions_of(customer)) == 1
        assert len(local.invoices(customer, 24)) == 1

    def test_a_declined_card_starts_nothing(
        self, local: LocalPaymentProvider, client: TestClient
    ) -> None:
        """Rule R6/R17: 4000 0000 0000 0002 is declined; no subscription, no invoice."""
        customer, started = checkout(local)
        assert started.url is not None
        declined = client.post(
            page_of(started.url), data={**VISA, "card_number": "4000000000000002"}
        )
        assert declined.status_code == 402
        assert "Your card was declined." in declined.text
        assert local.subscriptions_of(customer) == []
        assert local.invoices(customer, 24) == []
        assert local.pending_webhooks() == []
        assert client.post(page_of(started.url), data=VISA).status_code == 303  # another card

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("card_number", "4242 4242 4242 4241", "This card number is not valid."),
            ("card_number", "not a card", "This card number is not valid."),
            ("expiry", "13/30", "This expiry date is not valid."),
            ("expiry", "12/20", "This expiry date is not valid."),
            ("cvc", "12", "This security code is not valid."),
        ],
    )
    def test_a_mistyped_card_is_refused_and_nothing_changes(
        self, local: LocalPaymentProvider, client: TestClient, field: str, value: str, message: str
    ) -> None:
        """Rule R17: the page says which field is wrong; nothing is charged."""
        customer, started = checkout(local)
        assert started.url is not None
        refused = client.post(page_of(started.url), data={**VISA, field: value})
        assert refused.status_code == 400
        assert message in refused.text
        assert local.subscriptions_of(customer) == []
        assert local.invoices(customer, 24) == []


class TestAuthentication:
    def test_a_card_whose_bank_asks_pays_once_authenticated(
        self, local: LocalPaymentProvider, client: TestClient
    ) -> None:
        """Rule R6: 4000 0025 0000 3155 shows the bank's step; completing it pays."""
        customer, started = checkout(local)
        assert started.url is not None
        asked = client.post(page_of(started.url), data={**VISA, "card_number": "4000002500003155"})
        assert asked.status_code == 303
        step = client.get(asked.headers["location"])
        assert "Complete authentication" in step.text
        assert "36.00 EUR" in step.text
        assert local.subscriptions_of(customer) == []  # nothing before the bank's answer
        assert client.get(page_of(started.url)).headers["location"] == asked.headers["location"]
        done = client.post(asked.headers["location"], data={"decision": "complete"})
        assert done.status_code == 303
        assert done.headers["location"] == "https://host.example/billing/ok"
        (sub,) = local.subscriptions_of(customer)
        assert sub.payment_method is not None
        assert sub.payment_method.last4 == "3155"

    def test_a_failed_authentication_charges_nothing(
        self, local: LocalPaymentProvider, client: TestClient
    ) -> None:
        customer, started = checkout(local)
        assert started.url is not None
        asked = client.post(page_of(started.url), data={**VISA, "card_number": "4000002500003155"})
        failed = client.post(asked.headers["location"], data={"decision": "fail"})
        assert failed.status_code == 402
        assert "The authentication failed: nothing was charged." in failed.text
        assert local.subscriptions_of(customer) == []
        assert local.invoices(customer, 24) == []


class TestLanguages:
    def test_the_page_speaks_french_when_asked(
        self, local: LocalPaymentProvider, client: TestClient
    ) -> None:
        _, started = checkout(local, seats=1000)
        assert started.url is not None
        by_parameter = client.get(page_of(started.url) + "?lang=fr")
        assert "Numéro de carte" in by_parameter.text
        assert "12\u202f000,00 EUR" in by_parameter.text  # 1,000 licences at 12.00
        assert '<html lang="fr">' in by_parameter.text
        by_browser = client.get(page_of(started.url), headers={"Accept-Language": "fr-FR,fr;q=0.9"})
        assert "Payer" in by_browser.text
        english = client.get(page_of(started.url), headers={"Accept-Language": "de, en;q=0.5"})
        assert "Card number" in english.text

    def test_a_declined_card_is_told_in_the_language_of_the_form(
        self, local: LocalPaymentProvider, client: TestClient
    ) -> None:
        _, started = checkout(local)
        assert started.url is not None
        form = {**VISA, "card_number": "4000 0000 0000 0002", "lang": "fr"}
        assert "Votre carte a été refusée." in client.post(page_of(started.url), data=form).text


class TestWhatThePageShows:
    def test_what_the_host_sent_is_escaped(
        self, local: LocalPaymentProvider, client: TestClient
    ) -> None:
        """No text reaches the page unescaped, whatever the host put in the checkout."""
        _, started = checkout(local, plan="<script>alert(1)</script>")
        assert started.url is not None
        shown = client.get(page_of(started.url))
        assert "<script>alert(1)</script>" not in shown.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown.text

    def test_an_unknown_checkout_is_not_found(self, client: TestClient) -> None:
        missing = client.get("/_local_billing/checkout/cs_nothing?lang=fr")
        assert missing.status_code == 404
        assert "Page introuvable" in missing.text
