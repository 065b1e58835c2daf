"""Every third-party module the package imports is declared in pyproject.toml.

The imports are read from the source with ``ast`` (every ``import x`` / ``from x import y``
of ``aiida_wigner``, also those inside functions), so a module that is only imported on
some code path counts too.  Imports at module level (run when the package is imported)
must be core ``dependencies``; imports inside functions (lazy, an optional feature) may
come from an extra instead.  Import names map to distribution names through the installed
metadata, and :data:`IMPORT_TO_DIST` for modules not installed here.
"""

from __future__ import annotations

import ast
import functools
import pathlib
import re
import sys
from importlib.metadata import packages_distributions

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from 3.11")

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "aiida_wigner"

#: import name -> distribution, where the two differ (used when the metadata does not know)
IMPORT_TO_DIST = {
    "yaml": "pyyaml",
    "aiida": "aiida-core",
    "aiida_phonopy": "aiida-phonopy",
    "aiida_vasp": "aiida-vasp",
    "aiida_pythonjob": "aiida-pythonjob",
    "hiphive": "hiphive",
    "chgnet": "chgnet",
    "sevenn": "sevenn",
}


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    return normalize(re.match(r"\s*([A-Za-z0-9._-]+)", requirement).group(1))


def declared() -> tuple[set[str], set[str]]:
    """(core dependencies, dependencies of any extra), normalized distribution names."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {requirement_name(r) for r in project["dependencies"]}
    extras = {
        requirement_name(r)
        for reqs in project.get("optional-dependencies", {}).values()
        for r in reqs
    }
    return core, extras


def _guarded(node, parents) -> bool:
    """Inside a function body, or a ``try`` that catches ImportError (an optional import)."""
    for parent in parents.get(node, ()):
        if isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return True
        if isinstance(parent, ast.Try) and any(
            h.type is not None and "ImportError" in ast.unparse(h.type) for h in parent.handlers
        ):
            return True
    return False


def imports(path: pathlib.Path) -> list[tuple[str, bool, int]]:
    """``(top-level module, lazy, line)`` of every absolute import in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    parents: dict = {}

    def walk(node, chain):
        parents[node] = chain
        for child in ast.iter_child_nodes(node):
            walk(child, chain + (node,))

    walk(tree, ())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            found.append((name.split(".")[0], _guarded(node, parents), node.lineno))
    return found


def third_party_imports() -> dict[str, list[tuple[str, bool]]]:
    """``{top-level module: [(file:line, lazy), ...]}`` of the package's third-party imports."""
    out: dict[str, list[tuple[str, bool]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for module, lazy, line in imports(path):
            if module in sys.stdlib_module_names or module in ("aiida_wigner", "__future__"):
                continue
            out.setdefault(module, []).append((f"{path.relative_to(ROOT)}:{line}", lazy))
    return out


@functools.lru_cache(maxsize=1)
def _installed() -> dict:
    return packages_distributions()


def distribution(module: str) -> str | None:
    installed = _installed().get(module)
    if installed:
        return normalize(installed[0])
    return normalize(IMPORT_TO_DIST[module]) if module in IMPORT_TO_DIST else None


def test_the_walk_sees_known_imports():
    """The walk finds what is there (so that the test below can fail)."""
    found = third_party_imports()
    assert {"numpy", "aiida", "phonopy", "spglib", "yaml", "ase"} <= set(found)
    assert any(lazy for _, lazy in found["aiida_vasp"])  # imported inside functions only
    assert distribution("yaml") == "pyyaml" and distribution("aiida") == "aiida-core"


def test_every_import_is_declared():
    core, extras = declared()
    problems = []
    for module, places in sorted(third_party_imports().items()):
        dist = distribution(module)
        if dist is None:
            problems.append(
                f"{module} ({places[0][0]}): unknown distribution; installed? else "
                f"add it to IMPORT_TO_DIST"
            )
            continue
        eager = [where for where, lazy in places if not lazy]
        if eager and dist not in core:
            problems.append(
                f"{module} ({eager[0]}) is imported at module level but {dist} is "
                "not in [project] dependencies"
            )
        elif dist not in core | extras:
            problems.append(
                f"{module} ({places[0][0]}): {dist} is declared nowhere in pyproject.toml"
            )
    assert not problems, "\n".join(problems)
