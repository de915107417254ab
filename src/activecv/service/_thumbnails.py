"""Pictures for the review page: thumbnails cached on disk by content hash, and the overlays of
segmentation rounds (a predicted mask, the regions to label) as small PNGs."""

from __future__ import annotations

import base64
import io
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

THUMBNAIL_SIDE = 256  # pixels, the longer side
SHA256 = re.compile(r"[0-9a-f]{64}")
# Class colours (RGB), one per class index; the first class of a segmentation project is the
# background and stays transparent in mask overlays.
PALETTE = np.array(
    [
        (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
        (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
    ],
    dtype=np.uint8,
)  # fmt: skip


def thumbnail(cache: Path, sha256: str, source: Path) -> Path:
    """The cached thumbnail of the image ``source`` whose content hash is ``sha256``, made once:
    at most THUMBNAIL_SIDE pixels on its longer side, PNG, written atomically."""
    if not SHA256.fullmatch(sha256):
        raise ValueError(f"sha256 must be 64 lowercase hex digits; got {sha256!r}.")
    path = cache / f"{sha256}.png"
    if path.is_file():
        return path
    from PIL import Image

    with Image.open(source) as image:
        image.draft(image.mode, (THUMBNAIL_SIDE, THUMBNAIL_SIDE))  # JPEG: decode at a reduced size
        picture = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    picture.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
    cache.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=cache, suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as out:
            picture.save(out, format="PNG")
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return path


def _decode_png(text: str) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(base64.b64decode(text))) as image:
        return np.asarray(image, dtype=np.int64)


def _png_data_uri(rgba: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _tint(classes: np.ndarray, shown: np.ndarray, alpha: int) -> np.ndarray:
    """(H, W, 4) RGBA: each shown pixel in its class colour."""
    rgba = np.zeros((*classes.shape, 4), dtype=np.uint8)
    rgba[..., :3] = PALETTE[classes % len(PALETTE)]
    rgba[..., 3] = np.where(shown, alpha, 0)
    return rgba


def mask_overlay(mask_png: str) -> str:
    """A predicted index mask (base64 PNG, class per pixel) as a translucent data URI; the
    background (class 0) and unlabeled pixels (255) stay clear."""
    mask = _decode_png(mask_png)
    return _png_data_uri(_tint(mask, (mask != 0) & (mask != 255), 110))


def regions_overlay(region_map_png: str, regions: Sequence[dict[str, Any]], classes: Sequence[str]) -> str:
    """The regions a region round asks to label, each in the colour of its dominant predicted
    class, as a translucent data URI over the image."""
    region_map = _decode_png(region_map_png)
    index = {name: k for k, name in enumerate(classes)}
    lookup = np.full(int(region_map.max(initial=0)) + 1, -1, dtype=np.int64)
    for entry in regions:
        lookup[int(entry["region"])] = index.get(str(entry["class"]), 0)
    chosen = lookup[region_map]
    return _png_data_uri(_tint(np.maximum(chosen, 0), chosen >= 0, 150))
