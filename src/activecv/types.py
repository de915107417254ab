"""Result containers shared by every strategy (numpy only)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Selection:
    """The items a strategy chose, best first.

    Attributes
    ----------
    indices : ndarray of int64, shape (n,)
        Unique positions into the pool as the caller passed it, best first.
    scores : ndarray of float64, shape (n,)
        The score behind each choice (higher = label first); for batch methods the value
        at the moment the item was chosen (e.g. the distance to the nearest centre).
    strategy : str
        Canonical name of the strategy that made the selection.
    info : Mapping
        Method-specific diagnostics (read-only).
    """

    indices: np.ndarray
    scores: np.ndarray
    strategy: str = ""
    info: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        indices = np.array(self.indices, dtype=np.int64)  # copies: the caller's arrays stay writable
        scores = np.array(self.scores, dtype=np.float64)
        if indices.shape != scores.shape or indices.ndim != 1:
            raise ValueError(
                "Selection indices and scores must be 1-D of one length; "
                f"got {indices.shape} and {scores.shape}."
            )
        indices.flags.writeable = False
        scores.flags.writeable = False
        object.__setattr__(self, "indices", indices)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "info", MappingProxyType(dict(self.info)))

    def __len__(self) -> int:
        return int(self.indices.shape[0])
