"""What the example's pages say, in English and French (the help page's words).

The library translates what it says itself: errors (``user_message(locale)``)
and plan and feature names (``display_name(locale)``); the app's own words
are here.
"""

from __future__ import annotations

from datetime import datetime

from workspace_billing import Money
from workspace_billing.providers.local.texts import money_text

LANGUAGES = ("fr", "en")

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "app": "Acme Projects",
        "sign_in": "Sign in",
        "sign_in_intro": "Your name is all this example asks.",
        "your_name": "Your name",
        "sign_out": "Sign out",
        "workspaces": "Your workspaces",
        "no_workspace": "You have no workspace yet.",
        "create_workspace": "Create a workspace",
        "workspace_name": "Workspace name",
        "create": "Create",
        "open": "Open",
        "administration": "Administration",
        "subscription": "Subscription",
        "members": "Members",
        "features": "Available features",
        "plan": "Plan",
        "status": "Status",
        "licences": "Licences",
        "licences_used": "{used} of {seats} licences used",
        "trial_ends": "Your free trial ends on {date}.",
        "renews": "Renews on {date}.",
        "ends": "Ends on {date}: the subscription was canceled.",
        "upgrade": "Upgrade",
        "manage": "Manage subscription",
        "cancel": "Cancel the subscription",
        "cancel_now": "End it now",
        "resume": "Keep the subscription",
        "pending": "On {date}, the licences go down to {seats}.",
        "will_deactivate": (
            "There will be fewer licences than active members: at the next renewal "
            "the last members added will be deactivated: {users}."
        ),
        "card": "Card on file",
        "card_text": "{brand} ending in {last4}, expires {month:02d}/{year}",
        "invoices": "Invoices",
        "no_invoice": "No invoice yet.",
        "number": "Number",
        "date": "Date",
        "total": "Total",
        "view": "View",
        "choose_plan": "Choose a plan",
        "per_licence": "{price} per licence per month",
        "contact_us": "Contact us",
        "choose": "Choose",
        "current": "Your plan",
        "contact_title": "Ask for the Enterprise plan",
        "contact_intro": "Tell us what you need; our sales team answers within a day.",
        "message": "Message",
        "send": "Send",
        "contact_sent": "Your request was sent to our sales team.",
        "paid": "Thank you: your payment was received.",
        "member": "Member",
        "role": "Role",
        "owner": "Owner",
        "admin": "Admin",
        "add_member": "Add a member",
        "user_name": "User name",
        "add": "Add",
        "remove": "Remove",
        "reactivate": "Reactivate",
        "active": "Active",
        "deactivated": "Deactivated",
        "buy_licences": "Buy licences",
        "invite": "Invite by email",
        "email": "Email",
        "invitations": "Pending invitations",
        "expires": "Expires",
        "revoke": "Revoke",
        "mailbox": "Mailbox",
        "mailbox_intro": "What the app would have emailed (the library's outbox).",
        "no_mail": "No email yet.",
        "to": "To",
        "subject": "Subject",
        "clock": "Test clock",
        "clock_intro": "Moves time forward, then runs the renewal job.",
        "days": "Days",
        "advance": "Advance",
        "now": "Now: {date}",
        "forbidden": "Only the owner and administrators see this section.",
        "back": "Back",
        "language": "Français",
        "trialing": "Free trial",
        "active_status": "Active",
        "past_due": "Payment overdue",
        "free": "Free",
        "expired": "Expired",
        "invoice_draft": "Draft",
        "invoice_open": "Due",
        "invoice_paid": "Paid",
        "invoice_void": "Void",
        "invoice_uncollectible": "Uncollectible",
    },
    "fr": {
        "app": "Acme Projets",
        "sign_in": "Se connecter",
        "sign_in_intro": "Cet exemple ne demande que votre nom.",
        "your_name": "Votre nom",
        "sign_out": "Se déconnecter",
        "workspaces": "Vos espaces de travail",
        "no_workspace": "Vous n'avez pas encore d'espace de travail.",
        "create_workspace": "Créer un espace de travail",
        "workspace_name": "Nom de l'espace",
        "create": "Créer",
        "open": "Ouvrir",
        "administration": "Administration",
        "subscription": "Abonnement",
        "members": "Membres",
        "features": "Fonctionnalités disponibles",
        "plan": "Forfait",
        "status": "Statut",
        "licences": "Licences",
        "licences_used": "{used} licences utilisées sur {seats}",
        "trial_ends": "Votre essai gratuit se termine le {date}.",
        "renews": "Renouvellement le {date}.",
        "ends": "Se termine le {date} : l'abonnement a été résilié.",
        "upgrade": "Mettre à niveau",
        "manage": "Gérer l'abonnement",
        "cancel": "Résilier l'abonnement",
        "cancel_now": "Y mettre fin maintenant",
        "resume": "Conserver l'abonnement",
        "pending": "Le {date}, le nombre de licences passera à {seats}.",
        "will_deactivate": (
            "Il y aura moins de licences que de membres actifs : au prochain "
            "renouvellement, les derniers membres ajoutés seront désactivés : {users}."
        ),
        "card": "Carte enregistrée",
        "card_text": "{brand} se terminant par {last4}, expire {month:02d}/{year}",
        "invoices": "Factures",
        "no_invoice": "Aucune facture pour l'instant.",
        "number": "Numéro",
        "date": "Date",
        "total": "Total",
        "view": "Voir",
        "choose_plan": "Choisir un forfait",
        "per_licence": "{price} par licence et par mois",
        "contact_us": "Nous contacter",
        "choose": "Choisir",
        "current": "Votre forfait",
        "contact_title": "Demander le forfait Entreprise",
        "contact_intro": "Dites-nous ce dont vous avez besoin ; notre équipe commerciale "
        "répond sous un jour.",
        "message": "Message",
        "send": "Envoyer",
        "contact_sent": "Votre demande a été transmise à notre équipe commerciale.",
        "paid": "Merci : votre paiement a bien été reçu.",
        "member": "Membre",
        "role": "Rôle",
        "owner": "Propriétaire",
        "admin": "Administrateur",
        "add_member": "Ajouter un membre",
        "user_name": "Nom d'utilisateur",
        "add": "Ajouter",
        "remove": "Retirer",
        "reactivate": "Réactiver",
        "active": "Actif",
        "deactivated": "Désactivé",
        "buy_licences": "Acheter des licences",
        "invite": "Inviter par e-mail",
        "email": "E-mail",
        "invitations": "Invitations en attente",
        "expires": "Expire",
        "revoke": "Révoquer",
        "mailbox": "Boîte de réception",
        "mailbox_intro": "Ce que l'application aurait envoyé par e-mail (la file "
        "d'événements de la bibliothèque).",
        "no_mail": "Aucun e-mail pour l'instant.",
        "to": "À",
        "subject": "Objet",
        "clock": "Horloge de test",
        "clock_intro": "Avance le temps, puis lance le renouvellement.",
        "days": "Jours",
        "advance": "Avancer",
        "now": "Maintenant : {date}",
        "forbidden": "Seuls le propriétaire et les administrateurs voient cette section.",
        "back": "Retour",
        "language": "English",
        "trialing": "Essai gratuit",
        "active_status": "Actif",
        "past_due": "Paiement en retard",
        "free": "Gratuit",
        "expired": "Expiré",
        "invoice_draft": "Brouillon",
        "invoice_open": "À payer",
        "invoice_paid": "Payée",
        "invoice_void": "Annulée",
        "invoice_uncollectible": "Irrécouvrable",
    },
}


def choose_language(asked: str | None, accept_language: str | None) -> str:
    """``asked`` (the ``lang`` cookie or parameter) when it is one we speak, else the
    browser's first language we speak, else French (the product's own)."""
    if asked in LANGUAGES:
        return asked
    for part in (accept_language or "").split(","):
        language = part.split(";")[0].strip().lower()[:2]
        if language in LANGUAGES:
            return language
    return "fr"


def say(language: str, key: str, **values: object) -> str:
    return TEXTS[language][key].format(**values)


def day(when: datetime | None, language: str) -> str:
    if when is None:
        return ""
    return when.strftime("%d/%m/%Y") if language == "fr" else when.strftime("%Y-%m-%d")


def money(amount: Money | None, language: str) -> str:
    """As the local provider's pages write it: the library's own rendering (integer
    minor units, the currency's exponent), with French separators for French."""
    return "" if amount is None else money_text(amount, language)
