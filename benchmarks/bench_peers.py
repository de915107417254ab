"""activecv against plain numpy and four active-learning libraries, on the workloads of issue 16.

    bash benchmarks/peers_env.sh            # once: the peers' own venv, ~/.cache/activecv/peers-venv
    python benchmarks/bench_peers.py        # writes benchmarks/results/peers.jsonl and peers.md

Peers: baal, scikit-activeml, modAL (modAL-python) and batchbald_redux, each called through its
public API as its documentation shows, on the same arrays (only put in the layout the peer
documents, outside the timed call). activecv and the plain-numpy float32 reference (full argsort)
run with this interpreter (the project's venv), the peers with the peers' venv; every call runs
in a fresh process of the same run (``--child``), timed and measured as in ``_measure.py``: wall
time of the call alone, peak RSS of the call (high-water mark reset just before it; the inputs
are included). Runs are interleaved (repeat 1 of every method, then repeat 2, ...).

Every child has an address-space limit (``RLIMIT_AS``, ``--mem-limit-gb``, lowered to what the
machine has available at that moment); a peer that needs more is reported as "exceeds N GB", not
run into the machine's memory. BatchBALD calls are capped at ``--cap-s`` seconds (900) and run
once each (their cost); the others are the median of ``--repeats`` (3).

    python benchmarks/bench_peers.py --only entropy,margin --repeats 1   # a subset
    python benchmarks/bench_peers.py --markdown-only                     # peers.md from peers.jsonl
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_PEERS_PYTHON = Path.home() / ".cache/activecv/peers-venv/bin/python"
K_TOP = 1000  # budget of the top-k workloads
M_CONFIGS = 10_000  # BatchBALD's sampled joint configurations
MC_K = 20  # MC samples per item

# workload -> (budget, input description); methods per workload, in table order
WORKLOADS: dict[str, tuple[int, str]] = {
    "entropy": (K_TOP, "entropy top-1000, 1M x 100 float32 probs"),
    "margin": (K_TOP, "margin top-1000, 1M x 100 float32 probs"),
    "bald": (K_TOP, "BALD top-1000, 100k x 20 x 10 float32 mc_probs"),
    "batchbald10": (10, "BatchBALD b=10, 10k x 20 x 10 float64 mc_probs, M=10,000"),
    "batchbald50": (50, "BatchBALD b=50, same input"),
}
METHODS: dict[str, tuple[str, ...]] = {
    "entropy": ("numpy", "activecv", "baal", "scikit-activeml", "modAL"),
    "margin": ("numpy", "activecv", "baal", "scikit-activeml", "modAL"),
    "bald": ("numpy", "activecv", "baal", "scikit-activeml", "batchbald_redux"),
    "batchbald10": ("activecv", "batchbald_redux", "baal", "scikit-activeml"),
    "batchbald50": ("activecv", "batchbald_redux", "baal", "scikit-activeml"),
}
PEERS = ("baal", "scikit-activeml", "modAL", "batchbald_redux")
NOT_OFFERED = {
    ("bald", "modAL"): "modAL has no BALD for MC samples (its disagreement measures need a committee)",
    ("batchbald10", "modAL"): "modAL has no BatchBALD",
    ("batchbald50", "modAL"): "modAL has no BatchBALD",
    ("entropy", "batchbald_redux"): "batchbald_redux offers BALD and BatchBALD only",
    ("margin", "batchbald_redux"): "batchbald_redux offers BALD and BatchBALD only",
}


# ---------------------------------------------------------------------------- inputs


def make_probs() -> np.ndarray:
    """1M x 100 float32: the input of bench_topk.py (softmax of Gaussian logits, seed 0)."""
    from bench_topk import make_probs as topk_probs

    return topk_probs()


def make_bald_mc_probs(n: int = 100_000, seed: int = 0) -> np.ndarray:
    """n x 20 x 10 float32: softmax of Gaussian logits x 2, built in chunks."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, MC_K, 10), dtype=np.float32)
    for start in range(0, n, 10_000):
        stop = min(start + 10_000, n)
        z = rng.standard_normal((stop - start, MC_K, 10), dtype=np.float32) * 2.0
        z = np.exp(z - z.max(axis=2, keepdims=True))
        out[start:stop] = z / z.sum(axis=2, keepdims=True)
    return out


def make_batchbald_mc_probs() -> np.ndarray:
    """10k x 20 x 10 float64: the input of bench_batchbald.py (seed 0)."""
    from bench_batchbald import make_mc_probs

    return make_mc_probs()


def workload_input(workload: str) -> np.ndarray:
    if workload in ("entropy", "margin"):
        return make_probs()
    if workload == "bald":
        return make_bald_mc_probs()
    return make_batchbald_mc_probs()


# ------------------------------------------------------------- the calls (in the child)


class _Precomputed:
    """modAL asks a classifier for ``predict_proba(X)``; here X are the probabilities."""

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return x


def _top(scores: np.ndarray, k: int, largest: bool = True) -> list[int]:
    """Top-k of a score vector by a full stable argsort (for peers that only score)."""
    order = np.argsort(-scores if largest else scores, kind="stable")
    return [int(i) for i in order[:k]]


def _numpy_call(workload: str, x: np.ndarray, k: int):
    def run() -> list[int]:
        if workload == "entropy":
            scores = -(x * np.log(np.clip(x, 1e-12, 1.0))).sum(axis=1)
        elif workload == "margin":
            top = np.sort(x, axis=1)
            scores = 1.0 - (top[:, -1] - top[:, -2])
        else:  # BALD: entropy of the mean minus the mean entropy, all in float32
            mean = x.mean(axis=1)
            h_mean = -(mean * np.log(np.clip(mean, 1e-12, 1.0))).sum(axis=1)
            mean_h = -(x * np.log(np.clip(x, 1e-12, 1.0))).sum(axis=2).mean(axis=1)
            scores = h_mean - mean_h
        return _top(scores, k)

    return run


def _activecv_call(workload: str, x: np.ndarray, k: int):
    import activecv as acv

    if workload in ("entropy", "margin"):
        return lambda: acv.select(workload, budget=k, probs=x).indices.tolist()
    if workload == "bald":
        return lambda: acv.select("bald", budget=k, mc_probs=x).indices.tolist()
    return lambda: acv.select("batchbald", budget=k, mc_probs=x, rng=0).indices.tolist()


def _baal_call(workload: str, x: np.ndarray, k: int):
    from baal.active import heuristics

    if workload in ("entropy", "margin"):  # (N, C): heuristic(predictions) ranks every item
        heuristic = heuristics.Entropy() if workload == "entropy" else heuristics.Margin()
        return lambda: [int(i) for i in heuristic(x)[:k]]
    # baal: [n_sample, n_classes, n_iterations]; the (N, K, C) original is freed before the clock
    x_nck = np.ascontiguousarray(x.transpose(0, 2, 1))
    if workload == "bald":
        bald = heuristics.BALD()
        return lambda: [int(i) for i in bald(x_nck)[:k]]
    # M = n_iterations x num_draw sampled configurations
    batchbald = heuristics.BatchBALD(num_samples=k, num_draw=M_CONFIGS // MC_K)
    return lambda: [int(i) for i in batchbald(x_nck)[:k]]


def _skactiveml_call(workload: str, x: np.ndarray, k: int):
    from skactiveml.pool import batch_bald, uncertainty_scores
    from skactiveml.utils import rand_argmax

    if workload in ("entropy", "margin"):
        method = "entropy" if workload == "entropy" else "margin_sampling"
        return lambda: _top(uncertainty_scores(x, method=method), k)
    x_knc = x.transpose(1, 0, 2)  # scikit-activeml: (n_estimators, n_samples, n_classes)
    if workload == "bald":  # batch_size=1 is BALD (as GreedyBALD calls it)
        return lambda: _top(batch_bald(x_knc, batch_size=1)[0], k)

    def run() -> list[int]:
        utilities = batch_bald(x_knc, batch_size=k, n_MC_samples=M_CONFIGS, random_state=0)
        return [int(i) for i in rand_argmax(utilities, axis=1, random_state=0)]

    return run


def _modal_call(workload: str, x: np.ndarray, k: int):
    from modAL.uncertainty import entropy_sampling, margin_sampling

    sampling = entropy_sampling if workload == "entropy" else margin_sampling
    return lambda: [int(i) for i in sampling(_Precomputed(), x, n_instances=k)[0]]


def _redux_call(workload: str, x: np.ndarray, k: int):
    import torch
    from batchbald_redux.batchbald import get_bald_batch, get_batchbald_batch

    log_p = torch.from_numpy(np.log(x))  # redux takes log-probabilities (N, K, C)
    if workload == "bald":
        return lambda: list(get_bald_batch(log_p, k).indices)
    return lambda: list(get_batchbald_batch(log_p, k, M_CONFIGS, dtype=torch.double, device="cpu").indices)


CALLS = {
    "numpy": _numpy_call,
    "activecv": _activecv_call,
    "baal": _baal_call,
    "scikit-activeml": _skactiveml_call,
    "modAL": _modal_call,
    "batchbald_redux": _redux_call,
}


def setup(workload: str, method: str):
    """Inputs and imports, untimed; returns the zero-argument call that is timed."""
    return CALLS[method](workload, workload_input(workload), WORKLOADS[workload][0])


class _Capped(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Capped


def _capped_setup(workload: str, method: str, cap_s: float):
    """setup(), with the timed call stopped by SIGALRM after cap_s seconds."""
    run = setup(workload, method)

    def timed() -> Any:
        signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, cap_s)
        try:
            return run()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    return timed


class _Box:
    """The one-slot queue that _measure._timed puts its result in."""

    item: dict[str, Any]

    def put(self, item: dict[str, Any]) -> None:
        self.item = item


def child(workload: str, method: str, cap_s: float) -> None:
    import warnings

    warnings.simplefilter("ignore")  # peers' deprecation chatter; errors still raise
    os.environ.setdefault("TQDM_DISABLE", "1")
    from _measure import _timed

    box = _Box()
    try:
        _timed(_capped_setup, (workload, method, cap_s), box)
    except _Capped:
        box.item = {"seconds": None, "capped": True, "note": f"> {cap_s:.0f} s (stopped at the cap)"}
    except MemoryError as exc:
        box.item = {"error": f"MemoryError: {exc}", "memory": True}
    except RuntimeError as exc:  # torch's allocator reports running out as a RuntimeError
        box.item = {"error": f"RuntimeError: {exc}"[:500], "memory": "allocate" in str(exc)}
    print(json.dumps(box.item))


def versions() -> None:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("numpy", "torch", "baal", "scikit-activeml", "modAL-python", "batchbald_redux", "activecv"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    for module in ("baal", "skactiveml", "modAL", "batchbald_redux"):
        try:
            __import__(module)
        except ImportError as exc:  # recorded: a peer that cannot import is reported, not run
            out[f"import {module}"] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(out))


# ------------------------------------------------------------------ the parent (driver)


def _available_gib() -> float:
    with open("/proc/meminfo") as handle:
        line = next(line for line in handle if line.startswith("MemAvailable:"))
    return int(line.split()[1]) / 2**20


def _limit(limit_bytes: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

    return apply


def run_one(python: str, workload: str, method: str, args: argparse.Namespace) -> dict[str, Any]:
    """One call in a fresh process under the memory limit and the time cap."""
    limit_gib = min(args.mem_limit_gb, _available_gib() - 1.0)
    cap = args.cap_s if workload.startswith("batchbald") else args.cap_topk_s
    row: dict[str, Any] = {"workload": workload, "method": method, "mem_limit_gib": round(limit_gib, 1)}
    cmd = [python, str(Path(__file__).resolve()), "--child", workload, method, "--cap-child", str(cap)]
    env = dict(os.environ, TQDM_DISABLE="1", PYTHONWARNINGS="ignore")
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd,
            cwd=HERE,
            env=env,
            capture_output=True,
            text=True,
            timeout=cap + 300,  # a backstop: the child stops its own call at the cap
            preexec_fn=_limit(int(limit_gib * 2**30)),
        )
    except subprocess.TimeoutExpired:
        row.update(capped=True, seconds=None, note=f"> {cap:.0f} s (process stopped)")
        return row
    wall = time.perf_counter() - start
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or "").strip().splitlines()[-3:]
        memory = "MemoryError" in proc.stderr or "allocate" in proc.stderr or proc.returncode == -9
        row.update(seconds=None, error=f"exit {proc.returncode}: {' | '.join(tail)}"[:500], memory=memory)
    else:
        row.update(json.loads(lines[-1]))
    if row.get("memory"):
        row["note"] = f"exceeds {limit_gib:.0f} GB"
    if row.get("seconds") is not None and row["seconds"] > cap:
        row.update(capped=True, note=f"> {cap:.0f} s")
    row["process_wall_s"] = round(wall, 1)
    return row


def _python_for(method: str, args: argparse.Namespace) -> str:
    return str(args.peers_python) if method in PEERS else sys.executable


def _machine() -> dict[str, Any]:
    keep = ("Model name", "CPU(s)", "Thread(s) per core", "L2 cache", "L3 cache", "Hypervisor vendor")
    info: dict[str, Any] = {}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            key, _, value = line.partition(":")
            if key.strip() in keep:
                info[key.strip()] = value.strip()
        flags = next((line for line in out.splitlines() if line.startswith("Flags:")), "")
        info["AVX2"] = " avx2 " in flags + " "
        info["AVX-512"] = " avx512f " in flags + " "
    except (OSError, subprocess.CalledProcessError):
        pass
    with open("/proc/meminfo") as handle:
        info["memory_gib"] = round(int(handle.readline().split()[1]) / 2**20, 1)
    return info


def _git_head() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "../src"], cwd=HERE, capture_output=True, text=True
        ).stdout.strip()
        return head + (" (src/ modified)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _versions(python: str) -> dict[str, Any]:
    cmd = [python, str(Path(__file__).resolve()), "--versions"]
    try:
        proc = subprocess.run(cmd, cwd=HERE, capture_output=True, text=True, timeout=300)
        return dict(json.loads(proc.stdout.strip().splitlines()[-1]))
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def _median_row(workload: str, method: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in runs if r.get("seconds") is not None and not r.get("capped")]
    row: dict[str, Any] = {"workload": workload, "method": method, "runs": len(runs)}
    if len(ok) == len(runs) and ok:
        row["seconds"] = statistics.median(r["seconds"] for r in ok)
        row["seconds_each"] = [round(r["seconds"], 3) for r in ok]
        row["peak_rss_mib"] = statistics.median(r["peak_rss_mib"] for r in ok)
        row["rss_before_mib"] = statistics.median(r["rss_before_mib"] for r in ok)
        row["result"] = ok[0]["result"]
    else:
        bad = next(r for r in runs if r not in ok)
        row.update(seconds=None, note=bad.get("note") or bad.get("error", "failed"))
        row["error"] = bad.get("error")
    return row


def _agreement(rows: list[dict[str, Any]]) -> None:
    """Top-k workloads: overlap with numpy's top-k; BatchBALD: with batchbald_redux's picks."""
    by_key = {(r["workload"], r["method"]): r for r in rows}
    for row in rows:
        if row.get("result") is None:
            continue
        if row["workload"].startswith("batchbald"):
            if row["method"] == "batchbald_redux":
                continue
            ref = by_key.get((row["workload"], "batchbald_redux"), {}).get("result")
            if ref is not None:
                row["same_set_as_redux"] = len(set(row["result"]) & set(ref))
            elif row["workload"] == "batchbald50":  # redux capped: greedy, its b=10 picks come first
                ref = by_key.get(("batchbald10", "batchbald_redux"), {}).get("result")
                row["redux_reference"] = "its b=10 picks"
            if ref is not None:
                pairs = zip(row["result"], ref, strict=False)
                row["same_first_picks_as_redux"] = next(
                    (i for i, (a, b) in enumerate(pairs) if a != b), len(ref)
                )
        else:
            ref = by_key.get((row["workload"], "numpy"), {}).get("result")
            if ref is not None:
                row["same_top_k_as_numpy"] = len(set(row["result"]) & set(ref))


def _repeats(workload: str, method: str, args: argparse.Namespace) -> int:
    """BatchBALD, and batchbald_redux's BALD (about 100x the others), run once: their cost."""
    if workload.startswith("batchbald") or (workload, method) == ("bald", "batchbald_redux"):
        return 1
    return int(args.repeats)


def _not_run(workload: str, method: str, runs: dict, args: argparse.Namespace) -> str | None:
    """Why a call is not made: the peer is missing, or it already ran out of memory at b=10."""
    module = {"scikit-activeml": "skactiveml"}.get(method, method)
    if method in PEERS and not args.peers_python.exists():
        return f"not installed: no peers venv at {args.peers_python}"
    if method in PEERS and f"import {module}" in args.peer_versions:
        return f"not installed: {args.peer_versions[f'import {module}']}"
    earlier = runs.get(("batchbald10", method), [{}])[-1]
    if workload == "batchbald50" and earlier.get("memory"):
        # the allocation that fails comes in a step before the 10th pick, so b=50 meets it too
        return f"{earlier['note']} (as at b=10, which failed before its 10th pick; not rerun)"
    return None


def measure_all(args: argparse.Namespace) -> list[dict[str, Any]]:
    chosen = [w for w in WORKLOADS if w in args.only.split(",")]
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for workload in chosen:
        for rep in range(args.repeats):  # interleaved: repeat 1 of every method, then 2, ...
            for method in METHODS[workload]:
                total = _repeats(workload, method, args)
                if rep >= total:
                    continue
                reason = _not_run(workload, method, runs, args)
                if reason is not None:
                    row: dict[str, Any] = {"seconds": None, "note": reason, "memory": "exceeds" in reason}
                else:
                    row = run_one(_python_for(method, args), workload, method, args)
                runs.setdefault((workload, method), []).append(row)
                shown = f"{row['seconds']:.2f} s" if row.get("seconds") is not None else row.get("note")
                print(f"[{workload} {method} {rep + 1}/{total}] {shown}", file=sys.stderr, flush=True)
    rows = [_median_row(w, m, r) for (w, m), r in runs.items()]
    _agreement(rows)
    return rows


# ------------------------------------------------------------------------- markdown


def _fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:,.2f} s" if seconds < 10 else f"{seconds:,.1f} s"


def _fmt_mib(mib: float | None) -> str:
    if mib is None:
        return "-"
    return f"{mib / 1024:.1f} GiB" if mib >= 10_240 else f"{mib:,.0f} MiB"


def _ratio(a: float | None, b: float | None, b_is_cap: bool = False) -> str:
    """a / b; "< r" where b is a cap the other call did not finish within."""
    if a is None or b is None:
        return "-"
    ratio = f"{a / b:.2f}x" if a / b >= 0.1 else f"{a / b:.2g}x"
    return f"< {ratio}" if b_is_cap else ratio


def _cell(row: dict[str, Any] | None) -> str:
    if row is None:
        return "-"
    if row.get("seconds") is None:
        return str(row.get("note", "failed"))
    return f"{_fmt_s(row['seconds'])}, {_fmt_mib(row.get('peak_rss_mib'))}"


def _fastest_peer(group: dict[str, dict[str, Any]], cap: float) -> tuple[str | None, float | None]:
    timed = [(r["seconds"], m) for m, r in group.items() if m in PEERS and r.get("seconds") is not None]
    if timed:
        seconds, name = min(timed)
        return name, seconds
    capped = [m for m, r in group.items() if m in PEERS and str(r.get("note", "")).startswith(">")]
    if capped:  # every peer capped or failed: the cap stands in for the reference's time
        return f"{capped[0]} at the cap", cap
    return None, None


def markdown(meta: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    groups: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["workload"], {})[row["method"]] = row
    peer_cols = ("baal", "scikit-activeml", "modAL", "batchbald_redux")
    lines = [
        "## activecv against peers: baal, scikit-activeml, modAL, batchbald_redux",
        "",
        f"`{meta['command']}` (peers' venv: `bash benchmarks/peers_env.sh`)",
        "",
        f"Measured {meta['date']} at activecv {meta['activecv_commit']}. Machine (lscpu): "
        + "; ".join(f"{k}: {v}" for k, v in meta["machine"].items())
        + ". Load average (1, 5, 15 min) "
        + f"{', '.join(map(str, meta['load_before']))} at the start, "
        + f"{', '.join(map(str, meta['load_after']))} at the end. Whole run {meta['total_minutes']:.1f} min;"
        + f" every child under an address-space limit of {meta['mem_limit_gib']:.0f} GiB.",
        "",
        "Versions: project venv "
        + ", ".join(f"{k} {v}" for k, v in meta["project_versions"].items())
        + "; peers' venv "
        + ", ".join(f"{k} {v}" for k, v in meta["peer_versions"].items())
        + ".",
        "",
        "Each cell: median time of the call and its peak RSS (inputs included; the peers' processes"
        " also hold torch where they import it). Top-k workloads: median of"
        f" {meta['repeats']} fresh processes (batchbald_redux's BALD: one); BatchBALD: one run each"
        f" (cap {meta['cap_s']:.0f} s, counted as the cap). Ratios are activecv's time over the"
        " other's (below 1: activecv is faster).",
        "",
        "| workload | plain numpy (float32, full argsort) | activecv | "
        + " | ".join(peer_cols)
        + " | activecv / numpy | activecv / fastest peer |",
        "|---" * (5 + len(peer_cols)) + "|",
    ]
    for workload, (_, title) in WORKLOADS.items():
        group = groups.get(workload)
        if not group:
            continue
        ours = group.get("activecv", {}).get("seconds")
        numpy_s = group.get("numpy", {}).get("seconds")
        name, fastest = _fastest_peer(group, meta["cap_s"])
        vs_peer = _ratio(ours, fastest, "the cap" in str(name))
        peers = [
            _cell(group.get(p)) if (workload, p) not in NOT_OFFERED and p in METHODS[workload] else "n/a"
            for p in peer_cols
        ]
        lines.append(
            f"| {title} | {_cell(group.get('numpy'))} | {_cell(group.get('activecv'))} | "
            + " | ".join(peers)
            + f" | {_ratio(ours, numpy_s)} | {vs_peer} ({name or '-'}) |"
        )
    lines += [
        "",
        "Every entry against numpy and against the fastest peer (time ratios), and agreement:",
        "",
        "| workload | method | time | peak RSS | / numpy | / fastest peer | agreement (or error) |",
        "|---|---|---|---|---|---|---|",
    ]
    for workload in WORKLOADS:
        group = groups.get(workload, {})
        numpy_s = group.get("numpy", {}).get("seconds")
        name, fastest = _fastest_peer(group, meta["cap_s"])
        for method, row in group.items():
            seconds = row.get("seconds")
            if "same_top_k_as_numpy" in row:
                agree = f"{row['same_top_k_as_numpy']} of {WORKLOADS[workload][0]} as numpy"
            elif "same_set_as_redux" in row:
                agree = (
                    f"first {row['same_first_picks_as_redux']} picks as redux, "
                    f"{row['same_set_as_redux']} of {WORKLOADS[workload][0]} in common"
                )
            elif "same_first_picks_as_redux" in row:
                agree = f"first {row['same_first_picks_as_redux']} picks as redux's b=10 run"
            else:  # a failure: the error it gave, e.g. the allocation that failed
                agree = str(row.get("error") or "")[:160]
            lines.append(
                f"| {workload} | {method} | {_fmt_s(seconds) if seconds is not None else row.get('note')}"
                f" | {_fmt_mib(row.get('peak_rss_mib'))} | {_ratio(seconds, numpy_s)}"
                f" | {_ratio(seconds, fastest, 'the cap' in str(name))} | {agree} |"
            )
    lines += ["", *NOTES, ""]
    return "\n".join(lines)


NOTES = [
    "How each peer is called (public API, as documented):",
    "- baal: `heuristics.Entropy()(probs)`, `Margin()(probs)`, `BALD()(p)` and"
    " `BatchBALD(num_samples=b, num_draw=500)(p)` (M = 20 x 500 = 10,000) on p in baal's"
    " [n_sample, n_classes, n_iterations] layout (a contiguous copy made before the clock);"
    " each ranks the whole pool, the first k are taken.",
    "- scikit-activeml: `pool.uncertainty_scores(probs, method=...)` and `pool.batch_bald(p)` on"
    " the (n_estimators, n_samples, n_classes) view (batch_size=1 is BALD, as `GreedyBALD`"
    " calls it; BatchBALD with n_MC_samples=10,000, picks by `utils.rand_argmax`), top-k by a full"
    " stable argsort. Its own batch helper `utils.simple_batch`, which `UncertaintySampling.query`"
    " uses, keeps a (batch, N) float64 array (8 GB for 1,000 of 1,000,000) and was not run.",
    "- modAL: `uncertainty.entropy_sampling` / `margin_sampling(clf, probs, n_instances=1000)` with"
    " a stand-in classifier whose `predict_proba` returns the probabilities (modAL scores through"
    " a classifier). modAL has no BALD or BatchBALD.",
    "- batchbald_redux: `get_bald_batch(log_p, 1000)`, `get_batchbald_batch(log_p, b, 10000,"
    " dtype=torch.double, device='cpu')` on `torch.from_numpy(np.log(p))` (made before the clock).",
    "- numpy: the float32 reference of bench_topk.py (entropy, margin) and its BALD analogue"
    " (entropy of the MC mean minus the mean entropy), each ending in a full stable argsort.",
    "- activecv: `activecv.select(name, budget, probs= / mc_probs=)`, BatchBALD with rng=0.",
    "",
    "Limits of this comparison:",
    "- baal's and scikit-activeml's BatchBALD build (N, M, C) = (10,000, 10,000, 10) float64 arrays,"
    " 7.45 GiB each, two of them alive at once in the step that fails (baal: `exp_y` and its"
    " `xlogy`; scikit-activeml: `probs_b_M_C` and its log, from the fifth pick on). Under the limit"
    " the second allocation fails with MemoryError; they need more than 15 GiB. At b=50 they are"
    " not rerun: the same step comes before the 10th pick.",
    "- batchbald_redux's BALD runs once (about 100x the others' time); BatchBALD runs once per"
    " budget; a call stopped at the cap counts as the cap, so a ratio against it is an upper bound"
    " (`<`).",
    "- Times are wall-clock on a machine shared with other work: see the load average above.",
    "- activecv's own figures are for the working tree at the commit shown.",
]


# ------------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--child", nargs=2, metavar=("WORKLOAD", "METHOD"), help=argparse.SUPPRESS)
    parser.add_argument("--cap-child", type=float, default=900.0, help=argparse.SUPPRESS)
    parser.add_argument("--versions", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--peers-python", type=Path, default=DEFAULT_PEERS_PYTHON)
    parser.add_argument("--only", default=",".join(WORKLOADS), help="comma-separated workloads")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cap-s", type=float, default=900.0, help="BatchBALD time cap per call")
    parser.add_argument("--cap-topk-s", type=float, default=300.0)
    parser.add_argument("--mem-limit-gb", type=float, default=12.0, help="address-space limit (GiB)")
    parser.add_argument("--out-dir", type=Path, default=HERE / "results")
    parser.add_argument("--markdown-only", action="store_true", help="rewrite peers.md from peers.jsonl")
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.cap_child)
        return
    if args.versions:
        versions()
        return
    jsonl, md = args.out_dir / "peers.jsonl", args.out_dir / "peers.md"
    if args.markdown_only:
        records = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
        md.write_text(markdown(records[0], records[1:]))
        return
    start = time.perf_counter()
    args.peer_versions = _versions(str(args.peers_python)) if args.peers_python.exists() else {}
    meta: dict[str, Any] = {
        "command": "python benchmarks/bench_peers.py" + "".join(f" {a}" for a in sys.argv[1:]),
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "activecv_commit": _git_head(),
        "machine": _machine(),
        "load_before": [round(x, 2) for x in os.getloadavg()],
        "project_versions": {
            k: v for k, v in _versions(sys.executable).items() if not k.startswith("import ")
        },
        "peer_versions": args.peer_versions,
        "repeats": args.repeats,
        "cap_s": args.cap_s,
        "mem_limit_gib": args.mem_limit_gb,
    }
    print(f"machine: {meta['machine']}; load {meta['load_before']}", file=sys.stderr)
    rows = measure_all(args)
    meta["load_after"] = [round(x, 2) for x in os.getloadavg()]
    meta["total_minutes"] = (time.perf_counter() - start) / 60
    args.out_dir.mkdir(parents=True, exist_ok=True)
    with jsonl.open("w") as handle:
        for record in [meta, *rows]:
            handle.write(json.dumps(record) + "\n")
    md.write_text(markdown(meta, rows))
    print(md.read_text())


if __name__ == "__main__":
    main()
