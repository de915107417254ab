"""A real Label Studio connected to the running service as its ML backend: predictions for
imported tasks, the most uncertain task handed out first, annotations back through the webhook."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
torch = pytest.importorskip("torch")

from tests.integration.conftest import serving  # noqa: E402

from activecv.adapters.torch import GalCNN, export_onnx  # noqa: E402
from activecv.io import Label, label_config  # noqa: E402
from activecv.project import Project  # noqa: E402
from activecv.service import AnnotatePolicy, ModelSpec, ServiceConfig, create_app, load_predictor  # noqa: E402

pytestmark = [pytest.mark.service, pytest.mark.slow, pytest.mark.torch]

TOKEN = "service-token-for-label-studio"
CLASSES = tuple(str(k) for k in range(10))


@pytest.fixture
def service(tmp_path: Path, digit_pool: Any) -> Iterator[tuple[str, Path]]:
    """The service on a free loopback port, serving an ONNX CNN into a fresh project."""
    pool, _ = digit_pool
    Project.init(tmp_path / "project", task="classification", classes=CLASSES, images=pool).close()
    torch.manual_seed(0)
    model = export_onnx(GalCNN(10), tmp_path / "cnn.onnx", (1, 28, 28))
    predictor = load_predictor(ModelSpec(str(model), "classification", CLASSES), "cnn-ls")
    config = ServiceConfig(
        policy=AnnotatePolicy("entropy", threshold=2.0), token=TOKEN, project=tmp_path / "project"
    )
    with serving(create_app(config, predictor)) as url:
        yield url, tmp_path / "project"


def test_label_studio_uses_the_service_as_its_ml_backend(
    label_studio: Any, service: tuple[str, Path]
) -> None:
    url, project_dir = service
    project = label_studio.call(
        "POST",
        "/api/projects",
        {"title": "ml backend", "label_config": label_config("classification", CLASSES)},
    )
    pid = project["id"]
    tasks = [{"data": {"image": f"/data/local-files/?d={i:03d}.png"}} for i in range(8)]
    label_studio.call("POST", f"/api/projects/{pid}/import", tasks)
    backend = label_studio.call(
        "POST",
        "/api/ml",
        {
            "url": url,
            "project": pid,
            "title": "activecv",
            "auth_method": "BASIC_AUTH",
            "basic_auth_user": "ls",
            "basic_auth_pass": TOKEN,
        },
    )
    assert backend["state"] == "CO", backend  # connected: /health and /setup answered
    label_studio.call(
        "POST",
        f"/api/dm/actions?id=retrieve_tasks_predictions&project={pid}",
        {"selectedItems": {"all": True, "excluded": []}},
    )
    predictions = label_studio.call("GET", f"/api/predictions?project={pid}")
    assert len(predictions) == 8 and {p["model_version"] for p in predictions} == {"cnn-ls"}
    score_of = {p["task"]: p["score"] for p in predictions}
    assert all(0 <= s <= 1 for s in score_of.values())
    label_studio.call(
        "PATCH", f"/api/projects/{pid}", {"sampling": "Uncertainty sampling", "model_version": "cnn-ls"}
    )
    label_studio.call(
        "POST",
        "/api/webhooks",
        {
            "project": pid,
            "url": f"{url}/webhook",
            "send_payload": True,
            "send_for_all_actions": False,
            "actions": ["ANNOTATION_CREATED"],
            "headers": {"Authorization": f"Bearer {TOKEN}"},
        },
    )
    handed, given = [], {}
    for k in range(8):
        task = label_studio.call("GET", f"/api/projects/{pid}/next")
        handed.append(task["id"])
        choice = CLASSES[k % 10]
        given[task["data"]["image"].rsplit("=", 1)[1]] = choice
        result = [
            {"from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": [choice]}}
        ]
        label_studio.call("POST", f"/api/tasks/{task['id']}/annotations", {"result": result})
    assert [score_of[t] for t in handed] == sorted(score_of.values()), "most uncertain (lowest score) first"
    deadline = time.monotonic() + 30
    while True:
        with Project(project_dir) as ledger:
            paths = {item.id: item.path for item in ledger.items()}
            labels = {paths[i]: labels for i, labels in ledger.labels().items()}
        if len(labels) == 8 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert labels == {path: [Label(choice)] for path, choice in given.items()}
