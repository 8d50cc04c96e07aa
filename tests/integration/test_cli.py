"""The ``workspace-billing`` console script: each command's output and exit code."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from tests.conftest import _wipe, postgres_url

from workspace_billing import Billing, Catalog, RenewalReport, Store
from workspace_billing import cli as cli_module
from workspace_billing.cli_output import Progress, counted, progress_line, renewal_summary
from workspace_billing.errors import InvalidRequest, StoreError
from workspace_billing.storage.schema import SCHEMA_VERSION
from workspace_billing.storage.sql import SQLStore
from workspace_billing.testing import FakeClock, FakePaymentProvider

HERE = Path(__file__).resolve().parent
START = datetime(2026, 3, 1, 9, tzinfo=UTC)
LATER = START + timedelta(days=20)
URLS = {"success_url": "https://app.example/ok", "cancel_url": "https://app.example/no"}


def cli(*args: str, now: datetime = LATER) -> subprocess.CompletedProcess[str]:
    script = shutil.which("workspace-billing", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-m", "workspace_billing"]
    env = {**os.environ, "CLI_TEST_NOW": now.isoformat(), "PYTHONPATH": str(HERE)}
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, check=False, env=env, cwd=HERE
    )


def seed(store: Store) -> Billing:
    clock = FakeClock(START)
    provider = FakePaymentProvider(clock=clock)
    billing = Billing(catalog=Catalog.default(), store=store, provider=provider, clock=clock)
    for n in range(3):
        ws = billing.create_workspace(owner=f"o{n}", name=f"W{n}", workspace_id=f"ws_{n}")
        for m in range(n + 1):
            billing.add_member(ws.id, actor=f"o{n}", user=f"u{n}-{m}")
    paid = billing.create_workspace(owner="o0", name="Paid", workspace_id="ws_paid")
    checkout = billing.upgrade(paid.id, actor="o0", plan="business", seats=2, **URLS)
    provider.complete_checkout(checkout.id)
    provider.deliver(billing.handle_webhook)
    return billing


@pytest.fixture(name="db")
def db_fixture(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    store = SQLStore.from_url(url, create_schema=True)
    seed(store)
    store.dispose()
    return url


def snapshot(url: str) -> Any:
    store = SQLStore.from_url(url)
    try:
        return store.snapshot()
    finally:
        store.dispose()


class TestRenew:
    def test_a_dry_run_names_who_would_go_and_changes_nothing(self, db: str) -> None:
        before = snapshot(db)
        done = cli("renew", "--db", db, "--app", "cli_app:make", "--dry-run", "--json")
        assert done.returncode == 0, done.stderr
        rows = {row["workspace"]: row for row in json.loads(done.stdout)}
        assert set(rows) == {"ws_0", "ws_1", "ws_2"}
        assert rows["ws_2"]["deactivate"] == ["u2-2", "u2-1"]
        assert rows["ws_2"]["kind"] == "trial_end"
        assert snapshot(db) == before
        text = cli("renew", "--db", db, "--app", "cli_app:make", "--dry-run")
        assert "deactivates u2-2, u2-1" in text.stdout
        assert "nothing was changed" in text.stdout

    def test_renew_applies_the_boundaries_then_finds_nothing(self, db: str) -> None:
        done = cli("renew", "--db", db, "--app", "cli_app:make", "--json", "--batch-size", "2")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {
            "examined": 3,
            "changed": 3,
            "deactivated": 3,
            "noticed": 0,
            "revoked": 0,
            "expired": 0,
            "waiting": [],
            "failed": [],
        }
        again = cli("renew", "--db", db, "--app", "cli_app:make")
        assert again.returncode == 0
        assert again.stdout.startswith("renewals: 0 workspaces due")

    def test_without_a_provider_provider_managed_renewals_fail_with_exit_3(self, db: str) -> None:
        later = LATER + timedelta(days=15)  # the paid workspace's period has ended too
        done = cli("renew", "--db", db, "--json", now=later)
        assert done.returncode == 3, done.stderr
        report = json.loads(done.stdout)
        assert report["failed"] == [{"workspace": "ws_paid", "code": "provider_error"}]
        assert report["changed"] == 3

    def test_several_workers_need_postgresql(self, db: str) -> None:
        done = cli("renew", "--db", db, "--workers", "2")
        assert done.returncode == 1
        assert "needs PostgreSQL" in done.stderr

    def test_two_worker_processes_on_postgresql(self, postgres_engine: sa.Engine) -> None:
        _wipe(postgres_engine)
        seed(SQLStore(postgres_engine))
        done = cli(
            "renew", "--db", postgres_url(), "--app", "cli_app:make", "--workers", "2", "--json"
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["examined"] == 3


class TestOtherCommands:
    def test_workspace_show_prints_the_overview(self, db: str) -> None:
        done = cli("workspace", "show", "ws_paid", "--db", db, "--app", "cli_app:make")
        assert done.returncode == 0, done.stderr
        assert "Business (business)" in done.stdout
        assert "1 used of 2" in done.stdout
        data = json.loads(cli("workspace", "show", "ws_paid", "--db", db, "--json").stdout)
        assert (data["plan"], data["seats"], data["status"]) == ("business", 2, "active")
        assert data["price_per_seat"] == {"amount": 1200, "currency": "EUR"}

    def test_an_unknown_workspace_is_exit_1_with_its_code(self, db: str) -> None:
        done = cli("workspace", "show", "ws_nope", "--db", db)
        assert done.returncode == 1
        assert done.stderr.startswith("workspace-billing: not_found:")

    def test_reconcile_without_a_provider_reports_the_failure(self, db: str) -> None:
        done = cli("reconcile", "--db", db, "--json")
        assert done.returncode == 3
        assert json.loads(done.stdout)["failed"] == [
            {"workspace": "ws_paid", "code": "provider_error"}
        ]

    def test_webhook_replay_applies_a_stored_delivery_once(self, db: str, tmp_path: Path) -> None:
        body = json.dumps(
            {"id": "evt_replayed", "type": "customer.discount.created", "data": {"object": {}}}
        ).encode()
        (tmp_path / "hook.json").write_bytes(body)
        signer = FakePaymentProvider(clock=FakeClock(LATER))
        (header,) = signer.sign(body).items()
        base = [
            "webhook",
            "replay",
            str(tmp_path / "hook.json"),
            "--db",
            db,
            "--app",
            "cli_app:make",
        ]
        args = [*base, "--header", f"{header[0]}: {header[1]}", "--json"]
        first, second = cli(*args), cli(*args)
        assert (first.returncode, second.returncode) == (0, 0), first.stderr
        assert json.loads(first.stdout) == {"applied": 0, "duplicates": 0, "ignored": 1}
        assert json.loads(second.stdout)["duplicates"] == 1
        third = cli(*base, "--header", f"{header[0]}: {header[1]}")
        assert third.stdout == "webhook: 0 events applied, 1 already applied, 0 ignored\n"
        forged = cli(*base, "--header", "Fake-Signature: t=1,v1=00")
        assert forged.returncode == 1
        assert "webhook_verification_failed" in forged.stderr

    def test_db_upgrade_reports_json(self, tmp_path: Path) -> None:
        done = cli("db", "upgrade", "--db", f"sqlite:///{tmp_path / 'new.db'}", "--json")
        assert json.loads(done.stdout) == {
            "from": 0, "to": SCHEMA_VERSION, "release": SCHEMA_VERSION,
        }  # fmt: skip

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["renew"], "name the database with --db"),
            (["renew", "--db", "sqlite:///x.db", "--app", "nocolon"], "MODULE:FACTORY"),
        ],
    )
    def test_usage_errors_say_what_is_missing(self, args: list[str], message: str) -> None:
        done = cli(*args)
        assert done.returncode == 2
        assert message in one_line(done.stderr, "usage")

    def test_argparse_usage_errors_are_exit_2(self) -> None:
        assert cli("renew", "--workers").returncode == 2


# ------------------------------------------------ failures: one line, no traceback, no password

PASSWORD = "s3cr3t-Pa55"
LINE = re.compile(r"workspace-billing: ([a-z_]+): \S[^\n]*\n")


def one_line(stderr: str, code: str) -> str:
    """The documented error, ``workspace-billing: CODE: MESSAGE``, on one line and alone."""
    found = LINE.fullmatch(stderr)
    assert found, f"not one error line: {stderr!r}"
    assert found[1] == code, stderr
    return stderr


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The command in this process (``main``), for the cases no subprocess is needed for."""
    status = cli_module.main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def no_password(*texts: str) -> None:
    for text in texts:
        assert PASSWORD not in text
        assert "Traceback" not in text


class TestNoPasswordIsShown:
    """Issue 11: a database password never reaches a message, a repr or the CLI's output."""

    @pytest.mark.parametrize(
        ("url", "code"),
        [
            (f"postgresql://u:{PASSWORD}@host:notaport/db", "invalid_request"),
            (f"postgresql+psycopg://u:{PASSWORD}@[::1/db", "invalid_request"),
            (f"nosuchdialect://u:{PASSWORD}@host/db", "invalid_request"),
            (f"postgresql+psycopg://u:{PASSWORD}@127.0.0.1:1/db", "store_error"),
            (f"postgresql+psycopg://u@127.0.0.1:1/db?password={PASSWORD}", "store_error"),
        ],
    )
    @pytest.mark.parametrize(
        "command",
        [["renew"], ["renew", "--dry-run"], ["db", "upgrade"], ["reconcile"], ["demo"]],
        ids=" ".join,
    )
    def test_a_bad_or_unreachable_database_is_one_line_without_the_password(
        self, url: str, code: str, command: list[str]
    ) -> None:
        done = cli(*command, "--db", url)
        assert done.returncode == 1
        one_line(done.stderr, code)
        no_password(done.stdout, done.stderr)

    def test_a_url_in_the_environment_or_out_of_place_is_not_echoed(self) -> None:
        url = f"postgresql+psycopg://u:{PASSWORD}@127.0.0.1:1/db"
        stray = cli("renew", url)  # forgot --db: argparse would echo the argument
        assert stray.returncode == 2
        assert "postgresql+psycopg://u:***@127.0.0.1:1/db" in one_line(stray.stderr, "usage")
        script = shutil.which("workspace-billing", path=str(Path(sys.executable).parent))
        assert script is not None
        env = {**os.environ, "WORKSPACE_BILLING_DB": url}
        done = subprocess.run(
            [script, "workspace", "show", "ws_1"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert done.returncode == 1
        one_line(done.stderr, "store_error")
        no_password(done.stdout, done.stderr)

    def test_errors_raised_by_the_hosts_factory_are_scrubbed(
        self, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        (tmp_path / "leaky_factory.py").write_text(
            "def make(url):\n"
            "    raise RuntimeError(f'cannot reach {url} (password {url[23:34]})')\n"
        )
        monkeypatch.syspath_prepend(str(tmp_path))
        url = f"postgresql+psycopg://u:{PASSWORD}@127.0.0.1:1/db"
        status, out, err = run(capsys, "renew", "--db", url, "--app", "leaky_factory:make")
        assert status == 1
        assert "RuntimeError: cannot reach postgresql+psycopg://u:***@" in one_line(
            err, "invalid_request"
        )
        no_password(out, err)

    def test_an_unexpected_error_is_one_line_internal_error_without_the_password(
        self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def bug(args: Any) -> int:
            raise KeyError(f"{args.db} and password={PASSWORD}")

        monkeypatch.setattr(cli_module, "_renew", bug)
        url = f"postgresql+psycopg://u:{PASSWORD}@127.0.0.1:1/db"
        status, out, err = run(capsys, "renew", "--db", url)
        assert status == 1
        assert "KeyError" in one_line(err, "internal_error")
        no_password(out, err)

    def test_the_store_hides_the_password_in_its_repr_url_and_errors(self) -> None:
        url = f"postgresql+psycopg://u:{PASSWORD}@127.0.0.1:1/db?sslpassword={PASSWORD}x"
        store = SQLStore.from_url(url, connect_args={"connect_timeout": 2})
        try:
            assert PASSWORD not in repr(store)
            assert PASSWORD not in store.url
            assert store.url.startswith("postgresql+psycopg://u:***@127.0.0.1:1/db")
            with pytest.raises(StoreError) as raised:
                store.schema_version()
            assert PASSWORD not in str(raised.value)
            assert PASSWORD not in repr(raised.value)
        finally:
            store.dispose()

    def test_a_driver_message_that_quotes_the_dsn_is_scrubbed_and_not_chained(self) -> None:
        def connect() -> Any:
            raise psycopg.OperationalError(
                f"connection to 'host=h user=u password={PASSWORD} dbname=db' failed "
                f"(url postgresql://u:{PASSWORD}@h/db, password '{PASSWORD}')"
            )

        store = SQLStore.from_url(f"postgresql+psycopg://u:{PASSWORD}@h/db", creator=connect)
        try:
            with pytest.raises(StoreError) as raised:
                store.snapshot()
        finally:
            store.dispose()
        assert "password=*** dbname=db" in raised.value.message
        assert PASSWORD not in raised.value.message
        assert raised.value.__cause__ is None  # the driver's own text would show it in a traceback

    @pytest.mark.parametrize(
        "url",
        [f"postgresql://u:{PASSWORD}@host:notaport/db", f"postgresql://u:{PASSWORD}@[::1/db"],
    )
    def test_an_unparsable_url_is_not_echoed_nor_chained(self, url: str) -> None:
        with pytest.raises(InvalidRequest) as raised:
            SQLStore.from_url(url)
        assert PASSWORD not in str(raised.value)
        assert raised.value.__cause__ is None
        assert raised.value.__suppress_context__


class TestFailuresAreOneLine:
    """Issue 11: every failure is the documented line and exit code, never a traceback."""

    @pytest.mark.parametrize(
        ("app", "message"),
        [
            ("nosuchmodule:make", "ModuleNotFoundError: No module named 'nosuchmodule'"),
            ("cli_app:missing", "AttributeError"),
            ("os:getcwd", "TypeError"),  # takes no URL
            ("os:sep", "not callable"),
            ("os.path:basename", "returned str, not a Billing"),
        ],
    )
    def test_an_app_that_cannot_be_loaded_is_exit_1(self, db: str, app: str, message: str) -> None:
        done = cli("renew", "--db", db, "--app", app)
        assert done.returncode == 1
        assert message in one_line(done.stderr, "invalid_request")
        assert f"--app {app}" in done.stderr
        assert done.stdout == ""

    @pytest.mark.parametrize("app", ["nocolon", ":make", "cli_app:", "a b:make", "cli_app:make:x"])
    def test_a_malformed_app_is_usage(self, capsys: pytest.CaptureFixture[str], app: str) -> None:
        status, _, err = run(capsys, "renew", "--db", "sqlite:///unused.db", "--app", app)
        assert status == 2
        assert "takes MODULE:FACTORY" in one_line(err, "usage")

    def test_a_malformed_app_in_the_environment_is_usage(self, db: str) -> None:
        script = shutil.which("workspace-billing", path=str(Path(sys.executable).parent))
        assert script is not None
        env = {**os.environ, "WORKSPACE_BILLING_APP": "nocolon"}
        done = subprocess.run(
            [script, "renew", "--db", db], capture_output=True, text=True, env=env, check=False
        )
        assert done.returncode == 2
        one_line(done.stderr, "usage")

    @pytest.mark.parametrize(
        "args",
        [
            [],
            ["nosuchcommand"],
            ["renew", "--nosuchoption"],
            ["webhook", "replay", "hook.json", "--db", "sqlite:///unused.db", "--header", "bad"],
        ],
        ids=repr,
    )
    def test_other_usage_errors_are_one_line_exit_2(
        self, capsys: pytest.CaptureFixture[str], args: list[str]
    ) -> None:
        status, out, err = run(capsys, *args)
        assert status == 2
        one_line(err, "usage")
        assert out == ""

    @pytest.mark.parametrize("json_flag", [[], ["--json"]])
    def test_output_closed_early_exits_quietly(self, db: str, json_flag: list[str]) -> None:
        """``workspace-billing renew --dry-run | head -1``: no BrokenPipeError traceback."""
        script = shutil.which("workspace-billing", path=str(Path(sys.executable).parent))
        assert script is not None
        env = {**os.environ, "CLI_TEST_NOW": LATER.isoformat(), "PYTHONPATH": str(HERE)}
        args = [script, "renew", "--dry-run", "--db", db, "--app", "cli_app:make", *json_flag]
        with subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=HERE
        ) as process:
            assert process.stdout is not None
            assert process.stderr is not None
            process.stdout.close()  # the reader is gone before anything is written
            err = process.stderr.read().decode()
            status = process.wait(timeout=60)
        assert status == 1
        assert err == ""

    def test_an_interrupt_is_one_line_exit_130(
        self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def interrupted(args: Any) -> int:
            raise KeyboardInterrupt

        monkeypatch.setattr(cli_module, "_renew", interrupted)
        status, _, err = run(capsys, "renew", "--db", "sqlite:///unused.db")
        assert status == 130
        one_line(err, "interrupted")


class TestNumbers:
    """Issue 11: sizes on the command line are whole numbers within documented bounds."""

    @pytest.mark.parametrize(
        ("option", "value"),
        [
            ("--batch-size", "1e30"),
            ("--batch-size", "-1"),
            ("--batch-size", "0"),
            ("--batch-size", "10001"),
            ("--batch-size", "99999999999999999999999"),
            ("--batch-size", "9" * 5000),
            ("--batch-size", "ten"),
            ("--batch-size", "1.5"),
            ("--batch-size", "inf"),
            ("--batch-size", ""),
            ("--workers", "0"),
            ("--workers", "65"),
            ("--workers", "-3"),
            ("--workers", "nan"),
        ],
    )
    def test_renew_sizes_out_of_bounds_are_usage(
        self, capsys: pytest.CaptureFixture[str], option: str, value: str
    ) -> None:
        status, out, err = run(capsys, "renew", "--db", "sqlite:///unused.db", option, value)
        assert status == 2
        assert f"argument {option}: takes 1 to" in one_line(err, "usage")
        assert out == ""

    @pytest.mark.parametrize("value", ["0", "10001", "1e3", "99999999999999999999999"])
    def test_reconcile_page_size_out_of_bounds_is_usage(
        self, capsys: pytest.CaptureFixture[str], value: str
    ) -> None:
        status, _, err = run(
            capsys, "reconcile", "--db", "sqlite:///unused.db", "--page-size", value
        )
        assert status == 2
        assert "argument --page-size: takes 1 to 10,000" in one_line(err, "usage")

    def test_a_huge_number_in_a_subprocess_is_one_line_exit_2(self) -> None:
        done = cli(
            "renew", "--db", "sqlite:///unused.db", "--batch-size", "99999999999999999999999"
        )
        assert done.returncode == 2
        one_line(done.stderr, "usage")

    def test_the_bounds_themselves_are_accepted(self, db: str) -> None:
        done = cli("renew", "--db", db, "--app", "cli_app:make", "--batch-size", "10000", "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["changed"] == 3
        done = cli("reconcile", "--db", db, "--page-size", "10000")
        assert done.returncode == 3, done.stderr  # done; the provider-managed one needs --app
        assert done.stdout.startswith("reconcile: 1 subscription compared")


# ------------------------------------------------------ issue 12: a CLI that reads well


def one_due_workspace(url: str) -> None:
    """A database whose one due workspace ends its trial with one member too many."""
    store = SQLStore.from_url(url, create_schema=True)
    try:
        clock = FakeClock(START)
        billing = Billing(
            catalog=Catalog.default(),
            store=store,
            provider=FakePaymentProvider(clock=clock),
            clock=clock,
        )
        billing.create_workspace(owner="solo", name="Solo", workspace_id="ws_solo")
        for user in ("m1", "m2"):  # three active, the free plan keeps two
            billing.add_member("ws_solo", actor="solo", user=user)
    finally:
        store.dispose()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class TestCountsReadWell:
    """Issue 12: every count in the singular for one, the plural otherwise, with separators."""

    @pytest.mark.parametrize(
        ("n", "text"),
        [(0, "0 workspaces"), (1, "1 workspace"), (2, "2 workspaces"), (1200, "1,200 workspaces")],
    )
    def test_counted(self, n: int, text: str) -> None:
        assert counted(n, "workspace") == text

    def test_renew_in_the_plural(self, db: str) -> None:
        done = cli("renew", "--db", db, "--app", "cli_app:make")
        assert done.returncode == 0, done.stderr
        assert done.stdout == (
            "renewals: 3 workspaces due, 3 changed, 3 members deactivated, "
            "0 notices recorded, 0 waiting on the provider, 0 failed\n"
        )

    def test_renew_in_the_singular(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'one.db'}"
        one_due_workspace(url)
        dry = cli("renew", "--db", url, "--app", "cli_app:make", "--dry-run")
        assert dry.stdout.splitlines() == [
            "1 workspace due; nothing was changed (dry run)",
            "  ws_solo: trial_end to free (2 seats): deactivates m2",
        ]
        done = cli("renew", "--db", url, "--app", "cli_app:make")
        assert done.returncode == 0, done.stderr
        assert done.stdout == (
            "renewals: 1 workspace due, 1 changed, 1 member deactivated, "
            "0 notices recorded, 0 waiting on the provider, 0 failed\n"
        )

    def test_a_dry_run_in_the_plural(self, db: str) -> None:
        done = cli("renew", "--db", db, "--app", "cli_app:make", "--dry-run")
        assert done.stdout.startswith("3 workspaces due; nothing was changed (dry run)\n")

    def test_reconcile_in_the_singular_and_the_plural(self, db: str) -> None:
        one = cli("reconcile", "--db", db)
        assert one.stdout.startswith("reconcile: 1 subscription compared, 0 repaired, 1 failed\n")
        store = SQLStore.from_url(db)
        try:
            clock = FakeClock(START)
            provider = FakePaymentProvider(clock=clock)
            billing = Billing(
                catalog=Catalog.default(), store=store, provider=provider, clock=clock
            )
            checkout = billing.upgrade("ws_1", actor="o1", plan="business", seats=3, **URLS)
            provider.complete_checkout(checkout.id)
            provider.deliver(billing.handle_webhook)
        finally:
            store.dispose()
        two = cli("reconcile", "--db", db)
        assert two.stdout.startswith("reconcile: 2 subscriptions compared, 0 repaired, 2 failed\n")


class TestRenewProgress:
    """Issue 12: the progress line shows the total and the rate, all with separators."""

    def test_the_line_with_a_total(self) -> None:
        report = RenewalReport(examined=1200, changed=1180, deactivated=37)
        assert progress_line(report, 5000, 830.4) == (
            "renewals: 1,200 of 5,000 workspaces (24%), 830/s; "
            "1,180 changed, 37 members deactivated"
        )
        big = RenewalReport(examined=1_234_567, changed=1_000_000, deactivated=1)
        assert progress_line(big, 2_000_000, 12_345.6) == (
            "renewals: 1,234,567 of 2,000,000 workspaces (61%), 12,346/s; "
            "1,000,000 changed, 1 member deactivated"
        )

    def test_the_line_in_the_singular_and_past_its_total(self) -> None:
        one = RenewalReport(examined=1, changed=1, deactivated=0)
        assert progress_line(one, 1, 2.0) == (
            "renewals: 1 of 1 workspace (100%), 2/s; 1 changed, 0 members deactivated"
        )
        # Workspaces that fall due during the run raise the total, never past 100%.
        more = RenewalReport(examined=12, changed=12, deactivated=0)
        assert progress_line(more, 10, 5.0).startswith("renewals: 12 of 12 workspaces (100%)")

    def test_the_line_without_a_total(self) -> None:
        report = RenewalReport(examined=1500, changed=2, deactivated=1)
        assert progress_line(report, None, 1000.0) == (
            "renewals: 1,500 workspaces, 1,000/s; 2 changed, 1 member deactivated"
        )

    def test_notices_once_some_are_recorded(self) -> None:
        """Issue 14: the notice pass (after the boundaries) adds its count to both lines."""
        one = RenewalReport(examined=3, changed=3, deactivated=0, noticed=1)
        assert progress_line(one, 3, 3.0).endswith("0 members deactivated, 1 notice recorded")
        many = RenewalReport(examined=0, noticed=1200)
        assert renewal_summary(many) == (
            "renewals: 0 workspaces due, 0 changed, 0 members deactivated, "
            "1,200 notices recorded, 0 waiting on the provider, 0 failed"
        )

    def test_invitations_revoked_and_expired_are_named_when_there_are_some(self) -> None:
        """Issue 14: R11 revokes pending invitations first; the sweep expires old ones."""
        report = RenewalReport(examined=2, changed=2, deactivated=1, revoked=1, expired=3)
        assert renewal_summary(report) == (
            "renewals: 2 workspaces due, 2 changed, 1 member deactivated, 1 invitation revoked, "
            "3 invitations expired, 0 notices recorded, 0 waiting on the provider, 0 failed"
        )

    def test_on_a_terminal_one_line_is_rewritten(self) -> None:
        out = _Terminal()
        with Progress(out, total=1200) as progress:
            progress(RenewalReport(examined=1000, changed=1000, deactivated=10))
            progress(RenewalReport(examined=1200, changed=1000, deactivated=10))
        first, second = out.getvalue().removesuffix("\n").split("\r")[1:]
        assert first.startswith("renewals: 1,000 of 1,200 workspaces (83%), ")
        assert second.startswith("renewals: 1,200 of 1,200 workspaces (100%), ")
        assert len(second) >= len(first)  # padded over the line before it
        assert out.getvalue().endswith("\n")

    def test_elsewhere_a_log_line_every_few_seconds(self) -> None:
        out = io.StringIO()
        with Progress(out, total=2, every_s=0) as progress:
            progress(RenewalReport(examined=2, changed=2, deactivated=1))
        assert re.fullmatch(
            r"renewals: 2 of 2 workspaces \(100%\), [\d,]+/s; 2 changed, "
            r"1 member deactivated\n",
            out.getvalue(),
        )

    def test_renew_counts_the_due_workspaces_first(
        self, db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setattr(sys, "stderr", _Terminal())
        status = cli_module.main(["renew", "--db", db])  # the system clock: all four are due
        progress = sys.stderr.getvalue()
        assert status == 3  # the paid one needs its provider
        assert re.fullmatch(
            r"\rrenewals: 4 of 4 workspaces \(100%\), [\d,]+/s; 3 changed, "
            r"3 members deactivated\n",
            progress,
        ), progress
        assert capsys.readouterr().out.startswith("renewals: 4 workspaces due, 3 changed, ")

    def test_the_total_is_the_count_due_or_none(self, db: str) -> None:
        assert cli_module._due_total(db, LATER) == 3
        assert cli_module._due_total(db, START) == 0
        assert cli_module._due_total("postgresql+psycopg://u@127.0.0.1:1/db", LATER) is None


class TestWorkspaceShowFeatures:
    """Issue 12: ``workspace show`` lists each limit and flag with its value."""

    def test_a_paid_plan(self, db: str) -> None:
        done = cli("workspace", "show", "ws_paid", "--db", db, "--app", "cli_app:make")
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert "limits               projects: unlimited, storage_gb: 100" in lines
        assert (
            "flags                api_access: yes, audit_log: yes, sso: yes, "
            "priority_support: no, custom_contract: no"
        ) in lines
        data = json.loads(cli("workspace", "show", "ws_paid", "--db", db, "--json").stdout)
        assert data["limits"] == {"projects": None, "storage_gb": 100}
        assert data["features"] == ["api_access", "audit_log", "sso"]

    def test_after_the_trial_the_free_plans_limits(self, db: str) -> None:
        done = cli("workspace", "show", "ws_0", "--db", db, "--app", "cli_app:make")
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert "limits               projects: 3, storage_gb: 1" in lines
        assert (
            "flags                api_access: no, audit_log: no, sso: no, "
            "priority_support: no, custom_contract: no"
        ) in lines


class TestDemoKeepsToItself:
    """Issue 12: the demo never writes into a database that holds workspaces."""

    def test_a_database_with_workspaces_is_refused(self, db: str) -> None:
        before = snapshot(db)
        done = cli("demo", "--db", db)
        assert done.returncode == 1
        assert "already holds workspaces" in one_line(done.stderr, "invalid_request")
        assert done.stdout == ""
        assert snapshot(db) == before

    def test_a_postgresql_database_with_workspaces_is_refused(
        self, postgres_engine: sa.Engine
    ) -> None:
        _wipe(postgres_engine)
        seed(SQLStore(postgres_engine))
        before = SQLStore(postgres_engine).snapshot()
        done = cli("demo", "--db", postgres_url())
        assert done.returncode == 1
        one_line(done.stderr, "invalid_request")
        assert done.stdout == ""
        assert SQLStore(postgres_engine).snapshot() == before

    def test_a_new_or_empty_database_is_used_once(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'demo.db'}"
        assert cli("db", "upgrade", "--db", url).returncode == 0  # a schema, no workspace
        first = cli("demo", "--db", url)
        assert first.returncode == 0, first.stderr
        assert "3 webhooks" in first.stdout
        assert "2 members deactivated" in first.stdout
        again = cli("demo", "--db", url)  # now it holds the demo's own workspaces
        assert again.returncode == 1
        one_line(again.stderr, "invalid_request")

    def test_the_database_in_the_environment_is_not_used(self, db: str) -> None:
        before = snapshot(db)
        script = shutil.which("workspace-billing", path=str(Path(sys.executable).parent))
        assert script is not None
        env = {**os.environ, "WORKSPACE_BILLING_DB": db}
        done = subprocess.run(
            [script, "demo"], capture_output=True, text=True, env=env, check=False
        )
        assert done.returncode == 0, done.stderr
        assert db.removeprefix("sqlite:///") not in done.stdout  # a temporary file instead
        assert snapshot(db) == before

    @pytest.mark.parametrize(
        "args",
        [["--json"], ["--app", "cli_app:make"], ["--dry-run"], ["--nosuchoption"]],
        ids=" ".join,
    )
    def test_options_the_demo_would_ignore_are_usage(
        self, capsys: pytest.CaptureFixture[str], args: list[str]
    ) -> None:
        status, out, err = run(capsys, "demo", *args)
        assert status == 2
        assert "unrecognized arguments" in one_line(err, "usage")
        assert out == ""
