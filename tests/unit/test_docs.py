"""Code samples in the README and docs/ run, so they cannot rot.

Every ```python block of a file runs, in order, in one namespace per file.
Blocks fenced as ```py are fragments for a web framework or a host's own
code (Flask, Django, a custom store) and are shown, not run. The rule ids the
pages cite (R1-R18) and the outbox's event types are defined in docs/concepts.md.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from workspace_billing import EventType

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
CONCEPTS = ROOT / "docs" / "concepts.md"
RULE_CITED = re.compile(r"\bR(\d+)\b")
RULE_DEFINED = re.compile(r"^- \*\*R(\d+) [A-Z]", re.MULTILINE)


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
        "frameworks.md",
        "integration.md",
        "json.md",
        "providers.md",
        "storage.md",
        "testing.md",
    ]


def test_every_rule_cited_is_defined_in_concepts() -> None:
    """docs/concepts.md defines each rule (a "- **R9 Buying seats.**" line) the docs cite."""
    defined = [int(n) for n in RULE_DEFINED.findall(CONCEPTS.read_text())]
    assert defined == list(range(1, 19)), "R1-R18, once each and in order"
    undefined = {
        path.name: sorted(cited)
        for path in DOCS
        if (cited := {int(n) for n in RULE_CITED.findall(path.read_text())} - set(defined))
    }
    assert not undefined, f"cited but not defined in docs/concepts.md: {undefined}"


def test_concepts_names_every_event_type() -> None:
    """The outbox's event types, as docs/concepts.md lists them for hosts."""
    page = CONCEPTS.read_text()
    assert [t.value for t in EventType if f"`{t.value}`" not in page] == []


def test_every_public_name_has_an_entry_in_the_api_reference() -> None:
    """The site's API reference (docs/reference/, built by mkdocstrings) shows each
    name ``workspace_billing`` exports, so nothing public is undocumented."""
    import workspace_billing

    reference = "\n".join(p.read_text() for p in (ROOT / "docs" / "reference").glob("*.md"))
    entries = set(re.findall(r"^::: workspace_billing\.(\w+)$", reference, re.MULTILINE))
    assert sorted(set(workspace_billing.__all__) - {"__version__"} - entries) == []
