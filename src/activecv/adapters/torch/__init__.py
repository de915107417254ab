"""PyTorch models to arrays: probabilities, MC-dropout samples, embeddings, gradient embeddings.

Needs the torch extra (``pip install 'activecv[torch]'``); torchvision is never required.
"""

from activecv.adapters.torch._aum import (
    AUMTracker,
    MislabeledReport,
    find_mislabeled,
    flag_mislabeled,
    make_threshold_sets,
)
from activecv.adapters.torch._batchbald import TorchJointEntropies, batchbald_kernel
from activecv.adapters.torch._detections import from_torchvision
from activecv.adapters.torch._detector import GridDetector, detect, train_detector
from activecv.adapters.torch._export import export_onnx
from activecv.adapters.torch._learning_loss import (
    LearningLoss,
    LossPredictionModule,
    predict_loss,
    ranking_loss,
)
from activecv.adapters.torch._mi_aod import (
    MIAODDetector,
    MIAODOutput,
    MIAODSettings,
    detect_mi_aod,
    mi_aod_loss,
    mi_aod_uncertainty,
    set_mi_aod_stage,
    train_mi_aod,
)
from activecv.adapters.torch._models import (
    MODEL_NAMES,
    FeatureMLP,
    GalCNN,
    ResNet,
    build_model,
    resnet18_cifar,
    small_resnet,
)
from activecv.adapters.torch._predict import (
    embed,
    ensemble_predict,
    gradient_embeddings,
    iter_predict,
    mc_predict,
    predict,
    predict_logits,
)
from activecv.adapters.torch._segmentation import SegmentationFCN, predict_masks, train_segmenter
from activecv.adapters.torch._select import select, strategy_inputs
from activecv.adapters.torch._train import Callback, History, fit

__all__ = [
    "MODEL_NAMES",
    "AUMTracker",
    "Callback",
    "FeatureMLP",
    "GalCNN",
    "GridDetector",
    "History",
    "LearningLoss",
    "LossPredictionModule",
    "MIAODDetector",
    "MIAODOutput",
    "MIAODSettings",
    "MislabeledReport",
    "ResNet",
    "SegmentationFCN",
    "TorchJointEntropies",
    "batchbald_kernel",
    "build_model",
    "detect",
    "detect_mi_aod",
    "embed",
    "ensemble_predict",
    "export_onnx",
    "find_mislabeled",
    "fit",
    "flag_mislabeled",
    "from_torchvision",
    "gradient_embeddings",
    "iter_predict",
    "make_threshold_sets",
    "mc_predict",
    "mi_aod_loss",
    "mi_aod_uncertainty",
    "predict",
    "predict_logits",
    "predict_loss",
    "predict_masks",
    "ranking_loss",
    "resnet18_cifar",
    "select",
    "set_mi_aod_stage",
    "small_resnet",
    "strategy_inputs",
    "train_detector",
    "train_mi_aod",
    "train_segmenter",
]
