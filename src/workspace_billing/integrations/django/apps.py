"""The Django app's configuration."""

from __future__ import annotations

from django.apps import AppConfig


class WorkspaceBillingConfig(AppConfig):
    name = "workspace_billing.integrations.django"
    label = "workspace_billing"
    verbose_name = "Workspace billing"
