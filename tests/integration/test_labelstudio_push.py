"""``project push`` / ``pull`` against a real Label Studio serving local files from a flat pool,
with the prediction service connected as its ML backend: two full rounds, annotated through
Label Studio's API, labels back through the webhook and the export, nothing lost or doubled."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")
torch = pytest.importorskip("torch")
from tests.conftest import write_digit_images  # noqa: E402
from tests.integration.conftest import TOKEN as LABEL_STUDIO_TOKEN  # noqa: E402
from tests.integration.conftest import serving  # noqa: E402

from activecv.adapters.torch import GalCNN, export_onnx  # noqa: E402
from activecv.io import Label, LabelStudioClient, LabelStudioError, label_config  # noqa: E402
from activecv.project import LabelStudioLink, Project, pull, push  # noqa: E402
from activecv.service import AnnotatePolicy, ModelSpec, ServiceConfig, create_app, load_predictor  # noqa: E402

pytestmark = [pytest.mark.service, pytest.mark.slow, pytest.mark.torch]

SERVICE_TOKEN = "service-token-for-the-push-test"
CLASSES = tuple(str(k) for k in range(10))
POOL = 150


@pytest.fixture
def pushed_pool(label_studio: Any, tmp_path: Path) -> tuple[Project, list[int]]:
    """A flat folder of real digits below Label Studio's document root, and its project."""
    pool = label_studio.document_root / f"pool-{tmp_path.name}"
    truth = write_digit_images(pool, POOL)
    project = Project.init(tmp_path / "project", task="classification", classes=CLASSES, images=pool)
    return project, truth


@pytest.fixture
def service(pushed_pool: tuple[Project, list[int]], tmp_path: Path) -> Iterator[str]:
    """The service (an ONNX CNN, 32 images per model call) on a free loopback port."""
    project, _ = pushed_pool
    torch.manual_seed(0)
    model = export_onnx(GalCNN(10), tmp_path / "cnn.onnx", (1, 28, 28))
    config = ServiceConfig(
        policy=AnnotatePolicy("entropy", threshold=2.0),
        token=SERVICE_TOKEN,
        project=project.directory,
        max_images=32,
    )
    predictor = load_predictor(ModelSpec(str(model), "classification", CLASSES), "cnn-service")
    with serving(create_app(config, predictor)) as url:
        yield url


def _round(
    project: Project, tmp_path: Path, seed: int, version: str, budget: int, strategy: str = "entropy"
) -> list[int]:
    """A recorded round over seeded probabilities; its item ids, best first."""
    probs = np.random.default_rng(seed).dirichlet(np.full(10, 0.3), size=POOL)
    ids = [item.path for item in project.items()]
    np.savez(tmp_path / f"preds-{seed}.npz", ids=np.array(ids), probs=probs)
    rows = project.round(tmp_path / f"preds-{seed}.npz", strategy, budget, model_version=version)
    return [row.id for row in rows]


def _annotate(client: LabelStudioClient, pid: int, n: int, truth: list[int], project: Project) -> list[int]:
    """An annotator takes ``n`` tasks from Label Studio's queue and labels each with its true
    class; returns the activecv ranks in the order Label Studio handed them out."""
    paths = {item.id: item.path for item in project.items()}
    ranks = []
    for _ in range(n):
        task = client.call("GET", f"/api/projects/{pid}/next")
        ranks.append(task["data"]["activecv_rank"])
        choice = CLASSES[truth[int(paths[task["data"]["activecv_item"]][:3])]]
        result = [
            {"from_name": "label", "to_name": "image", "type": "choices", "value": {"choices": [choice]}}
        ]
        client.call("POST", f"/api/tasks/{task['id']}/annotations", {"result": result})
    return ranks


def _wait_for_labels(project: Project, n: int) -> None:
    deadline = time.monotonic() + 60
    while len(project.labels()) < n:
        assert time.monotonic() < deadline, f"the webhook stored {len(project.labels())} labels of {n}"
        time.sleep(0.2)


def _latest_in_label_studio(client: LabelStudioClient, pid: int) -> dict[int, list[Label]]:
    latest = {}
    for task in client.export(pid):
        done = [a for a in task["annotations"] if not a.get("was_cancelled")]
        if done:
            last = max(done, key=lambda a: (a["updated_at"], a["id"]))
            latest[task["data"]["activecv_item"]] = [Label(c) for c in last["result"][0]["value"]["choices"]]
    return latest


def test_two_rounds_through_label_studio_and_back(
    label_studio: Any, pushed_pool: tuple[Project, list[int]], service: str, tmp_path: Path
) -> None:
    project, truth = pushed_pool
    client = LabelStudioClient(label_studio.url, LABEL_STUDIO_TOKEN)
    wrong = LabelStudioClient(label_studio.url, "0" * 40)
    with pytest.raises(LabelStudioError, match=r"answered 401 to GET /api/users \(is the token right\?\)"):
        wrong.users()
    first = _round(project, tmp_path, seed=1, version="round-1", budget=60)

    report = push(project, client, ml_backend=service, service_token=SERVICE_TOKEN)
    pid = report.link.project
    assert (report.added, report.present) == (60, 0)
    assert report.link.document_root == label_studio.document_root.resolve()
    again = push(project, client, ml_backend=service, service_token=SERVICE_TOKEN)
    assert (again.added, again.present, again.changed) == (0, 60, ()), "pushing twice changes nothing"

    # Every task's image displays: Label Studio serves the file's own bytes.
    tasks = list(client.tasks(pid))
    assert sorted(t["data"]["activecv_item"] for t in tasks) == sorted(first)
    for task in tasks:
        request = urllib.request.Request(
            label_studio.url + task["data"]["image"], headers={"Authorization": f"Token {LABEL_STUDIO_TOKEN}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.read() == project.local_path(task["data"]["activecv_path"]).read_bytes()

    # The score Label Studio shows is the model's certainty, lowest first in activecv's order.
    rank_of = {t["id"]: t["data"]["activecv_rank"] for t in tasks}
    certainty = {
        rank_of[p["task"]]: p["score"] for p in client.call("GET", f"/api/predictions?project={pid}")
    }
    assert [certainty[r] for r in sorted(certainty)] == sorted(certainty.values())
    assert all(0 <= s <= 1 for s in certainty.values())

    # Round 1: Label Studio hands tasks out in activecv's order; the webhook stores each label.
    assert _annotate(client, pid, 40, truth, project) == list(range(1, 41))
    _wait_for_labels(project, 40)
    relabeled = client.export(pid)[0]
    annotation = relabeled["annotations"][0]
    wrong = CLASSES[(int(annotation["result"][0]["value"]["choices"][0]) + 1) % 10]
    annotation["result"][0]["value"]["choices"] = [wrong]
    client.call("PATCH", f"/api/annotations/{annotation['id']}", {"result": annotation["result"]})
    deadline = time.monotonic() + 60
    while len(project.history(relabeled["data"]["activecv_item"])) < 2:
        assert time.monotonic() < deadline, "the update never reached the ledger"
        time.sleep(0.2)
    pulled = pull(project, client)
    assert (pulled.added, pulled.relabeled) == (0, 0), "the webhook had stored every label already"

    # Round 2: the next push adds only the new round's tasks and moves the model version on.
    second = _round(project, tmp_path, seed=2, version="round-2", budget=60)
    assert not set(second) & set(first)
    report = push(project, client, ml_backend=service, service_token=SERVICE_TOKEN)
    assert (report.added, report.present) == (60, 0)
    assert client.project(pid)["model_version"] == "round-2"

    # "Retrieve predictions" on 100 tasks: one request, answered in chunks of 32.
    hundred = [t["id"] for t in client.tasks(pid)][:100]
    answer = client.call(
        "POST",
        f"/api/dm/actions?id=retrieve_tasks_predictions&project={pid}",
        {"selectedItems": {"all": False, "included": hundred}},
    )
    served = [
        p
        for p in client.call("GET", f"/api/predictions?project={pid}")
        if p["model_version"] == "cnn-service"
    ]
    assert sorted(p["task"] for p in served) == sorted(hundred), answer

    assert _annotate(client, pid, 30, truth, project) == list(range(1, 31))
    _wait_for_labels(project, 70)
    pull(project, client)

    assert project.labels() == _latest_in_label_studio(client, pid)
    for item in project.labels():
        assert {entry.annotator for entry in project.history(item)} == {"annotator@example.com"}


def test_a_push_cut_short_is_completed_by_the_next(
    label_studio: Any, pushed_pool: tuple[Project, list[int]], tmp_path: Path
) -> None:
    """Tasks imported by a push that died before recording them are found, not doubled, and
    the rest are scored on the same scale."""
    from activecv.project import export

    project, _ = pushed_pool
    client = LabelStudioClient(label_studio.url, LABEL_STUDIO_TOKEN)
    _round(project, tmp_path, seed=3, version="cut", budget=10, strategy="random")  # rank scores
    # A fresh Label Studio project holding 4 of the 10 tasks, as a push cut short leaves it.
    export(project, "labelstudio", tmp_path / "tasks.json", local_files_root=label_studio.document_root)
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    other = client.create_project("cut short", label_config("classification", CLASSES), "")
    client.import_tasks(int(other["id"]), tasks[:4])
    project.record_label_studio(LabelStudioLink(client.url, int(other["id"]), label_studio.document_root), {})
    report = push(project, client)
    assert (report.link.project, report.added, report.present) == (int(other["id"]), 6, 4)
    rank_of = {t["id"]: t["data"]["activecv_rank"] for t in client.tasks(int(other["id"]))}
    scores = client.call("GET", f"/api/predictions?project={other['id']}")
    by_rank = sorted((rank_of[p["task"]], p["score"]) for p in scores)
    assert [r for r, _ in by_rank] == list(range(1, 11))
    assert [s for _, s in by_rank] == [(rank - 1) / 10 for rank in range(1, 11)]
