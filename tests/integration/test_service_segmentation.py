"""The service with a segmentation model: per-image measures from class maps, the annotate
decision, the queue, and brush predictions for Label Studio."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient
from PIL import Image

from activecv.io import brush_decode
from activecv.project import Project
from activecv.service import AnnotatePolicy, ModelSpec, Predictor, ServiceConfig, create_app
from activecv.strategies import image_scores, pixel_uncertainty

pytestmark = pytest.mark.service
TOKEN = "segmentation-service-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CLASSES = ("background", "ink")


def bright_is_ink(batch: np.ndarray) -> np.ndarray:
    """Logits (B, 2, H, W): ink where the pixel is bright, least sure at mid grey."""
    return np.concatenate([4 * (0.5 - batch), 4 * (batch - 0.5)], axis=1)


@pytest.fixture
def client(tmp_path: Path, digit_pool: Any) -> TestClient:
    pool, _ = digit_pool
    Project.init(tmp_path / "project", task="segmentation", classes=CLASSES, images=pool).close()
    spec = ModelSpec("stub", "segmentation", CLASSES, input_size=(16, 16))
    policy = AnnotatePolicy("entropy_mean", threshold=0.0)
    config = ServiceConfig(policy=policy, token=TOKEN, project=tmp_path / "project")
    return TestClient(create_app(config, Predictor(spec, bright_is_ink, "seg-v1")))


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_segmentation_predictions_carry_their_measures_and_mask(client: TestClient, digit_pool: Any) -> None:
    pool, _ = digit_pool
    data = (pool / "000.png").read_bytes()
    body = client.post("/v1/predict", files=[("images", ("000.png", data, "image/png"))], headers=AUTH).json()
    (result,) = body["results"]
    pixels = np.asarray(Image.open(io.BytesIO(data)), dtype=np.float64)[None, None] / 255.0
    logits = bright_is_ink(pixels)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    for name in ("entropy", "margin"):
        pixel = pixel_uncertainty(probs, name)
        assert result["measures"][f"{name}_mean"] == pytest.approx(image_scores(pixel, "mean")[0])
        assert result["measures"][f"{name}_top"] == pytest.approx(image_scores(pixel, "top_q", q=0.1)[0])
    mask = np.asarray(Image.open(io.BytesIO(base64.b64decode(result["prediction"]["mask_png"]))))
    np.testing.assert_array_equal(mask, (pixels[0, 0] > 0.5).astype(np.uint8))
    assert result["prediction"]["classes"]["ink"] == pytest.approx(mask.mean())
    assert result["annotate"] is True and result["queued_item"] == 1  # a known image, queued once
    assert [item["path"] for item in client.get("/v1/queue", headers=AUTH).json()["items"]] == ["000.png"]


def test_label_studio_gets_brushes(client: TestClient, digit_pool: Any) -> None:
    pool, _ = digit_pool
    task = {"id": 4, "data": {"image": "/data/local-files/?d=001.png"}}
    answer = client.post("/predict", json={"tasks": [task]}, headers=AUTH).json()
    (brush,) = answer["results"][0]["result"]
    assert brush["type"] == "brushlabels" and brush["value"]["brushlabels"] == ["ink"]
    pixels = np.asarray(Image.open(pool / "001.png"))
    np.testing.assert_array_equal(brush_decode(brush["value"]["rle"], 16, 16), pixels > 127)
    assert 0 <= answer["results"][0]["score"] <= 1


def test_a_model_with_the_wrong_maps_is_refused_at_start() -> None:
    spec = ModelSpec("stub", "segmentation", CLASSES, input_size=(8, 8))
    with pytest.raises(ValueError, match=r"a segmentation model returns \(1, 2, H, W\): one map per class"):
        Predictor(spec, lambda batch: np.zeros((batch.shape[0], 3, 8, 8)), "v").check()
    with pytest.raises(ValueError, match=r"annotate metric for segmentation must be one of entropy_mean"):
        AnnotatePolicy("entropy_max", threshold=0.1).check_metric("segmentation")
    probs = ModelSpec("stub", "segmentation", CLASSES, input_size=(8, 8), outputs="probs")
    with pytest.raises(ValueError, match=r"probabilities must sum to 1 over the classes; got sums from 0.6"):
        Predictor(probs, lambda batch: np.full((batch.shape[0], 2, 8, 8), 0.3), "v").check()
    with pytest.raises(ValueError, match=r"the model returned non-finite scores \(NaN or inf\) for 1 images"):
        Predictor(spec, lambda batch: np.full((batch.shape[0], 2, 8, 8), np.nan), "v").check()
    with pytest.raises(
        ValueError, match=r"a segmentation model has at most 255 classes \(8-bit masks\); got 256"
    ):
        ModelSpec("stub", "segmentation", tuple(map(str, range(256))))


@pytest.mark.torch
def test_an_onnx_segmentation_model_serves(tmp_path: Path, digit_pool: Any) -> None:
    torch = pytest.importorskip("torch")
    from activecv.adapters.torch import SegmentationFCN, export_onnx, predict
    from activecv.service import load_predictor

    pool, _ = digit_pool
    torch.manual_seed(0)
    model = SegmentationFCN(2, 1, width=8).eval()
    path = export_onnx(model, tmp_path / "fcn.onnx", (1, 16, 16))
    predictor = load_predictor(ModelSpec(str(path), "segmentation", CLASSES, input_size=(16, 16)), "fcn-onnx")
    pixels = np.asarray(Image.open(pool / "002.png"), dtype=np.float32)[None, None] / 255.0
    np.testing.assert_allclose(predictor.predict(pixels), predict(model, pixels), atol=1e-5)


def served(predictor: Predictor, project: Path) -> TestClient:
    config = ServiceConfig(policy=AnnotatePolicy("entropy_mean", threshold=0.0), token=TOKEN, project=project)
    return TestClient(create_app(config, predictor))


@pytest.mark.torch
def test_a_torchscript_segmentation_model_serves(tmp_path: Path, digit_pool: Any) -> None:
    torch = pytest.importorskip("torch")
    import warnings

    from activecv.adapters.torch import SegmentationFCN, predict
    from activecv.service import load_predictor

    pool, _ = digit_pool
    torch.manual_seed(0)
    model = SegmentationFCN(2, 1, width=8).eval()
    with warnings.catch_warnings():  # tracing is deprecated in torch 2.13; users still bring such files
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.trace(model, torch.zeros(1, 1, 16, 16)).save(str(tmp_path / "fcn.pt"))
    spec = ModelSpec(str(tmp_path / "fcn.pt"), "segmentation", CLASSES, input_size=(16, 16))
    predictor = load_predictor(spec)
    assert predictor.version.startswith("fcn-")
    data = (pool / "002.png").read_bytes()
    pixels = np.asarray(Image.open(io.BytesIO(data)), dtype=np.float32)[None, None] / 255.0
    probs = predict(model, pixels)
    np.testing.assert_allclose(predictor.predict(pixels), probs, atol=1e-6)
    Project.init(tmp_path / "project", task="segmentation", classes=CLASSES, images=pool).close()
    client = served(predictor, tmp_path / "project")
    body = client.post("/v1/predict", files=[("images", ("002.png", data, "image/png"))], headers=AUTH).json()
    (result,) = body["results"]
    expected = image_scores(pixel_uncertainty(probs.astype(np.float64), "entropy"), "mean")[0]
    assert result["measures"]["entropy_mean"] == pytest.approx(expected, abs=1e-6)
    mask = np.asarray(Image.open(io.BytesIO(base64.b64decode(result["prediction"]["mask_png"]))))
    np.testing.assert_array_equal(mask, probs[0].argmax(axis=0))
    assert body["model_version"] == predictor.version and result["queued_item"] == 3


def test_an_entry_point_segmentation_model_serves(
    tmp_path: Path, digit_pool: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from activecv.service import load_predictor

    pool, _ = digit_pool
    (tmp_path / "segmenter_stub.py").write_text(
        "import numpy as np\n\n"
        "def make():\n"
        "    def run(batch):  # probabilities (B, 2, H, W): ink where bright\n"
        "        ink = np.clip(batch, 0.1, 0.9)\n"
        "        return np.concatenate([1.0 - ink, ink], axis=1)\n"
        "    return run\n\n"
        "def wrong():\n"
        "    return lambda batch: np.full((batch.shape[0], 3, 16, 16), 1 / 3)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = ModelSpec("segmenter_stub:make", "segmentation", CLASSES, input_size=(16, 16), outputs="probs")
    predictor = load_predictor(spec)
    assert predictor.version == "segmenter_stub:make"
    Project.init(tmp_path / "project", task="segmentation", classes=CLASSES, images=pool).close()
    data = (pool / "005.png").read_bytes()
    client = served(predictor, tmp_path / "project")
    body = client.post("/v1/predict", files=[("images", ("005.png", data, "image/png"))], headers=AUTH).json()
    (result,) = body["results"]
    pixels = np.asarray(Image.open(io.BytesIO(data)), dtype=np.float64)[None, None] / 255.0
    ink = np.clip(pixels, 0.1, 0.9)
    probs = np.concatenate([1.0 - ink, ink], axis=1)
    for name in ("entropy", "margin"):
        pixel = pixel_uncertainty(probs, name)
        assert result["measures"][f"{name}_mean"] == pytest.approx(image_scores(pixel, "mean")[0])
        assert result["measures"][f"{name}_top"] == pytest.approx(image_scores(pixel, "top_q", q=0.1)[0])
    mask = np.asarray(Image.open(io.BytesIO(base64.b64decode(result["prediction"]["mask_png"]))))
    np.testing.assert_array_equal(mask, (ink[0, 0] > 0.5).astype(np.uint8))
    assert body["model_version"] == "segmenter_stub:make" and result["queued_item"] == 6
    wrong = ModelSpec("segmenter_stub:wrong", "segmentation", CLASSES, input_size=(16, 16), outputs="probs")
    with pytest.raises(ValueError, match=r"a segmentation model returns \(1, 2, H, W\): one map per class"):
        load_predictor(wrong)


def test_webhook_region_annotations_add_to_the_image_mask(client: TestClient, tmp_path: Path) -> None:
    from activecv.io import UNLABELED, brush_encode

    def event(annotation_id: int, rows: slice, name: str) -> dict[str, Any]:
        drawn = np.zeros((16, 16), bool)
        drawn[rows] = True
        value = {"format": "rle", "rle": brush_encode(drawn), "brushlabels": [name]}
        result = {"type": "brushlabels", "from_name": "label", "to_name": "image", "value": value,
                  "original_width": 16, "original_height": 16}  # fmt: skip
        return {
            "action": "ANNOTATION_CREATED",
            "task": {"id": 7, "data": {"activecv_item": 3, "activecv_regions": [0]}},
            "annotation": {"id": annotation_id, "completed_by": 1, "updated_at": "t", "result": [result]},
        }

    for annotation_id, rows, name in ((1, slice(0, 4), "ink"), (2, slice(12, 16), "background")):
        answer = client.post("/webhook", json=event(annotation_id, rows, name), headers=AUTH).json()
        assert answer["status"] == "stored" and answer["added"] + answer["relabeled"] == 1, answer
    with Project(tmp_path / "project") as project:
        mask = project.mask(3)
    assert mask is not None
    assert (mask[:4] == 1).all() and (mask[12:] == 0).all() and (mask[4:12] == UNLABELED).all()
