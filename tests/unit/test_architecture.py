"""The layout holds: imports point inward only, and no module outgrows a reader.

Ports and adapters around a pure core (DESIGN §2): the core imports no
adapter and no service code, the service layer sees only the core and its
ports, adapters never import each other. Read from the source with ``ast``,
so a lazy import inside a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import workspace_billing

PACKAGE = Path(workspace_billing.__file__).parent
MAX_LINES = 500

CORE = {
    "catalog", "clock", "errors", "events", "invitation", "jsonable", "messages", "mirror", "money",
    "notices", "overview", "permissions", "ports", "provider_values", "renewal", "subscription",
    "workspace",
}  # fmt: skip

# Layer of a module (by its dotted name inside the package) -> layers it may import.
ALLOWED = {
    "core": {"core"},
    "service": {"core", "service"},
    "billing": {"core", "service"},
    "storage": {"core", "storage"},
    "fake": {"core", "fake", "simulation"},
    "stripe": {"core", "stripe"},
    # What the fake and the local provider share, so they behave alike: pure rules.
    "simulation": {"core", "simulation"},
    # The local provider keeps its state beside the store's, on the SQL store's set-up.
    "local": {"core", "simulation", "storage", "local"},
    # The outer ring wires things together for hosts and their tests.
    "testing": {"core", "service", "billing", "storage", "fake", "testing"},
    "cli": {"core", "billing", "storage", "fake", "cli"},
    # Web framework integrations: the billing API over Billing, a store from settings.
    "integrations": {"core", "billing", "storage", "integrations"},
}


def layer(module: str) -> str:
    parts = module.split(".")
    head = parts[0]
    if head in CORE:
        return "core"
    if head in {"service", "storage", "testing", "integrations"}:
        return head
    if head == "billing":
        return "billing"
    if head == "providers":
        if len(parts) == 1:
            return "core"  # the package marker only
        if parts[1].startswith("simulated"):
            return "simulation"
        if parts[1] == "local":
            return "local"
        return "fake" if parts[1].startswith("fake") else "stripe"
    if head in {"cli", "demo", "__main__", "__init__"} or head.startswith("cli_"):
        return "cli"
    raise AssertionError(f"no layer for {module!r}: add it to test_architecture")


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def imported(path: Path) -> set[str]:
    """Modules of the package that ``path`` imports, as dotted names inside it."""
    own = module_name(path).split(".")
    package = own if path.name == "__init__.py" else own[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if node.module and node.module.startswith("workspace_billing."):
                    found.add(node.module.removeprefix("workspace_billing."))
                continue
            base = package[: len(package) - (node.level - 1)]
            target = [*base, *(node.module.split(".") if node.module else [])]
            if node.module is None:  # from . import x: a module, or a name of the package
                for alias in node.names:
                    candidate = PACKAGE.joinpath(*base, alias.name)
                    is_module = candidate.with_suffix(".py").exists() or candidate.is_dir()
                    found.add(".".join([*base, alias.name] if is_module else base))
            elif target:
                found.add(".".join(target))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("workspace_billing."):
                    found.add(alias.name.removeprefix("workspace_billing."))
    return {name for name in found if name and name != "__init__"}


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


class TestImportGraph:
    @pytest.mark.parametrize("path", SOURCES, ids=module_name)
    def test_imports_point_inward_only(self, path: Path) -> None:
        """Each module imports only the layers its own layer may see."""
        mine = layer(module_name(path))
        wrong = {m for m in imported(path) if layer(m) not in ALLOWED[mine]}
        assert not wrong, f"{module_name(path)} ({mine}) imports {sorted(wrong)}"

    def test_the_check_sees_a_forbidden_import(self, tmp_path: Path) -> None:
        """The graph is read from the source: a core module naming an adapter is caught."""
        assert layer("storage.sql") not in ALLOWED[layer("renewal")]
        assert "storage.sql" in imported(PACKAGE / "cli.py")
        assert imported(PACKAGE / "billing.py") >= {"service.members", "service.plans"}


class TestModuleSize:
    @pytest.mark.parametrize("path", SOURCES, ids=module_name)
    def test_no_module_is_over_about_500_lines(self, path: Path) -> None:
        """A module a reader can hold in mind: split along its seams before it grows."""
        lines = len(path.read_text().splitlines())
        assert lines <= MAX_LINES, f"{module_name(path)} has {lines} lines"


class TestWhereThingsAre:
    def test_the_docs_page_names_every_module(self) -> None:
        """docs/architecture.md lists each module, so the map stays true as code moves."""
        page = (Path(__file__).resolve().parents[2] / "docs" / "architecture.md").read_text()
        missing = [
            str(path.relative_to(PACKAGE))
            for path in SOURCES
            if path.name not in {"__init__.py", "__main__.py"} or path.parent.name == "testing"
            if f"`{path.relative_to(PACKAGE)}`" not in page
        ]
        assert not missing, f"docs/architecture.md does not name {missing}"
