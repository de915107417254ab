"""Per-request ledger work against the pool's size, before and after: benchmarks/project.png.

python benchmarks/plot_project.py    (reads results/project.jsonl and results/project_before.jsonl)
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

HERE = Path(__file__).parent
OPERATIONS = ("enqueue", "import_csv", "import_labelstudio", "webhook", "item_ids_path", "next_10", "history")


def medians(name: str) -> tuple[list[int], dict[str, list[float]]]:
    run = json.loads((HERE / "results" / f"{name}.jsonl").read_text().splitlines()[-1])
    sizes = [int(s) for s in run["per_request"]]
    return sizes, {op: [run["per_request"][str(s)][op]["median_ms"] for s in sizes] for op in OPERATIONS}


def main() -> None:
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    runs = [("project_before", "before (0d3bda3)"), ("project", "after")]
    for ax, (name, title) in zip(axes, runs, strict=True):
        sizes, figures = medians(name)
        for op, values in figures.items():
            ax.plot(sizes, values, marker="o", label=op)
        ax.axhline(25, color="grey", linestyle=":", label="target at 1M: 25 ms")
        ax.set(xscale="log", yscale="log", xlabel="images in the project", title=title)
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("median ms per request (20 calls)")
    axes[1].legend(fontsize=7, loc="upper left")
    figure.suptitle("project ledger: one request's work as the pool grows (2 cores, WAL, synchronous=FULL)")
    figure.tight_layout()
    figure.savefig(HERE / "project.png", dpi=110)


if __name__ == "__main__":
    main()
