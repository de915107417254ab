"""Learning curves: test accuracy against labeled-set size (or annotation seconds), mean ± std
band per strategy."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from activecv._errors import missing_extra
from activecv.sim._config import BASELINE


def plot_learning_curves(
    rows: Sequence[dict[str, Any]],
    strategies: Sequence[str],
    path: Path,
    title: str,
    metric_name: str,
    cost_name: str = "labeled images",
    x: str = "n_labeled",
) -> None:
    """Write the PNG; random is drawn dashed in black, as the line to beat. ``x``: the rows'
    column on the x-axis (``n_labeled``, or ``annotation_seconds``)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise missing_extra("matplotlib", "sim") from None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in strategies:
        runs: dict[int, list[tuple[int, float]]] = {}
        for row in rows:
            if row["strategy"] == name:
                runs.setdefault(row["round"], []).append((row[x], row["metric"]))
        if not runs:
            continue
        rounds = sorted(runs)
        n = np.array([np.mean([p[0] for p in runs[r]]) for r in rounds])
        acc = [np.array([p[1] for p in runs[r]]) for r in rounds]
        mean = np.array([a.mean() for a in acc])
        std = np.array([a.std(ddof=1) if a.shape[0] > 1 else 0.0 for a in acc])
        style: dict[str, Any] = {"color": "black", "linestyle": "--"} if name == BASELINE else {}
        (line,) = ax.plot(n, mean, label=name, linewidth=1.5, **style)
        ax.fill_between(n, mean - std, mean + std, color=line.get_color(), alpha=0.15, linewidth=0)
    ax.set_xlabel(cost_name)
    ax.set_ylabel(metric_name)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
