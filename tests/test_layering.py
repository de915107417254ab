"""Packages talk through each other's public names: no module imports another package's
private modules (shared helpers live in ``activecv._*``), and the numpy core stays light."""

from __future__ import annotations

import ast
from pathlib import Path

import activecv

SOURCE = Path(activecv.__file__).parent


def imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))  # and `from package import _module`:
            found.extend(
                (node.lineno, f"{node.module}.{a.name}") for a in node.names if a.name.startswith("_")
            )
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return found


def package_of(path: Path) -> str:
    parts = path.relative_to(SOURCE).parts
    return ".".join(("activecv", *parts[:-1])) if len(parts) > 1 else "activecv"


def crosses_into_private(package: str, module: str) -> bool:
    """``module`` names a private part of a package other than ``package`` and its parents."""
    parts = module.split(".")
    if parts[0] != "activecv":
        return False
    for depth in range(2, len(parts) + 1):
        if parts[depth - 1].startswith("_") and not parts[depth - 1].startswith("__"):
            owner = ".".join(parts[: depth - 1])  # the package the private part belongs to
            return owner != "activecv" and package != owner and not package.startswith(owner + ".")
    return False


def test_no_module_imports_another_packages_private_modules() -> None:
    offending = [
        f"{path.relative_to(SOURCE)}:{line}: {module}"
        for path in sorted(SOURCE.rglob("*.py"))
        for line, module in imports(path)
        if crosses_into_private(package_of(path), module)
    ]
    assert offending == []


def test_the_rule_sees_a_private_import_across_packages() -> None:
    assert crosses_into_private("activecv.service", "activecv.project._pool")
    assert crosses_into_private("activecv.adapters.torch", "activecv.strategies._api.draw_candidates")
    assert not crosses_into_private("activecv.project", "activecv.project._pool")
    assert not crosses_into_private("activecv.service", "activecv._errors")
    assert not crosses_into_private("activecv.service", "activecv.io.labelstudio")
    assert crosses_into_private("activecv.iox", "activecv.io._predictions")  # a prefix is not a parent
