"""The README's first command: the demo walks through the product story to the end."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from workspace_billing.cli import main
from workspace_billing.demo import run_demo
from workspace_billing.errors import InvalidRequest


class TestDemo:
    def test_the_demo_tells_the_whole_story(self) -> None:
        out = io.StringIO()
        assert run_demo(out) == 0
        text = out.getvalue()
        for expected in (
            "trialing",  # R1
            "Free, free",  # R2
            "refused (permission_denied)",  # R5
            "refused (seat_limit_reached)",  # R8
            "scheduled for the renewal",  # R9
            "would deactivate erin, dan",  # R11 preview
            "dan (deactivated), erin (deactivated)",  # R11
            "sales_contacted",  # R7
            "3 webhooks",
            "1/5 seats in use",
            "2 members deactivated",
        ):
            assert expected in text, expected

    def test_the_demo_runs_once_on_a_database_and_then_refuses_it(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'demo.db'}"
        assert run_demo(io.StringIO(), db_url=url) == 0
        out = io.StringIO()
        with pytest.raises(InvalidRequest, match="already holds workspaces"):
            run_demo(out, db_url=url)
        assert out.getvalue() == ""

    def test_the_console_script_runs_the_demo(self) -> None:
        script = shutil.which("workspace-billing") or ""
        command = [script] if script else [sys.executable, "-m", "workspace_billing"]
        done = subprocess.run([*command, "demo"], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert "Alice asks sales for Enterprise" in done.stdout

    def test_python_dash_m_runs_the_demo(self) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "workspace_billing", "demo"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.count("\n") >= 15

    def test_main_returns_the_exit_code(self, capsys: object) -> None:
        assert main(["demo"]) == 0
