"""Image arrays in the layout torch models take."""

from __future__ import annotations

import numpy as np


def channels_first(x: np.ndarray) -> np.ndarray:
    """Images (N, H, W) or (N, H, W, C) as float32 (N, C, H, W)."""
    x = x[:, None] if x.ndim == 3 else np.moveaxis(x, -1, 1)
    return np.ascontiguousarray(x, dtype=np.float32)
