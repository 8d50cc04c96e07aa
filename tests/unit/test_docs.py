"""Code samples in the README and docs/ run, so they cannot rot.

Every ```python block of a file runs, in order, in one namespace per file.
Blocks fenced as ```py are fragments for a web framework or a host's own
code (Flask, Django, a custom store) and are shown, not run.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_the_samples_of_a_document_run(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocks = BLOCK.findall(path.read_text())
    namespace: dict[str, object] = {"__name__": f"doc_{path.stem}"}
    for number, code in enumerate(blocks, start=1):
        exec(compile(code, f"{path.name}[block {number}]", "exec"), namespace)


def test_every_document_with_python_has_runnable_samples() -> None:
    assert [p.name for p in DOCS if BLOCK.search(p.read_text())] == [
        "README.md",
        "concepts.md",
        "errors.md",
        "integration.md",
        "json.md",
        "providers.md",
        "storage.md",
        "testing.md",
    ]
