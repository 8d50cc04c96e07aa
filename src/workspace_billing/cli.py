"""The ``workspace-billing`` command: the schema, renewals, reconcile, webhooks, a demo.

Commands that need the host's wiring (its catalog and payment provider) load it
from ``--app MODULE:FACTORY`` (or ``WORKSPACE_BILLING_APP``): a callable taking
the ``--db`` URL and returning a ``Billing``. Without it the library's default
catalog is used with no payment provider: boundaries the library owns (trial
ends, negotiated plans) are applied, and provider-managed ones are reported as
failed with a message saying so.

Exit codes (docs/operations.md): 0 done; 1 failed; 2 wrong usage; 3 done, but
some workspaces were left for the next run; 130 interrupted. An error is one
line on stderr, ``workspace-billing: CODE: MESSAGE``, and shows no password.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO
from urllib.parse import unquote

from . import __version__
from .billing import Billing
from .catalog import Catalog
from .clock import SystemClock
from .demo import run_demo
from .errors import BillingError, InvalidRequest, ProviderError
from .overview import RenewalReport, SubscriptionOverview

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
APP_ENV = "WORKSPACE_BILLING_APP"
DB_ENV = "WORKSPACE_BILLING_DB"
MAX_BATCH, MAX_PAGE, MAX_WORKERS = 10_000, 10_000, 64
_URL_PASSWORD = re.compile(r"(://[^/\s:@]*:)([^\s@/]*)@")  # scheme://user:PASSWORD@host
_KEYWORD_PASSWORD = re.compile(r"(password\s*=\s*)('[^']*'|[^\s&]+)", re.IGNORECASE)


class _UsageError(Exception):
    """The command line is wrong: exit 2, whatever the command would have done."""


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = _parser().parse_args(argv)
        command: Callable[[argparse.Namespace], int] = args.run
        status = command(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the try
        return status
    except BrokenPipeError:  # the reader went away (| head): Python's recipe, exit quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except _UsageError as e:
        return _fail("usage", str(e), EXIT_USAGE, argv)
    except BillingError as e:
        return _fail(e.code, e.message, EXIT_FAILED, argv)
    except KeyboardInterrupt:
        return _fail("interrupted", "stopped; uncommitted work rolled back", EXIT_INTERRUPTED, argv)
    except Exception as e:  # noqa: BLE001 - a bug, here or the host's: one line, no password
        return _fail("internal_error", f"{type(e).__name__}: {e}", EXIT_FAILED, argv)


def _fail(code: str, message: str, status: int, argv: Sequence[str]) -> int:
    """One line on stderr, without the password of any URL on the command line or in $DB."""
    line = " ".join(f"workspace-billing: {code}: {message}".split())
    sources = [*argv, os.environ.get(DB_ENV, "")]
    found = [
        m[2] for s in sources for p in (_URL_PASSWORD, _KEYWORD_PASSWORD) for m in p.finditer(s)
    ]
    for secret in sorted({f for raw in found for f in (raw, unquote(raw))} - {""}, key=len)[::-1]:
        line = line.replace(secret, "***")
    line = _KEYWORD_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", line))
    with contextlib.suppress(OSError):  # stderr gone too: the exit status is all that is left
        print(line, file=sys.stderr, flush=True)
    return status


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{message} (see {self.prog} --help)")


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


def _parser() -> argparse.ArgumentParser:
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
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo", parents=[common], help="the product story on the embedded default (SQLite file)"
    )
    demo.set_defaults(run=_demo)

    db = commands.add_parser("db", help="the database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser(
        "upgrade", parents=[common], help="create or migrate the schema (again: no change)"
    )
    upgrade.set_defaults(run=_db_upgrade)

    renew = commands.add_parser(
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
    renew.set_defaults(run=_renew)

    reconcile = commands.add_parser(
        "reconcile", parents=[common], help="repair drift from the provider's view"
    )
    reconcile.add_argument("--page-size", type=_number(1, MAX_PAGE), default=100, metavar="N")
    reconcile.set_defaults(run=_reconcile)

    webhook = commands.add_parser("webhook", help="provider webhooks")
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
    replay.set_defaults(run=_webhook_replay)

    workspace = commands.add_parser("workspace", help="one workspace")
    workspace_commands = workspace.add_subparsers(dest="workspace_command", required=True)
    show = workspace_commands.add_parser("show", parents=[common], help="the subscription overview")
    show.add_argument("workspace_id", metavar="ID")
    show.set_defaults(run=_workspace_show)
    return parser


# ------------------------------------------------------------------- wiring


class _NoProvider:
    """Stands in when no ``--app`` is given: any provider call says what is missing."""

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def refuse(*_: object, **__: object) -> Any:
            raise ProviderError(
                f"no payment provider is configured (needed for {name}): "
                f"pass --app MODULE:FACTORY or set {APP_ENV}"
            )

        return refuse


def _billing(args: argparse.Namespace) -> Billing:
    url = _require_db(args)
    if args.app:
        return _app_billing(str(args.app), url)
    from .storage.sql import SQLStore  # noqa: PLC0415 - the optional [sql] extra

    return Billing(
        catalog=Catalog.default(),
        store=SQLStore.from_url(url),
        provider=_NoProvider(),
        clock=SystemClock(),
    )


def _app_billing(spec: str, url: str) -> Billing:
    """The host's ``Billing`` from ``--app MODULE:FACTORY``; any failure is one line."""
    module_name, _, attribute = spec.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
        billing = getattr(module, attribute)(url)
    except BillingError:
        raise
    except Exception as e:  # no module or name, not a factory of the URL, a bug
        raise InvalidRequest(f"--app {spec} failed: {type(e).__name__}: {e}") from e
    if not isinstance(billing, Billing):
        raise InvalidRequest(f"--app {spec} returned {type(billing).__name__}, not a Billing")
    return billing


def _require_db(args: argparse.Namespace) -> str:
    if not args.db:
        raise _UsageError(f"name the database with --db URL (or set {DB_ENV})")
    return str(args.db)


# ----------------------------------------------------------------- commands


def _demo(args: argparse.Namespace) -> int:
    if args.db is not None:
        return run_demo(sys.stdout, db_url=args.db)
    with tempfile.TemporaryDirectory(prefix="workspace-billing-demo-") as folder:
        return run_demo(sys.stdout, db_url=f"sqlite:///{Path(folder) / 'billing.db'}")


def _db_upgrade(args: argparse.Namespace) -> int:
    from .storage.schema import SCHEMA_VERSION  # noqa: PLC0415 - the optional [sql] extra
    from .storage.sql import SQLStore  # noqa: PLC0415

    store = SQLStore.from_url(_require_db(args))
    try:
        before = store.schema_version()
        reached = store.create_schema()
    finally:
        store.dispose()
    if args.json:
        _print_json({"from": before, "to": reached, "release": SCHEMA_VERSION})
    elif before == reached:
        print(f"schema already at version {reached}: nothing to do")
    else:
        print(
            f"schema upgraded from version {before} to {reached} (this release: {SCHEMA_VERSION})"
        )
    return EXIT_OK


def _renew(args: argparse.Namespace) -> int:
    if args.dry_run:
        return _renew_dry_run(args)
    if args.workers > 1:
        report = _renew_in_workers(args)
    else:
        with _Progress(sys.stderr, quiet=args.json) as progress:
            report = _billing(args).run_renewals(batch_size=args.batch_size, progress=progress)
    if args.json:
        _print_json(_renewal_json(report))
    else:
        print(
            f"renewals: {report.examined} due, {report.changed} changed, "
            f"{report.deactivated} members deactivated, {len(report.waiting)} waiting "
            f"on the provider, {len(report.failed)} failed"
        )
        for ws_id, code in report.failed:
            print(f"  failed: {ws_id} ({code})")
    return EXIT_PARTIAL if report.failed else EXIT_OK


def _renew_dry_run(args: argparse.Namespace) -> int:
    due = _billing(args).due_renewals(limit=MAX_PAGE)  # the first 10,000 due at most
    rows = [
        {"workspace": ws.id, "at": p.at.isoformat() if p.at else None,
         "kind": p.kind.value if p.kind else None, "plan": p.plan, "seats": p.seats,
         "active_members": p.active_members, "deactivate": [m.user for m in p.deactivate]}
        for ws, p in due
    ]  # fmt: skip
    if args.json:
        _print_json(rows)
        return EXIT_OK
    more = " or more" if len(rows) == MAX_PAGE else ""
    print(f"{len(rows)}{more} workspaces due; nothing was changed (dry run)")
    for row in rows:
        gone = ", ".join(row["deactivate"]) or "nobody"  # type: ignore[arg-type]
        print(f"  {row['workspace']}: {row['kind']} to {row['plan']} ({row['seats']} seats): "
              f"deactivates {gone}")  # fmt: skip
    return EXIT_OK


def _renew_in_workers(args: argparse.Namespace) -> RenewalReport:
    import multiprocessing  # noqa: PLC0415 - only for --workers
    import signal  # noqa: PLC0415

    url = _require_db(args)
    if url.startswith("sqlite"):
        raise InvalidRequest("SQLite has one writer: --workers above 1 needs PostgreSQL")
    spawn = multiprocessing.get_context("spawn")
    # Workers ignore Ctrl-C: the parent reports it once and terminates them.
    with spawn.Pool(args.workers, signal.signal, (signal.SIGINT, signal.SIG_IGN)) as pool:
        parts = pool.starmap(_worker, [(url, args.app, args.batch_size)] * args.workers)
    return RenewalReport(
        examined=sum(p.examined for p in parts),
        changed=sum(p.changed for p in parts),
        deactivated=sum(p.deactivated for p in parts),
        waiting=tuple(w for p in parts for w in p.waiting),
        failed=tuple(f for p in parts for f in p.failed),
    )


def _worker(url: str, app: str | None, batch_size: int) -> RenewalReport:
    namespace = argparse.Namespace(db=url, app=app)
    return _billing(namespace).run_renewals(batch_size=batch_size)


def _reconcile(args: argparse.Namespace) -> int:
    report = _billing(args).reconcile(page_size=args.page_size)
    repaired = [{"workspace": ws, "events": [e.value for e in ev]} for ws, ev in report.repaired]
    failed = [{"workspace": ws, "code": code} for ws, code in report.failed]
    if args.json:
        _print_json({"examined": report.examined, "repaired": repaired, "failed": failed})
    else:
        print(
            f"reconcile: {report.examined} subscriptions compared, {len(report.repaired)} "
            f"repaired, {len(report.failed)} failed"
        )
        for ws_id, events in report.repaired:
            print(f"  repaired: {ws_id}: {', '.join(e.value for e in events)}")
        for ws_id, code in report.failed:
            print(f"  failed: {ws_id} ({code})")
    return EXIT_PARTIAL if report.failed else EXIT_OK


def _webhook_replay(args: argparse.Namespace) -> int:
    try:
        payload = args.file.read_bytes()
    except OSError as e:
        raise InvalidRequest(f"cannot read {args.file}: {e.strerror}") from e
    headers = dict(args.header)
    result = _billing(args).handle_webhook(payload, headers)
    if args.json:
        _print_json(
            {"applied": result.applied, "duplicates": result.duplicates, "ignored": result.ignored}
        )
    else:
        print(
            f"webhook: {result.applied} applied, {result.duplicates} already applied, "
            f"{result.ignored} ignored"
        )
    return EXIT_OK


def _workspace_show(args: argparse.Namespace) -> int:
    billing = _billing(args)
    ws = billing.workspace(args.workspace_id)
    overview = billing.subscription(ws.id, actor=ws.owner)
    if args.json:
        _print_json(_overview_json(ws.name, ws.owner, overview))
        return EXIT_OK
    for label, value in _overview_rows(ws.name, ws.owner, overview):
        print(f"{label:<20} {value}")
    return EXIT_OK


# ------------------------------------------------------------------ output


def _overview_rows(name: str, owner: str, o: SubscriptionOverview) -> list[tuple[str, str]]:
    def when(value: Any) -> str:
        return value.isoformat(timespec="minutes") if value else "-"

    gone = ", ".join(m.user for m in o.preview.deactivate) or "nobody"
    return [
        ("workspace", f"{o.workspace_id} ({name}, owner {owner})"),
        ("plan", f"{o.plan_name} ({o.plan})"),
        ("status", o.status.value + (" (cancels at period end)" if o.cancel_at_period_end else "")),
        ("interval", o.interval.value if o.interval else "-"),
        ("seats", f"{o.seats_used} used of {o.seats}"),
        ("pending seats",
         f"{o.pending_seats} from {when(o.pending_seats_at)}" if o.pending_seats else "-"),
        ("trial ends", when(o.trial_ends_at)),
        ("renews", when(o.renews_at)),
        ("grace ends", when(o.grace_ends_at)),
        ("price per seat", str(o.price_per_seat) if o.price_per_seat else "-"),
        ("total", str(o.total) if o.total else "-"),
        ("next boundary",
         f"{o.preview.kind.value if o.preview.kind else '-'} at {when(o.preview.at)}"),
        ("would deactivate", gone),
        ("features", ", ".join(sorted(o.features.flags)) or "-"),
    ]  # fmt: skip


def _overview_json(name: str, owner: str, o: SubscriptionOverview) -> dict[str, Any]:
    def when(value: Any) -> str | None:
        return value.isoformat() if value else None

    def money(value: Any) -> dict[str, Any] | None:
        return {"amount": value.amount, "currency": value.currency} if value else None

    return {
        "workspace": o.workspace_id, "name": name, "owner": owner, "plan": o.plan,
        "status": o.status.value, "interval": o.interval.value if o.interval else None,
        "seats": o.seats, "seats_used": o.seats_used, "pending_seats": o.pending_seats,
        "trial_ends_at": when(o.trial_ends_at), "renews_at": when(o.renews_at),
        "cancel_at_period_end": o.cancel_at_period_end,
        "price_per_seat": money(o.price_per_seat), "total": money(o.total),
        "features": sorted(o.features.flags),
        "preview": {
            "kind": o.preview.kind.value if o.preview.kind else None, "at": when(o.preview.at),
            "seats": o.preview.seats, "deactivate": [m.user for m in o.preview.deactivate],
        },
    }  # fmt: skip


def _renewal_json(report: RenewalReport) -> dict[str, Any]:
    return {
        "examined": report.examined,
        "changed": report.changed,
        "deactivated": report.deactivated,
        "waiting": list(report.waiting),
        "failed": [{"workspace": ws, "code": code} for ws, code in report.failed],
    }


def _print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


class _Progress:
    """A one-line counter on a terminal; a log line every few seconds elsewhere."""

    def __init__(self, out: TextIO, *, quiet: bool = False, every_s: float = 5.0) -> None:
        self._out = out
        self._quiet = quiet
        self._tty = out.isatty()
        self._every = every_s
        self._start = self._last = time.monotonic()

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._tty and not self._quiet:
            self._out.write("\n")

    def __call__(self, report: RenewalReport) -> None:
        if self._quiet:
            return
        now = time.monotonic()
        rate = report.examined / max(now - self._start, 1e-9)
        line = (
            f"{report.examined} due workspaces examined, {report.changed} changed, "
            f"{report.deactivated} deactivated ({rate:,.0f}/s)"
        )
        if self._tty:
            self._out.write(f"\r{line}")
            self._out.flush()
        elif now - self._last >= self._every:
            self._out.write(line + "\n")
            self._last = now
