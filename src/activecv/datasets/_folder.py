"""Users' own images: one folder per class, read with Pillow."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from activecv._errors import InputError, missing_extra

SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def load_image_folder(
    root: str | Path, size: tuple[int, int] | None = None, grayscale: bool = False
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], list[Path]]:
    """Images under ``root/<class name>/<image>``, sorted by class then file name.

    Returns images float32 in [0, 1] of shape (N, H, W) (grayscale) or (N, H, W, 3), labels
    int64 (N,), class names (sorted folder names) and the image paths. ``size`` (width, height)
    resizes every image; without it every image must already have the same size.
    """
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise missing_extra("pillow", "datasets") from None
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"image folder {str(root)!r} does not exist or is not a folder.")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise InputError(f"image folder {str(root)!r} has no class folders; expected root/<class>/<image>.")
    images: list[np.ndarray] = []
    labels: list[int] = []
    paths: list[Path] = []
    for label, name in enumerate(classes):
        files = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in SUFFIXES)
        if not files:
            raise InputError(
                f"class folder {str(root / name)!r} holds no images ({', '.join(sorted(SUFFIXES))})."
            )
        for path in files:
            try:
                with Image.open(path) as opened:
                    converted = opened.convert("L" if grayscale else "RGB")
                resized = converted.resize(size) if size is not None else converted
                pixels = np.asarray(resized, dtype=np.float32) / 255.0
            except (UnidentifiedImageError, OSError) as exc:
                raise InputError(f"cannot read image {str(path)!r}: {exc}") from None
            if images and pixels.shape != images[0].shape:
                raise InputError(
                    f"image {str(path)!r} has shape {pixels.shape} but {str(paths[0])!r} has "
                    f"{images[0].shape}; pass size=(width, height) to resize them all."
                )
            images.append(pixels)
            labels.append(label)
            paths.append(path)
    return np.stack(images), np.asarray(labels, dtype=np.int64), tuple(classes), paths
