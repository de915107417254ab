"""Push and pull refuse what cannot work before calling Label Studio; the link to a Label Studio
project and its tasks is kept in the ledger; the REST client names what went wrong."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from tests.unit.test_project import CLASSES, dump, new_project

from activecv.io import AnnotationFile, Label, LabelStudioClient, LabelStudioError
from activecv.io.labelstudio import annotation_of
from activecv.project import LabelStudioLink, Project, ProjectError, pull, push


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def project(tmp_path: Path, digit_pool: Any) -> Project:
    return new_project(tmp_path, digit_pool[0])


@pytest.fixture
def offline() -> LabelStudioClient:
    """A client of a server that is not there: a test passing with it made no call."""
    return LabelStudioClient(f"http://127.0.0.1:{closed_port()}", "t" * 40)


def test_push_refuses_what_cannot_work_before_any_call(project: Project, offline: LabelStudioClient) -> None:
    before = dump(project)
    with pytest.raises(ProjectError, match="ml_backend needs the service's token"):
        push(project, offline, ml_backend="http://127.0.0.1:8000")
    with pytest.raises(ProjectError, match=r"document_root must be a folder above the images root .*; got"):
        push(project, offline, document_root=project.root)
    with pytest.raises(ProjectError, match=r"document_root must be a folder above the images root"):
        push(project, offline, document_root=project.directory)
    project.record_label_studio(LabelStudioLink("http://other:8080", 3, project.root.parent), {})
    with pytest.raises(
        ProjectError, match=r"pushed to http://other:8080 \(project 3\); pushing to http://127"
    ):
        push(project, offline)
    with pytest.raises(ProjectError, match=r"this project was pushed to http://other:8080, not to"):
        pull(project, offline)
    assert dump(project) != before  # only the link recorded by hand


def test_pull_needs_a_push(project: Project, offline: LabelStudioClient) -> None:
    with pytest.raises(ProjectError, match="was never pushed to Label Studio; run: activecv project push"):
        pull(project, offline)


def test_the_link_and_task_pages_are_kept(project: Project) -> None:
    items = [item.id for item in project.items()[:3]]
    assert project.label_studio_link() is None and project.label_studio_tasks(items) == {}
    link = LabelStudioLink("http://ls:8080", 7, project.root.parent)
    project.record_label_studio(link, {items[0]: 11, items[1]: 12})
    reopened = Project(project.directory)
    assert reopened.label_studio_link() == link
    assert reopened.label_studio_tasks(items) == {
        items[0]: "http://ls:8080/projects/7/data?task=11",
        items[1]: "http://ls:8080/projects/7/data?task=12",
    }
    reopened.record_label_studio(LabelStudioLink("http://ls:8080", 8, None), {items[2]: 1})
    assert reopened.label_studio_tasks(items) == {items[2]: "http://ls:8080/projects/8/data?task=1"}


def test_a_webhooks_stand_in_annotator_takes_the_email_an_export_gives(project: Project) -> None:
    item = project.items()[0].id

    def delivered(who: Any, updated: str, choice: str) -> AnnotationFile:
        annotation = {"id": 5, "updated_at": updated, "completed_by": who}
        annotation["result"] = [{"type": "choices", "value": {"choices": [choice]}}]
        return AnnotationFile("labelstudio", [annotation_of(item, annotation, "task 1")], None)

    project.import_annotations(delivered(1, "t1", CLASSES[0]))  # the webhook: a user id only
    project.import_annotations(delivered(1, "t2", CLASSES[1]))  # the same annotation, edited
    report = project.import_annotations(delivered({"id": 1, "email": "a@b.c"}, "t2", CLASSES[1]))
    assert (report.added, report.relabeled, report.unchanged) == (0, 0, 1)
    history = project.history(item)
    assert [(e.annotator, e.labels) for e in history] == [
        ("a@b.c", [Label(CLASSES[0])]),
        ("a@b.c", [Label(CLASSES[1])]),
    ]
    # A named annotator is never renamed.
    project.import_annotations(delivered({"id": 2, "email": "x@y.z"}, "t2", CLASSES[1]))
    assert {e.annotator for e in project.history(item)} == {"a@b.c"}


def test_the_client_names_what_went_wrong(offline: LabelStudioClient) -> None:
    with pytest.raises(LabelStudioError, match=r"URL must be http\(s\)://host\[:port\]; got 'ftp://x'"):
        LabelStudioClient("ftp://x", "t")
    with pytest.raises(LabelStudioError, match="a Label Studio API token is required"):
        LabelStudioClient("http://127.0.0.1:1", "")
    with pytest.raises(LabelStudioError, match=r"cannot reach Label Studio at http://127\.0\.0\.1:\d+"):
        offline.project(1)
