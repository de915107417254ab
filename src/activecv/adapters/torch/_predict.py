"""Batched, gradient-free inference over a tensor, array, Dataset or DataLoader.

Every function runs the model in eval mode on its own device under ``torch.no_grad`` and
restores the model's train/eval state afterwards. Rows of every output follow the input order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from activecv._errors import InputError, InputTypeError, missing_extra
from activecv._progress import Progress

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

    Dataset items and DataLoader batches may be ``x`` or tuples ``(x, y, ...)``.
    """
    if isinstance(data, np.ndarray):
        data = torch.from_numpy(data)
    if isinstance(data, torch.Tensor):
        for start in range(0, data.shape[0], batch_size):
            yield data[start : start + batch_size]
        return
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
    for batch in loader:
        yield batch[0] if isinstance(batch, (list, tuple)) else batch


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
    """(batch on the model's device) for every batch, with progress lines."""
    device = _device(model)
    report = Progress(label, _count(data), progress)
    done = 0
    for batch in _input_batches(data, batch_size):
        yield batch.to(device)
        done += batch.shape[0]
        report.update(done)


def predict_logits(model: nn.Module, data: Any, batch_size: int = 256, progress: bool = False) -> np.ndarray:
    """The model's outputs (logits) for every item, float32 (N, C)."""
    with _eval_mode(model):
        parts = [model(x).float().cpu() for x in _forward_all(model, data, batch_size, "predict", progress)]
    return torch.cat(parts).numpy()


def predict(
    model: nn.Module, data: Any, batch_size: int = 256, temperature: float = 1.0, progress: bool = False
) -> np.ndarray:
    """Class probabilities ``softmax(logits / temperature)``, float32 (N, C); the model must
    return logits."""
    logits = torch.from_numpy(predict_logits(model, data, batch_size, progress))
    return torch.softmax(logits / temperature, dim=1).numpy()


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
        self.handles = [m.register_forward_hook(self._hook(i)) for i, m in enumerate(self.dropouts)]

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

    def remove(self) -> None:
        for handle in self.handles:
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
    """K MC-dropout predictions per item, ``mc_probs`` float32 (N, K, C).

    Dropout is sampled, everything else (batch-norm included) stays in eval mode.
    ``consistent=True`` draws K dropout masks once (seeded) and applies mask k to every item,
    so that sample k is the same model for the whole pool, as BatchBALD needs.
    ``consistent=False`` samples independent masks per item (plain MC dropout).

    References
    ----------
    Gal, Islam, Ghahramani. Deep Bayesian Active Learning with Image Data. ICML 2017.
    Kirsch et al. BatchBALD. NeurIPS 2019 (consistent MC dropout).
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InputError(f"k must be a positive integer; got {k!r}.")
    masks = _DropoutMasks(model, seed, consistent)
    outputs = []
    try:
        with _eval_mode(model):
            for x in _forward_all(model, data, batch_size, "mc_predict", progress):
                samples = []
                for sample in range(k):
                    masks.k = sample
                    samples.append(torch.softmax(model(x).float(), dim=1))
                outputs.append(torch.stack(samples, dim=1).cpu())
    finally:
        masks.remove()
    return torch.cat(outputs).numpy()


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
