"""The ledger under SIGKILL and under concurrent writers: nothing lost, nothing doubled."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from activecv.project import Project

N_ITEMS = 20_000
CLASSES = ["a", "b", "c"]
KILLS = 8

pytestmark = pytest.mark.slow


def activecv(*args: str) -> list[str]:
    return [sys.executable, "-m", "activecv", "project", *args]


@pytest.fixture(scope="module")
def big_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project of 20,000 images listed by URI, so that imports and rounds take long enough
    for a kill to land inside them."""
    folder = tmp_path_factory.mktemp("big")
    manifest = folder / "manifest.csv"
    manifest.write_text("path\n" + "".join(f"s3://bucket/{i:05d}.jpg\n" for i in range(N_ITEMS)))
    Project.init(folder / "project", task="classification", classes=CLASSES, manifest=manifest).close()
    return folder


def fresh_copy(big_project: Path, tmp_path: Path) -> Path:
    shutil.copytree(big_project / "project", tmp_path / "project")
    return tmp_path / "project"


def labels_file(path: Path, items: range, shift: int) -> dict[str, str]:
    labels = {f"s3://bucket/{i:05d}.jpg": CLASSES[(i + shift) % 3] for i in items}
    path.write_text("path,label\n" + "".join(f"{p},{c}\n" for p, c in labels.items()))
    return labels


def ledger_labels(project: Path) -> tuple[dict[str, str], int]:
    """Current label by path, and the number of annotation rows; checks the file's integrity."""
    with sqlite3.connect(project / "ledger.sqlite") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        count = conn.execute("SELECT COUNT(*) FROM annotations").fetchone()[0]
    with Project(project) as opened:
        paths = {item.id: item.path for item in opened.items()}
        return {paths[i]: labels[0].class_name for i, labels in opened.labels().items()}, count


def run_and_kill(command: list[str], delay: float) -> bool:
    """Run ``command``, SIGKILL it after ``delay`` seconds; True if it finished first."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        process.wait(timeout=delay)
        return True
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        return False


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def test_import_killed_at_random_points_loses_and_doubles_nothing(big_project: Path, tmp_path: Path) -> None:
    project = fresh_copy(big_project, tmp_path)
    rng = np.random.default_rng(0)
    expected: dict[str, str] = {}
    rows = 0
    scratch = fresh_copy(big_project, tmp_path / "scratch")
    labels_file(tmp_path / "scratch.csv", range(N_ITEMS), shift=0)
    full = timed(activecv("import", str(scratch), str(tmp_path / "scratch.csv"), "--format", "csv"))
    for k in range(KILLS):
        # each file relabels every item, so an import left half done would show
        file = tmp_path / f"labels_{k}.csv"
        new = labels_file(file, range(N_ITEMS), shift=k)
        command = activecv("import", str(project), str(file), "--format", "csv", "--annotator", "ann")
        finished = run_and_kill(command, float(rng.uniform(0.2, 1.2) * full))
        current, count = ledger_labels(project)
        assert current in (expected, new), f"kill {k} left a partial import"
        assert count in (rows, rows + N_ITEMS)
        if not finished:
            subprocess.run(command, check=True, capture_output=True)  # the interrupted import, re-run
        current, count = ledger_labels(project)
        rows += N_ITEMS
        assert current == new and count == rows, f"re-running import {k} did not give its labels exactly once"
        expected = new


def test_round_killed_at_random_points_reruns_to_the_same_round(big_project: Path, tmp_path: Path) -> None:
    project = fresh_copy(big_project, tmp_path)
    reference = fresh_copy(big_project, tmp_path / "reference")
    with Project(project) as opened:
        ids = np.array([item.path for item in opened.items()])
    preds = tmp_path / "preds.npz"
    np.savez(preds, ids=ids, probs=np.random.default_rng(1).dirichlet(np.ones(3), size=N_ITEMS))
    arguments = [
        "--predictions",
        str(preds),
        "--strategy",
        "margin",
        "--budget",
        "2000",
        "--seed",
        "5",
        "--quiet",
    ]
    duration = timed(activecv("round", str(reference), *arguments))
    with Project(reference) as opened:
        expected = opened.selection(1)
    rng = np.random.default_rng(2)
    for k in range(KILLS):
        shutil.rmtree(project)
        project = fresh_copy(big_project, tmp_path / f"copy{k}")
        run_and_kill(activecv("round", str(project), *arguments), float(rng.uniform(0.3, 1.1) * duration))
        with Project(project) as opened:
            rounds = opened.rounds()
            assert len(rounds) in (0, 1)
            if rounds:  # the kill came after the commit: the round is whole
                assert opened.selection(1) == expected and len(opened.scores(1)) == N_ITEMS
        subprocess.run(activecv("round", str(project), *arguments), check=True, capture_output=True)
        subprocess.run(activecv("round", str(project), *arguments), check=True, capture_output=True)
        with Project(project) as opened:
            assert len(opened.rounds()) == 1, "a re-run must find the round, not select again"
            assert opened.selection(1) == expected
            assert len(opened.scores(1)) == N_ITEMS


def test_two_processes_importing_at_once_lose_no_update(big_project: Path, tmp_path: Path) -> None:
    project = fresh_copy(big_project, tmp_path)
    first = labels_file(tmp_path / "first.csv", range(0, N_ITEMS, 2), shift=0)
    second = labels_file(tmp_path / "second.csv", range(1, N_ITEMS, 2), shift=1)
    processes = [
        subprocess.Popen(activecv("import", str(project), str(f), "--format", "csv"), stderr=subprocess.PIPE)
        for f in (tmp_path / "first.csv", tmp_path / "second.csv")
    ]
    for process in processes:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err.decode()
    current, count = ledger_labels(project)
    assert current == {**first, **second} and count == N_ITEMS


def test_two_annotators_asking_at_once_get_disjoint_images(big_project: Path, tmp_path: Path) -> None:
    project = fresh_copy(big_project, tmp_path)
    with Project(project) as opened:
        ids = np.array([item.path for item in opened.items()])
    np.savez(tmp_path / "p.npz", ids=ids, probs=np.random.default_rng(3).dirichlet(np.ones(3), size=N_ITEMS))
    subprocess.run(
        activecv(
            "round",
            str(project),
            "--predictions",
            str(tmp_path / "p.npz"),
            "--strategy",
            "entropy",
            "--budget",
            "3000",
            "--quiet",
        ),
        check=True,
    )
    processes = [
        subprocess.Popen(
            activecv("next", str(project), "--annotator", who, "--n", "2000"), stdout=subprocess.PIPE
        )
        for who in ("alice", "bob")
    ]
    handed = [process.communicate(timeout=300)[0].decode().split() for process in processes]
    alice, bob = ({line for line in lines if line.startswith("s3://")} for lines in handed)
    assert len(alice) + len(bob) == 3000 and not alice & bob


def test_threads_sharing_one_project_lose_nothing(tmp_path: Path) -> None:
    """The service's case: one open Project, requests on many threads (a connection each)."""
    from activecv.io import Annotation, AnnotationFile, Label

    (tmp_path / "pool").mkdir()
    (tmp_path / "pool" / "list.csv").write_text("path\n" + "\n".join(f"s3://b/{i}.jpg" for i in range(400)))
    project = Project.init(
        tmp_path / "p", task="classification", classes=["a", "b"], manifest=tmp_path / "pool" / "list.csv"
    )

    def work(thread: int) -> None:
        for k in range(25):
            project.enqueue(f"image {thread}-{k}".encode(), ".png", (4, 4), "entropy", float(k), "v1")
            item = 1 + thread * 25 + k
            project.import_annotations(
                AnnotationFile("webhook", [Annotation(item, (Label("a"),), f"t{thread}")])
            )

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(project.queue(limit=1000)) == 200
    assert sorted(project.labels()) == list(range(1, 201))
    assert project.status().items == 600
    with sqlite3.connect(tmp_path / "p" / "ledger.sqlite") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    project.close()


def test_the_connections_of_ended_threads_are_closed(tmp_path: Path) -> None:
    """A worker pool ends idle threads and starts new ones: their connections must not pile up."""
    (tmp_path / "list.csv").write_text("path\ns3://b/1.jpg\n")
    project = Project.init(
        tmp_path / "p", task="classification", classes=["a", "b"], manifest=tmp_path / "list.csv"
    )
    for _ in range(50):
        thread = threading.Thread(target=project.status)
        thread.start()
        thread.join()
    assert len(project._ledger._connections) <= 2  # this thread's, and the last one's
    project.close()
