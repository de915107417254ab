"""Region rounds of a segmentation project: the regions (grid cells or superpixels) of images to
label next within a budget of clicks (``activecv.select_regions``), recorded with the region
map of each chosen image so that exports show the regions and imports fill them.

The predictions' maps must be at the images' resolution (regions are drawn on the images).
Pixels labeled already, or inside a region an earlier round asked for, are never scored again,
whatever grid or superpixels that round used; images labeled whole are skipped."""

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
from activecv.io import UNLABELED, read_strategy_inputs
from activecv.project import _masks as masks
from activecv.project import _pool as pool
from activecv.project._ledger import Ledger, batches, marks
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
    per_click: bool = False

    def params(self) -> dict[str, Any]:
        """The parameters recorded; ``per_click`` only when on, so the requests of rounds made
        before it existed keep their keys."""
        params = asdict(self)
        for name in ("predictions", "budget", "model_version") + (() if self.per_click else ("per_click",)):
            del params[name]
        return params


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
    name = next(n for n in read.inputs if n != "ignore_mask")  # seg_probs, seg_logits or seg_mc_probs
    pool.check_class_columns(read.file, len(classes))
    item_ids = np.array(pool.item_ids(ledger, read.ids, "ids in the predictions file"), dtype=np.int64)
    height, width = read.file.shape(name)[-2:]
    if "ignore_mask" in read.inputs and read.file.shape("ignore_mask")[1:] != (height, width):
        raise ProjectError(
            f"'ignore_mask' in {str(asked.predictions)!r} has shape {read.file.shape('ignore_mask')}; "
            f"it must be one ({height}, {width}) mask per image, like {name!r}."
        )
    _check_sizes(ledger, item_ids, width, height)
    maps: Any = None
    if asked.regions == "superpixels":
        maps = _superpixels(ledger, root, item_ids, asked.n_segments, cache)
    chosen = activecv.select_regions(
        asked.budget,
        measure=asked.measure,
        regions=maps,
        cell=asked.cell,
        cost=asked.cost,
        class_balance=asked.class_balance,
        max_regions_per_image=asked.max_regions_per_image,
        per_click=asked.per_click,
        labeled=_labeled_whole(ledger, item_ids),
        ignore_mask=_in_chunks(
            _settled_pixels(ledger, item_ids, (height, width), read.inputs.get("ignore_mask")), read.chunk
        ),
        progress=progress,
        **{name: read.inputs[name]},
    )
    region_maps = _maps_of(ledger, root, item_ids, chosen, asked, cache)
    with ledger.write() as conn:
        done = conn.execute("SELECT id FROM rounds WHERE request = ?", (key,)).fetchone()
        if done:
            return int(done[0])
        return _record(conn, asked, digest, key, started, item_ids, chosen, region_maps, classes)


def _check_sizes(ledger: Ledger, item_ids: np.ndarray, width: int, height: int) -> None:
    """Regions are drawn on the images: the maps must be at their resolution (checked before
    any work)."""
    for batch in batches(item_ids.tolist()):
        for item, w, h in ledger.execute(
            f"SELECT id, width, height FROM items WHERE id IN ({marks(len(batch))})", batch
        ):
            if (w, h) != (width, height):
                raise ProjectError(
                    f"the predictions' maps are {width}x{height} (width x height) but image {item} is "
                    f"{w}x{h}; a region round needs maps at the images' resolution."
                )


def _labeled_whole(ledger: Ledger, item_ids: np.ndarray) -> np.ndarray:
    """Pool positions no region is left to ask for: a complete mask, or chosen by an image round."""
    complete = {
        i
        for (i,) in ledger.execute(
            "SELECT a.item_id FROM annotations a JOIN masks m ON m.annotation_id = a.id WHERE m.complete = 1 "
            "AND a.id = (SELECT MAX(id) FROM annotations WHERE item_id = a.item_id)"
        )
    }
    complete |= {i for (i,) in ledger.execute("SELECT item_id FROM selections")}
    return np.array([int(i) in complete for i in item_ids.tolist()], dtype=bool)


def _settled_pixels(
    ledger: Ledger, item_ids: np.ndarray, shape: tuple[int, int], ignored: Iterator[np.ndarray] | None
) -> Iterator[np.ndarray]:
    """Per pool image, the pixels not to ask about: labeled already, inside a region an earlier
    region round asked for (whatever its region map: pixels, not region ids, carry over between
    grids and superpixels), or in the predictions file's ``ignore_mask`` (chunks of rows)."""
    settled: dict[int, np.ndarray] = {}
    for item, regions, chosen in ledger.execute("SELECT item_id, regions, chosen FROM selection_regions"):
        region_map = _from_png16(regions)
        asked = np.isin(region_map, [entry["region"] for entry in json.loads(chosen)])
        settled[item] = settled.get(item, np.zeros(shape, dtype=bool)) | asked
    partly = ledger.execute(
        "SELECT a.item_id FROM annotations a JOIN masks m ON m.annotation_id = a.id WHERE m.complete = 0 "
        "AND a.id = (SELECT MAX(id) FROM annotations WHERE item_id = a.item_id)"
    )
    for (item,) in partly:
        settled.setdefault(item, np.zeros(shape, dtype=bool))
    for item in list(settled):
        mask = masks.current(ledger, item)
        if mask is not None and mask.shape == shape:
            settled[item] |= mask != UNLABELED
    empty = np.zeros(shape, dtype=bool)
    rows = (row for chunk in ignored for row in chunk) if ignored is not None else None
    for item in item_ids.tolist():
        own = settled.get(int(item), empty)
        yield own if rows is None else own | np.asarray(next(rows), dtype=bool)


def _in_chunks(per_image: Iterator[np.ndarray], rows: int) -> Iterator[np.ndarray]:
    """Per-image masks stacked into chunks of ``rows``, in step with the maps' stream."""
    chunk: list[np.ndarray] = []
    for mask in per_image:
        chunk.append(mask)
        if len(chunk) == rows:
            yield np.stack(chunk)
            chunk = []
    if chunk:
        yield np.stack(chunk)


def _image(ledger: Ledger, root: Path, item_id: int) -> np.ndarray:
    """The image as superpixels see it: gray (H, W), or colour (3, H, W), in [0, 1]."""
    from PIL import Image

    (path,) = ledger.execute("SELECT path FROM items WHERE id = ?", (item_id,)).fetchone()
    with Image.open(pool.local_path(root, path)) as image:
        if image.mode in ("L", "1", "I", "I;16", "F"):
            gray = np.asarray(image.convert("F"), dtype=np.float64)
            top = {"L": 255.0, "1": 255.0, "I;16": 65535.0}.get(image.mode, max(float(gray.max()), 1.0))
            return gray / top
        return np.moveaxis(np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0, -1, 0)


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


def region_selection(
    ledger: Ledger, round_number: int, after_rank: int = 0, limit: int = -1
) -> list[SelectedItem]:
    """A region round's images, in the order of their best region, each with its regions to
    label (``prediction["regions"]``: region, dominant class, score, cost) and its region map;
    ``limit`` of them (all: -1) ranked after ``after_rank``."""
    rows = ledger.execute(
        "SELECT r.item_id, i.path, i.width, i.height, r.regions, r.chosen FROM selection_regions r "
        "JOIN items i ON i.id = r.item_id WHERE r.round_id = ? ORDER BY r.rowid LIMIT ? OFFSET ?",
        (round_number, limit, after_rank),
    )
    out = []
    for rank, (item_id, path, width, height, regions, chosen) in enumerate(rows, after_rank + 1):
        entries = json.loads(chosen)
        prediction = {"regions": entries, "region_map_png": base64.b64encode(regions).decode("ascii")}
        out.append(
            SelectedItem(round_number, rank, item_id, path, entries[0]["score"], prediction, width, height)
        )
    return out


def region_map(prediction: dict[str, Any]) -> np.ndarray:
    """The region map a region round's selected item carries."""
    return _from_png16(base64.b64decode(prediction["region_map_png"]))


def _from_png16(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
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
