"""Uploaded bytes to model input, refusing what is not a bounded, decodable image."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np

from activecv.service._model import ModelSpec

CONTENT_TYPES = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/bmp": ".bmp",
    "image/gif": ".gif",
    "image/tiff": ".tif",
    "image/webp": ".webp",
}


class ImageRejected(Exception):
    """An upload the service will not decode; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class DecodedImage:
    """The model's input for one image (channels, H, W), and the original's size and format."""

    pixels: np.ndarray
    width: int
    height: int
    suffix: str


def decode_image(data: bytes, content_type: str | None, spec: ModelSpec, max_pixels: int) -> DecodedImage:
    """Decode, bound and resize one image; raises :class:`ImageRejected` with a 4xx status."""
    from PIL import Image

    kind = (content_type or "").split(";")[0].strip().lower()
    if kind and kind != "application/octet-stream" and kind not in CONTENT_TYPES:
        raise ImageRejected(
            415, f"content type {kind!r} is not an image type this service reads: {sorted(CONTENT_TYPES)}."
        )
    if not data:
        raise ImageRejected(400, "the upload is empty.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise ImageRejected(
                        413, f"the image is {width}x{height} pixels; this service takes at most {max_pixels}."
                    )
                fmt = (image.format or "").lower()
                converted = image.convert("L" if spec.channels == 1 else "RGB")
                resized = converted.resize(spec.input_size[::-1], Image.Resampling.BILINEAR)
    except ImageRejected:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected(400, "the upload is not a decodable image.") from None
    pixels = np.asarray(resized, dtype=np.float32) / 255.0
    pixels = pixels[None] if spec.channels == 1 else pixels.transpose(2, 0, 1)
    pixels = (pixels - spec.mean) / spec.std
    suffix = {"jpeg": ".jpg", "tiff": ".tif"}.get(fmt, f".{fmt}" if fmt else ".img")
    return DecodedImage(np.ascontiguousarray(pixels, dtype=np.float32), width, height, suffix)
