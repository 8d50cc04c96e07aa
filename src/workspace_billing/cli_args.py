"""The ``workspace-billing`` command line: its commands, options and their checks.

Wrong usage (an unknown command or option, a number out of its bounds, a
malformed ``--app`` or ``--header``) raises :class:`UsageError`, which the
command turns into exit 2. The commands themselves live in ``cli.py``.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NoReturn

from . import __version__

__all__ = [
    "APP_ENV",
    "DB_ENV",
    "MAX_BATCH",
    "MAX_PAGE",
    "MAX_WORKERS",
    "Command",
    "UsageError",
    "build_parser",
]

APP_ENV = "WORKSPACE_BILLING_APP"
DB_ENV = "WORKSPACE_BILLING_DB"
MAX_BATCH, MAX_PAGE, MAX_WORKERS = 10_000, 10_000, 64

Command = Callable[[argparse.Namespace], int]
"""A command: the parsed arguments in, the exit code out."""


class UsageError(Exception):
    """The command line is wrong: exit 2, whatever the command would have done."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def _number(least: int, most: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text) if re.fullmatch(r"\s*[+-]?\d{1,30}\s*", text) else None
        if value is None or not least <= value <= most:
            shown = text if len(text) <= 30 else f"{text[:30]}..."
            raise argparse.ArgumentTypeError(f"takes {least} to {most:,}, not {shown!r}")
        return value

    return parse


def _app_spec(text: str) -> str:
    module, sep, attribute = text.partition(":")
    if not sep or not all(part.isidentifier() for part in [*module.split("."), attribute]):
        raise argparse.ArgumentTypeError(f"takes MODULE:FACTORY, not {text!r}")
    return text


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"takes 'NAME: VALUE', not {text!r}")
    return name.strip(), value.strip()


def build_parser(commands: Mapping[str, Command]) -> argparse.ArgumentParser:
    """The parser; each command's arguments carry ``run``, its entry in ``commands``
    (``demo``, ``db upgrade``, ``renew``, ``reconcile``, ``webhook replay``,
    ``workspace show``)."""
    common = _Parser(add_help=False)
    common.add_argument(
        "--db",
        "--url",
        dest="db",
        metavar="URL",
        default=os.environ.get(DB_ENV),
        help=f"database URL (default: ${DB_ENV})",
    )
    common.add_argument(
        "--app",
        type=_app_spec,
        metavar="MODULE:FACTORY",
        default=os.environ.get(APP_ENV),
        help=f"the host's Billing factory, called with the URL (default: ${APP_ENV})",
    )
    common.add_argument("--json", action="store_true", help="print JSON for scripts")

    parser = _Parser(
        prog="workspace-billing",
        description="Operate workspace_billing from the shell.",
        epilog="Exit codes: 0 done, 1 failed, 2 wrong usage, 3 partly done, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subcommands = parser.add_subparsers(dest="command", required=True)

    # The demo has its own fake provider and clock, prints a story and never reads
    # $WORKSPACE_BILLING_DB: only a database named on its command line is used.
    demo = subcommands.add_parser(
        "demo", help="the product story on a temporary SQLite file (or a new database)"
    )
    demo.add_argument(
        "--db",
        "--url",
        dest="db",
        metavar="URL",
        default=None,
        help="a database without workspaces to tell it on (default: a temporary SQLite file)",
    )
    demo.set_defaults(run=commands["demo"])

    db = subcommands.add_parser("db", help="the database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser(
        "upgrade", parents=[common], help="create or migrate the schema (again: no change)"
    )
    upgrade.set_defaults(run=commands["db upgrade"])

    renew = subcommands.add_parser(
        "renew", parents=[common], help="apply every boundary due now (trial ends, renewals)"
    )
    renew.add_argument("--dry-run", action="store_true", help="show who would be deactivated")
    renew.add_argument("--batch-size", type=_number(1, MAX_BATCH), default=500, metavar="N")
    renew.add_argument(
        "--workers",
        type=_number(1, MAX_WORKERS),
        default=1,
        metavar="N",
        help=f"worker processes, at most {MAX_WORKERS} (PostgreSQL)",
    )
    renew.set_defaults(run=commands["renew"])

    reconcile = subcommands.add_parser(
        "reconcile", parents=[common], help="repair drift from the provider's view"
    )
    reconcile.add_argument("--page-size", type=_number(1, MAX_PAGE), default=100, metavar="N")
    reconcile.set_defaults(run=commands["reconcile"])

    webhook = subcommands.add_parser("webhook", help="provider webhooks")
    webhook_commands = webhook.add_subparsers(dest="webhook_command", required=True)
    replay = webhook_commands.add_parser(
        "replay", parents=[common], help="apply a stored webhook body as a delivery"
    )
    replay.add_argument("file", type=Path, help="the raw body, as received")
    replay.add_argument(
        "--header",
        type=_header,
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="a header of the delivery (the signature), repeatable",
    )
    replay.set_defaults(run=commands["webhook replay"])

    workspace = subcommands.add_parser("workspace", help="one workspace")
    workspace_commands = workspace.add_subparsers(dest="workspace_command", required=True)
    show = workspace_commands.add_parser("show", parents=[common], help="the subscription overview")
    show.add_argument("workspace_id", metavar="ID")
    show.set_defaults(run=commands["workspace show"])
    return parser
