"""The Label Studio ML-backend protocol: setup, predictions of tasks, webhooks, training."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, HTTPException, Security
from starlette.concurrency import run_in_threadpool

from activecv._errors import InputError
from activecv.io import AnnotationFile
from activecv.io import labelstudio as ls
from activecv.project import Project
from activecv.service._auth import basic, bearer
from activecv.service._images import DecodedImage, ImageRejected, decode_image
from activecv.service._schemas import BackendPredictRequest, LabelStudioRequest, WebhookEvent, errors
from activecv.service._state import ServiceState, State

ANNOTATION_EVENTS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED")
MAX_TASKS = 10_000  # one prediction request; Label Studio sends every task selected at once

# Every route takes a JSON body: 400 when it is not text, 422 when not JSON, 413 past the limit.
router = APIRouter(dependencies=[Security(bearer), Security(basic)], responses=errors(400, 401, 413, 422))


@router.post("/setup")
async def setup(state: State, request: LabelStudioRequest) -> dict[str, Any]:
    """Label Studio connects: answers the model version."""
    return {"model_version": state.predictor.version}


@router.post("/predict", responses=errors(503))
async def backend_predict(state: State, request: BackendPredictRequest) -> dict[str, Any]:
    """Label Studio asks for predictions of its tasks (all it selected, in one request); they
    run through the model ``max_images`` at a time. ``score`` follows Label Studio's convention
    (lower = label first) as the model's certainty."""
    tasks, chunk = request.tasks, state.config.max_images
    if len(tasks) > MAX_TASKS:
        raise HTTPException(413, f"at most {MAX_TASKS} tasks per request; got {len(tasks)}.")
    face = ls.interface(request.label_config)
    results = []
    for start in range(0, len(tasks), chunk):
        part = tasks[start : start + chunk]
        decoded = [await _task_image(state, task, start + n, face) for n, task in enumerate(part)]
        outputs = await state.predict(np.stack([d.pixels for d in decoded]))
        results += [
            _prediction(state, image, output, face) for image, output in zip(decoded, outputs, strict=True)
        ]
    return {"results": results}


def _prediction(state: ServiceState, image: DecodedImage, output: Any, face: ls.Interface) -> dict[str, Any]:
    """One task's prediction as Label Studio stores it."""
    spec = state.predictor.spec
    item = state.assess(output, image)
    prediction = item["prediction"]
    if spec.task == "segmentation":  # one brush per class, the background aside
        mask = _mask(prediction["mask_png"])
        prediction = {
            "masks": [{"class": spec.classes[c], "mask": mask == c} for c in range(1, len(spec.classes))]
        }
    result = ls.model_results(spec.task, prediction, image.width, image.height, face.from_name, face.to_name)
    return {"result": result, "score": item["label_studio_score"], "model_version": state.predictor.version}


def _mask(text: str) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(base64.b64decode(text))) as image:
        return np.asarray(image)


async def _task_image(state: ServiceState, task: dict[str, Any], n: int, face: ls.Interface) -> DecodedImage:
    data = task.get("data")
    if not isinstance(data, dict):
        raise HTTPException(422, f"task {task.get('id', n)}: 'data' must be an object; got {data!r}.")
    try:
        file = ls.task_image(ls.image_reference(data, face.image_key), state.root, state.local_files_root())
        raw = await run_in_threadpool(file.read_bytes)
        return await run_in_threadpool(decode_image, raw, None, state.predictor.spec, state.config.max_pixels)
    except (ls.TaskImageError, ImageRejected) as exc:
        raise HTTPException(422, f"task {task.get('id', n)}: {exc}") from None


@router.post("/webhook", responses=errors(409))
async def webhook(state: State, event: WebhookEvent) -> dict[str, Any]:
    """Label Studio events: a created or updated annotation goes to the project ledger;
    START_TRAINING runs the retrain hook."""
    if event.action in ANNOTATION_EVENTS:
        return await run_in_threadpool(_store_annotation, state, event)
    if event.action == "START_TRAINING":
        return state.training.start()
    return {"status": "ignored", "action": event.action}


@router.post("/train", responses=errors(409))
async def train(state: State, request: LabelStudioRequest) -> dict[str, Any]:
    """Label Studio's older training call: runs the retrain hook."""
    return state.training.start()


def _store_annotation(state: ServiceState, event: WebhookEvent) -> dict[str, Any]:
    project = state.require_project()
    task, annotation = event.task, event.annotation
    if task is None or annotation is None or not isinstance(task.get("data"), dict):
        raise HTTPException(422, "an annotation event needs 'task' (with 'data') and 'annotation' objects.")
    data, where = task["data"], f"task {task.get('id')}"
    ours = ("activecv_item" in data or "activecv_path" in data) and data.get("activecv_project") in (
        None,
        project.id,
    )
    # A task activecv exported names its item; one Label Studio made itself is known by its image.
    if ours:
        item: int | str = ls.task_item(data, where)
    else:
        item = _item_of_image(project, ls.image_reference(data), state.local_files_root())
    converted = ls.annotation_of(item, annotation, where, ls.uncovered_of(data))
    if converted is None:
        return {"status": "skipped", "reason": "the annotation was cancelled"}
    report = project.import_annotations(AnnotationFile("labelstudio", [converted], None))
    if report.skipped:
        return {"status": "skipped", "reason": "the annotation carries no label"}
    return {
        "status": "stored" if report.added + report.relabeled else "unchanged",
        "item": item,
        "added": report.added,
        "relabeled": report.relabeled,
    }


def _item_of_image(project: Project, reference: Any, document_root: Path | None) -> int:
    """The item of a task's image, registered on first sight (it lies under the root)."""
    root = project.root.resolve()
    path = ls.task_image(reference, root, document_root).relative_to(root).as_posix()
    try:
        return project.item_ids([path])[0]
    except InputError:
        project.register_paths([path])
        return project.item_ids([path])[0]
