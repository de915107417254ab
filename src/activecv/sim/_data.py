"""The labeled data a simulation runs on: a pool to select from and a held-out test split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from activecv._errors import InputError
from activecv.datasets import (
    channels_first,
    load,
    load_image_folder,
    make_scenes,
    make_segmentation_scenes,
    stratified_split,
)
from activecv.sim._config import SCENES, SimulationConfig


@dataclass(frozen=True)
class SimulationData:
    """Pool and test inputs: images (N, C, H, W) float32 or feature vectors (N, D)."""

    name: str
    x_pool: np.ndarray
    y_pool: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    boxes_pool: list[np.ndarray] | None = None  # detection: boxes and labels of every image
    labels_pool: list[np.ndarray] | None = None
    boxes_test: list[np.ndarray] | None = None
    labels_test: list[np.ndarray] | None = None
    masks_pool: np.ndarray | None = None  # segmentation: class per pixel (N, H, W)
    masks_test: np.ndarray | None = None
    regions_pool: np.ndarray | None = None  # segmentation: superpixels of every pool image (N, H, W)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_pool.shape[1:])


def _features(path: Path) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    if not path.is_file():
        raise InputError(f"features file {str(path)!r} does not exist.")
    with np.load(path, allow_pickle=False) as archive:
        missing = [k for k in ("embeddings", "labels") if k not in archive.files]
        if missing:
            raise InputError(
                f"features file {str(path)!r} must hold 'embeddings' (N, D) and 'labels' (N,); "
                f"it lacks {', '.join(missing)} (holds {', '.join(archive.files)})."
            )
        x = np.asarray(archive["embeddings"], dtype=np.float32)
        y = np.asarray(archive["labels"])
        names = tuple(str(n) for n in archive["class_names"]) if "class_names" in archive.files else None
    if x.ndim != 2 or y.shape != (x.shape[0],) or y.dtype.kind not in "iu":
        raise InputError(
            "features file needs embeddings (N, D) and integer labels (N,); "
            f"got {x.shape} and {y.shape} {y.dtype}."
        )
    if not np.isfinite(x).all():
        raise InputError("features file: embeddings must be finite; found NaN or inf.")
    n_classes = int(y.max()) + 1 if y.size else 0
    return x, y.astype(np.int64), names or tuple(str(c) for c in range(n_classes))


def load_simulation_data(config: SimulationConfig, seed: int = 0) -> SimulationData:
    """Load the configured source and split it; the split depends on ``seed`` only."""
    if config.dataset == SCENES and config.task == "segmentation":
        return _segmentation_scenes(config, seed)
    if config.dataset == SCENES:
        return _scenes(config, seed)
    if config.dataset is not None:
        data = load(config.dataset, test_fraction=config.test_fraction, seed=seed)
        x_pool, y_pool = channels_first(data.x_train), data.y_train
        x_test, y_test, names = channels_first(data.x_test), data.y_test, data.class_names
        name = config.dataset
    else:
        if config.images is not None:
            x, y, names, _ = load_image_folder(config.images, size=config.image_size)
            x, name = channels_first(x), Path(config.images).name
        else:
            assert config.features is not None
            x, y, names = _features(Path(config.features))
            name = Path(config.features).stem
        train, test = stratified_split(y, config.test_fraction, seed)
        x_pool, y_pool, x_test, y_test = x[train], y[train], x[test], y[test]
    if config.limit is not None:
        x_pool, y_pool = x_pool[: config.limit], y_pool[: config.limit]
    needed = config.initial + config.budget
    if x_pool.shape[0] < needed:
        raise InputError(
            f"the pool has {x_pool.shape[0]} items; a simulation needs at least initial + budget = {needed}."
        )
    return SimulationData(name, x_pool, y_pool, x_test, y_test, tuple(names))


def _scenes(config: SimulationConfig, seed: int) -> SimulationData:
    """Pool and test scenes from the bundled digits' train and test splits (no shared digit)."""
    n_pool = config.limit or 1500
    pool = make_scenes(n_pool, 64, 3, config.imbalance, split="train", seed=seed)
    test = make_scenes(max(200, n_pool // 4), 64, 3, config.imbalance, split="test", seed=seed + 1)
    unused = np.zeros(n_pool, dtype=np.int64)  # image-level labels do not exist for scenes
    return SimulationData(
        SCENES, pool.images, unused, test.images, unused[: len(test)], pool.class_names,
        pool.boxes, pool.labels, test.boxes, test.labels,
    )  # fmt: skip


def _segmentation_scenes(config: SimulationConfig, seed: int) -> SimulationData:
    """Pool and test scenes with their class masks, and the pool's superpixels (SLIC)."""
    from activecv.adapters.skimage import superpixels

    n_pool = config.limit or 800
    pool = make_segmentation_scenes(n_pool, 64, 3, split="train", seed=seed)
    test = make_segmentation_scenes(max(100, n_pool // 4), 64, 3, split="test", seed=seed + 1)
    regions = np.stack(superpixels(pool.images, n_segments=config.segments))
    unused = np.zeros(n_pool, dtype=np.int64)  # image-level labels do not exist for scenes
    return SimulationData(
        SCENES, pool.images, unused, test.images, unused[: len(test)], pool.class_names,
        masks_pool=pool.masks, masks_test=test.masks, regions_pool=regions,
    )  # fmt: skip
