"""The served model: ONNX, TorchScript or a Python entry point, behind one ``predict`` call."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from activecv._errors import InputError, missing_extra
from activecv._files import file_sha256
from activecv.strategies import softmax
from activecv.types import Detections

TASKS = ("classification", "detection", "segmentation")
OUTPUTS = ("logits", "probs")


@dataclass(frozen=True)
class ModelSpec:
    """What the service needs to know to feed the model and read its output.

    ``input_size`` is (height, width); images are converted to ``channels`` (1: grayscale,
    3: RGB), scaled to [0, 1], then normalised as ``(x - mean) / std``. A classifier returns
    ``outputs`` (logits or probs) of shape (B, C); a detector (a Python entry point) returns one
    :class:`activecv.Detections` per image.
    """

    model: str
    task: str
    classes: tuple[str, ...]
    input_size: tuple[int, int] = (28, 28)
    channels: int = 1
    mean: float = 0.0
    std: float = 1.0
    outputs: str = "logits"

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise InputError(f"task must be one of {', '.join(TASKS)}; got {self.task!r}.")
        if len(self.classes) < 1 + (self.task != "detection"):
            raise InputError(
                f"classes must name every class (at least 2 for classification and segmentation); "
                f"got {self.classes}."
            )
        if self.task == "segmentation" and len(self.classes) > 255:
            raise InputError(
                f"a segmentation model has at most 255 classes (8-bit masks); got {len(self.classes)}."
            )
        if self.channels not in (1, 3):
            raise InputError(f"channels must be 1 (grayscale) or 3 (RGB); got {self.channels}.")
        if min(self.input_size) < 1:
            raise InputError(f"input_size must be (height, width) >= 1; got {self.input_size}.")
        if self.outputs not in OUTPUTS:
            raise InputError(f"outputs must be one of {', '.join(OUTPUTS)}; got {self.outputs!r}.")
        if not self.std > 0:
            raise InputError(f"std must be > 0; got {self.std}.")


class Predictor:
    """``predict(batch)``: (B, channels, H, W) float32 in; out class probabilities (B, C), one
    Detections per image, or class maps (B, C, h, w) for segmentation; ``version`` names the
    model (its file's hash unless given)."""

    def __init__(self, spec: ModelSpec, run: Callable[[np.ndarray], Any], version: str) -> None:
        self.spec = spec
        self._run = run
        self.version = version

    def check(self) -> Predictor:
        """Run one blank image through the model, so a wrong output fails at start-up."""
        self.predict(np.zeros((1, self.spec.channels, *self.spec.input_size), dtype=np.float32))
        return self

    def predict(self, batch: np.ndarray) -> np.ndarray | list[Detections]:
        out = self._run(batch)
        if self.spec.task == "detection":
            return _checked_detections(out, batch.shape[0], len(self.spec.classes))
        scores = np.asarray(out, dtype=np.float64)
        if not np.isfinite(scores).all():
            raise InputError(
                f"the model returned non-finite scores (NaN or inf) for {batch.shape[0]} images."
            )
        if self.spec.task == "segmentation":
            return self._class_maps(scores, batch.shape[0])
        if scores.shape != (batch.shape[0], len(self.spec.classes)):
            raise InputError(
                f"the model returned shape {scores.shape} for {batch.shape[0]} images; expected "
                f"({batch.shape[0]}, {len(self.spec.classes)}), one column per class."
            )
        return softmax(scores) if self.spec.outputs == "logits" else _checked_probs(scores, 1)

    def _class_maps(self, scores: np.ndarray, n: int) -> np.ndarray:
        c = len(self.spec.classes)
        if scores.ndim != 4 or scores.shape[:2] != (n, c):
            raise InputError(
                f"the model returned shape {scores.shape} for {n} images; a segmentation model returns "
                f"({n}, {c}, H, W): one map per class."
            )
        if self.spec.outputs != "logits":
            return _checked_probs(scores, 1)
        moved = np.moveaxis(scores, 1, -1)
        return np.moveaxis(softmax(moved.reshape(-1, c)).reshape(moved.shape), -1, 1)


def _checked_probs(scores: np.ndarray, axis: int) -> np.ndarray:
    """A model that says it outputs probabilities must: non-negative, summing to 1 over ``axis``."""
    if not np.isfinite(scores).all() or (scores < 0).any():
        raise InputError(
            "the model's probabilities must be finite and >= 0; set outputs='logits' for scores."
        )
    sums = scores.sum(axis=axis)
    if not np.allclose(sums, 1.0, atol=1e-3):
        raise InputError(
            f"the model's probabilities must sum to 1 over the classes; got sums from {sums.min():.4g} "
            f"to {sums.max():.4g} (set outputs='logits' if they are scores)."
        )
    return scores


def load_predictor(spec: ModelSpec, version: str | None = None) -> Predictor:
    """Load ``spec.model``: a ``.onnx`` file (onnxruntime), a TorchScript ``.pt``/``.pth``
    file, or ``module:callable`` returning a function of the batch."""
    if ":" in spec.model and not Path(spec.model).exists():
        return Predictor(spec, _entry_point(spec.model), version or spec.model).check()
    path = Path(spec.model)
    if not path.is_file():
        raise InputError(f"model {spec.model!r} is neither a file nor a module:callable entry point.")
    version = version or f"{path.stem}-{file_sha256(path)[:12]}"
    if path.suffix.lower() == ".onnx":
        return Predictor(spec, _onnx(path), version).check()
    if path.suffix.lower() in (".pt", ".pth", ".torchscript"):
        return Predictor(spec, _torchscript(path), version).check()
    raise InputError(f"model {str(path)!r}: expected .onnx, or .pt/.pth/.torchscript (TorchScript).")


def _entry_point(target: str) -> Callable[[np.ndarray], Any]:
    module_name, _, attribute = target.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise InputError(f"model entry point {target!r} cannot be loaded: {exc}.") from None
    run = factory()
    if not callable(run):
        raise InputError(f"model entry point {target!r} must return a function of the image batch.")
    return run


def _onnx(path: Path) -> Callable[[np.ndarray], Any]:
    try:
        import onnxruntime
    except ImportError:
        raise missing_extra("onnxruntime", "service") from None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # requests run in parallel; one thread each avoids oversubscription
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda batch: session.run(None, {name: batch})[0]


def _torchscript(path: Path) -> Callable[[np.ndarray], Any]:
    try:
        import torch
    except ImportError:
        raise missing_extra("torch", "torch") from None
    with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript; files in it still load
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.load(str(path), map_location="cpu").eval()  # type: ignore[no-untyped-call]

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return module(torch.from_numpy(batch)).numpy()

    return run


def _checked_detections(out: Any, n: int, n_classes: int) -> list[Detections]:
    if not isinstance(out, Sequence) or len(out) != n or not all(isinstance(d, Detections) for d in out):
        raise InputError(
            f"a detection model must return one activecv.Detections per image ({n}); got {type(out)}."
        )
    for d in out:
        if d.num_classes is not None and d.num_classes != n_classes:
            raise InputError(
                f"the detector has {d.num_classes} classes but the service was given {n_classes}."
            )
    return list(out)
