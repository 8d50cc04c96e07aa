"""The README's first command: the demo walks through the product story to the end."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys

from workspace_billing.cli import main
from workspace_billing.demo import run_demo


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
        ):
            assert expected in text, expected

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
