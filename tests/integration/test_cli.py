"""The ``workspace-billing`` console script: each command's output and exit code."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.conftest import _wipe, postgres_url

from workspace_billing import Billing, Catalog, Store
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
            "waiting": [],
            "failed": [],
        }
        again = cli("renew", "--db", db, "--app", "cli_app:make")
        assert again.returncode == 0
        assert again.stdout.startswith("renewals: 0 due")

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
        assert done.returncode == 1
        assert message in done.stderr

    def test_argparse_usage_errors_are_exit_2(self) -> None:
        assert cli("renew", "--workers").returncode == 2
