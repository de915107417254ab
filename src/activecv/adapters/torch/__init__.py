"""PyTorch models to arrays: probabilities, MC-dropout samples, embeddings, gradient embeddings.

Needs the torch extra (``pip install 'activecv[torch]'``); torchvision is never required.
"""

from activecv.adapters.torch._predict import (
    embed,
    ensemble_predict,
    gradient_embeddings,
    mc_predict,
    predict,
    predict_logits,
)

__all__ = ["embed", "ensemble_predict", "gradient_embeddings", "mc_predict", "predict", "predict_logits"]
