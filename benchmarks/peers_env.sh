#!/usr/bin/env bash
# The peers' own virtual environment for benchmarks/bench_peers.py, outside the repo.
#
#     bash benchmarks/peers_env.sh [VENV]      # default ~/.cache/activecv/peers-venv
#
# torch is pinned to 2.13.0 (the CPU wheel; another torch spec pulls gigabytes of CUDA
# packages). batchbald_redux 2.0.5 is installed with --no-deps: its metadata asks for an old
# torch it does not need; it imports only torch, toma and tqdm. activecv is not installed here:
# bench_peers.py measures activecv and plain numpy with the project's own interpreter, and the
# peers with this one, each call in a fresh process of the same run.
set -euo pipefail
VENV="${1:-${HOME}/.cache/activecv/peers-venv}"
python3 -m venv "$VENV"
PIP="$VENV/bin/pip"
"$PIP" install --upgrade pip
"$PIP" install "torch==2.13.0" numpy baal==2.1.0 scikit-activeml==1.0.1 modAL-python==0.4.2.1
"$PIP" install --no-deps batchbald_redux==2.0.5 toma tqdm
"$VENV/bin/python" - <<'PY'
import importlib

for name in ("torch", "numpy", "baal", "skactiveml", "modAL", "batchbald_redux", "toma"):
    try:
        mod = importlib.import_module(name)
        print(f"{name} {getattr(mod, '__version__', '?')} OK")
    except Exception as exc:  # report every peer, installed or not
        print(f"{name} FAILED: {type(exc).__name__}: {exc}")
PY
echo "peers venv: $VENV"
