"""torchvision-style detector outputs to Detections (torchvision itself is not needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from activecv._errors import InputError
from activecv.types import Detections


def _numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch Tensor, on any device
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def from_torchvision(
    outputs: Sequence[Mapping[str, Any]], label_offset: int = 1, background_index: int | None = 0
) -> list[Detections]:
    """One Detections per image from torchvision-style dicts: ``boxes`` (M, 4) xyxy, ``labels``,
    ``scores``, and when the model exposes them ``class_probs`` (M, C + 1) and ``features``
    (M, D).

    torchvision numbers foreground classes from 1 (0 is background): ``label_offset`` is
    subtracted from ``labels``, and ``background_index`` is the background column of
    ``class_probs``.
    """
    out = []
    for i, output in enumerate(outputs):
        missing = [k for k in ("boxes", "labels", "scores") if k not in output]
        if missing:
            raise InputError(
                f"output {i} lacks {', '.join(missing)}; torchvision outputs have boxes, labels, scores."
            )
        probs = _numpy(output["class_probs"]) if "class_probs" in output else None
        out.append(
            Detections(
                boxes=_numpy(output["boxes"]),
                class_probs=probs,
                labels=_numpy(output["labels"]).astype(np.int64) - label_offset,
                scores=_numpy(output["scores"]),
                features=_numpy(output["features"]) if "features" in output else None,
                background_index=background_index if probs is not None else None,
            )
        )
    return out
