"""The shipped models and the trainer, with real short training runs on bundled data."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from activecv.adapters.torch import (  # noqa: E402
    Callback,
    GalCNN,
    embed,
    fit,
    gradient_embeddings,
    predict,
    resnet18_cifar,
    small_resnet,
)
from activecv.datasets import load  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def mnist() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    data = load("mnist5k")
    return data.x_train[:, None], data.y_train, data.x_test[:, None], data.y_test


def test_gal_cnn_learns_mnist_in_seconds(mnist: tuple) -> None:
    x, y, x_test, y_test = mnist
    torch.manual_seed(0)
    model = GalCNN()
    history = fit(model, x[:2000], y[:2000], epochs=3, seed=0, validation=(x_test, y_test))
    assert len(history.epochs) == 3 and history.epochs[-1]["val_accuracy"] > 0.88
    accuracy = (predict(model, x_test).argmax(axis=1) == y_test).mean()
    assert accuracy == pytest.approx(history.epochs[-1]["val_accuracy"], abs=1e-9)
    assert embed(model, x_test[:5], "features").shape == (5, 128)
    assert gradient_embeddings(model, x_test[:5]).shape == (5, 10 * 128)


def test_training_is_deterministic_and_leaves_global_rng_alone(mnist: tuple) -> None:
    x, y, _, _ = mnist
    torch.manual_seed(1)
    first = GalCNN()
    second = GalCNN()
    second.load_state_dict(first.state_dict())
    state = torch.get_rng_state()
    fit(first, x[:300], y[:300], epochs=1, seed=5)
    assert torch.equal(state, torch.get_rng_state())
    fit(second, x[:300], y[:300], epochs=1, seed=5)
    for a, b in zip(first.parameters(), second.parameters(), strict=True):
        assert torch.equal(a, b)


class Recorder(Callback):
    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []
        self.ends: list[int] = []

    def on_epoch_begin(self, epoch: int) -> None:
        self.seen.append(np.empty(0, dtype=np.int64))

    def on_batch_end(self, indices: torch.Tensor, logits: torch.Tensor, targets: torch.Tensor) -> None:
        assert logits.shape == (indices.shape[0], 10) and not logits.requires_grad
        self.seen[-1] = np.concatenate([self.seen[-1], indices.numpy()])

    def on_epoch_end(self, epoch: int, record: dict[str, float]) -> None:
        self.ends.append(epoch)


def test_callbacks_see_every_item_once_per_epoch(mnist: tuple) -> None:
    x, y, _, _ = mnist
    recorder = Recorder()
    fit(small_resnet(), x[:150], y[:150], epochs=2, batch_size=32, callbacks=[recorder], schedule="cosine")
    assert recorder.ends == [0, 1]
    for seen in recorder.seen:
        assert sorted(seen.tolist()) == list(range(150))


def test_early_stopping_restores_the_best_weights(mnist: tuple) -> None:
    x, y, x_test, y_test = mnist
    torch.manual_seed(2)
    model = GalCNN()
    history = fit(
        model, x[:200], y[:200], epochs=10, lr=0.0, patience=1, validation=(x_test[:200], y_test[:200])
    )
    assert history.stopped_early and len(history.epochs) == 3 and history.best_epoch == 0


def test_fit_errors() -> None:
    x, y = np.zeros((4, 1, 28, 28), dtype=np.float32), np.zeros(4, dtype=np.int64)
    with pytest.raises(ValueError, match="optimizer must be 'adam' or 'sgd'; got 'rmsprop'"):
        fit(GalCNN(), x, y, optimizer="rmsprop")
    with pytest.raises(ValueError, match="schedule must be None, 'cosine' or 'step'; got 'linear'"):
        fit(GalCNN(), x, y, schedule="linear")
    with pytest.raises(ValueError, match="x and y must have one row per item and at least one; got 4 and 3"):
        fit(GalCNN(), x, y[:3])
    with pytest.raises(ValueError, match="x must be a numpy array or a torch Tensor; got list"):
        fit(GalCNN(), [[0.0]], y)


def test_model_shapes() -> None:
    resnet = resnet18_cifar()
    assert sum(p.numel() for p in resnet.parameters()) == 11_173_962  # the standard CIFAR ResNet-18
    assert resnet(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert small_resnet(num_classes=7)(torch.zeros(2, 1, 28, 28)).shape == (2, 7)
    assert GalCNN(num_classes=5, image_size=8)(torch.zeros(3, 1, 8, 8)).shape == (3, 5)


def test_flip_crop_shifts_and_mirrors_within_the_padding() -> None:
    from activecv.adapters.torch._train import flip_crop

    x = torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).reshape(2, 3, 6, 6) + 1
    torch.manual_seed(0)
    out = flip_crop(x, pad=2)
    assert out.shape == x.shape
    for image, source in zip(out, x, strict=True):
        padded = [torch.nn.functional.pad(s, (2, 2, 2, 2)) for s in (source, source.flip(2))]
        windows = [p[:, dy : dy + 6, dx : dx + 6] for p in padded for dy in range(5) for dx in range(5)]
        assert any(torch.equal(image, w) for w in windows)
    unflipped = [flip_crop(x, pad=0) for _ in range(20)]
    assert all(torch.equal(u[0], x[0]) or torch.equal(u[0], x[0].flip(2)) for u in unflipped)
    assert any(not torch.equal(u[0], x[0]) for u in unflipped)


def linear_net(num_classes: int, input_shape: tuple[int, ...]) -> torch.nn.Module:
    return torch.nn.Linear(input_shape[0], num_classes)


def test_build_model_by_name_or_factory() -> None:
    from activecv.adapters.torch import FeatureMLP, build_model

    assert isinstance(build_model("mlp", 3, (64,)), FeatureMLP)
    assert build_model("small_resnet", 4, (1, 20, 30))(torch.zeros(2, 1, 20, 30)).shape == (2, 4)
    made = build_model("tests.integration.test_torch_training:linear_net", 5, (7,))  # a user factory
    assert isinstance(made, torch.nn.Linear) and made.out_features == 5
    with pytest.raises(ValueError, match="gal_cnn needs square images; got 20x30"):
        build_model("gal_cnn", 4, (1, 20, 30))
    with pytest.raises(ValueError, match=r"model 'gal_cnn' does not fit inputs of shape \(64,\)"):
        build_model("gal_cnn", 4, (64,))
    with pytest.raises(ValueError, match="model must be one of gal_cnn"):
        build_model("vgg", 4, (1, 28, 28))
    with pytest.raises(ValueError, match=r"cannot load 'nope' from 'torch\.nn'"):
        build_model("torch.nn:nope", 4, (1, 28, 28))
    with pytest.raises(ValueError, match=r"must return a torch nn\.Module; got slice"):
        build_model("builtins:slice", 4, (7,))
