"""Detection scenes composed from real bundled digits, with known boxes and class imbalance."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from activecv._errors import InputError
from activecv._validation import check_positive_int
from activecv.datasets._bundled import load


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
    check_positive_int(n, "n")
    check_positive_int(max_objects, "max_objects")
    if imbalance < 1:
        raise InputError(f"imbalance must be >= 1 (most / least frequent class); got {imbalance}.")
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
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 1, size, size), dtype=np.float32)
    boxes, labels = [], []
    pitch = size // cells
    for i in range(n):
        k = int(rng.integers(1, max_objects + 1))
        chosen_cells = rng.choice(cells * cells, k, replace=False)
        image_boxes, image_labels = [], []
        for cell in chosen_cells:
            label = int(rng.choice(n_classes, p=weights))
            digit = digits[rng.choice(by_class[label])]
            top = (cell // cells) * pitch + int(rng.integers(0, pitch - side + 1))
            left = (cell % cells) * pitch + int(rng.integers(0, pitch - side + 1))
            region = images[i, 0, top : top + side, left : left + side]
            np.maximum(region, digit, out=region)
            rows, cols = np.flatnonzero(digit.max(axis=1) > 0.1), np.flatnonzero(digit.max(axis=0) > 0.1)
            image_boxes.append([left + cols[0], top + rows[0], left + cols[-1] + 1, top + rows[-1] + 1])
            image_labels.append(label)
        boxes.append(np.array(image_boxes, dtype=np.float64))
        labels.append(np.array(image_labels, dtype=np.int64))
    return Scenes(images, boxes, labels, data.class_names)
