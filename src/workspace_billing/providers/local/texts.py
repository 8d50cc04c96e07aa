"""What the local provider's pages say, in English and French, and how they
write amounts, dates and plan names in each.

The portal follows the product's help page (``Mettre à jour l'abonnement`` →
the number of licences → ``Continuer`` → the prorated amount →
``S'abonner et payer``). A page's language comes from its ``lang`` parameter,
else the browser's ``Accept-Language``, else English.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from ...catalog import Catalog, Interval
from ...errors import InvalidRequest
from ...messages import LOCALES, negotiate
from ...money import Money

__all__ = ["LANGUAGES", "TEXTS", "choose_language", "date_text", "money_text", "plan_name"]

LANGUAGES = LOCALES  # the pages speak what the messages do

TEXTS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "title_checkout": "Checkout",
        "title_portal": "Billing portal",
        "title_authenticate": "Confirm your payment",
        "title_invoice": "Invoice",
        "title_not_found": "Page not found",
        "local_notice": "Local test payments: no real card is charged.",
        "subscribe_to": "Subscribe to %(plan)s",
        "licences": "Licences",
        "price_per_licence": "Price per licence",
        "per_month": "per month",
        "per_year": "per year",
        "total_due": "Total due today",
        "card_number": "Card number",
        "expiry": "Expiry (MM/YY)",
        "cvc": "Security code",
        "pay": "Pay",
        "back": "Back",
        "test_cards": "Test cards: 4242 4242 4242 4242 succeeds, 4000 0000 0000 0002 is "
        "declined, 4000 0025 0000 3155 asks you to authenticate.",
        "error_number": "This card number is not valid.",
        "error_expiry": "This expiry date is not valid.",
        "error_cvc": "This security code is not valid.",
        "declined": "Your card was declined. Try another card.",
        "not_authenticated": "The authentication failed: nothing was charged.",
        "already_paid": "This checkout is paid.",
        "continue_to_site": "Continue",
        "bank_asks": "Your bank asks you to confirm this payment of %(amount)s.",
        "complete": "Complete authentication",
        "fail": "Fail authentication",
        "payment_confirmed": "Your payment is confirmed.",
        "return": "Return to the application",
        "current_subscription": "Current subscription",
        "renews_on": "Renews on %(date)s",
        "ends_on": "Ends on %(date)s",
        "past_due": "Payment overdue",
        "pending_change": "From %(date)s: %(seats)s licences",
        "update_subscription": "Update subscription",
        "cancel_subscription": "Cancel subscription",
        "resume_subscription": "Renew subscription",
        "no_subscription": "No subscription.",
        "payment_method": "Payment method",
        "no_card": "No card on file.",
        "card_ending": "%(brand)s ending in %(last4)s, expires %(month)02d/%(year)s",
        "update_card": "Update card",
        "save_card": "Save card",
        "card_saved": "Your card is saved.",
        "invoice_history": "Invoice history",
        "no_invoices": "No invoices yet.",
        "status_paid": "Paid",
        "status_open": "Open",
        "status_void": "Void",
        "status_draft": "Draft",
        "status_uncollectible": "Uncollectible",
        "how_many_licences": "How many licences do you need?",
        "continue": "Continue",
        "confirm_purchase": "Confirm your purchase",
        "due_now": "Amount due now (prorated to %(date)s)",
        "nothing_due": "Nothing is due now: the change applies on %(date)s.",
        "new_recurring": "Then %(amount)s %(period)s",
        "subscribe_and_pay": "Subscribe and pay",
        "updated": "Your subscription is updated.",
        "canceled": "Your subscription will end at the end of its period.",
        "resumed": "Your subscription will renew.",
        "error_seats_below_minimum": "At least one licence is needed.",
        "error_seats_above_maximum": "That is more licences than can be bought here.",
        "error_seats_not_whole": "Enter a whole number of licences.",
        "invoice_number": "Invoice %(number)s",
        "period": "Period: %(start)s to %(end)s",
        "amount": "Amount",
        "pay_now": "Pay now",
        "authenticate_to_pay": "Confirm the payment",
        "invoice_paid": "This invoice is paid.",
        "not_found": "This page does not exist, or it has expired.",
        "title_refused": "This cannot be done",
        "refused": "This step is not possible any more: go back and reload the page.",
    },
    "fr": {
        "title_checkout": "Paiement",
        "title_portal": "Portail de facturation",
        "title_authenticate": "Confirmez votre paiement",
        "title_invoice": "Facture",
        "title_not_found": "Page introuvable",
        "local_notice": "Paiements de test en local : aucune vraie carte n’est débitée.",
        "subscribe_to": "S’abonner à %(plan)s",
        "licences": "Licences",
        "price_per_licence": "Prix par licence",
        "per_month": "par mois",
        "per_year": "par an",
        "total_due": "Total à payer aujourd’hui",
        "card_number": "Numéro de carte",
        "expiry": "Expiration (MM/AA)",
        "cvc": "Code de sécurité",
        "pay": "Payer",
        "back": "Retour",
        "test_cards": "Cartes de test : 4242 4242 4242 4242 est acceptée, 4000 0000 0000 0002 "
        "est refusée, 4000 0025 0000 3155 demande une authentification.",
        "error_number": "Ce numéro de carte n’est pas valide.",
        "error_expiry": "Cette date d’expiration n’est pas valide.",
        "error_cvc": "Ce code de sécurité n’est pas valide.",
        "declined": "Votre carte a été refusée. Essayez une autre carte.",
        "not_authenticated": "L’authentification a échoué : rien n’a été débité.",
        "already_paid": "Ce paiement est effectué.",
        "continue_to_site": "Continuer",
        "bank_asks": "Votre banque vous demande de confirmer ce paiement de %(amount)s.",
        "complete": "Confirmer l’authentification",
        "fail": "Refuser l’authentification",
        "payment_confirmed": "Votre paiement est confirmé.",
        "return": "Retourner à l’application",
        "current_subscription": "Abonnement actuel",
        "renews_on": "Renouvellement le %(date)s",
        "ends_on": "Prend fin le %(date)s",
        "past_due": "Paiement en retard",
        "pending_change": "À partir du %(date)s : %(seats)s licences",
        "update_subscription": "Mettre à jour l’abonnement",
        "cancel_subscription": "Annuler l’abonnement",
        "resume_subscription": "Renouveler l’abonnement",
        "no_subscription": "Aucun abonnement.",
        "payment_method": "Moyen de paiement",
        "no_card": "Aucune carte enregistrée.",
        "card_ending": "%(brand)s se terminant par %(last4)s, expire le %(month)02d/%(year)s",
        "update_card": "Modifier la carte",
        "save_card": "Enregistrer la carte",
        "card_saved": "Votre carte est enregistrée.",
        "invoice_history": "Historique des factures",
        "no_invoices": "Aucune facture pour l’instant.",
        "status_paid": "Payée",
        "status_open": "À payer",
        "status_void": "Annulée",
        "status_draft": "Brouillon",
        "status_uncollectible": "Irrécouvrable",
        "how_many_licences": "De combien de licences avez-vous besoin ?",
        "continue": "Continuer",
        "confirm_purchase": "Confirmez votre achat",
        "due_now": "Montant dû maintenant (au prorata jusqu’au %(date)s)",
        "nothing_due": "Rien à payer maintenant : le changement s’applique le %(date)s.",
        "new_recurring": "Puis %(amount)s %(period)s",
        "subscribe_and_pay": "S’abonner et payer",
        "updated": "Votre abonnement est mis à jour.",
        "canceled": "Votre abonnement prendra fin à la fin de sa période.",
        "resumed": "Votre abonnement sera renouvelé.",
        "error_seats_below_minimum": "Il faut au moins une licence.",
        "error_seats_above_maximum": "C’est plus de licences qu’on ne peut en acheter ici.",
        "error_seats_not_whole": "Saisissez un nombre entier de licences.",
        "invoice_number": "Facture %(number)s",
        "period": "Période : du %(start)s au %(end)s",
        "amount": "Montant",
        "pay_now": "Payer maintenant",
        "authenticate_to_pay": "Confirmer le paiement",
        "invoice_paid": "Cette facture est payée.",
        "not_found": "Cette page n’existe pas, ou elle a expiré.",
        "title_refused": "Action impossible",
        "refused": "Cette étape n’est plus possible : revenez en arrière et rechargez la page.",
    },
}

_MONTHS = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
           "septembre", "octobre", "novembre", "décembre"),
}  # fmt: skip


def choose_language(asked: str | None, accept_language: str | None) -> str:
    """``asked`` when it is a language of the pages, else the browser's first one
    that is (by its ``q`` weights), else English."""
    return asked if asked in LANGUAGES else negotiate(accept_language)


def money_text(money: Money, lang: str) -> str:
    """``1,234.50 EUR`` in English, ``1 234,50 EUR`` in French."""
    text = str(money)
    if lang == "fr":
        text = text.replace(",", "\u202f").replace(".", ",")
    return text


def date_text(at: datetime, lang: str) -> str:
    """``12 March 2026``, ``12 mars 2026``."""
    return f"{at.day} {_MONTHS[lang][at.month - 1]} {at.year}"


def period_text(interval: Interval, lang: str) -> str:
    return TEXTS[lang]["per_year" if interval is Interval.YEAR else "per_month"]


def plan_name(catalog: Catalog | None, code: str, lang: str) -> str:
    """The plan's name in ``lang`` when the catalog knows it, else its code."""
    if catalog is None:
        return code
    try:
        return catalog.plan(code).display_name(lang)
    except InvalidRequest:
        return code
