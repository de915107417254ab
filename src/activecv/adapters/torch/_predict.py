"""Batched, gradient-free inference over a tensor, array, Dataset or DataLoader.

Every function runs the model in eval mode on its own device under ``torch.no_grad`` and
restores the model's train/eval state afterwards. Rows of every output follow the input order.
Class probabilities are a softmax over axis 1, so the same functions serve classifiers (logits
(B, C)) and dense models such as segmenters (logits (B, C, H, W)).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from activecv._errors import InputError, InputTypeError, missing_extra
from activecv._progress import Progress
from activecv._validation import check_positive_int

try:
    import torch
    from torch import nn
except ImportError:  # pragma: no cover - exercised only without the extra
    raise missing_extra("torch", "torch") from None

_CHANNEL_DROPOUT = (nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)


def _device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def _input_batches(data: Any, batch_size: int) -> Iterator[torch.Tensor]:
    """Input tensors in order from a Tensor / ndarray (N, ...), a Dataset or a DataLoader.

    Dataset items and DataLoader batches may be ``x`` or tuples ``(x, y, ...)``. The data is
    checked now, not when the first batch is drawn.
    """
    check_positive_int(batch_size, "batch_size")
    if isinstance(data, np.ndarray):
        data = torch.from_numpy(data)
    if isinstance(data, torch.Tensor):
        tensor = data
        return (tensor[start : start + batch_size] for start in range(0, tensor.shape[0], batch_size))
    if isinstance(data, torch.utils.data.DataLoader):
        if isinstance(data.sampler, torch.utils.data.RandomSampler):
            raise InputError(
                "data is a DataLoader that shuffles; outputs must follow the pool order. "
                "Pass a DataLoader with shuffle=False, or the Dataset itself."
            )
        loader = data
    elif isinstance(data, torch.utils.data.Dataset):
        loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False)
    else:
        raise InputTypeError(
            "data must be a torch Tensor, a numpy array, a Dataset or a DataLoader; "
            f"got {type(data).__name__}."
        )
    return (batch[0] if isinstance(batch, (list, tuple)) else batch for batch in loader)


def _count(data: Any) -> int | None:
    """Number of items, for progress lines (None when the data has no length)."""
    items: Any = data.dataset if isinstance(data, torch.utils.data.DataLoader) else data
    try:
        return len(items)
    except TypeError:
        return None


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode and no_grad for the duration; the train/eval flags of every module restored."""
    modes = {module: module.training for module in model.modules()}
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for module, training in modes.items():
            module.train(training)


def _forward_all(model: nn.Module, data: Any, batch_size: int, label: str, progress: bool) -> Iterator[Any]:
    """(batch on the model's device) for every batch, with progress lines; ``data`` is checked
    now."""
    batches = _input_batches(data, batch_size)
    return _moved(batches, _device(model), Progress(label, _count(data), progress))


def _moved(batches: Iterator[torch.Tensor], device: torch.device, report: Progress) -> Iterator[Any]:
    done = 0
    for batch in batches:
        yield batch.to(device)
        done += batch.shape[0]
        report.update(done)


def _logit_batches(
    model: nn.Module, data: Any, batch_size: int, label: str, progress: bool
) -> Iterator[torch.Tensor]:
    """The model's outputs per batch, float32 on the CPU, each computed in eval mode under
    no_grad; between batches the model and the grad mode are the caller's. ``data`` is
    checked now."""
    return _logits_of(model, _forward_all(model, data, batch_size, label, progress))


def _logits_of(model: nn.Module, batches: Iterator[Any]) -> Iterator[torch.Tensor]:
    for x in batches:
        with _eval_mode(model):
            logits = model(x).float().cpu()
        yield logits


def _check_positive(value: Any, name: str) -> float:
    """``value`` as a positive finite float (a temperature, a learning rate)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputTypeError(f"{name} must be a positive number; got {type(value).__name__}.")
    number = float(value)
    if not (math.isfinite(number) and number > 0):
        raise InputError(f"{name} must be a positive finite number; got {value!r}.")
    return number


def _check_samples(k: Any, name: str) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InputError(f"{name} must be a positive integer; got {k!r}.")
    return k


def _prob_batches(
    model: nn.Module,
    data: Any,
    batch_size: int,
    temperature: float,
    k: int | None,
    consistent: bool,
    seed: int,
    label: str,
    progress: bool,
) -> Iterator[torch.Tensor]:
    """Per batch: ``softmax(logits / temperature)`` over axis 1, (b, C, ...), or with ``k``
    (checked by the caller) the K MC-dropout samples stacked at axis 1, (b, K, C, ...);
    float32 on the CPU. The single pass takes the softmax on the CPU and the MC passes on the
    model's device, as predict and mc_predict always did (their outputs stay bit for bit).

    Arguments, data and dropout layers are checked now; batches are computed as drawn.
    """
    _check_positive(temperature, "temperature")
    if k is None:
        return (
            torch.softmax(z / temperature, dim=1)
            for z in _logit_batches(model, data, batch_size, label, progress)
        )
    masks = _DropoutMasks(model, seed, consistent)
    return _mc_batches(model, _forward_all(model, data, batch_size, label, progress), masks, k, temperature)


def _mc_batches(
    model: nn.Module, batches: Iterator[Any], masks: _DropoutMasks, k: int, temperature: float
) -> Iterator[torch.Tensor]:
    for x in batches:
        with _eval_mode(model), masks.attached():
            samples = []
            for sample in range(k):
                masks.k = sample
                samples.append(torch.softmax(model(x).float() / temperature, dim=1))
            probs = torch.stack(samples, dim=1).cpu()
        yield probs


def predict_logits(model: nn.Module, data: Any, batch_size: int = 256, progress: bool = False) -> np.ndarray:
    """The model's outputs (logits) for every item, float32 (N, C), or (N, C, H, W) for a
    dense model."""
    return torch.cat(list(_logit_batches(model, data, batch_size, "predict", progress))).numpy()


def predict(
    model: nn.Module, data: Any, batch_size: int = 256, temperature: float = 1.0, progress: bool = False
) -> np.ndarray:
    """Class probabilities ``softmax(logits / temperature)`` over axis 1, float32: ``probs``
    (N, C), or (N, C, H, W) per pixel for a dense model; the model must return logits."""
    batches = _prob_batches(model, data, batch_size, temperature, None, True, 0, "predict", progress)
    return torch.cat(list(batches)).numpy()


def iter_predict(
    model: nn.Module,
    data: Any,
    batch_size: int = 32,
    temperature: float = 1.0,
    mc_samples: int | None = None,
    seed: int = 0,
    progress: bool = False,
) -> Iterator[np.ndarray]:
    """Probabilities batch by batch, so that a pool of dense predictions never has to be held
    in memory: float32 (b, C, ...) as :func:`predict`, or with ``mc_samples=K`` (b, K, C, ...)
    as :func:`mc_predict` with consistent masks (dropout mask k, drawn from ``seed``, is the
    same for every batch). Concatenated, the batches equal :func:`predict` /
    :func:`mc_predict` with the same ``batch_size``.

    Arguments, data and dropout layers are checked at the call; each batch is computed when it
    is drawn, in eval mode under no_grad, and the model is left as it was between batches.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 1), torch.nn.Dropout2d(0.5))
    >>> images = torch.zeros(5, 1, 4, 6)
    >>> [b.shape for b in iter_predict(net, images, batch_size=2)]
    [(2, 3, 4, 6), (2, 3, 4, 6), (1, 3, 4, 6)]
    >>> next(iter_predict(net, images, batch_size=2, mc_samples=4)).shape
    (2, 4, 3, 4, 6)
    """
    k = None if mc_samples is None else _check_samples(mc_samples, "mc_samples")
    batches = _prob_batches(model, data, batch_size, temperature, k, True, seed, "iter_predict", progress)
    return (probs.numpy() for probs in batches)


class _DropoutMasks:
    """Forward hooks replacing every dropout layer's output by ``input * mask / keep``.

    Consistent: mask k of K is drawn once (from ``seed``, k and the layer) and shared by every
    item. Otherwise each item gets a fresh mask from one seeded generator. No global RNG is used.
    """

    def __init__(self, model: nn.Module, seed: int, consistent: bool) -> None:
        self.dropouts = [m for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]
        if not self.dropouts:
            raise InputError(
                "mc_predict needs dropout layers in the model; found none. "
                "For an ensemble use ensemble_predict(models, data)."
            )
        supported = (nn.Dropout, *_CHANNEL_DROPOUT)
        unsupported = [type(m).__name__ for m in self.dropouts if type(m) not in supported]
        if unsupported:
            raise InputError(
                f"mc_predict supports Dropout and Dropout1d/2d/3d; the model has {', '.join(unsupported)}."
            )
        self.seed, self.consistent, self.k = seed, consistent, 0
        self.generator = torch.Generator().manual_seed(seed)
        self.cache: dict[tuple[int, int, tuple[int, ...]], torch.Tensor] = {}

    def _draw(
        self, module: nn.modules.dropout._DropoutNd, shape: tuple[int, ...], generator: torch.Generator
    ) -> torch.Tensor:
        keep = 1.0 - module.p
        return torch.bernoulli(torch.full(shape, keep), generator=generator) / max(keep, 1e-12)

    def _hook(self, index: int) -> Any:
        def hook(
            module: nn.modules.dropout._DropoutNd, inputs: tuple[torch.Tensor, ...], output: torch.Tensor
        ) -> torch.Tensor:
            x = inputs[0]
            shape = tuple(x.shape[1:])
            if isinstance(module, _CHANNEL_DROPOUT):  # one decision per channel
                shape = (shape[0],) + (1,) * (len(shape) - 1)
            if not self.consistent:
                mask = self._draw(module, (x.shape[0], *shape), self.generator)
                return x * mask.to(x.device, x.dtype)
            key = (index, self.k, shape)
            if key not in self.cache:
                generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.k * 1_009 + index)
                self.cache[key] = self._draw(module, shape, generator).to(x.device, x.dtype)
            return x * self.cache[key]

        return hook

    @contextmanager
    def attached(self) -> Iterator[None]:
        """The hooks on every dropout layer for the duration (masks and cache persist)."""
        handles = [m.register_forward_hook(self._hook(i)) for i, m in enumerate(self.dropouts)]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()


def mc_predict(
    model: nn.Module,
    data: Any,
    k: int = 20,
    consistent: bool = True,
    seed: int = 0,
    batch_size: int = 256,
    progress: bool = False,
) -> np.ndarray:
    """K MC-dropout predictions per item, ``mc_probs`` float32 (N, K, C), or (N, K, C, H, W)
    per pixel for a dense model.

    Dropout is sampled, everything else (batch-norm included) stays in eval mode.
    ``consistent=True`` draws K dropout masks once (seeded) and applies mask k to every item,
    so that sample k is the same model for the whole pool, as BatchBALD needs.
    ``consistent=False`` samples independent masks per item (plain MC dropout).

    References
    ----------
    Gal, Islam, Ghahramani. Deep Bayesian Active Learning with Image Data. ICML 2017.
    Kirsch et al. BatchBALD. NeurIPS 2019 (consistent MC dropout).
    """
    k = _check_samples(k, "k")
    batches = _prob_batches(model, data, batch_size, 1.0, k, consistent, seed, "mc_predict", progress)
    return torch.cat(list(batches)).numpy()


def ensemble_predict(models: Sequence[nn.Module], data: Any, batch_size: int = 256) -> np.ndarray:
    """Probabilities of each ensemble member, ``mc_probs`` float32 (N, K, C), K = len(models)."""
    if len(models) < 1:
        raise InputError("ensemble_predict needs at least one model; got none.")
    return np.stack([predict(m, data, batch_size) for m in models], axis=1)


def _module(model: nn.Module, layer: str) -> nn.Module:
    modules = dict(model.named_modules())
    if layer not in modules:
        names = [n for n in modules if n]
        listed = ", ".join(names[:30])
        raise InputError(f"layer {layer!r} is not a module of the model; its modules: {listed}.")
    return modules[layer]


def embed(
    model: nn.Module, data: Any, layer: str, batch_size: int = 256, progress: bool = False
) -> np.ndarray:
    """Outputs of the named ``layer`` (``model.named_modules()``), flattened: float32 (N, D)."""
    captured: list[torch.Tensor] = []
    handle = _module(model, layer).register_forward_hook(
        lambda module, inputs, output: captured.append(output.flatten(1).float().cpu())
    )
    try:
        with _eval_mode(model):
            for x in _forward_all(model, data, batch_size, "embed", progress):
                model(x)
    finally:
        handle.remove()
    return torch.cat(captured).numpy()


def gradient_embeddings(
    model: nn.Module, data: Any, layer: str | None = None, batch_size: int = 256, progress: bool = False
) -> np.ndarray:
    """BADGE gradient embeddings in closed form, float32 (N, C * D); no backward pass.

    For the last linear layer (``layer``, default: the model's last ``nn.Linear``) with input
    ``h`` (D) and the model's softmax ``p`` (C), the gradient of the cross-entropy at the
    predicted label w.r.t. the weight is ``(p - onehot(argmax p)) ⊗ h``. The model's output
    must be that layer's output (the logits).

    References
    ----------
    Ash et al. Deep Batch Active Learning by Diverse, Uncertain Gradient Lower Bounds. ICLR 2020.
    """
    if layer is None:
        linears = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise InputError("gradient_embeddings needs an nn.Linear last layer; the model has none.")
        layer = linears[-1]
    inputs_seen: list[torch.Tensor] = []
    handle = _module(model, layer).register_forward_pre_hook(
        lambda module, inputs: inputs_seen.append(inputs[0])
    )
    parts = []
    try:
        with _eval_mode(model):
            for x in _forward_all(model, data, batch_size, "gradient_embeddings", progress):
                inputs_seen.clear()
                p = torch.softmax(model(x).float(), dim=1)
                h = inputs_seen[-1].flatten(1).float()
                a = p - nn.functional.one_hot(p.argmax(dim=1), p.shape[1]).float()
                parts.append((a[:, :, None] * h[:, None, :]).flatten(1).cpu())
    finally:
        handle.remove()
    return torch.cat(parts).numpy()
