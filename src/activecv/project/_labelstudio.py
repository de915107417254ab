"""One command to Label Studio and one back: ``push`` lays out a Label Studio project so a
round's images display and come in activecv's order, ``pull`` imports what was annotated.

Both are idempotent: pushing twice changes nothing, pulling twice stores nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from activecv.io import LabelStudioClient, label_config, label_studio_annotations
from activecv.project import _export as export
from activecv.project._links import LabelStudioLink
from activecv.project._project import Project
from activecv.project._records import ImportReport, ProjectError

ANNOTATION_EVENTS = ["ANNOTATION_CREATED", "ANNOTATION_UPDATED"]
SAMPLING = "Uncertainty sampling"


@dataclass(frozen=True)
class PushReport:
    """What a push did: the Label Studio project, tasks created and already there, and what
    else it had to change there (empty when everything was already in place)."""

    link: LabelStudioLink
    added: int
    present: int
    changed: tuple[str, ...]


def push(
    project: Project,
    client: LabelStudioClient,
    *,
    round_number: int | None = None,
    items: str = "selection",
    document_root: str | Path | None = None,
    image_url: str | None = None,
    ml_backend: str | None = None,
    service_token: str | None = None,
    title: str | None = None,
) -> PushReport:
    """Create or update the Label Studio project of ``project`` and import a round's selection
    (default: the latest) or the service's queue (``items="queue"``) as tasks with the model's
    pre-annotations, each image once.

    Images display through a Local Files storage over the images root, with URLs relative to
    Label Studio's document root (``document_root``, default the images root's parent: Label
    Studio refuses a storage at the document root itself, and must be started with
    ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT`` set to it), or through ``image_url`` + path.
    With ``ml_backend`` (the prediction service's URL) the service is connected as ML backend
    and receives annotation webhooks, both with ``service_token``. The project's model version
    is set to the round's and its sampling to uncertainty, so Label Studio hands tasks out in
    activecv's order.
    """
    if ml_backend is not None and not service_token:
        raise ProjectError(
            "ml_backend needs the service's token (set ACTIVECV_SERVICE_TOKEN or pass --service-token): "
            "Label Studio must send it with predictions requests and webhooks."
        )
    root = None if image_url is not None else _document_root(project, document_root)
    known = project.label_studio_link()
    changed: list[str] = []
    remote = _project(project, client, known, title, changed)
    pid = int(remote["id"])
    if root is not None:
        _storage(client, pid, project.root, changed)
    if ml_backend is not None:
        _ml_backend(client, pid, ml_backend.rstrip("/"), str(service_token), changed)
    link = LabelStudioLink(client.url, pid, root)
    rows = export.rows_of(project, items, round_number)
    present = _tasks_of(client, pid, project.id)
    new = [r for r in rows if r.id not in present]
    if new:  # scored among the whole round, so tasks pushed in two goes still compare
        tasks = export.label_studio_tasks_of(project, rows, export.url_maker(project, image_url, root), None)
        client.import_tasks(pid, [t for t in tasks if t["data"]["activecv_item"] not in present])
        present = _tasks_of(client, pid, project.id)
    version = export.model_version_of(project, rows)
    if rows and (remote.get("model_version") != version or remote.get("sampling") != SAMPLING):
        client.update_project(pid, {"model_version": version, "sampling": SAMPLING})
        changed.append(f"model version {version!r}, uncertainty sampling")
    project.record_label_studio(link, {r.id: present[r.id] for r in rows if r.id in present})
    return PushReport(link, len(new), len(rows) - len(new), tuple(changed))


def pull(project: Project, client: LabelStudioClient) -> ImportReport:
    """Import every annotation of the pushed Label Studio project, as ``project import`` does,
    each with its annotator's email."""
    known = project.label_studio_link()
    if known is None:
        raise ProjectError(
            f"{str(project.directory)!r} was never pushed to Label Studio; run: activecv project push"
        )
    if known.url != client.url:
        raise ProjectError(f"this project was pushed to {known.url}, not to {client.url}.")
    tasks = client.export(known.project)
    emails = client.users()
    for task in tasks:
        for annotation in task.get("annotations", []) if isinstance(task, dict) else []:
            who = annotation.get("completed_by") if isinstance(annotation, dict) else None
            if isinstance(who, int) and who in emails:
                annotation["completed_by"] = {"id": who, "email": emails[who]}
    source = f"{known.url}/projects/{known.project}"
    return project.import_annotations(label_studio_annotations(tasks, source))


def _project(
    project: Project,
    client: LabelStudioClient,
    known: LabelStudioLink | None,
    title: str | None,
    changed: list[str],
) -> dict[str, Any]:
    """The Label Studio project: the one pushed to before, else a new one; its labeling
    interface kept in step with the project's classes."""
    if known is not None and known.url != client.url:
        raise ProjectError(
            f"this project was pushed to {known.url} (project {known.project}); pushing to "
            f"{client.url} would split its tasks between two servers."
        )
    config = label_config(project.task, project.classes)
    remote = client.project(known.project) if known is not None else None
    if remote is None:
        name = title or f"activecv {project.directory.resolve().name}"
        changed.append("project created")
        return client.create_project(name, config, f"activecv project {project.id}")
    if remote.get("label_config", "").strip() != config.strip():
        remote = client.update_project(int(remote["id"]), {"label_config": config})
        changed.append("labeling config")
    return remote


def _document_root(project: Project, document_root: str | Path | None) -> Path:
    images = project.root.resolve()
    root = Path(document_root).resolve() if document_root is not None else images.parent
    if root == images or not images.is_relative_to(root):
        raise ProjectError(
            f"document_root must be a folder above the images root {str(images)!r} (Label Studio "
            f"serves local files only from a storage below its document root); got {str(root)!r}."
        )
    return root


def _storage(client: LabelStudioClient, pid: int, images: Path, changed: list[str]) -> None:
    path = str(images.resolve())
    if not any(s.get("path") == path for s in client.local_storages(pid)):
        client.add_local_storage(pid, path, "activecv images")
        changed.append(f"local files storage {path}")


def _ml_backend(client: LabelStudioClient, pid: int, url: str, token: str, changed: list[str]) -> None:
    """The service as ML backend (basic auth, the token as password) and as the receiver of
    annotation webhooks; Label Studio's own webhook to it carries no token, so it is given one."""
    if not any(b.get("url", "").rstrip("/") == url for b in client.ml_backends(pid)):
        auth = {"auth_method": "BASIC_AUTH", "basic_auth_user": "activecv", "basic_auth_pass": token}
        client.add_ml_backend({"url": url, "project": pid, "title": "activecv", **auth})
        changed.append(f"ML backend {url}")
    wanted = {
        "url": f"{url}/webhook",
        "send_payload": True,
        "send_for_all_actions": False,
        "actions": ANNOTATION_EVENTS,
        "headers": {"Authorization": f"Bearer {token}"},
        "is_active": True,
    }
    hooks = [h for h in client.webhooks(pid) if h.get("url") == wanted["url"]]
    for hook in hooks:
        if any(_differs(hook.get(key), value) for key, value in wanted.items()):
            client.update_webhook(int(hook["id"]), {**wanted, "project": pid})
            changed.append(f"webhook {wanted['url']}")
    if not hooks:
        client.add_webhook({**wanted, "project": pid})
        changed.append(f"webhook {wanted['url']}")


def _differs(have: Any, want: Any) -> bool:
    if isinstance(want, list):
        return sorted(have or []) != sorted(want)
    return bool(have != want)


def _tasks_of(client: LabelStudioClient, pid: int, project_id: str) -> dict[int, int]:
    """The task of each item of this activecv project already in the Label Studio project."""
    found: dict[int, int] = {}
    for task in client.tasks(pid):
        data = task.get("data") or {}
        item = data.get("activecv_item")
        if data.get("activecv_project") == project_id and isinstance(item, int):
            found.setdefault(item, int(task["id"]))
    return found
