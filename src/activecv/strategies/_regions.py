"""Region-level selection for semantic segmentation: the annotation unit is a region of an
image (a grid cell or a superpixel), not the image (Cai et al., CVPR 2021, "Revisiting
superpixels for active learning in semantic segmentation"; ALGORITHMS.md §9).

Each region's score is its mean pixel uncertainty, min-max normalised over the candidate
regions, times the class-rarity weight ``exp(-p_c)`` of its dominant predicted class ``c``
(``p_c``: the share of candidate regions whose dominant class is ``c``). Regions are taken in
score order while they fit a budget of clicks. The cost model says what a click is:

- ``"dominant"``: 1 click per region; the annotator gives the region one label, its majority
  class (Cai et al.'s dominant labeling).
- ``"classes"``: one click per predicted class in the region, as when each class segment of
  it is outlined separately (full labeling of the region).
- your own: ``region_costs``, one array per image indexed by region id.

Regions are ranked by score alone by default; with ``per_click=True`` by score divided by
cost (ALGORITHMS.md §9's "÷ predicted annotation cost"), so a cheap region of middling
uncertainty can come before a dear one of high uncertainty.

Labeling a whole image costs the sum of its regions' costs, so image and region selections
compare on one axis.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from activecv._errors import InputError, InputTypeError
from activecv._progress import Progress
from activecv._validation import check_positive_int, labeled_positions
from activecv.strategies import _segmentation as seg
from activecv.strategies._pool import Pool
from activecv.types import RegionSelection

COSTS = ("dominant", "classes")
MEASURES = (*seg.PIXEL_MEASURES, "bald")


def grid_regions(height: int, width: int, cell: int) -> np.ndarray:
    """Square regions of ``cell`` pixels (smaller at the right and bottom edges), numbered row
    by row: an (H, W) int64 region map.

    Examples
    --------
    >>> grid_regions(3, 4, 2).tolist()
    [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3]]
    """
    columns = -(-width // cell)
    return (np.arange(height)[:, None] // cell) * columns + np.arange(width)[None, :] // cell


@dataclass(frozen=True)
class Regions:
    """Per-region statistics of one image: region ids, mean uncertainty over its valid
    pixels, dominant predicted class, number of predicted classes, valid pixels."""

    ids: np.ndarray
    uncertainty: np.ndarray
    dominant: np.ndarray
    n_classes: np.ndarray
    pixels: np.ndarray


def region_statistics(
    uncertainty: np.ndarray,
    predicted: np.ndarray,
    regions: np.ndarray,
    n_classes: int,
    valid: np.ndarray | None,
) -> Regions:
    """Statistics of every region of one image that has a valid pixel (one bincount pass).

    Examples
    --------
    >>> u = np.array([[0.2, 0.4], [1.0, 1.0]]); pred = np.array([[0, 1], [1, 1]])
    >>> r = region_statistics(u, pred, np.array([[0, 0], [1, 1]]), 2, None)
    >>> r.uncertainty.tolist(), r.dominant.tolist(), r.n_classes.tolist()
    ([0.30000000000000004, 1.0], [0, 1], [2, 1])
    """
    ids, u, pred = regions.ravel(), uncertainty.ravel(), predicted.ravel()
    if valid is not None:
        keep = valid.ravel()
        ids, u, pred = ids[keep], u[keep], pred[keep]
    if ids.size and ids.min() < 0:
        raise InputError(f"region ids must be >= 0; got {int(ids.min())}.")
    k = int(ids.max()) + 1 if ids.size else 0
    pixels = np.bincount(ids, minlength=k)
    sums = np.bincount(ids, weights=u, minlength=k)
    joint = np.bincount(ids * n_classes + pred, minlength=k * n_classes).reshape(k, n_classes)
    present = np.flatnonzero(pixels)
    joint = joint[present]
    return Regions(
        present,
        sums[present] / pixels[present],
        joint.argmax(axis=1),
        (joint > 0).sum(axis=1),
        pixels[present],
    )


def region_scores(
    uncertainty: np.ndarray, dominant: np.ndarray, n_classes: int, class_balance: bool
) -> np.ndarray:
    """Min-max normalised uncertainty times ``exp(-p_c)`` of the dominant class ``c``.

    Examples
    --------
    >>> region_scores(np.array([0.1, 0.5, 0.9]), np.array([0, 0, 1]), 2, True).round(4).tolist()
    [0.0, 0.2567, 0.7165]
    """
    if uncertainty.shape[0] == 0:
        return uncertainty.astype(np.float64)
    low, high = float(uncertainty.min()), float(uncertainty.max())
    scores = (uncertainty - low) / (high - low) if high > low else np.ones_like(uncertainty)
    if not class_balance:
        return scores
    share = np.bincount(dominant, minlength=n_classes) / max(dominant.shape[0], 1)
    return scores * np.exp(-share)[dominant]


def take_within_budget(
    scores: np.ndarray, costs: np.ndarray, budget: float, allowed: np.ndarray | None = None
) -> np.ndarray:
    """Positions of the regions taken greedily in score order (ties: lower position first)
    while they fit the budget: a region too dear for what is left is passed over for cheaper
    ones after it. ``allowed`` (bool) marks the regions that may be taken at all."""
    order = np.lexsort((np.arange(scores.shape[0]), -scores))
    if allowed is not None:
        order = order[allowed[order]]
    spent = np.cumsum(costs[order])
    prefix = int(np.searchsorted(spent, budget, side="right"))  # what fits with no gap
    chosen = list(order[:prefix])
    left = budget - (float(spent[prefix - 1]) if prefix else 0.0)
    rest = order[prefix:]
    while rest.shape[0]:
        fits = np.flatnonzero(costs[rest] <= left)
        if fits.shape[0] == 0:
            break
        chosen.append(rest[fits[0]])
        left -= float(costs[rest[fits[0]]])
        rest = rest[fits[0] + 1 :]
    return np.array(chosen, dtype=np.int64)


def _rank_within_image(images: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Each region's rank (0 = best) among the regions of its own image, in score order."""
    order = np.lexsort((np.arange(scores.shape[0]), -scores, images))
    sorted_images = images[order]
    starts = np.flatnonzero(np.r_[True, sorted_images[1:] != sorted_images[:-1]])
    ranks_sorted = np.arange(order.shape[0]) - np.repeat(starts, np.diff(np.r_[starts, order.shape[0]]))
    ranks = np.empty_like(ranks_sorted)
    ranks[order] = ranks_sorted
    return ranks


_NO_MAP = object()  # regions ran out before the pool did


def _region_maps(regions: Any) -> Iterator[Any]:
    """One region map per image, from a sequence or an iterator (None: a grid, made per image),
    then ``_NO_MAP`` for ever."""
    if regions is not None:
        if isinstance(regions, (str, bytes, Mapping)) or not isinstance(regions, Iterable):
            raise InputTypeError(
                f"regions must be one (H, W) integer region map per image; got {type(regions).__name__}."
            )
        yield from regions
    while True:
        yield None if regions is None else _NO_MAP


def _checked_map(found: Any, image: int, height: int, width: int, cell: int) -> np.ndarray:
    if found is None:
        return grid_regions(height, width, cell)
    if found is _NO_MAP:
        raise InputError(f"regions must hold one map per image; it ran out at image {image}.")
    arr = np.asarray(found)
    if arr.shape != (height, width) or arr.dtype.kind not in "iu":
        raise InputError(
            f"regions of image {image} must be an integer map of its size ({height}, {width}); "
            f"got {arr.shape} {arr.dtype}."
        )
    return arr.astype(np.int64, copy=False)


def _check_cost_count(region_costs: Sequence[npt.ArrayLike] | None, n_images: int | None, maps: str) -> None:
    """One array of costs per image; ``n_images`` is None while a stream of maps is unread
    (checked image by image as it is read, then at its end)."""
    if region_costs is None:
        return
    listed = isinstance(region_costs, (Sequence, np.ndarray))
    if isinstance(region_costs, (str, bytes, Mapping)) or not listed:
        raise InputTypeError(
            "region_costs must be a sequence (list) of 1-D arrays, one per image indexed by region id; "
            f"got {type(region_costs).__name__}. With a stream of maps, pass the costs as a list."
        )
    if n_images is not None and len(region_costs) != n_images:
        raise InputError(
            f"region_costs must hold one array per image: {maps} has {n_images} images but "
            f"region_costs has {len(region_costs)} arrays."
        )


def _own_costs(region_costs: Sequence[npt.ArrayLike] | None, image: int, maps: str) -> np.ndarray | None:
    """The costs given for one image, or None for the cost model."""
    if region_costs is None:
        return None
    if image >= len(region_costs):
        raise InputError(
            f"region_costs must hold one array per image: {maps} has more than the "
            f"{len(region_costs)} images region_costs has arrays for (image {image} has none)."
        )
    return np.asarray(region_costs[image])


def _costs(stats: Regions, cost: str, own: np.ndarray | None, image: int) -> np.ndarray:
    if own is None:
        return np.ones(stats.ids.shape[0]) if cost == "dominant" else stats.n_classes.astype(np.float64)
    own = np.asarray(own, dtype=np.float64)
    if own.ndim != 1 or own.shape[0] <= int(stats.ids.max(initial=-1)):
        raise InputError(
            f"region_costs of image {image} must be a 1-D array indexed by region id (at least "
            f"{int(stats.ids.max(initial=-1)) + 1} entries); got shape {own.shape}."
        )
    picked = own[stats.ids]
    if not np.isfinite(picked).all() or (picked <= 0).any():
        raise InputError(f"region_costs of image {image} must be positive finite numbers of clicks.")
    return picked


def select_regions(
    budget: float,
    *,
    measure: str = "entropy",
    regions: Sequence[npt.ArrayLike] | Iterable[npt.ArrayLike] | None = None,
    cell: int = 16,
    cost: str = "dominant",
    region_costs: Sequence[npt.ArrayLike] | None = None,
    class_balance: bool = True,
    per_click: bool = False,
    max_regions_per_image: int | None = None,
    labeled: npt.ArrayLike | None = None,
    labeled_regions: Mapping[int, Iterable[int]] | None = None,
    temperature: float | None = None,
    progress: bool = False,
    seg_probs: Any = None,
    seg_logits: Any = None,
    seg_mc_probs: Any = None,
    ignore_mask: Any = None,
) -> RegionSelection:
    """Choose the regions to label next within a ``budget`` of clicks.

    Parameters
    ----------
    budget : float
        Clicks to spend (see the module's cost model).
    measure : str
        Pixel uncertainty: "entropy" (default), "margin", "least_confidence" (from
        ``seg_probs`` or ``seg_logits``) or "bald" (from ``seg_mc_probs``).
    regions : sequence or iterator of (H, W) int maps, optional
        Each image's regions (e.g. superpixels from ``activecv.adapters.skimage.superpixels``);
        by default square cells of ``cell`` pixels.
    cost : "dominant" or "classes"
        The click cost of a region; ``region_costs`` overrides it with one array per image
        indexed by region id.
    class_balance : bool
        Multiply by ``exp(-p_c)`` of the region's dominant class (default True).
    per_click : bool
        Rank by score per click, the score divided by the region's cost (default False: by
        score alone). With ``cost="dominant"`` and no ``region_costs`` every region costs 1
        and nothing changes.
    max_regions_per_image : int, optional
        Only the best so many regions of an image may be chosen (spread over more images).
    labeled : bool mask (N,) or indices, optional
        Images labeled whole: none of their regions is a candidate.
    labeled_regions : mapping image -> region ids, optional
        Regions labeled already.
    seg_probs, seg_logits : (N, C, H, W), seg_mc_probs : (N, K, C, H, W), ignore_mask : (N, H, W)
        As for :func:`activecv.select`; arrays or iterators of per-image arrays.

    Returns
    -------
    RegionSelection
        ``images``, ``regions``, ``scores`` (per click with ``per_click``), ``costs``,
        ``classes`` (dominant predicted class), best first; ``clicks`` is what was spent.

    Examples
    --------
    >>> p = np.full((1, 2, 4, 4), 0.5); p[0, 0, :2] = 1.0; p[0, 1, :2] = 0.0  # top half certain
    >>> chosen = select_regions(1, seg_probs=p, cell=2, class_balance=False)
    >>> chosen.regions.tolist(), chosen.clicks
    ([2], 1.0)
    """
    if (
        isinstance(budget, bool)
        or not isinstance(budget, (int, float))
        or not np.isfinite(budget)
        or budget <= 0
    ):
        raise InputError(f"budget must be a positive number of clicks; got {budget!r}.")
    if measure not in MEASURES:
        raise InputError(f"measure must be one of {', '.join(MEASURES)}; got {measure!r}.")
    if cost not in COSTS:
        raise InputError(f"cost must be one of {', '.join(COSTS)}; got {cost!r}.")
    check_positive_int(cell, "cell")
    if max_regions_per_image is not None:
        check_positive_int(max_regions_per_image, "max_regions_per_image")
    maps_name = "seg_mc_probs" if measure == "bald" else "seg_probs"
    pool = Pool(
        {
            "seg_probs": seg_probs,
            "seg_logits": seg_logits,
            "seg_mc_probs": seg_mc_probs,
            "ignore_mask": ignore_mask,
        },
        temperature,
    )
    if maps_name not in pool.names:
        given = ", ".join(sorted(pool.given_name(n) for n in pool.names)) or "none"
        wanted = "seg_mc_probs" if measure == "bald" else "seg_probs (or seg_logits)"
        raise InputError(f"measure {measure!r} needs {wanted}; got {given}.")
    _check_cost_count(region_costs, pool.n_items, pool.given_name(maps_name))
    done = {int(i) for i in labeled_positions(labeled, pool.n_items)}
    taken = {int(k): {int(r) for r in v} for k, v in (labeled_regions or {}).items()}
    stats = _score_pool(
        pool, maps_name, measure, _region_maps(regions), cell, cost, region_costs, done, taken, progress
    )
    if stats["images"].shape[0] == 0:
        raise InputError("no candidate region is left: every image or region is labeled.")
    n_classes = int(stats["n_classes"])
    scores = region_scores(stats["uncertainty"], stats["dominant"], n_classes, class_balance)
    if per_click:
        scores = scores / stats["costs"]
    allowed = None
    if max_regions_per_image is not None:
        allowed = _rank_within_image(stats["images"], scores) < max_regions_per_image
    chosen = take_within_budget(scores, stats["costs"], float(budget), allowed)
    return RegionSelection(
        stats["images"][chosen],
        stats["regions"][chosen],
        scores[chosen],
        stats["costs"][chosen],
        stats["dominant"][chosen],
        {
            "budget": float(budget),
            "candidates": int(scores.shape[0]),
            "cost": "own" if region_costs is not None else cost,
            "per_click": bool(per_click),
        },
    )


def _score_pool(
    pool: Pool,
    maps_name: str,
    measure: str,
    maps: Iterator[Any],
    cell: int,
    cost: str,
    region_costs: Sequence[npt.ArrayLike] | None,
    done: set[int],
    taken: dict[int, set[int]],
    progress: bool,
) -> dict[str, Any]:
    """One pass over the pool: every candidate region's statistics and cost."""
    names = (maps_name, "ignore_mask") if "ignore_mask" in pool.names else (maps_name,)
    columns: dict[str, list[np.ndarray]] = {
        k: [] for k in ("images", "regions", "uncertainty", "dominant", "costs")
    }
    n_classes = 0
    report = Progress("region scoring", pool.n_items, progress)
    for offset, rows, chunk in pool.iter_chunks(names):
        values = chunk[maps_name]
        probs = values if maps_name == "seg_probs" else values.mean(axis=1)
        n_classes = probs.shape[1]
        pixel = seg.pixel_bald(values) if measure == "bald" else seg.pixel_uncertainty(values, measure)
        predicted = seg.class_argmax(probs)
        for j in range(rows):
            image = offset + j
            height, width = int(probs.shape[-2]), int(probs.shape[-1])
            region_map = _checked_map(next(maps), image, height, width, cell)
            own = _own_costs(region_costs, image, pool.given_name(maps_name))
            if image in done:
                continue
            valid = None if "ignore_mask" not in chunk else ~chunk["ignore_mask"][j]
            if valid is not None and valid.shape != (height, width):
                raise InputError(
                    f"ignore_mask of image {image} must be ({height}, {width}) like its maps; "
                    f"got {valid.shape}."
                )
            stats = region_statistics(pixel[j], predicted[j], region_map, n_classes, valid)
            keep = ~np.isin(stats.ids, list(taken.get(image, ())))
            columns["images"].append(np.full(int(keep.sum()), image, dtype=np.int64))
            columns["regions"].append(stats.ids[keep])
            columns["uncertainty"].append(stats.uncertainty[keep])
            columns["dominant"].append(stats.dominant[keep])
            columns["costs"].append(_costs(stats, cost, own, image)[keep])
        report.update(offset + rows)
    extra = next(maps)
    if extra is not None and extra is not _NO_MAP:
        raise InputError(f"regions must hold one map per image; it has more than the {pool.n_items} images.")
    _check_cost_count(region_costs, pool.n_items, pool.given_name(maps_name))
    out: dict[str, Any] = {
        k: np.concatenate(v)
        if v
        else np.empty(0, dtype=np.float64 if k in ("uncertainty", "costs") else np.int64)
        for k, v in columns.items()
    }
    out["n_classes"] = n_classes
    return out
