"""Superpixels for region selection: SLIC from scikit-image, computed once per image and kept
in a cache folder, so every round of a project reuses the regions of the first.

Needs ``pip install 'activecv[segmentation]'``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from activecv._errors import InputError, missing_extra


def iter_superpixels(
    images: Iterable[Any],
    n_segments: int = 256,
    compactness: float | None = None,
    cache: str | Path | None = None,
) -> Iterator[np.ndarray]:
    """One (H, W) int64 region map per image, in order, from SLIC (Achanta et al. 2012).

    Parameters
    ----------
    images : array (N, H, W) or (N, C, H, W), or an iterable of per-image (H, W) / (C, H, W)
        Intensities in [0, 1] (floats) or 0-255 (integers); one channel or three.
    n_segments : int
        About how many superpixels per image.
    compactness : float, optional
        Trade-off of colour against space. By default 0.1 for one channel (intensities in
        [0, 1]) and 10 for three (scikit-image converts colour to Lab, of range 0-100).
    cache : folder, optional
        Maps are stored there under a hash of the image and the parameters, and read back
        when asked again.

    Warns
    -----
    UserWarning
        When an image's map has fewer than a quarter of ``n_segments`` superpixels (SLIC can
        merge nearly everything, e.g. on noise with a low ``compactness``): each region then
        costs one click for much of the image. The map is still returned, as computed.

    Examples
    --------
    >>> image = np.zeros((16, 16)); image[:, 8:] = 1.0
    >>> regions = next(iter_superpixels([image], n_segments=4))
    >>> regions.shape, set(regions[:, :8].ravel()).isdisjoint(regions[:, 8:].ravel())  # none crosses
    ((16, 16), True)
    """
    try:
        from skimage.segmentation import slic
    except ImportError:
        raise missing_extra("scikit-image", "segmentation") from None
    if isinstance(n_segments, bool) or not isinstance(n_segments, int) or n_segments < 1:
        raise InputError(f"n_segments must be a positive integer; got {n_segments!r}.")
    folder = Path(cache) if cache is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    for k, raw in enumerate(images):
        image = _channels_last(np.asarray(raw), k)
        weight = compactness if compactness is not None else (0.1 if image.ndim == 2 else 10.0)
        key = _key(image, n_segments, weight)
        stored = folder / f"{key}.npy" if folder is not None else None
        if stored is not None and stored.is_file():
            regions = np.load(stored).astype(np.int64)
        else:
            regions = slic(
                image,
                n_segments=n_segments,
                compactness=weight,
                channel_axis=None if image.ndim == 2 else -1,
                start_label=0,
            ).astype(np.int64)
            if stored is not None:
                _save(stored, regions.astype(np.int32))
        _warn_if_few(regions, k, n_segments, weight)
        yield regions


def superpixels(
    images: Iterable[Any],
    n_segments: int = 256,
    compactness: float | None = None,
    cache: str | Path | None = None,
) -> list[np.ndarray]:
    """:func:`iter_superpixels` as a list."""
    return list(iter_superpixels(images, n_segments, compactness, cache))


FEW = 0.25
"""A map with fewer than this share of the superpixels asked for is warned about."""


def _warn_if_few(regions: np.ndarray, k: int, n_segments: int, compactness: float) -> None:
    got = int(np.count_nonzero(np.bincount(regions.ravel()))) if regions.size else 0
    if got < FEW * n_segments:
        warnings.warn(
            f"superpixels of image {k}: SLIC returned {got} of the {n_segments} segments asked for "
            f"(fewer than a quarter) with compactness {compactness:g}; a higher compactness, or "
            "fewer segments, gives regions closer to the request.",
            UserWarning,
            stacklevel=3,
        )


def _channels_last(image: np.ndarray, k: int) -> np.ndarray:
    """(H, W), or (C, H, W) / (1, H, W) as (H, W, C) / (H, W), float in [0, 1]."""
    channels_first = image.ndim == 3 and image.shape[0] in (1, 3)
    if not (image.ndim == 2 or channels_first) or image.dtype.kind not in "fiub":
        raise InputError(
            f"image {k} must be (H, W) or (C, H, W) with C = 1 or 3, of numbers; "
            f"got {image.shape} {image.dtype}."
        )
    if channels_first:
        image = image[0] if image.shape[0] == 1 else np.moveaxis(image, 0, -1)
    floats = image.astype(np.float64) / (255.0 if image.dtype.kind in "iu" else 1.0)
    if not np.isfinite(floats).all():
        raise InputError(f"image {k} must be finite intensities.")
    return floats


def _key(image: np.ndarray, n_segments: int, compactness: float) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(image).tobytes())
    digest.update(json.dumps([image.shape, n_segments, compactness, "slic-1"]).encode())
    return digest.hexdigest()


def _save(path: Path, regions: np.ndarray) -> None:
    """Through a temporary file: a map in the cache is whole or absent."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".npy")
    os.close(handle)
    try:
        np.save(temporary, regions)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
