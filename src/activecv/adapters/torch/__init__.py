"""PyTorch models to arrays: probabilities, MC-dropout samples, embeddings, gradient embeddings.

Needs the torch extra (``pip install 'activecv[torch]'``); torchvision is never required.
"""

from activecv.adapters.torch._models import GalCNN, ResNet, resnet18_cifar, small_resnet
from activecv.adapters.torch._predict import (
    embed,
    ensemble_predict,
    gradient_embeddings,
    mc_predict,
    predict,
    predict_logits,
)
from activecv.adapters.torch._train import Callback, History, fit

__all__ = [
    "Callback",
    "GalCNN",
    "History",
    "ResNet",
    "embed",
    "ensemble_predict",
    "fit",
    "gradient_embeddings",
    "mc_predict",
    "predict",
    "predict_logits",
    "resnet18_cifar",
    "small_resnet",
]
