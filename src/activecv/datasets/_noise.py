"""Planted label noise, to check that a noise finder finds it."""

from __future__ import annotations

import numpy as np

from activecv._errors import InputError
from activecv._validation import RngLike, as_rng


def flip_labels(
    labels: np.ndarray, fraction: float, num_classes: int, rng: RngLike = None
) -> tuple[np.ndarray, np.ndarray]:
    """Move ``fraction`` of the labels, chosen at random, to another class (uniform).

    Returns the noisy labels and the boolean mask of flipped items.

    Examples
    --------
    >>> noisy, flipped = flip_labels(np.zeros(10, dtype=int), 0.3, 3, rng=0)
    >>> int(flipped.sum()), bool((noisy[flipped] != 0).all())
    (3, True)
    """
    labels = np.asarray(labels, dtype=np.int64)
    if not 0.0 <= fraction <= 1.0:
        raise InputError(f"fraction must be in [0, 1]; got {fraction!r}.")
    if num_classes < 2:
        raise InputError(f"num_classes must be >= 2 to flip a label; got {num_classes}.")
    generator = as_rng(rng)
    chosen = generator.choice(labels.shape[0], round(fraction * labels.shape[0]), replace=False)
    noisy = labels.copy()
    noisy[chosen] = (labels[chosen] + generator.integers(1, num_classes, chosen.shape[0])) % num_classes
    flipped = np.zeros(labels.shape[0], dtype=bool)
    flipped[chosen] = True
    return noisy, flipped
