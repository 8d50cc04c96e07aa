"""Billing: one method per user action, the service layer of the library.

Each action loads what it needs, lets the pure core decide, then saves the new
state and its events in one store transaction. No provider call is made while
a workspace is locked: the action reads and checks in a first transaction,
calls the provider with an idempotency key derived from the intent, and
applies the provider's confirmed view in a second transaction, where the
webhook path and the renewal sweep apply it too.

The actions live in ``service/``, one module per capability; ``Billing`` is
their composition, so ``help(Billing.add_member)`` reads the action where it
is written.
"""

from __future__ import annotations

from .service.account import AccountActions
from .service.invitations import InvitationActions
from .service.members import MemberActions
from .service.plans import PlanActions
from .service.renewals import RenewalJobs
from .service.sales import SalesActions
from .service.webhooks import WebhookIntake
from .service.workspaces import WorkspaceActions

__all__ = ["Billing"]


class Billing(
    WorkspaceActions,
    MemberActions,
    InvitationActions,
    PlanActions,
    AccountActions,
    SalesActions,
    RenewalJobs,
    WebhookIntake,
):
    """The library's entry point: wire a catalog, a store, a provider and a clock.

    Nothing connects at construction; every method is safe to call from
    several threads or processes at once (the store serializes writers).
    """
