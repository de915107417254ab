"""Brush RLE against the reference: Label Studio's own converter (``label_studio_sdk.converter
.brush``), run by the Python of Label Studio's virtual environment (see conftest.py) in a
subprocess. Masks go over as .npy files, RLE streams as JSON. ``ACTIVECV_SKIP_LABEL_STUDIO=1``
skips the module."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage
from sklearn.datasets import load_digits
from tests.integration.conftest import label_studio_executable

from activecv.io._masks import brush_decode, brush_encode

pytestmark = pytest.mark.slow

REFERENCE = """
import json, sys
from pathlib import Path

import numpy as np
from label_studio_sdk.converter.brush import decode_rle, mask2rle

folder = Path(sys.argv[1])
names = json.loads((folder / "names.json").read_text())
ours = json.loads((folder / "ours.json").read_text())
theirs = {}
for name in names:
    mask = np.load(folder / f"{name}.npy")
    theirs[name] = [int(b) for b in mask2rle(mask.astype(np.uint8) * 255)]
    height, width = mask.shape
    alpha = np.reshape(decode_rle(ours[name]), [height, width, 4])[:, :, 3]
    np.save(folder / f"{name}.decoded.npy", alpha)
(folder / "theirs.json").write_text(json.dumps(theirs))
"""


def masks() -> dict[str, np.ndarray]:
    digits = load_digits().images
    one = np.zeros((5, 7), dtype=bool)
    one[3, 4] = True
    wide = np.kron(digits[7] > 4, np.ones((6, 8), dtype=bool))  # 48 x 64
    wide[0, -1] = True
    long_runs = np.zeros((200, 300), dtype=bool)  # runs past the 16-bit field: split
    long_runs[120:, 40:] = True
    noise = np.random.default_rng(1).random((1024, 1024))
    return {
        "empty": np.zeros((6, 9), dtype=bool),
        "full": np.ones((6, 9), dtype=bool),
        "one_pixel": one,
        "wide_48x64": wide,
        "long_runs": long_runs,
        "blobs_1024": ndimage.gaussian_filter(noise, sigma=8) > 0.5,
        **{f"digit_{i}": digits[i] > 4 for i in (0, 1, 2, 3, 8, 9, 100, 1000)},
    }


def reference_python() -> Path:
    """The Python of Label Studio's environment: beside its ``label-studio``, else its shebang's."""
    executable = label_studio_executable()
    beside = executable.parent / "python"
    if beside.exists():
        return beside
    first = executable.read_text(errors="replace").splitlines()[0]
    return Path(first.removeprefix("#!").strip())


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, np.ndarray], Path]]:
    """Every mask through the reference: ``theirs.json`` (its mask2rle) and ``NAME.decoded.npy``
    (its decode_rle of our brush_encode, the alpha channel)."""
    if os.environ.get("ACTIVECV_SKIP_LABEL_STUDIO") == "1":
        pytest.skip("ACTIVECV_SKIP_LABEL_STUDIO=1: no Label Studio, no reference brush converter")
    folder = tmp_path_factory.mktemp("masks-reference")
    cases = masks()
    for name, mask in cases.items():
        np.save(folder / f"{name}.npy", mask)
    (folder / "names.json").write_text(json.dumps(list(cases)))
    (folder / "ours.json").write_text(json.dumps({name: brush_encode(m) for name, m in cases.items()}))
    (folder / "reference.py").write_text(REFERENCE)
    run = subprocess.run(
        [str(reference_python()), str(folder / "reference.py"), str(folder)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    yield cases, folder


NAMES = list(masks())


@pytest.mark.parametrize("name", NAMES)
def test_the_reference_decodes_our_brush_rle(name: str, exchange: tuple[dict[str, np.ndarray], Path]) -> None:
    cases, folder = exchange
    alpha = np.load(folder / f"{name}.decoded.npy")
    assert set(np.unique(alpha)) <= {0, 255}
    np.testing.assert_array_equal(alpha == 255, cases[name])


@pytest.mark.parametrize("name", NAMES)
def test_we_decode_the_reference_brush_rle(name: str, exchange: tuple[dict[str, np.ndarray], Path]) -> None:
    cases, folder = exchange
    theirs = json.loads((folder / "theirs.json").read_text())[name]
    mask = cases[name]
    np.testing.assert_array_equal(brush_decode(theirs, width=mask.shape[1], height=mask.shape[0]), mask)


@pytest.mark.parametrize("name", NAMES)
def test_our_stream_is_the_references(name: str, exchange: tuple[dict[str, np.ndarray], Path]) -> None:
    """Byte for byte, but for the reference's padding: where the bits fill the last byte, it
    appends a zero byte anyway (it pads 8 - n % 8 bits, never 0)."""
    cases, folder = exchange
    theirs = json.loads((folder / "theirs.json").read_text())[name]
    ours = brush_encode(cases[name])
    assert theirs in (ours, [*ours, 0])
