"""Region rounds of a segmentation project: the regions (grid cells or superpixels) of images to
label next within a budget of clicks (``activecv.select_regions``), recorded with the region
map of each chosen image so that exports show the regions and imports fill them."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

import activecv
from activecv._files import file_sha256
from activecv.io import read_strategy_inputs
from activecv.project import _pool as pool
from activecv.project._ledger import Ledger
from activecv.project._records import ProjectError, SelectedItem
from activecv.strategies import get_strategy
from activecv.types import RegionSelection

REGION_KINDS = ("grid", "superpixels")
STRATEGY = "regions"  # the rounds.strategy of a region round


@dataclass(frozen=True)
class RegionRequest:
    """Everything a region round is made from; two equal requests make one round."""

    predictions: Path
    budget: int  # clicks
    measure: str = "entropy"
    regions: str = "grid"
    cell: int = 16
    n_segments: int = 256
    cost: str = "dominant"
    class_balance: bool = True
    max_regions_per_image: int | None = None
    model_version: str | None = None

    def params(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in ("predictions", "budget", "model_version")}


def make_region_round(
    ledger: Ledger, classes: tuple[str, ...], root: Path, cache: Path, asked: RegionRequest, progress: bool
) -> int:
    """Select regions and record the round in one transaction; the same request again returns
    the round it made."""
    if asked.regions not in REGION_KINDS:
        raise ProjectError(f"regions must be one of {', '.join(REGION_KINDS)}; got {asked.regions!r}.")
    if isinstance(asked.budget, bool) or not isinstance(asked.budget, int) or asked.budget < 1:
        raise ProjectError(f"budget must be a whole number of clicks >= 1; got {asked.budget!r}.")
    if not asked.predictions.is_file():
        raise ProjectError(f"predictions file {str(asked.predictions)!r} does not exist.")
    digest = file_sha256(asked.predictions)
    key = hashlib.sha256(
        json.dumps(
            [STRATEGY, asked.params(), asked.budget, asked.model_version, digest], sort_keys=True
        ).encode()
    ).hexdigest()
    done = ledger.execute("SELECT id FROM rounds WHERE request = ?", (key,)).fetchone()
    if done:
        return int(done[0])
    started = pool.now()
    strategy = get_strategy("seg_bald" if asked.measure == "bald" else "seg_entropy")
    read = read_strategy_inputs(asked.predictions, strategy, stream=True)
    item_ids = np.array(pool.item_ids(ledger, read.ids, "ids in the predictions file"), dtype=np.int64)
    whole, taken = _labeled(ledger, item_ids)
    maps: Any = None
    if asked.regions == "superpixels":
        maps = _superpixels(ledger, root, item_ids, asked.n_segments, cache)
    (name,) = read.inputs  # seg_probs, seg_logits or seg_mc_probs, as the file has it
    chosen = activecv.select_regions(
        asked.budget,
        measure=asked.measure,
        regions=maps,
        cell=asked.cell,
        cost=asked.cost,
        class_balance=asked.class_balance,
        max_regions_per_image=asked.max_regions_per_image,
        labeled=whole,
        labeled_regions=taken,
        progress=progress,
        **{name: read.inputs[name]},
    )
    _check_map_sizes(ledger, read.file.shape(name)[-2:], item_ids[np.unique(chosen.images)])
    region_maps = _maps_of(ledger, root, item_ids, chosen, asked, cache)
    with ledger.write() as conn:
        done = conn.execute("SELECT id FROM rounds WHERE request = ?", (key,)).fetchone()
        if done:
            return int(done[0])
        return _record(conn, asked, digest, key, started, item_ids, chosen, region_maps, classes)


def _check_map_sizes(ledger: Ledger, shape: tuple[int, ...], items: np.ndarray) -> None:
    """Regions are drawn on the images: the maps must be at their resolution."""
    height, width = shape
    for item in items.tolist():
        size = pool.size(ledger, int(item))
        if size != (width, height):
            raise ProjectError(
                f"the predictions' maps are {width}x{height} (width x height) but image {item} is "
                f"{size[0]}x{size[1]}; a region round needs maps at the images' resolution."
            )


def _labeled(ledger: Ledger, item_ids: np.ndarray) -> tuple[np.ndarray, dict[int, list[int]]]:
    """Pool positions labeled whole (a complete mask, or chosen by an image round), and the
    regions earlier region rounds chose in the others."""
    complete = {
        i
        for (i,) in ledger.execute(
            "SELECT a.item_id FROM annotations a JOIN masks m ON m.annotation_id = a.id WHERE m.complete = 1 "
            "AND a.id = (SELECT MAX(id) FROM annotations WHERE item_id = a.item_id)"
        )
    }
    complete |= {i for (i,) in ledger.execute("SELECT item_id FROM selections")}
    position = {int(item): k for k, item in enumerate(item_ids.tolist())}
    taken: dict[int, list[int]] = {}
    for item, chosen in ledger.execute("SELECT item_id, chosen FROM selection_regions"):
        if item in position:
            taken.setdefault(position[item], []).extend(entry["region"] for entry in json.loads(chosen))
    whole = np.array([int(i) in complete for i in item_ids.tolist()], dtype=bool)
    return whole, taken


def _image(ledger: Ledger, root: Path, item_id: int) -> np.ndarray:
    from PIL import Image

    (path,) = ledger.execute("SELECT path FROM items WHERE id = ?", (item_id,)).fetchone()
    file = pool.local_path(root, path)
    with Image.open(file) as image:
        return np.asarray(image.convert("L"), dtype=np.float64) / 255.0


def _superpixels(
    ledger: Ledger, root: Path, item_ids: np.ndarray, n_segments: int, cache: Path
) -> Iterator[np.ndarray]:
    from activecv.adapters.skimage import iter_superpixels

    images = (_image(ledger, root, int(i)) for i in item_ids.tolist())
    return iter_superpixels(images, n_segments=n_segments, cache=cache)


def _maps_of(
    ledger: Ledger,
    root: Path,
    item_ids: np.ndarray,
    chosen: RegionSelection,
    asked: RegionRequest,
    cache: Path,
) -> dict[int, np.ndarray]:
    """The region map of each chosen image (from the superpixel cache, or the grid)."""
    from activecv.strategies import grid_regions

    out: dict[int, np.ndarray] = {}
    for position in sorted(set(chosen.images.tolist())):
        item = int(item_ids[position])
        if asked.regions == "superpixels":
            out[position] = next(_superpixels(ledger, root, np.array([item]), asked.n_segments, cache))
        else:
            width, height = pool.size(ledger, item)
            if width is None or height is None:
                raise ProjectError(f"the size of item {item} is unknown: a grid of regions needs it.")
            out[position] = grid_regions(int(height), int(width), asked.cell)
    return out


def _record(
    conn: sqlite3.Connection,
    asked: RegionRequest,
    digest: str,
    key: str,
    started: str,
    item_ids: np.ndarray,
    chosen: RegionSelection,
    region_maps: dict[int, np.ndarray],
    classes: tuple[str, ...],
) -> int:
    number = int(conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM rounds").fetchone()[0])
    conn.execute(
        "INSERT INTO rounds VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            number,
            STRATEGY,
            json.dumps(asked.params(), sort_keys=True),
            asked.budget,
            asked.model_version,
            str(asked.predictions),
            digest,
            int(chosen.info["candidates"]),
            key,
            started,
            pool.now(),
        ),
    )
    per_image: dict[int, list[dict[str, Any]]] = {}
    for image, region, score, cost, dominant in zip(
        chosen.images.tolist(),
        chosen.regions.tolist(),
        chosen.scores.tolist(),
        chosen.costs.tolist(),
        chosen.classes.tolist(),
        strict=True,
    ):
        per_image.setdefault(image, []).append(
            {"region": region, "class": classes[dominant], "score": score, "cost": cost}
        )
    conn.executemany(
        "INSERT INTO selection_regions VALUES (?, ?, ?, ?)",
        [
            (number, int(item_ids[image]), _png16(region_maps[image]), json.dumps(entries))
            for image, entries in per_image.items()
        ],
    )
    conn.executemany(
        "INSERT INTO scores VALUES (?, ?, ?)",
        [(number, int(item_ids[image]), entries[0]["score"]) for image, entries in per_image.items()],
    )
    return number


def region_selection(ledger: Ledger, round_number: int) -> list[SelectedItem]:
    """A region round's images, in the order of their best region, each with its regions to
    label (``prediction["regions"]``: region, dominant class, score, cost) and its region map."""
    rows = ledger.execute(
        "SELECT r.item_id, i.path, i.width, i.height, r.regions, r.chosen FROM selection_regions r "
        "JOIN items i ON i.id = r.item_id WHERE r.round_id = ? ORDER BY r.rowid",
        (round_number,),
    )
    out = []
    for rank, (item_id, path, width, height, regions, chosen) in enumerate(rows, 1):
        entries = json.loads(chosen)
        prediction = {"regions": entries, "region_map_png": base64.b64encode(regions).decode("ascii")}
        out.append(
            SelectedItem(round_number, rank, item_id, path, entries[0]["score"], prediction, width, height)
        )
    return out


def region_map(prediction: dict[str, Any]) -> np.ndarray:
    """The region map a region round's selected item carries."""
    from PIL import Image

    with Image.open(io.BytesIO(base64.b64decode(prediction["region_map_png"]))) as image:
        return np.asarray(image, dtype=np.int64)


def _png16(regions: np.ndarray) -> bytes:
    from PIL import Image

    if int(regions.max(initial=0)) > 65535:
        raise ProjectError(f"a region map numbers its regions up to {int(regions.max())}; at most 65535 fit.")
    buffer = io.BytesIO()
    Image.fromarray(regions.astype(np.uint16)).save(buffer, format="PNG")
    return buffer.getvalue()


def is_region_round(ledger: Ledger, round_number: int) -> bool:
    found = ledger.execute("SELECT strategy FROM rounds WHERE id = ?", (round_number,)).fetchone()
    return found is not None and found[0] == STRATEGY
