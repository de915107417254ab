"""The prediction service in process: every endpoint, every bad input, a real ONNX model."""

from __future__ import annotations

import asyncio
import base64
import io
import math
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import httpx2 as httpx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("fastapi")
torch = pytest.importorskip("torch")

from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402

from activecv.adapters.torch import GalCNN, export_onnx  # noqa: E402
from activecv.io import Label  # noqa: E402
from activecv.project import LabelStudioLink, Project  # noqa: E402
from activecv.service import (  # noqa: E402
    AnnotatePolicy,
    ModelSpec,
    Predictor,
    ServiceConfig,
    create_app,
    label_studio_score,
    load_predictor,
)
from activecv.strategies import entropy, least_confidence, margin, ratio  # noqa: E402

pytestmark = [pytest.mark.service, pytest.mark.torch]

TOKEN = "s3cret-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CLASSES = tuple(str(k) for k in range(10))


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    torch.manual_seed(0)
    model = GalCNN(10).eval()
    return export_onnx(model, tmp_path_factory.mktemp("model") / "cnn.onnx", (1, 28, 28)), model


@pytest.fixture
def project(tmp_path: Path, digit_pool: Any) -> Path:
    pool, _ = digit_pool
    Project.init(tmp_path / "project", task="classification", classes=CLASSES, images=pool).close()
    return tmp_path / "project"


def make_client(onnx_model: Any, project: Path | None, **overrides: Any) -> TestClient:
    policy = overrides.pop("policy", AnnotatePolicy("entropy", threshold=0.0))
    config = ServiceConfig(policy=policy, token=TOKEN, project=project, **overrides)
    predictor = load_predictor(ModelSpec(str(onnx_model[0]), "classification", CLASSES), "cnn-1")
    return TestClient(create_app(config, predictor))


def files(*images: bytes, kind: str = "image/png") -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("images", (f"img{i}.png", data, kind)) for i, data in enumerate(images)]


def test_onnx_predictions_match_the_torch_model(onnx_model: Any, digit_pool: Any) -> None:
    path, model = onnx_model
    predictor = load_predictor(ModelSpec(str(path), "classification", CLASSES))
    batch = np.random.default_rng(0).random((3, 1, 28, 28), dtype=np.float32)
    expected = torch.softmax(model(torch.from_numpy(batch)), dim=1).detach().numpy()
    np.testing.assert_allclose(predictor.predict(batch), expected, atol=1e-5)
    assert predictor.version.startswith("cnn-")


def test_torchscript_predictions_match_the_torch_model(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = GalCNN(10).eval()
    with warnings.catch_warnings():  # tracing is deprecated in torch 2.13; users still bring such files
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.trace(model, torch.zeros(1, 1, 28, 28)).save(str(tmp_path / "cnn.pt"))
    predictor = load_predictor(ModelSpec(str(tmp_path / "cnn.pt"), "classification", CLASSES))
    batch = np.random.default_rng(1).random((2, 1, 28, 28), dtype=np.float32)
    expected = torch.softmax(model(torch.from_numpy(batch)), dim=1).detach().numpy()
    np.testing.assert_allclose(predictor.predict(batch), expected, atol=1e-6)


def test_predict_reports_every_measure_and_queues_flagged_images_once(
    onnx_model: Any, project: Path, digit_pool: Any
) -> None:
    pool, _ = digit_pool
    client = make_client(onnx_model, project, policy=AnnotatePolicy("margin", threshold=0.0))
    first, second = (pool / "000.png").read_bytes(), (pool / "001.png").read_bytes()
    response = client.post("/v1/predict", files=files(first, second), headers=AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"] == "cnn-1" and len(body["results"]) == 2
    for result in body["results"]:
        probs = np.array(result["prediction"]["probabilities"])[None]
        assert result["prediction"]["class"] == CLASSES[int(probs.argmax())]
        assert result["measures"] == pytest.approx(
            {
                "least_confidence": least_confidence(probs)[0],
                "margin": margin(probs)[0],
                "ratio": ratio(probs)[0],
                "entropy": entropy(probs)[0],
            }
        )
        assert result["annotate"] is True and (result["width"], result["height"]) == (16, 16)
        assert result["label_studio_score"] == pytest.approx(1 - result["measures"]["margin"])
    again = client.post("/v1/predict", files=files(first), headers=AUTH).json()["results"][0]
    queue = client.get("/v1/queue", headers=AUTH).json()["items"]
    assert [item["path"] for item in queue] == ["000.png", "001.png"]  # known images: no second copy
    assert again["queued_item"] == queue[0]["id"]
    assert not (pool / "incoming").exists()
    new = png(np.arange(28 * 28).reshape(28, 28) % 256)
    client.post("/v1/predict", files=files(new), headers=AUTH)
    client.post("/v1/predict", files=files(new), headers=AUTH)
    assert len(client.get("/v1/queue", headers=AUTH).json()["items"]) == 3
    assert len(list((pool / "incoming").iterdir())) == 1


def test_threshold_decides_annotate(onnx_model: Any, digit_pool: Any) -> None:
    pool, _ = digit_pool
    client = make_client(onnx_model, None, policy=AnnotatePolicy("least_confidence", threshold=0.5))
    results = client.post(
        "/v1/predict", files=files(*(p.read_bytes() for p in sorted(pool.iterdir())[:8])), headers=AUTH
    ).json()["results"]
    assert [r["annotate"] for r in results] == [r["measures"]["least_confidence"] >= 0.5 for r in results]


def test_health_metrics_and_openapi(onnx_model: Any, digit_pool: Any) -> None:
    pool, _ = digit_pool
    client = make_client(onnx_model, None)
    assert client.get("/health").json() == {
        "status": "UP",
        "model_version": "cnn-1",
        "task": "classification",
        "classes": list(CLASSES),
        "model_class": "activecv",
    }
    client.post("/v1/predict", files=files((pool / "000.png").read_bytes()), headers=AUTH)
    client.post("/v1/predict", files=files(b""), headers=AUTH)
    text = client.get("/metrics").text
    assert 'activecv_requests_total{endpoint="/v1/predict",status="200"} 1.0' in text
    assert 'activecv_requests_total{endpoint="/v1/predict",status="400"} 1.0' in text
    assert 'activecv_images_total{annotate="true"} 1.0' in text
    assert "activecv_model_seconds_count 1.0" in text
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/predict", "/v1/queue", "/predict", "/setup", "/webhook", "/health", "/metrics"} <= set(paths)


@pytest.mark.parametrize(
    ("request_kwargs", "headers", "status", "message"),
    [
        ({"files": files(b"x")}, {}, 401, "a valid token is required"),
        ({"files": files(b"x")}, {"Authorization": "Bearer wrong-token-123456"}, 401, "a valid token"),
        ({"files": files(b"")}, AUTH, 400, "img0.png: the upload is empty"),
        (
            {"files": files(b"hello", kind="text/plain")},
            AUTH,
            415,
            "content type 'text/plain' is not an image",
        ),
        (
            {"files": files(b"\x89PNG\r\n\x1a\n garbage")},
            AUTH,
            400,
            "img0.png: the upload is not a decodable",
        ),
        (
            {"files": files(png(np.zeros((300, 400))))},
            AUTH,
            413,
            "the image is 400x300 pixels; this service takes",
        ),
        ({"files": files(*[png(np.zeros((4, 4)))] * 5)}, AUTH, 413, "at most 4 images per request; got 5"),
        ({"data": {"x": "1"}}, AUTH, 422, "images"),
        (
            {"content": b"0" * 300_000},
            {**AUTH, "Content-Type": "multipart/form-data; boundary=x"},
            413,
            "exceeds",
        ),
    ],
)
def test_bad_requests_get_a_4xx_with_a_message(
    onnx_model: Any, request_kwargs: dict[str, Any], headers: dict[str, str], status: int, message: str
) -> None:
    client = make_client(onnx_model, None, max_pixels=100_000, max_images=4, max_upload_bytes=200_000)
    response = client.post("/v1/predict", headers=headers, **request_kwargs)
    assert response.status_code == status, response.text
    assert message in response.text


def test_a_body_without_length_is_still_limited(onnx_model: Any) -> None:
    client = make_client(onnx_model, None, max_upload_bytes=1000)

    def chunks() -> Any:
        for _ in range(10):
            yield b"0" * 500

    response = client.post(
        "/v1/predict", content=chunks(), headers={**AUTH, "Content-Type": "multipart/form-data; boundary=x"}
    )
    assert response.status_code == 413


def test_basic_auth_with_the_token_as_password_is_accepted(onnx_model: Any, digit_pool: Any) -> None:
    pool, _ = digit_pool
    client = make_client(onnx_model, None)
    basic = base64.b64encode(f"labelstudio:{TOKEN}".encode()).decode()
    response = client.post(
        "/v1/predict",
        files=files((pool / "000.png").read_bytes()),
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200


def test_service_refuses_to_start_without_a_token() -> None:
    with pytest.raises(ValueError, match=r"the service needs a token"):
        ServiceConfig(policy=AnnotatePolicy("entropy", threshold=1.0))
    with pytest.raises(ValueError, match=r"token must have at least 16 characters; got 5"):
        ServiceConfig(policy=AnnotatePolicy("entropy", threshold=1.0), token="short")


def test_top_fraction_policy_against_hand_ranked_traffic() -> None:
    policy = AnnotatePolicy("entropy", top=0.25, window=8)
    decisions = [policy.decide(v) for v in [0.1, 0.9, 0.5, 0.2, 0.95, 0.3, 0.0, 0.96, 0.4, 0.97]]
    # nothing before 4 values; then the value must rank in the top ceil(0.25 * n) of the window
    assert decisions == [False, False, False, False, True, False, False, True, False, True]
    with pytest.raises(ValueError, match=r"window must hold at least 1 / top = 10 requests; got 5"):
        AnnotatePolicy("entropy", top=0.1, window=5)
    with pytest.raises(ValueError, match=r"needs exactly one of threshold and top"):
        AnnotatePolicy("entropy")
    with pytest.raises(ValueError, match=r"annotate metric for classification must be one of"):
        AnnotatePolicy("entropy_max", threshold=0.1).check_metric("classification")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=80), st.integers(10, 30))
def test_top_fraction_policy_matches_the_plain_rank_rule(values: list[float], window: int) -> None:
    policy = AnnotatePolicy("entropy", top=0.1, window=window)
    recent: list[float] = []
    for value in values:
        recent = [*recent, value][-window:]
        expected = len(recent) >= 10 and sum(v > value for v in recent) < math.ceil(0.1 * len(recent))
        assert policy.decide(value) == expected


def test_label_studio_score_is_lower_for_more_uncertain() -> None:
    assert label_studio_score("entropy", np.log(4), 4) == pytest.approx(0.0)
    assert label_studio_score("least_confidence", 0.0, 4) == 1.0
    assert label_studio_score("margin", 0.25, 4) == 0.75
    assert label_studio_score("entropy_sum", 3.0, 4) == 0.25


def test_concurrency_is_bounded_and_the_model_runs_off_the_event_loop() -> None:
    entered, release = threading.Event(), threading.Event()

    def slow(batch: np.ndarray) -> np.ndarray:
        entered.set()
        assert release.wait(10)
        return np.zeros((batch.shape[0], 2))

    predictor = Predictor(ModelSpec("stub", "classification", ("a", "b"), input_size=(4, 4)), slow, "slow")
    config = ServiceConfig(
        policy=AnnotatePolicy("entropy", threshold=9.0), token=TOKEN, concurrency=1, max_waiting=1
    )
    app = create_app(config, predictor)
    image = png(np.zeros((4, 4)))

    async def scenario() -> tuple[int, int, int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=AUTH) as client:
            first = asyncio.create_task(client.post("/v1/predict", files=files(image)))
            while not entered.is_set():
                await asyncio.sleep(0.01)
            health = await client.get("/health")  # the event loop still answers while the model runs
            busy = await client.post("/v1/predict", files=files(image))
            release.set()
            return (await first).status_code, busy.status_code, health.status_code

    assert asyncio.run(scenario()) == (200, 503, 200)


def test_label_studio_backend_predict_setup_and_bad_tasks(
    onnx_model: Any, project: Path, digit_pool: Any
) -> None:
    client = make_client(onnx_model, project, policy=AnnotatePolicy("entropy", top=0.5, window=10))
    config = (
        '<View><Image name="img" value="$picture"/>'
        '<Choices name="digit" toName="img"><Choice value="0"/></Choices></View>'
    )
    assert client.post("/setup", json={"project": "1.1", "schema": config}, headers=AUTH).json() == {
        "model_version": "cnn-1"
    }
    tasks = [{"id": i, "data": {"picture": f"/data/local-files/?d={i:03d}.png"}} for i in range(3)]
    body = client.post("/predict", json={"tasks": tasks, "label_config": config}, headers=AUTH).json()
    assert len(body["results"]) == 3
    direct = client.post(
        "/v1/predict", files=files((digit_pool[0] / "001.png").read_bytes()), headers=AUTH
    ).json()
    one = body["results"][1]
    assert one["model_version"] == "cnn-1"
    assert one["score"] == pytest.approx(
        label_studio_score("entropy", direct["results"][0]["measures"]["entropy"], 10)
    )
    assert one["result"] == [
        {
            "from_name": "digit",
            "to_name": "img",
            "type": "choices",
            "value": {"choices": [direct["results"][0]["prediction"]["class"]]},
        }
    ]
    for reference, message in [
        ("http://example.com/a.png", "is a remote URL"),
        ("/data/local-files/?d=../../etc/passwd", "is outside the images root"),
        ("/etc/passwd", "is outside the images root"),
        ("/data/local-files/?d=missing.png", "does not exist under the images root"),
    ]:
        response = client.post(
            "/predict", json={"tasks": [{"id": 7, "data": {"image": reference}}]}, headers=AUTH
        )
        assert response.status_code == 422 and f"task 7: image {reference!r} {message}" in response.text
    malformed = client.post("/predict", content=b"{", headers={**AUTH, "Content-Type": "application/json"})
    assert malformed.status_code == 422 and "the body is not valid JSON" in malformed.text
    assert client.post("/predict", json={"tasks": []}, headers=AUTH).status_code == 422


def test_label_studio_batches_run_in_chunks_from_the_pushed_document_root(
    onnx_model: Any, project: Path, digit_pool: Any
) -> None:
    """Label Studio sends every selected task in one request: more than ``max_images`` are
    predicted a chunk at a time, each as alone; URLs are relative to the pushed document root."""
    client = make_client(onnx_model, project, max_images=4)
    pool = digit_pool[0].resolve()
    tasks = [{"id": i, "data": {"image": f"/data/local-files/?d={i:03d}.png"}} for i in range(10)]
    chunked = client.post("/predict", json={"tasks": tasks}, headers=AUTH).json()["results"]
    alone = [client.post("/predict", json={"tasks": [t]}, headers=AUTH).json()["results"][0] for t in tasks]
    assert len(chunked) == 10
    assert [r["result"] for r in chunked] == [r["result"] for r in alone]
    assert [r["score"] for r in chunked] == pytest.approx([r["score"] for r in alone], abs=1e-6)
    too_many = client.post("/predict", json={"tasks": [tasks[0]] * 10_001}, headers=AUTH)
    assert too_many.status_code == 413 and "at most 10000 tasks per request; got 10001" in too_many.text

    with Project(project) as ledger:  # as `project push` records it: URLs relative to the parent
        ledger.record_label_studio(LabelStudioLink("http://ls", 1, pool.parent), {})
    moved = {"id": 1, "data": {"image": f"/data/local-files/?d={pool.name}/001.png"}}
    again = client.post("/predict", json={"tasks": [moved]}, headers=AUTH).json()["results"]
    assert again[0]["result"] == alone[1]["result"]


def test_webhook_stores_annotations_and_runs_the_retrain_hook(
    onnx_model: Any, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "hooks").mkdir()
    (tmp_path / "hooks" / "retrain_hook.py").write_text(
        "from pathlib import Path\n\n"
        "def retrain(project):\n"
        "    (Path(project) / 'retrained').write_text('yes')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "hooks"))
    client = make_client(onnx_model, project, retrain="retrain_hook:retrain")
    choice = [{"type": "choices", "from_name": "label", "to_name": "image", "value": {"choices": ["7"]}}]
    event = {
        "action": "ANNOTATION_CREATED",
        "task": {"id": 3, "data": {"image": "/data/local-files/?d=002.png"}},
        "annotation": {"id": 9, "completed_by": 4, "updated_at": "t", "result": choice},
    }
    assert client.post("/webhook", json=event).status_code == 401
    stored = client.post("/webhook", json=event, headers=AUTH).json()
    assert stored["status"] == "stored" and stored["added"] == 1
    assert (
        client.post("/webhook", json=event, headers=AUTH).json()["added"] == 0
    )  # delivered twice: stored once
    with Project(project) as opened:
        assert opened.labels() == {opened.item_ids(["002.png"])[0]: [Label("7")]}
    bad = {**event, "task": {"id": 3, "data": {"image": "/data/local-files/?d=../x.png"}}}
    assert client.post("/webhook", json=bad, headers=AUTH).status_code == 422
    assert (
        client.post("/webhook", json={"action": "PROJECT_UPDATED"}, headers=AUTH).json()["status"]
        == "ignored"
    )
    started = client.post("/webhook", json={"action": "START_TRAINING", "project": {}}, headers=AUTH).json()
    assert started["status"] in ("started", "running")
    deadline = time.monotonic() + 10
    while (
        client.get("/v1/training", headers=AUTH).json()["state"] == "running" and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert client.get("/v1/training", headers=AUTH).json()["state"] == "succeeded"
    assert (project / "retrained").read_text() == "yes"


def test_webhook_without_a_project_or_hook_is_a_409(onnx_model: Any) -> None:
    client = make_client(onnx_model, None)
    event = {
        "action": "ANNOTATION_CREATED",
        "task": {"data": {"image": "a.png"}},
        "annotation": {"result": []},
    }
    assert "has no project" in client.post("/webhook", json=event, headers=AUTH).text
    assert "no retrain hook" in client.post("/webhook", json={"action": "START_TRAINING"}, headers=AUTH).text


def test_detection_entry_point_reports_box_and_image_measures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "detector_stub.py").write_text(
        "import activecv as acv\n\n"
        "def make():\n"
        "    def run(batch):\n"
        "        boxes, probs = [[1, 1, 5, 5], [2, 2, 8, 8]], [[0.5, 0.5], [1.0, 0.0]]\n"
        "        return [acv.Detections(boxes=boxes, class_probs=probs) for _ in batch]\n"
        "    return run\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    predictor = load_predictor(
        ModelSpec("detector_stub:make", "detection", ("cat", "dog"), input_size=(8, 8))
    )
    config = ServiceConfig(policy=AnnotatePolicy("entropy_max", threshold=0.9), token=TOKEN)
    client = TestClient(create_app(config, predictor))
    (result,) = client.post("/v1/predict", files=files(png(np.zeros((8, 8)))), headers=AUTH).json()["results"]
    assert [b["entropy"] for b in result["prediction"]["boxes"]] == pytest.approx([1.0, 0.0])
    assert [b["class"] for b in result["prediction"]["boxes"]] == ["cat", "cat"]
    assert result["measures"] == pytest.approx(
        {"entropy_max": 1.0, "entropy_mean": 0.5, "entropy_sum": 1.0, "boxes": 2.0}
    )
    assert result["annotate"] is True


def test_model_errors_are_clear() -> None:
    with pytest.raises(ValueError, match=r"model 'nope.onnx' is neither a file nor a module:callable"):
        load_predictor(ModelSpec("nope.onnx", "classification", CLASSES))
    with pytest.raises(ValueError, match=r"channels must be 1 \(grayscale\) or 3 \(RGB\); got 2"):
        ModelSpec("m.onnx", "classification", CLASSES, channels=2)
    bad = Predictor(ModelSpec("stub", "classification", ("a", "b")), lambda b: np.zeros((b.shape[0], 3)), "v")
    with pytest.raises(
        ValueError, match=r"the model returned shape \(1, 3\) for 1 images; expected \(1, 2\)"
    ):
        bad.predict(np.zeros((1, 1, 28, 28), np.float32))
