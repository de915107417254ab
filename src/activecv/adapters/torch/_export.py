"""A model to an ONNX file that ``activecv serve`` loads with onnxruntime."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch


def export_onnx(
    model: torch.nn.Module, path: str | Path, input_shape: tuple[int, ...], opset: int = 17
) -> Path:
    """Write ``model`` (in eval mode) to ``path`` as ONNX with a dynamic batch axis.

    ``input_shape`` is one image's (channels, height, width). Uses torch's TorchScript-based
    exporter, which needs only the ``onnx`` package (the newer exporter also needs onnxscript);
    its deprecation warning is silenced here on purpose.

    Examples
    --------
    >>> import tempfile
    >>> from activecv.adapters.torch import GalCNN
    >>> path = export_onnx(GalCNN(10), Path(tempfile.mkdtemp()) / "cnn.onnx", (1, 28, 28))
    >>> path.suffix
    '.onnx'
    """
    was_training = model.training
    model.eval()
    example = torch.zeros((1, *input_shape))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                model,
                (example,),
                str(path),
                input_names=["images"],
                output_names=["outputs"],
                dynamic_axes={"images": {0: "batch"}, "outputs": {0: "batch"}},
                opset_version=opset,
                dynamo=False,
            )
    finally:
        model.train(was_training)
    return Path(path)
