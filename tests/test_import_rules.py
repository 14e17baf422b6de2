"""Imports follow the flow of ../shared/design/ARCHITECTURE.md and never climb back.

Front doors (api/, web/, cli/) -> operations/ -> domain/ -> store/; engine/ -> provisioners/,
render/, bundles/, store/; render/ and bundles/ are pure. The composition root (app.py,
runtime.py, modes/) may import anything. Imports that break the flow today are listed in
KNOWN_DEBT, each a (module, imported package) pair: a new one fails this test, and so does an
entry that no longer happens, so the list only shrinks.
"""

from __future__ import annotations

import ast
from pathlib import Path

import baryon

PACKAGE = Path(baryon.__file__).parent

# Leaves that any layer may use: they import nothing of Baryon's but each other
# (``__init__`` holds the version number only; ``service_models`` the vendored models and the
# shapes and enums generated from them).
LEAVES = frozenset({"settings", "patterns", "service_models", "__init__"})

# What each package may import besides itself and the leaves.
ALLOWED: dict[str, frozenset[str]] = {
    # Front doors.
    # Front doors are handed the runtime (the wired pieces) by the composition root; the
    # portal and the CLI check members with the API's model-driven validator.
    "api": frozenset({"operations", "auth", "observability", "runtime"}),
    "web": frozenset({"operations", "auth", "observability", "api", "runtime"}),
    "cli": frozenset(
        {
            "operations",
            "api",
            "auth",
            "bundles",
            "cloud",
            "modes",
            "observability",
            "runtime",
            "importing",
        }
    ),
    # The application layer and below.
    "operations": frozenset({"domain", "store", "runtime", "git", "auth"}),
    "domain": frozenset({"store", "bundles", "render", "importing"}),
    "store": frozenset(),
    "auth": frozenset({"store"}),
    "observability": frozenset({"store"}),
    # Workers and what they drive.
    "engine": frozenset(
        {
            "provisioners",
            "render",
            "bundles",
            "store",
            "domain",
            "cloud",
            "observability",
            "git",
            "importing",
        }
    ),
    # render's pure file formats: the Jackson JSON of a pull request's deployment metadata.
    "provisioners": frozenset({"cloud", "runner", "git", "render"}),
    # Reaching git repositories and forges, and serving repositories: a library that knows
    # nothing of Baryon; the application layer and the workers hand it what it needs.
    "git": frozenset(),
    # A bundle's parsed parts are what rendering takes in.
    "render": frozenset({"bundles"}),
    "bundles": frozenset(),
    # What AWS Proton left behind, read: pure like bundles/ (a CloudFormation client is handed
    # in); the domain plans from what it reads, the worker and the CLI read with it.
    "importing": frozenset({"bundles"}),
    "cloud": frozenset(),
    # Runs programs sandboxed for a provisioner; knows nothing of Baryon but its settings.
    "runner": frozenset(),
    # Leaves: bundles.limits is the one piece of bundles/ the settings object holds.
    "settings": frozenset({"bundles"}),
    "patterns": frozenset(),
    "service_models": frozenset(),
    "__init__": frozenset(),
}
# The composition root wires everything together.
ROOTS = frozenset({"app", "runtime", "modes", "__main__"})

# Regenerate after paying some off: .venv/bin/python -c "from tests.test_import_rules import
# _violations; print(sorted(_violations()))" (issue 9 removes these).
KNOWN_DEBT: frozenset[tuple[str, str]] = frozenset()


def _package_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "baryon":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "baryon":  # a submodule, or a name of baryon/__init__.py
                found.update(
                    f"baryon.{alias.name}" if _is_module(alias.name) else "baryon"
                    for alias in node.names
                )
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _is_module(name: str) -> bool:
    return (PACKAGE / name / "__init__.py").exists() or (PACKAGE / f"{name}.py").exists()


def _module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    return ".".join(relative.parts)


def _violations() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        module = _module_name(path)
        own = _package_of(module)
        assert own is not None
        if own in ROOTS:
            continue
        assert own in ALLOWED, f"{module}: package {own!r} has no place in the import rules"
        for imported in _imports(path):
            target = _package_of(imported)
            if target is None or target == own or target in LEAVES:
                continue
            if target not in ALLOWED[own]:
                found.add((module, target))
    return found


def test_no_module_imports_against_the_flow_of_the_architecture() -> None:
    new = sorted(_violations() - KNOWN_DEBT)
    assert not new, "imports against the flow of ARCHITECTURE.md:\n" + "\n".join(
        f"  {module} imports baryon.{target}" for module, target in new
    )


def test_the_list_of_known_debt_only_shrinks() -> None:
    paid = sorted(KNOWN_DEBT - _violations())
    assert not paid, "no longer imported; remove from KNOWN_DEBT:\n" + "\n".join(
        f"  {module} -> {target}" for module, target in paid
    )


def test_the_rules_know_every_package() -> None:
    packages = {
        path.name if path.is_dir() else path.stem
        for path in PACKAGE.iterdir()
        if (path.is_dir() and (path / "__init__.py").exists()) or path.suffix == ".py"
    }
    assert packages <= set(ALLOWED) | LEAVES | ROOTS, packages - set(ALLOWED) - LEAVES - ROOTS
