"""The house's floors hold: every import points down and no module imports itself back.

The floors are ARCHITECTURE.md's, written as import-linter contracts in pyproject.toml.
"""

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _cycle_from(graph: grimp.ImportGraph, start: str) -> list[str] | None:
    """A path of imports from ``start`` back to itself, if there is one."""
    for imported in graph.find_modules_directly_imported_by(start):
        chain = graph.find_shortest_chain(importer=imported, imported=start)
        if chain is not None:
            return [start, *chain]
    return None


def test_no_import_circles() -> None:
    graph = grimp.build_graph("ingestd", "storage", "triage", include_external_packages=False)
    circles = [cycle for module in sorted(graph.modules)
               if (cycle := _cycle_from(graph, module)) is not None]
    assert circles == []
