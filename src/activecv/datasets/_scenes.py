"""Scenes composed from real bundled digits: detection (boxes, class imbalance) and semantic
segmentation (per-pixel class masks), both placed by one helper."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from activecv._errors import InputError
from activecv._validation import check_positive_int
from activecv.datasets._bundled import load

SPLITS = ("train", "test")
INK = 0.5
"""A segmentation pixel belongs to a digit where the digit's ink exceeds this."""


@dataclass(frozen=True)
class Scenes:
    """Images (N, 1, S, S) float32 in [0, 1]; per image its boxes (k, 4) xyxy and labels (k,)."""

    images: np.ndarray
    boxes: list[np.ndarray]
    labels: list[np.ndarray]
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def class_counts(self, indices: np.ndarray | None = None) -> np.ndarray:
        """Boxes per class over the given images (all by default)."""
        chosen = range(len(self)) if indices is None else indices
        counts = np.zeros(len(self.class_names))
        for i in chosen:
            np.add.at(counts, self.labels[i], 1)
        return counts


@dataclass(frozen=True)
class SegmentationScenes:
    """Images (N, 1, S, S) float32 in [0, 1] and their class masks (N, S, S) int64.

    Class 0 is the background; class ``d + 1`` is digit ``d`` (``class_names[d + 1]``).
    """

    images: np.ndarray
    masks: np.ndarray
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def pixel_counts(self, indices: np.ndarray | Sequence[int] | None = None) -> np.ndarray:
        """Pixels per class (C,) int64 over the given images (positions or a boolean mask; all
        by default)."""
        masks = self.masks
        if indices is not None:
            chosen = np.asarray(indices)
            masks = masks[chosen if chosen.dtype == bool else chosen.astype(np.int64)]
        return np.bincount(masks.ravel(), minlength=len(self.class_names)).astype(np.int64)


@dataclass(frozen=True)
class _Placed:
    """One digit on canvas ``image``: its ink (side x side), class, and top-left corner."""

    image: int
    digit: np.ndarray
    label: int
    top: int
    left: int


def _compose(
    n: int, size: int, max_objects: int, imbalance: float, source: str, split: str, seed: int
) -> tuple[np.ndarray, Iterator[_Placed], tuple[str, ...]]:
    """Empty canvases (n, 1, size, size), and an iterator that draws every digit's class,
    image and cell (seeded), paints it onto its canvas (ink by maximum) and yields it."""
    check_positive_int(n, "n")
    check_positive_int(max_objects, "max_objects")
    if imbalance < 1:
        raise InputError(f"imbalance must be >= 1 (most / least frequent class); got {imbalance}.")
    if split not in SPLITS:
        raise InputError(f"split must be one of {', '.join(SPLITS)}; got {split!r}.")
    data = load(source)
    digits, classes = (data.x_train, data.y_train) if split == "train" else (data.x_test, data.y_test)
    side = digits.shape[1]
    cells = size // (side + 4)
    if cells * cells < max_objects:
        raise InputError(
            f"a {size}-pixel canvas holds {cells * cells} digits of {side} px; got max_objects={max_objects}."
        )
    n_classes = len(data.class_names)
    weights = imbalance ** (-np.arange(n_classes) / max(n_classes - 1, 1))
    weights /= weights.sum()
    by_class = [np.flatnonzero(classes == c) for c in range(n_classes)]
    images = np.zeros((n, 1, size, size), dtype=np.float32)
    pitch = size // cells

    def placed() -> Iterator[_Placed]:
        rng = np.random.default_rng(seed)
        for i in range(n):
            k = int(rng.integers(1, max_objects + 1))
            for cell in rng.choice(cells * cells, k, replace=False):
                label = int(rng.choice(n_classes, p=weights))
                digit = digits[rng.choice(by_class[label])]
                top = (cell // cells) * pitch + int(rng.integers(0, pitch - side + 1))
                left = (cell % cells) * pitch + int(rng.integers(0, pitch - side + 1))
                region = images[i, 0, top : top + side, left : left + side]
                np.maximum(region, digit, out=region)
                yield _Placed(i, digit, label, top, left)

    return images, placed(), data.class_names


def make_scenes(
    n: int,
    size: int = 96,
    max_objects: int = 4,
    imbalance: float = 1.0,
    source: str = "mnist5k",
    split: str = "train",
    seed: int = 0,
) -> Scenes:
    """``n`` canvases of ``size`` x ``size`` pixels, each with 1..``max_objects`` digits of the
    bundled ``source`` dataset placed in distinct cells of a grid (no overlaps).

    Classes are drawn with frequencies falling geometrically from class 0 to class C-1, the
    most frequent ``imbalance`` times the least (1: uniform). Boxes are tight around each
    digit's ink. ``split`` picks the source's train or test images, so test scenes never reuse
    a training digit.
    """
    images, placements, class_names = _compose(n, size, max_objects, imbalance, source, split, seed)
    boxes: list[list[list[int]]] = [[] for _ in range(n)]
    labels: list[list[int]] = [[] for _ in range(n)]
    for p in placements:
        rows, cols = np.flatnonzero(p.digit.max(axis=1) > 0.1), np.flatnonzero(p.digit.max(axis=0) > 0.1)
        boxes[p.image].append(
            [p.left + cols[0], p.top + rows[0], p.left + cols[-1] + 1, p.top + rows[-1] + 1]
        )
        labels[p.image].append(p.label)
    return Scenes(
        images,
        [np.array(b, dtype=np.float64) for b in boxes],
        [np.array(lab, dtype=np.int64) for lab in labels],
        class_names,
    )


def make_segmentation_scenes(
    n: int, size: int = 64, max_objects: int = 3, source: str = "mnist5k", split: str = "train", seed: int = 0
) -> SegmentationScenes:
    """``n`` canvases composed as :func:`make_scenes` composes them (classes uniform), with a
    class mask per pixel: ``digit + 1`` where that digit's ink exceeds 0.5, 0 (background)
    elsewhere. Digits sit in distinct grid cells, so no two overlap. ``split`` picks the
    source's train or test images: test scenes never reuse a training digit.

    Examples
    --------
    >>> scenes = make_segmentation_scenes(2, size=64, max_objects=3, seed=0)
    >>> scenes.images.shape, scenes.masks.shape, scenes.masks.dtype.name
    ((2, 1, 64, 64), (2, 64, 64), 'int64')
    >>> scenes.class_names[:3], len(scenes.class_names)
    (('background', '0', '1'), 11)
    """
    images, placements, class_names = _compose(n, size, max_objects, 1.0, source, split, seed)
    masks = np.zeros((n, size, size), dtype=np.int64)
    for p in placements:
        side = p.digit.shape[0]
        region = masks[p.image, p.top : p.top + side, p.left : p.left + side]
        region[p.digit > INK] = p.label + 1
    return SegmentationScenes(images, masks, ("background", *class_names))
