"""What to tell the workspace's users when a request is refused, in their language.

``str(error)`` is the developer's English sentence, with internal ids and
words; a billing page shows ``error.user_message(locale)`` instead: the
facts a user needs ("3 of 3 licences are used"), nothing internal. The
sentences are gettext message ids (English); their translations live in
``locale/<lang>/LC_MESSAGES/workspace_billing.po`` (sources, edited with
Babel's ``pybabel``) beside the compiled ``.mo`` files read here, so the
library needs no Babel at run time.
"""

from __future__ import annotations

import gettext
from collections.abc import Mapping
from functools import cache
from pathlib import Path

__all__ = ["DOMAIN", "LOCALES", "USER_MESSAGES", "negotiate", "render"]

DOMAIN = "workspace_billing"
LOCALES = ("en", "fr")
"""The languages shipped; any other falls back to English."""
LOCALE_DIR = Path(__file__).parent / "locale"


def N_(message: str) -> str:  # noqa: N802 - gettext's own name for the marker
    """Marks a message for ``pybabel extract`` without translating it here."""
    return message


def NP_(singular: str, plural: str, counted: str) -> tuple[str, str, str]:  # noqa: N802
    """Marks a message with a plural (``pybabel extract -k NP_:1,2``); ``counted``
    names the detail that chooses the form."""
    return singular, plural, counted


Message = str | tuple[str, str, str]
"""A sentence, or (singular, plural, the detail that counts) for ``ngettext``."""

USER_MESSAGES: Mapping[str, Message] = {
    "billing_error": N_("Something went wrong with billing. Please try again later."),
    "permission_denied": N_(
        "Only the owner and the administrators of this workspace can manage its "
        "subscription and members."
    ),
    "not_found": N_("This item could not be found."),
    "not_a_member": N_("This person is not a member of the workspace."),
    "invitation_not_found": N_(
        "This invitation is no longer valid: it was accepted or withdrawn. Ask for a new one."
    ),
    "invalid_request": N_("This request cannot be completed."),
    "invalid_id": N_("This name or identifier is not valid."),
    "invalid_text": N_("This text is empty, too long or contains characters that are not allowed."),
    "invalid_number": N_("This number is not valid."),
    "invalid_flag": N_("This option must be yes or no."),
    "invalid_datetime": N_("This date is not valid: it needs a time zone."),
    "invalid_money": N_("This amount is not valid."),
    "currency_mismatch": N_("This amount is not in the currency of the plans."),
    "invalid_webhook_body": N_("The payment provider's message could not be read."),
    "invalid_callback": N_("The billing job was started with a wrong setting."),
    "invalid_clock": N_("The billing service is misconfigured: its clock has no time zone."),
    "invalid_duration": N_(
        "The billing service is misconfigured: its invitation period is not valid."
    ),
    "invalid_email": N_("This email address is not valid."),
    "invitation_expired": N_("This invitation has expired. Ask for a new one."),
    "invalid_notices": N_(
        "The billing service is misconfigured: its notice periods are not valid."
    ),
    "unknown_role": N_("A member is either an administrator or a member."),
    "role_not_assignable": N_("A workspace has a single owner, set when it is created."),
    "owner_cannot_leave": N_("The owner cannot be removed from the workspace."),
    "owner_role_fixed": N_("The owner's role cannot be changed."),
    "unknown_plan": N_("This plan does not exist."),
    "unknown_feature": N_("This feature does not exist."),
    "unknown_interval": N_("Plans are billed monthly or yearly."),
    "interval_not_sold": N_("This plan is not sold with this billing period."),
    "plan_required": N_("Choose the plan to upgrade to."),
    "plan_not_paid": N_("This plan is free: there is nothing to buy."),
    "not_on_paid_plan": N_(
        "Licences are bought on a paid plan: upgrade your subscription first."
    ),
    "negotiated_plan": N_(
        "Your subscription was agreed with our sales team: contact us to change it."
    ),
    "already_on_plan": N_(
        "You are already on this plan: change the number of licences instead."
    ),
    "no_paid_subscription": N_("There is no paid subscription to cancel or resume."),
    "trial_not_extendable": N_("Only a free trial that is still running can be extended."),
    "trial_end_out_of_range": N_(
        "The trial can only be extended to a later date, at most a year from today."
    ),
    "seats_not_whole": N_("The number of licences must be a whole number."),
    "seats_below_minimum": N_("You need at least one licence: the owner holds one."),
    "seats_above_maximum": NP_(
        "At most %(max_seats)d licence can be bought online: contact us for more.",
        "At most %(max_seats)d licences can be bought online: contact us for more.",
        "max_seats",
    ),
    "seats_below_in_use": NP_(
        "%(seats_used)d member is active: remove members before lowering the licences "
        "below that.",
        "%(seats_used)d members are active: remove members before lowering the licences "
        "below that.",
        "seats_used",
    ),
    "price_out_of_range": N_("This price is not valid."),
    "no_sales_plan": N_("No plan is sold through our sales team."),
    "plan_not_self_serve": N_("This plan is sold by our sales team: contact us."),
    "trial_not_eligible": N_("The free trial is offered once, on your first workspace."),
    "invalid_catalog": N_("The plans are misconfigured. Please contact support."),
    "seat_limit_reached": NP_(
        "%(seats_used)d of %(seats)d licence is used: you must buy licences before "
        "adding members.",
        "%(seats_used)d of %(seats)d licences are used: you must buy licences before "
        "adding members.",
        "seats",
    ),
    "conflict": N_("This change conflicts with another one. Reload the page and try again."),
    "already_member": N_("This person is already a member of the workspace."),
    "already_active": N_("This member is already active."),
    "already_invited": N_("This email address has already been invited to the workspace."),
    "workspace_exists": N_("A workspace with this identifier already exists."),
    "store_busy": N_("The service is busy. Please try again in a moment."),
    "payment_action_required": N_("Your bank asks you to confirm this payment."),
    "provider_error": N_("The payment service is unavailable. Please try again later."),
    "payment_failed": N_(
        "The payment was declined and nothing was charged. Check your card and try again."
    ),
    "store_error": N_("The service is temporarily unavailable. Please try again later."),
    "webhook_verification_failed": N_("The payment provider's message could not be verified."),
}  # fmt: skip


_GENERIC = "This request cannot be completed."


def language(locale: str | None) -> str:
    """``fr``, ``fr_FR``, ``fr-CA`` -> ``fr``; anything not shipped -> ``en``."""
    if not isinstance(locale, str):
        return "en"
    lang = locale.replace("-", "_").split("_", 1)[0].lower()
    return lang if lang in LOCALES else "en"


def negotiate(accept_language: str | None) -> str:
    """The first language of an ``Accept-Language`` header (by its ``q`` weights, then
    its order) that the library speaks, else ``en``; one weighted ``q=0`` is refused
    by the header itself and never chosen."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        weighted.append((-quality, position, tag.strip().lower().split("-")[0]))
    for minus_quality, _, lang in sorted(weighted):
        if lang in LOCALES and minus_quality < 0:
            return lang
    return "en"


@cache
def _catalog(lang: str) -> gettext.NullTranslations:
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[lang], fallback=True)


def render(code: str, details: Mapping[str, object], locale: str | None = "en") -> str:
    """The user's sentence for ``code`` in ``locale``, its facts filled in."""
    message = USER_MESSAGES.get(code, USER_MESSAGES["billing_error"])
    translations = _catalog(language(locale))
    if isinstance(message, tuple):
        singular, plural, counted = message
        count = details.get(counted)
        text = translations.ngettext(singular, plural, count if isinstance(count, int) else 2)
    else:
        text = translations.gettext(message)
    try:
        return text % dict(details) if "%(" in text else text
    except (KeyError, TypeError, ValueError):  # a fact is missing: say less, never fail
        return translations.gettext(_GENERIC)
