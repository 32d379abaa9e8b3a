"""The one-way layers of DESIGN.md, read from the source: core <- adapters <- application.

Every ``import`` in ``src/`` is read with ``ast`` (at module level and inside functions alike),
so a lazy import counts too. The core imports the standard library, numpy, array_api_compat and
itself, and matplotlib only inside a function; an adapter imports the core and its own framework,
never the application or the other adapter; nothing imports the application; the packages form
no cycle; only the application's trainer loader picks a module by name at run time.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGES = ("cyclr", "cyclr_tf", "cyclr_torch", "cyclr_cardio")
THIRD_PARTY = {
    "cyclr": {"numpy", "array_api_compat"},  # a small pure-Python shim (torch, JAX, ... arrays)
    "cyclr_tf": {"numpy", "keras", "tensorflow", "jax"},
    "cyclr_torch": {"numpy", "torch"},
    "cyclr_cardio": None,  # the application may import anything
}
FIRST_PARTY = {
    "cyclr": {"cyclr"},
    "cyclr_tf": {"cyclr", "cyclr_tf"},
    "cyclr_torch": {"cyclr", "cyclr_torch"},
    "cyclr_cardio": set(PACKAGES),
}


def imports(path: Path) -> list[tuple[str, bool, int]]:
    """``(top-level module, at module level?, line)`` for every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        module_level = id(node) in top_level or _under_type_checking(tree, node)
        found += [(n.split(".")[0], module_level, node.lineno) for n in names]
    return found


def _under_type_checking(tree: ast.Module, node: ast.AST) -> bool:
    for top in tree.body:
        if isinstance(top, ast.If) and "TYPE_CHECKING" in ast.unparse(top.test):
            if any(child is node for child in ast.walk(top)):
                return True
    return False


def sources(package: str) -> list[Path]:
    return sorted((SRC / package).rglob("*.py"))


def test_every_package_is_checked():
    found = {p.name for p in SRC.iterdir() if (p / "__init__.py").is_file()}
    assert found == set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_imports_only_what_its_layer_allows(package):
    allowed = THIRD_PARTY[package]
    bad = []
    for path in sources(package):
        for name, module_level, line in imports(path):
            where = f"{path.relative_to(SRC)}:{line} imports {name}"
            if name in PACKAGES:
                if name not in FIRST_PARTY[package]:
                    bad.append(where)
            elif name in sys.stdlib_module_names:
                if package == "cyclr" and name == "argparse":
                    bad.append(where)
            elif allowed is not None and name not in allowed:
                if not (package == "cyclr" and name == "matplotlib" and not module_level):
                    bad.append(where)
    assert not bad, "\n".join(bad)


def test_the_packages_form_no_cycle():
    edges = {p: set() for p in PACKAGES}
    for package in PACKAGES:
        for path in sources(package):
            edges[package] |= {n for n, _, _ in imports(path) if n in PACKAGES and n != package}
    order = ["cyclr", "cyclr_tf", "cyclr_torch", "cyclr_cardio"]  # each imports only earlier ones
    for i, package in enumerate(order):
        assert edges[package] <= set(order[:i]), (package, edges[package])
    assert not any("cyclr_cardio" in targets for targets in edges.values())


def test_only_the_trainer_loader_imports_by_name():
    users = [str(path.relative_to(SRC)) for package in PACKAGES for path in sources(package)
             if "import_module" in path.read_text(encoding="utf-8")]
    assert users == ["cyclr_cardio/trainer.py"]


def test_importing_the_core_and_the_cli_loads_no_framework():
    code = (
        "import sys, numpy as np, cyclr, cyclr.policy, cyclr.ops, cyclr.validate\n"
        "import cyclr.rangetest, cyclr.plot\n"
        "import cyclr_cardio.cli\n"
        "from cyclr import policy\n"
        "policy.OneCycle(0.1, 100)(np.arange(100))\n"
        "lrs = np.geomspace(1e-4, 1, 50)\n"
        "cyclr.rangetest.suggest(lrs, 1 - np.tanh(np.log10(lrs / 1e-2)))\n"
        "cyclr_cardio.cli.build_parser()\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'torch', 'jax', 'matplotlib', 'pandas', 'sklearn'))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
