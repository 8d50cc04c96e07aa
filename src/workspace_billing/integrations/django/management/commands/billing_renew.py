"""``manage.py billing_renew``: the renewal job on the project's ``Billing``."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from .....errors import BillingError
from ...conf import billing as configured_billing


class Command(BaseCommand):
    help = "Apply every boundary due now (trial ends, renewals, ends of grace) and notices."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = configured_billing().run_renewals(batch_size=options["batch_size"])
        except BillingError as e:
            raise CommandError(str(e)) from e
        if options["json"]:
            self.stdout.write(json.dumps(report.to_dict()))
            return
        self.stdout.write(
            f"{report.examined} examined, {report.changed} changed, "
            f"{report.deactivated} deactivated, {len(report.failed)} failed"
        )
        if report.failed:
            raise CommandError(f"{len(report.failed)} workspaces failed: run again")
