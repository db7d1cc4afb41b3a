"""The layout's rules, checked on the source: each thing has one home and imports go one way.

    schemas  <-  jobs, quality  <-  courtwatch (the application)  <-  testbed, dags, benchmarks

and every table's declaration is complete and is what the README lists.
"""
from __future__ import annotations

import ast
import sys
from collections import Counter
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from courtwatch import ROOT
from schemas import warehouse

pytestmark = pytest.mark.unit
PACKAGES = ("schemas", "jobs", "quality", "courtwatch", "testbed")
# what each package may import of the project's own
MAY_IMPORT = {
    "schemas": {"schemas"},
    "jobs": {"schemas", "jobs", "quality"},
    "quality": {"schemas", "quality"},
    "courtwatch": {"schemas", "jobs", "quality", "courtwatch", "testbed"},  # testbed: the generate/evaluate verbs
    "testbed": {"schemas", "jobs", "quality", "courtwatch", "testbed"},
}


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imported(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_go_one_way(package):
    wrong = {f"{p.relative_to(ROOT)} imports {name}" for p in _modules(package)
             for name in _imported(p) & set(PACKAGES) - MAY_IMPORT[package]}
    assert not wrong, sorted(wrong)


def test_no_module_shadows_another_or_a_library():
    """A script run from a package's folder has that folder first on sys.path: a module named
    like the standard library or an installed package would hide it."""
    names = [p.stem for package in PACKAGES for p in _modules(package) if p.stem != "__init__"]
    twice = [n for n, k in Counter(names).items() if k > 1]
    assert not twice, f"modules sharing a name: {twice}"
    libraries = set(sys.stdlib_module_names) | set(packages_distributions()) - set(PACKAGES)
    assert not set(names) & libraries, f"modules named like a library: {sorted(set(names) & libraries)}"


def test_every_table_and_column_is_described():
    for t in warehouse.tables().values():
        assert t.description and t.columns, t.name
        assert all(c.description for c in t.columns), t.name
        assert set(t.key) <= {c.name for c in t.columns}, f"{t.name}: key {t.key} is not among its columns"
        assert set(t.partitioned_by) <= {c.name for c in t.columns}, t.name


def test_the_readme_lists_the_declared_tables():
    readme = (ROOT / "README.md").read_text()
    assert warehouse.readme_with_tables(readme) == readme, "run `courtwatch tables --readme` and commit README.md"


def test_silver_holds_the_contract_and_no_personal_value():
    from schemas import contract

    for source in ("cases", "hotline", "mediation"):
        columns = [c.name for c in warehouse.table(f"silver.{source}").columns]
        assert columns[:len(contract(source).fields)] == [f.silver_name for f in contract(source).fields]
        assert not {f.name for f in contract(source).personal} & set(columns)
