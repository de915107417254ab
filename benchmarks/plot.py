"""Bar charts of every benchmark, ours beside its baseline: benchmarks/benchmarks.png.

python benchmarks/plot.py    (reads benchmarks/results/*.jsonl; needs matplotlib)
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

RESULTS = Path(__file__).parent / "results"


def rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (RESULTS / f"{name}.jsonl").read_text().splitlines() if line.strip()]


def _capped(row: dict) -> dict:
    """A reference stopped at the cap: its seconds are the cap's, its memory unmeasured (0)."""
    return dict(row, peak_rss_mib=row.get("peak_rss_mib") or 0.0)


def panels() -> list[tuple[str, list[tuple[str, dict]]]]:
    out = []
    for row in rows("topk"):  # against the fastest plain-numpy float32 reference
        out.append(
            (
                f"top-1000 {row['strategy']}, {row['input']}",
                [("activecv", row["activecv"]), ("numpy float32", row["numpy"][row["fastest_numpy"]])],
            )
        )
    div = {r["method"]: r for r in rows("diversity")}
    out.append(
        (
            "coreset 1000 of 100k x 512",
            [("activecv", div["coreset activecv"]), ("textbook", div["coreset textbook baseline"])],
        )
    )
    out.append(
        (
            "BADGE 1000 of 50k x 512 x 10",
            [
                ("activecv", div["badge activecv (implicit gradients)"]),
                ("materialised", div["badge materialised gradients"]),
            ],
        )
    )
    for budget in (10, 50):  # one run; batchbald_redux stopped at the 900 s cap is drawn at the cap
        bb = [r for r in rows("batchbald") if r["budget"] == budget]
        out.append(
            (
                f"BatchBALD b={budget}, 10k x 20 x 10",
                [(r["method"].replace("batchbald_", "").replace("activecv ", ""), _capped(r)) for r in bb],
            )
        )
    stream = rows("streaming")[0]
    out.append(
        (
            "entropy top-1000, 10M x 100 on disk",
            [("activecv stream", stream["activecv_stream"]), ("load + rank", stream["load_then_rank"])],
        )
    )
    detection = {r["method"]: r for r in rows("detection")}
    out.append(
        (
            "EBAL 1000 of 10k x 100 boxes x 256",
            [("activecv", detection["ebal activecv"]), ("textbook ENMS", detection["ebal textbook stage 1"])],
        )
    )
    torch_rows = {(r["method"], r["model"]): r for r in rows("torch")}
    out.append(
        (
            "MC dropout K=20, 5k MNIST, Gal CNN",
            [
                ("mc_predict", torch_rows["mc_predict consistent, K=20", "gal_cnn"]),
                ("20 x predict", torch_rows["20 x predict", "gal_cnn"]),
            ],
        )
    )
    for model in ("gal_cnn", "small_resnet"):  # autograd ran on a subset: seconds per 5,000 images
        pair = [
            ("closed form", torch_rows["gradient_embeddings closed form", model]),
            ("autograd", torch_rows["gradient_embeddings per-sample autograd", model]),
        ]
        out.append(
            (
                f"BADGE grad. emb., s per 5k, {model}",
                [(label, dict(r, seconds=5000 / r["images_per_s"])) for label, r in pair],
            )
        )
    return out


def main() -> None:
    data = panels()
    columns = 5
    blocks = -(-len(data) // columns)  # each block: a row of times over a row of memory
    fig, axes = plt.subplots(2 * blocks, columns, figsize=(2.8 * columns, 5.0 * blocks), squeeze=False)
    for unused in range(len(data), blocks * columns):
        block, column = divmod(unused, columns)
        axes[2 * block, column].set_visible(False)
        axes[2 * block + 1, column].set_visible(False)
    for index, (title, bars) in enumerate(data):
        block, column = divmod(index, columns)
        labels = [label for label, _ in bars]
        colors = ["tab:blue"] + ["tab:gray"] * (len(bars) - 1)
        for row, (key, unit) in enumerate([("seconds", "s"), ("peak_rss_mib", "MiB peak RSS")]):
            ax = axes[2 * block + row, column]
            values = [b[key] for _, b in bars]
            ax.bar(labels, values, color=colors)
            for x, v in enumerate(values):
                ax.annotate(f"{v:.3g}", (x, v), ha="center", va="bottom", fontsize=8)
            ax.set_ylabel(unit, fontsize=8)
            ax.tick_params(labelsize=7)
            if row == 0:
                ax.set_title(title, fontsize=8)
    fig.suptitle("activecv (blue) against a baseline in the same run; lower is better", fontsize=10)
    fig.tight_layout()
    fig.savefig(Path(__file__).parent / "benchmarks.png", dpi=110)


if __name__ == "__main__":
    main()
