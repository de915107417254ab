"""The public surface: __all__ is exact, and the core imports nothing heavy."""

from __future__ import annotations

import subprocess
import sys

import activecv
import activecv.adapters.torch
import activecv.datasets
import activecv.io
import activecv.project
import activecv.review
import activecv.scale
import activecv.service
import activecv.sim
import activecv.strategies


def test_all_lists_exactly_the_public_names() -> None:
    for module in (
        activecv,
        activecv.strategies,
        activecv.io,
        activecv.adapters.torch,
        activecv.datasets,
        activecv.sim,
        activecv.project,
        activecv.review,
        activecv.scale,
        activecv.service,
    ):
        public = {n for n in dir(module) if not n.startswith("_")}
        submodules = {n for n in public if type(getattr(module, n)).__name__ == "module"}
        assert set(module.__all__) - {"__version__"} == public - submodules, module.__name__
        for name in module.__all__:
            assert getattr(module, name) is not None


def test_importing_the_core_loads_no_heavy_dependency() -> None:
    code = (
        "import sys, activecv, activecv.strategies, activecv.io, activecv.review\n"
        "heavy = {'torch', 'fastapi', 'ray', 'faiss', 'sqlite3', 'matplotlib', 'pyarrow', 'sklearn'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
