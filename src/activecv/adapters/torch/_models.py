"""Models shipped for benchmarks and examples, written here (torchvision is not needed).

Every model names its last linear layer ``fc`` and its penultimate features ``features``, so
``embed(model, data, "features")`` and ``gradient_embeddings(model, data)`` work unchanged.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import torch
from torch import nn

from activecv._errors import InputError


class GalCNN(nn.Module):
    """The MNIST CNN of Gal, Islam & Ghahramani (ICML 2017), with MC-dropout layers.

    conv(32, 4x4)-ReLU-conv(32, 4x4)-ReLU-maxpool(2x2)-dropout(0.25)-dense(128)-ReLU-
    dropout(0.5)-dense(C).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> None:
        super().__init__()
        side = (image_size - 6) // 2
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, 32, 4),
            nn.ReLU(),
            nn.Conv2d(32, 32, 4),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Dropout(0.25),
            nn.Flatten(),
        )
        self.features = nn.Sequential(nn.Linear(32 * side * side, 128), nn.ReLU())
        self.dropout = nn.Dropout(0.5)
        self.fc = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.features(self.conv(x))))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch-norm and an identity (or 1x1) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class ResNet(nn.Module):
    """A CIFAR-style ResNet: 3x3 stem without max-pool, stages of basic blocks, global pooling.

    ``stage_names`` are the module names of each stage's output (the learning-loss layers).
    """

    def __init__(
        self, blocks: tuple[int, ...], widths: tuple[int, ...], num_classes: int, in_channels: int
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        ]
        cin, stage_names = widths[0], []
        for stage, (count, width) in enumerate(zip(blocks, widths, strict=True)):
            for block in range(count):
                layers.append(BasicBlock(cin, width, 2 if stage > 0 and block == 0 else 1))
                cin = width
            stage_names.append(f"stages.{len(layers) - 1}")
        self.stage_names = tuple(stage_names)
        self.stages = nn.Sequential(*layers)
        self.features = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(self.stages(x)))


def resnet18_cifar(num_classes: int = 10, in_channels: int = 3) -> ResNet:
    """ResNet-18 for 32x32 images, as in the LL4AL and core-set CIFAR-10 experiments (11.2 M parameters)."""
    return ResNet((2, 2, 2, 2), (64, 128, 256, 512), num_classes, in_channels)


def small_resnet(num_classes: int = 10, in_channels: int = 1) -> ResNet:
    """A small ResNet for 28x28 inputs (MNIST-like): three stages of one block, 32-64-128 wide."""
    return ResNet((1, 1, 1), (32, 64, 128), num_classes, in_channels)


class FeatureMLP(nn.Module):
    """For precomputed features (N, D): Linear-ReLU (``features``), dropout, Linear (``fc``)."""

    def __init__(self, dim: int, num_classes: int = 10, hidden: int = 256, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU())
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.features(x)))


MODEL_NAMES = ("gal_cnn", "small_resnet", "resnet18_cifar", "mlp")


def build_model(name: str, num_classes: int, input_shape: Sequence[int]) -> nn.Module:
    """A fresh model for inputs of ``input_shape``: (channels, height, width) for images, (D,)
    for feature vectors.

    ``name`` is a shipped model (``MODEL_NAMES``) or ``"module:callable"``, a factory of yours
    called as ``factory(num_classes, input_shape)``.
    """
    if ":" in name:
        module_name, _, attribute = name.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            raise InputError(
                f"model {name!r}: cannot load {attribute!r} from {module_name!r} ({exc})."
            ) from None
        model = factory(num_classes, tuple(input_shape))
        if not isinstance(model, nn.Module):
            raise InputError(
                f"model factory {name!r} must return a torch nn.Module; got {type(model).__name__}."
            )
        return model
    if name not in MODEL_NAMES:
        raise InputError(f"model must be one of {', '.join(MODEL_NAMES)} or 'module:callable'; got {name!r}.")
    if len(input_shape) == 1 or name == "mlp":
        if name != "mlp" or len(input_shape) != 1:
            raise InputError(
                f"model {name!r} does not fit inputs of shape {tuple(input_shape)}; "
                "use mlp for feature vectors (D,) and an image model for (C, H, W)."
            )
        return FeatureMLP(input_shape[0], num_classes)
    channels, height, width = input_shape
    if name == "gal_cnn":
        if height != width:
            raise InputError(f"gal_cnn needs square images; got {height}x{width}. Use small_resnet.")
        return GalCNN(num_classes, channels, height)
    if name == "small_resnet":
        return small_resnet(num_classes, channels)
    return resnet18_cifar(num_classes, channels)
