"""The local provider's billing portal, following the product's steps: update the
subscription, choose the licences, Continue, see the prorated amount, Subscribe
and pay (Rules R9, R13, R18)."""

from __future__ import annotations

import re
from datetime import timedelta

from starlette.testclient import TestClient
from tests.local_provider.support import PRICE, paid

from workspace_billing import Interval, Money, ProviderStatus, QuoteRequest
from workspace_billing.providers.local import LocalPaymentProvider
from workspace_billing.testing import FakeClock


def portal(local: LocalPaymentProvider, customer: str) -> str:
    url = local.portal_url(customer, return_url="https://host.example/billing",
                           idempotency_key=f"test:portal:{customer}")  # fmt: skip
    return url.removeprefix("http://testserver")


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found is not None, f"no hidden {name!r}"
    return found[1]


class TestBuyingLicences:
    def test_the_seeds_steps_show_the_prorated_amount_then_charge_it(
        self, local: LocalPaymentProvider, client: TestClient, clock: FakeClock
    ) -> None:
        """Rule R18 then R9: the amount shown is the amount charged, and the seats follow."""
        customer, ref = paid(local, seats=3)
        clock.advance(timedelta(days=10))
        home = client.get(portal(local, customer) + "?lang=fr")
        assert "Mettre à jour l’abonnement" in home.text
        assert "Visa se terminant par 4242" in home.text
        update = client.get(f"{portal(local, customer)}/subscriptions/{ref}?lang=fr")
        assert "De combien de licences avez-vous besoin ?" in update.text
        assert "Continuer" in update.text
        confirm = client.get(f"{portal(local, customer)}/subscriptions/{ref}/confirm",
                             params={"seats": "5", "lang": "fr"})  # fmt: skip
        assert confirm.status_code == 200
        quote = local.quote(QuoteRequest("business", Interval.MONTH, 5, PRICE, ref))
        assert Money(0, "EUR") < quote.due_now < PRICE * 2
        shown = quote.due_now.amount
        assert f"{shown // 100},{shown % 100:02d} EUR" in confirm.text
        assert "S’abonner et payer" in confirm.text
        paid_now = client.post(
            f"{portal(local, customer)}/subscriptions/{ref}/confirm",
            data={"seats": "5", "key": hidden(confirm.text, "key"), "lang": "fr"},
        )
        assert paid_now.status_code == 303
        assert "done=updated" in paid_now.headers["location"]
        assert "lang=fr" in paid_now.headers["location"]
        assert local.fetch_subscription(ref).seats == 5
        newest = local.invoices(customer, 1)[0]
        assert newest.total == quote.due_now
        back = client.get(paid_now.headers["location"])
        assert "Votre abonnement est mis à jour." in back.text

    def test_submitting_the_same_confirmation_twice_charges_once(
        self, local: LocalPaymentProvider, client: TestClient, clock: FakeClock
    ) -> None:
        customer, ref = paid(local, seats=3)
        clock.advance(timedelta(days=3))
        confirm = client.get(f"{portal(local, customer)}/subscriptions/{ref}/confirm?seats=4")
        form = {"seats": "4", "key": hidden(confirm.text, "key")}
        for _ in range(2):
            assert client.post(f"{portal(local, customer)}/subscriptions/{ref}/confirm",
                               data=form).status_code == 303  # fmt: skip
        assert len(local.invoices(customer, 24)) == 2  # the checkout and one increase

    def test_fewer_licences_cost_nothing_now_and_wait_for_the_renewal(
        self, local: LocalPaymentProvider, client: TestClient
    ) -> None:
        """Rule R9: a decrease is scheduled; nothing is charged."""
        customer, ref = paid(local, seats=4)
        confirm = client.get(f"{portal(local, customer)}/subscriptions/{ref}/confirm?seats=2")
        assert "Nothing is due now" in confirm.text
        assert "24.00 EUR per month" in confirm.text
        client.post(f"{portal(local, customer)}/subscriptions/{ref}/confirm",
                    data={"seats": "2", "key": hidden(confirm.text, "key")})  # fmt: skip
        view = local.fetch_subscription(ref)
        assert (view.seats, view.pending_seats) == (4, 2)
        assert len(local.invoices(customer, 24)) == 1
        assert "2 licences" in client.get(portal(local, customer)).text

    def test_a_declined_card_changes_nothing_and_can_be_retried(
        self, local: LocalPaymentProvider, client: TestClient
    ) -> None:
        """Rule R9: seats only when paid."""
        customer, ref = paid(local, seats=3)
        local.fail_next_payment()
        confirm = client.get(f"{portal(local, customer)}/subscriptions/{ref}/confirm?seats=5")
        url = f"{portal(local, customer)}/subscriptions/{ref}/confirm"
        declined = client.post(url, data={"seats": "5", "key": hidden(confirm.text, "key")})
        assert declined.status_code == 402
        assert "Your card was declined." in declined.text
        assert local.fetch_subscription(ref).seats == 3
        retry = client.post(url, data={"seats": "5", "key": hidden(declined.text, "key")})
        assert retry.status_code == 303
        assert local.fetch_subscription(ref).seats == 5

    def test_a_payment_the_bank_asks_about_goes_through_its_page_and_back(
        self, local: LocalPaymentProvider, client: TestClient
    ) -> None:
        """Rule R9 with 3-D Secure: authenticate, then back to the portal with the seats."""
        customer, ref = paid(local, seats=3)
        local.require_action_next_payment()
        confirm = client.get(f"{portal(local, customer)}/subscriptions/{ref}/confirm?seats=6")
        asked = client.post(f"{portal(local, customer)}/subscriptions/{ref}/confirm",
                            data={"seats": "6", "key": hidden(confirm.text, "key")})  # fmt: skip
        assert asked.status_code == 303
        bank = asked.headers["location"].removeprefix("http://testserver")
        assert bank.startswith("/_local_billing/authenticate/pi_")
        assert local.fetch_subscription(ref).seats == 3
        assert "Complete authentication" in client.get(bank).text
        done = client.post(bank, data={"decision": "complete"})
        assert done.status_code == 303
        assert done.headers["location"].startswith(f"http://testserver{portal(local, customer)}")
        assert local.fetch_subscription(ref).seats == 6

    def test_impossible_numbers_of_licences_are_refused(
        self, local: LocalPaymentProvider, client: TestClient
    ) -> None:
        """Rule R17: the page says why; nothing changes."""
        customer, ref = paid(local, seats=3)
        url = f"{portal(local, customer)}/subscriptions/{ref}/confirm"
        for seats, message in [
            ("0", "At least one licence is needed."),
            ("10001", "That is more licences than can be bought here."),
            ("two", "Enter a whole number of licences."),
        ]:
            refused = client.get(url, params={"seats": seats})
            assert refused.status_code == 400
            assert message in refused.text
        assert local.fetch_subscription(ref).seats == 3
        assert len(local.invoices(customer, 24)) == 1


class TestThePortal:
    def test_cancel_then_renew(self, local: LocalPaymentProvider, client: TestClient) -> None:
        """Rule R13."""
        customer, ref = paid(local)
        base = f"{portal(local, customer)}/subscriptions/{ref}"
        canceled = client.post(f"{base}/cancel", data={"lang": "fr"})
        assert canceled.status_code == 303
        assert local.fetch_subscription(ref).cancel_at_period_end
        assert "Renouveler l’abonnement" in client.get(canceled.headers["location"]).text
        client.post(f"{base}/resume")
        assert not local.fetch_subscription(ref).cancel_at_period_end

    def test_the_card_on_file_is_replaced_and_a_declined_one_refused(
        self, local: LocalPaymentProvider, client: TestClient
    ) -> None:
        customer, ref = paid(local)
        url = f"{portal(local, customer)}/card"
        card = {"card_number": "5555 5555 5555 4444", "expiry": "01/31", "cvc": "123"}
        refused = client.post(url, data={**card, "card_number": "4000000000000002"})
        assert refused.status_code == 400
        assert "Your card was declined." in refused.text
        assert client.post(url, data=card).status_code == 303
        method = local.fetch_subscription(ref).payment_method
        assert method is not None
        assert (method.brand, method.last4, method.exp_month, method.exp_year) == (
            "mastercard", "4444", 1, 2031,
        )  # fmt: skip

    def test_the_invoices_are_listed_and_an_overdue_one_paid(
        self, local: LocalPaymentProvider, client: TestClient, clock: FakeClock
    ) -> None:
        """Rule R12: a declined renewal is past due until its invoice is paid."""
        customer, ref = paid(local)
        local.fail_next_payment()
        clock.set(local.fetch_subscription(ref).period_end + timedelta(hours=1))
        assert local.fetch_subscription(ref).status is ProviderStatus.PAST_DUE
        home = client.get(portal(local, customer))
        assert "Payment overdue" in home.text
        overdue = local.invoices(customer, 1)[0]
        page = client.get(f"/_local_billing/invoices/{overdue.id}")
        assert "Pay now" in page.text
        assert client.post(f"/_local_billing/invoices/{overdue.id}/pay").status_code == 303
        assert local.fetch_subscription(ref).status is ProviderStatus.ACTIVE
        assert "This invoice is paid." in client.get(f"/_local_billing/invoices/{overdue.id}").text

    def test_another_customers_subscription_is_not_shown(
        self, local: LocalPaymentProvider, client: TestClient
    ) -> None:
        mine, _ = paid(local, ws="ws_1")
        _, theirs = paid(local, ws="ws_2")
        assert client.get(f"{portal(local, mine)}/subscriptions/{theirs}").status_code == 404
        assert (
            client.post(f"{portal(local, mine)}/subscriptions/{theirs}/cancel").status_code == 404
        )
        assert not local.fetch_subscription(theirs).cancel_at_period_end
        assert client.get("/_local_billing/portal/bps_unknown").status_code == 404
