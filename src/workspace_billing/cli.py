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

The command line is parsed in ``cli_args.py``, and what is printed (counts,
tables, JSON, progress) is formatted in ``cli_output.py``; the commands are here.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import re
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from .billing import Billing
from .catalog import Catalog
from .cli_args import APP_ENV, DB_ENV, MAX_PAGE, Command, UsageError, build_parser
from .cli_output import (
    Progress,
    counted,
    overview_json,
    overview_rows,
    print_json,
    renewal_json,
    renewal_summary,
)
from .clock import SystemClock
from .demo import run_demo
from .errors import BillingError, InvalidRequest, ProviderError
from .overview import RenewalReport

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
_URL_PASSWORD = re.compile(r"(://[^/\s:@]*:)([^\s@/]*)@")  # scheme://user:PASSWORD@host
_KEYWORD_PASSWORD = re.compile(r"(password\s*=\s*)('[^']*'|[^\s&]+)", re.IGNORECASE)
_COUNT_TIMEOUT_S = 5  # the progress line's total is not worth a longer wait


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser(_commands()).parse_args(argv)
        command: Command = args.run
        status = command(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the try
        return status
    except BrokenPipeError:  # the reader went away (| head): Python's recipe, exit quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except UsageError as e:
        return _fail("usage", str(e), EXIT_USAGE, argv)
    except BillingError as e:
        return _fail(e.code, e.message, EXIT_FAILED, argv)
    except KeyboardInterrupt:
        return _fail("interrupted", "stopped; uncommitted work rolled back", EXIT_INTERRUPTED, argv)
    except Exception as e:  # noqa: BLE001 - a bug, here or the host's: one line, no password
        return _fail("internal_error", f"{type(e).__name__}: {e}", EXIT_FAILED, argv)


def _commands() -> dict[str, Command]:
    """Looked up when ``main`` runs, so a test may replace a command."""
    return {
        "demo": _demo,
        "db upgrade": _db_upgrade,
        "renew": _renew,
        "reconcile": _reconcile,
        "webhook replay": _webhook_replay,
        "workspace show": _workspace_show,
    }


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
        raise UsageError(f"name the database with --db URL (or set {DB_ENV})")
    return str(args.db)


def _due_total(url: str, now: datetime) -> int | None:
    """How many workspaces are due at ``now``: the total of the progress line.

    One count on the due index, on a connection of its own; ``None`` (a line
    without a total) when it cannot be had: the sweep itself reports why.
    """
    try:
        import sqlalchemy as sa  # noqa: PLC0415 - the optional [sql] extra

        from .storage.schema import workspaces  # noqa: PLC0415

        parsed = sa.make_url(url)
        postgres = parsed.get_backend_name() == "postgresql"
        engine = sa.create_engine(
            parsed, connect_args={"connect_timeout": _COUNT_TIMEOUT_S} if postgres else {}
        )
        try:
            with engine.connect() as conn:
                due = workspaces.c.due_at
                query = sa.select(sa.func.count()).select_from(workspaces)
                query = query.where(due.is_not(None), due <= now)
                return int(conn.execute(query).scalar_one())
        finally:
            engine.dispose()
    except Exception:  # noqa: BLE001 - cosmetic: nothing of it is shown, the sweep goes on
        return None


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
        print_json({"from": before, "to": reached, "release": SCHEMA_VERSION})
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
        billing = _billing(args)
        total = None if args.json else _due_total(_require_db(args), datetime.now(UTC))
        with Progress(sys.stderr, total=total, quiet=args.json) as progress:
            report = billing.run_renewals(batch_size=args.batch_size, progress=progress)
    if args.json:
        print_json(renewal_json(report))
    else:
        print(renewal_summary(report))
        for ws_id, code in report.failed:
            print(f"  failed: {ws_id} ({code})")
    return EXIT_PARTIAL if report.failed else EXIT_OK


def _renew_dry_run(args: argparse.Namespace) -> int:
    due = _billing(args).due_renewals(limit=MAX_PAGE)  # the first 10,000 due at most
    if args.json:
        print_json([
            {"workspace": ws.id, "at": p.at.isoformat() if p.at else None,
             "kind": p.kind.value if p.kind else None, "plan": p.plan, "seats": p.seats,
             "active_members": p.active_members, "deactivate": [m.user for m in p.deactivate]}
            for ws, p in due
        ])  # fmt: skip
        return EXIT_OK
    more = " or more" if len(due) == MAX_PAGE else ""
    print(f"{len(due):,}{more} {'workspace' if len(due) == 1 else 'workspaces'} due; "
          "nothing was changed (dry run)")  # fmt: skip
    for ws, p in due:
        gone = ", ".join(m.user for m in p.deactivate) or "nobody"
        kind = p.kind.value if p.kind else "-"
        print(f"  {ws.id}: {kind} to {p.plan} ({counted(p.seats, 'seat')}): deactivates {gone}")
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
        noticed=sum(p.noticed for p in parts),
        revoked=sum(p.revoked for p in parts),
        expired=sum(p.expired for p in parts),
    )


def _worker(url: str, app: str | None, batch_size: int) -> RenewalReport:
    namespace = argparse.Namespace(db=url, app=app)
    return _billing(namespace).run_renewals(batch_size=batch_size)


def _reconcile(args: argparse.Namespace) -> int:
    report = _billing(args).reconcile(page_size=args.page_size)
    repaired = [{"workspace": ws, "events": [e.value for e in ev]} for ws, ev in report.repaired]
    failed = [{"workspace": ws, "code": code} for ws, code in report.failed]
    if args.json:
        print_json({"examined": report.examined, "repaired": repaired, "failed": failed})
    else:
        print(
            f"reconcile: {counted(report.examined, 'subscription')} compared, "
            f"{len(report.repaired):,} repaired, {len(report.failed):,} failed"
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
        print_json(
            {"applied": result.applied, "duplicates": result.duplicates, "ignored": result.ignored}
        )
    else:
        print(
            f"webhook: {counted(result.applied, 'event')} applied, {result.duplicates:,} "
            f"already applied, {result.ignored:,} ignored"
        )
    return EXIT_OK


def _workspace_show(args: argparse.Namespace) -> int:
    billing = _billing(args)
    ws = billing.workspace(args.workspace_id)
    overview = billing.subscription(ws.id, actor=ws.owner)
    if args.json:
        print_json(overview_json(ws.name, ws.owner, overview))
        return EXIT_OK
    for label, value in overview_rows(ws.name, ws.owner, overview, billing.catalog):
        print(f"{label:<20} {value}")
    return EXIT_OK
