"""The ``workspace-billing`` command.

Exit codes: 0 success, 1 the command failed (a ``BillingError``: its code and
message are printed on stderr), 2 wrong usage.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .demo import run_demo
from .errors import BillingError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            return _demo(args.db)
        if args.command == "db" and args.db_command == "upgrade":
            return _db_upgrade(args.db)
    except BillingError as e:
        print(f"workspace-billing: {e.code}: {e.message}", file=sys.stderr)
        return 1
    parser.error("unknown command")  # pragma: no cover - argparse refuses first
    return 2  # pragma: no cover


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workspace-billing", description="Operate workspace_billing from the shell."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="walk through the product story on the embedded default (a SQLite file)"
    )
    demo.add_argument(
        "--db",
        metavar="URL",
        help="database URL (default: a SQLite file in a new temporary directory)",
    )
    db = commands.add_parser("db", help="the database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser(
        "upgrade", help="create or migrate the schema (running it again changes nothing)"
    )
    upgrade.add_argument("--db", "--url", dest="db", metavar="URL", required=True)
    return parser


def _demo(url: str | None) -> int:
    if url is not None:
        return run_demo(sys.stdout, db_url=url)
    with tempfile.TemporaryDirectory(prefix="workspace-billing-demo-") as folder:
        return run_demo(sys.stdout, db_url=f"sqlite:///{Path(folder) / 'billing.db'}")


def _db_upgrade(url: str) -> int:
    from .storage.schema import SCHEMA_VERSION  # noqa: PLC0415 - the optional [sql] extra
    from .storage.sql import SQLStore  # noqa: PLC0415

    store = SQLStore.from_url(url)
    try:
        before = store.schema_version()
        reached = store.create_schema()
    finally:
        store.dispose()
    if before == reached:
        print(f"schema already at version {reached}: nothing to do")
    else:
        print(
            f"schema upgraded from version {before} to {reached} (this release: {SCHEMA_VERSION})"
        )
    return 0
