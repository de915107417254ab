"""``activecv project ui`` in a real headless browser: Debian's chromium driven over WebDriver
(chromedriver, plain HTTP), against the page served by a real uvicorn process on a loopback
port. The DOM's thumbnails follow the round's ranks, the SVG boxes are the ledger's boxes, the
pages follow each other, and a screenshot of each view lands in docs/screenshots/."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.conftest import write_digit_images

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from activecv.datasets import make_scenes, make_segmentation_scenes
from activecv.io import write_review_csv
from activecv.project import Project, import_labels

pytestmark = [pytest.mark.service, pytest.mark.slow]

TOKEN = "review-page-token-0001"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
APT = "apt-get install -y chromium chromium-driver"
PAGE = 12


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def call(url: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(request, timeout=60) as response:
        text = response.read()
    return json.loads(text) if text else None


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url, timeout=5).close()
            return
        except urllib.error.HTTPError:
            return  # it answers (a 401 is an answer)
        except OSError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)


class Browser:
    """One headless chromium session, driven through chromedriver's W3C WebDriver endpoints."""

    def __init__(self, driver: str) -> None:
        self.driver = driver
        options = {
            "binary": shutil.which("chromium"),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"],
        }
        capabilities = {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}
        found = call(f"{driver}/session", "POST", {"capabilities": capabilities})
        self.session = f"{driver}/session/{found['value']['sessionId']}"

    def open(self, url: str) -> None:
        call(f"{self.session}/url", "POST", {"url": url})

    def run(self, script: str, *args: Any) -> Any:
        return call(f"{self.session}/execute/sync", "POST", {"script": script, "args": list(args)})["value"]

    def screenshot(self, name: str) -> Path:
        png = base64.b64decode(call(f"{self.session}/screenshot")["value"])
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / name
        path.write_bytes(png)
        return path

    def close(self) -> None:
        call(self.session, "DELETE")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        reason = f"the review page tests need Debian's chromium and its driver: {APT}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    port = free_port()
    log = tmp_path_factory.mktemp("chromedriver") / "chromedriver.log"
    with log.open("w") as output:
        process = subprocess.Popen([driver, f"--port={port}"], stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if call(f"http://127.0.0.1:{port}/status")["value"]["ready"]:
                    break
            except OSError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        session = Browser(f"http://127.0.0.1:{port}")
        try:
            yield session
        finally:
            session.close()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Starts ``activecv project ui`` as a user does; returns its base URL."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(project: Path, *extra: str) -> str:
        port = free_port()
        command = [sys.executable, "-m", "activecv", "project", "ui", str(project), "--port", str(port)]
        log = project / "ui.log"
        with log.open("w") as output:
            process = subprocess.Popen(
                [*command, *extra],
                stdout=output,
                stderr=subprocess.STDOUT,
                env={**os.environ, "ACTIVECV_SERVICE_TOKEN": TOKEN},
            )
        processes.append(process)
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base + "/", process, log)
        return base

    yield start
    for process in processes:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)


# ---- the projects ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def classification(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """120 real digits, a margin round of 30 from noisy-but-informed probabilities, labels by two
    annotators for some of them."""
    tmp = tmp_path_factory.mktemp("classification")
    truth = write_digit_images(tmp / "pool", 120)
    project = Project.init(
        tmp / "project", task="classification", classes=[str(k) for k in range(10)], images=tmp / "pool"
    )
    rng = np.random.default_rng(0)
    items = project.items()
    probs = rng.dirichlet(np.ones(10), size=len(items))
    probs[np.arange(len(items)), truth] += rng.uniform(0, 2, size=len(items))
    np.savez(tmp / "preds.npz", ids=[i.path for i in items], probs=probs / probs.sum(1, keepdims=True))
    selected = project.round(tmp / "preds.npz", "margin", 30, model_version="cnn-v1")
    by_path = {item.path: t for item, t in zip(items, truth, strict=True)}
    for who, rows in (("alice", selected[:6]), ("bob", selected[6:10])):
        (tmp / f"{who}.csv").write_text(
            "path,label\n" + "".join(f"{r.path},{by_path[r.path]}\n" for r in rows)
        )
        import_labels(project, tmp / f"{who}.csv", "csv", annotator=who)
    return project


@pytest.fixture(scope="module")
def detection(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """24 scenes of real digits; the model's boxes are the true ones, shifted, with class
    probabilities (background first); a detection_entropy round of 8."""
    from PIL import Image

    tmp = tmp_path_factory.mktemp("detection")
    scenes = make_scenes(24, size=96, max_objects=3, seed=0)
    (tmp / "pool").mkdir()
    for i, image in enumerate(scenes.images):
        Image.fromarray((image[0] * 255).astype(np.uint8)).save(tmp / "pool" / f"scene{i:02d}.png")
    project = Project.init(tmp / "project", task="detection", classes=scenes.class_names, images=tmp / "pool")
    rng = np.random.default_rng(1)
    results = []
    for item in project.items():
        k = int(item.path[5:7])
        for box, label in zip(scenes.boxes[k], scenes.labels[k], strict=True):
            x0, y0, x1, y1 = (box + rng.normal(0, 1.5, size=4)).clip(0, 96).tolist()
            p = rng.dirichlet(np.ones(len(scenes.class_names) + 1))
            p[label + 1] += rng.uniform(0, 3)
            p /= p.sum()
            results.append(
                {
                    "image_id": item.id,
                    "category_id": int(np.argmax(p[1:])) + 1,
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "score": float(p[1:].max()),
                    "class_probs": p.tolist(),
                }
            )
    (tmp / "results.json").write_text(json.dumps(results))
    project.round(tmp / "results.json", "detection_entropy", 8, background_index=0)
    return project


@pytest.fixture(scope="module")
def segmentation(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """12 scenes with class masks; the model's maps are the truth blurred with noise; a region
    round of 10 clicks on a 16-pixel grid, then an image round of 3 (with the predicted masks)."""
    from PIL import Image

    tmp = tmp_path_factory.mktemp("segmentation")
    scenes = make_segmentation_scenes(12, size=64, max_objects=3, seed=0)
    (tmp / "pool").mkdir()
    for i, image in enumerate(scenes.images):
        Image.fromarray((image[0] * 255).astype(np.uint8)).save(tmp / "pool" / f"scene{i:02d}.png")
    names = scenes.class_names
    project = Project.init(tmp / "project", task="segmentation", classes=names, images=tmp / "pool")
    rng = np.random.default_rng(2)
    maps = []
    for item in project.items():
        truth = scenes.masks[int(item.path[5:7])]
        logits = rng.normal(0, 1.0, size=(len(names), 64, 64))
        logits += 3.0 * (np.arange(len(names))[:, None, None] == truth[None])
        e = np.exp(logits - logits.max(0))
        maps.append(e / e.sum(0))
    ids = [item.path for item in project.items()]
    np.savez(tmp / "seg.npz", ids=ids, seg_probs=np.array(maps, dtype=np.float16))
    project.round_regions(tmp / "seg.npz", 10, cell=16)
    project.round(tmp / "seg.npz", "seg_entropy", 3, model_version="fcn-v1")
    return project


@pytest.fixture(scope="module")
def simulation(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (tiny) simulation on the bundled digits: MLP, two strategies, three rounds."""
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    from activecv.datasets import load
    from activecv.sim import SimulationConfig, simulate

    tmp = tmp_path_factory.mktemp("sim")
    data = load("digits")
    x = np.concatenate([data.x_train, data.x_test]).reshape(-1, 64)
    np.savez(tmp / "digits.npz", embeddings=x, labels=np.concatenate([data.y_train, data.y_test]))
    config = SimulationConfig(
        features=str(tmp / "digits.npz"), model="mlp", strategies=("entropy", "random"), initial=20,
        budget=20, rounds=3, seeds=(0, 1), candidates=300, train_steps=100, targets=(0.5,),
    )  # fmt: skip
    simulate(config, tmp / "out", workers=1, progress=False)
    return tmp / "out"


# ---- the tests -------------------------------------------------------------------------------

QUEUE = """return [...document.querySelectorAll('li.item')].map(li => ({
  rank: +li.dataset.rank, id: +li.dataset.itemId,
  thumbnail: (li.querySelector('image.thumbnail') || {getAttribute: () => null}).getAttribute('href'),
  loaded: [...li.querySelectorAll('image.thumbnail')].length,
  boxes: [...li.querySelectorAll('g.box rect')].map(r => ['x', 'y', 'width', 'height'].map(
    a => +r.getAttribute(a))),
  classes: [...li.querySelectorAll('g.box')].map(g => g.dataset.class),
  viewBox: (li.querySelector('svg') || {getAttribute: () => null}).getAttribute('viewBox'),
  overlay: li.querySelectorAll('image.overlay').length,
  task: (li.querySelector('a.task') || {href: null}).href,
}));"""
NEXT = "const a = [...document.querySelectorAll('nav.pages a')].find(a => a.textContent === 'next page');" \
    " return a ? a.getAttribute('href') : null;"  # fmt: skip
IMAGES_LOADED = (
    """return [...document.querySelectorAll('img')].every(i => i.complete && i.naturalWidth > 0);"""
)


def login(browser: Browser, base: str) -> None:
    browser.open(f"{base}/?token={TOKEN}")
    assert browser.run("return location.search") == ""  # the token is not left in the address
    assert browser.run("return document.cookie") == ""  # HttpOnly: scripts cannot read it


def queue_pages(browser: Browser, base: str, number: int) -> list[dict[str, Any]]:
    """Every item of a round's queue, page after page, by following the 'next page' links."""
    browser.open(f"{base}/rounds/{number}?limit={PAGE}")
    shown = browser.run(QUEUE)
    while (href := browser.run(NEXT)) is not None:
        browser.open(base + href)
        shown += browser.run(QUEUE)
    return shown


def thumbnails_load(base: str, item_ids: list[int]) -> None:
    """Every thumbnail the page shows answers with a PNG (and is cached on disk)."""
    for item in item_ids:
        request = urllib.request.Request(
            f"{base}/items/{item}/thumbnail.png", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.headers["Content-Type"] == "image/png"
            assert response.read()[:8] == b"\x89PNG\r\n\x1a\n"


def test_classification_queue_follows_the_ranks_page_after_page(
    browser: Browser, serve: Any, classification: Project, simulation: Path, tmp_path: Path
) -> None:
    items = {item.path: item.id for item in classification.items()}
    suspects = tmp_path / "review.csv"
    paths = sorted(items)[:15]
    aum = np.linspace(-2.0, 0.5, len(paths))
    write_review_csv(suspects, paths, [p[:1] for p in paths], aum, np.ones(len(paths), bool))
    base = serve(classification.directory, "--simulation", str(simulation), "--suspects", str(suspects))
    login(browser, base)
    assert "Labels per annotator" in browser.run("return document.body.innerText")
    annotators = browser.run(
        "return [...document.querySelectorAll('table.annotators tbody tr')].map(r => r.innerText)"
    )
    assert [row.split("\t") for row in annotators] == [["alice", "6", "6"], ["bob", "4", "4"]]
    browser.screenshot("overview.png")

    shown = queue_pages(browser, base, 1)
    selection = classification.selection(1)
    assert [s["id"] for s in shown] == [row.id for row in selection]  # the DOM order is the ranking
    assert [s["rank"] for s in shown] == list(range(1, 31))
    assert all(s["thumbnail"] == f"/items/{s['id']}/thumbnail.png" for s in shown)
    thumbnails_load(base, [s["id"] for s in shown[:3]])
    cached = {p.stem for p in (classification.directory / "thumbnails").glob("*.png")}
    assert {classification.item(s["id"]).sha256 for s in shown[:3]} <= cached

    browser.open(f"{base}/rounds/1?limit={PAGE}")
    assert browser.run(IMAGES_LOADED)
    browser.screenshot("queue-classification.png")
    browser.open(f"{base}/rounds/1/balance")
    balance = browser.run(
        "return [...document.querySelectorAll('table.balance tbody tr')].map(r => r.innerText)"
    )
    counts = classification.round_balance(1)
    assert [row.split("\t") for row in balance] == [[c, str(s), str(n)] for c, (s, n) in counts.items()]
    assert sum(s for s, _ in counts.values()) == 30 and sum(n for _, n in counts.values()) == 10

    browser.open(f"{base}/simulation")
    assert browser.run(IMAGES_LOADED)
    curves = browser.run("return [...document.querySelectorAll('table.curves tbody tr')].length")
    assert curves == 2 * 4  # two strategies, the initial set and three rounds
    browser.screenshot("simulation.png")
    browser.open(f"{base}/suspects")
    rows = browser.run(
        "return [...document.querySelectorAll('table.suspects tbody tr')].map(r => r.innerText)"
    )
    assert [row.split("\t")[1] for row in rows] == paths
    browser.screenshot("suspects.png")


def test_detection_boxes_are_the_ledgers_boxes(browser: Browser, serve: Any, detection: Project) -> None:
    base = serve(detection.directory)
    login(browser, base)
    shown = queue_pages(browser, base, 1)
    selection = detection.selection(1)
    assert [s["id"] for s in shown] == [row.id for row in selection]
    for row, seen in zip(selection, shown, strict=True):
        assert seen["viewBox"] == f"0 0 {row.width} {row.height}"  # SVG units are image pixels
        assert row.prediction is not None
        expected = [[b["box"][0], b["box"][1], b["box"][2] - b["box"][0], b["box"][3] - b["box"][1]]
                    for b in row.prediction["boxes"]]  # fmt: skip
        assert seen["boxes"] == expected
        assert seen["classes"] == [b["class"] for b in row.prediction["boxes"]]
    assert sum(len(s["boxes"]) for s in shown) > 8
    browser.open(f"{base}/rounds/1")
    assert browser.run(IMAGES_LOADED)
    browser.screenshot("queue-detection.png")


def test_segmentation_regions_and_masks_are_drawn(
    browser: Browser, serve: Any, segmentation: Project
) -> None:
    base = serve(segmentation.directory)
    login(browser, base)
    regions = queue_pages(browser, base, 1)
    assert [s["id"] for s in regions] == [row.id for row in segmentation.selection(1)]
    assert all(s["overlay"] == 1 for s in regions)
    browser.open(f"{base}/rounds/1")
    browser.screenshot("queue-segmentation-regions.png")
    masks = queue_pages(browser, base, 2)
    assert [s["id"] for s in masks] == [row.id for row in segmentation.selection(2)]
    assert all(s["overlay"] == 1 for s in masks)
    browser.open(f"{base}/rounds/2")
    browser.screenshot("queue-segmentation-masks.png")


def test_without_the_token_every_page_is_refused(serve: Any, detection: Project) -> None:
    base = serve(detection.directory)
    for path in ("/", "/rounds/1", "/items/1/thumbnail.png", "/simulation", f"/?token={'x' * 22}"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(base + path, timeout=30)
        assert refused.value.code == 401
        assert "a valid token is required" in refused.value.read().decode()
    bearer = urllib.request.Request(base + "/rounds/1", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(bearer, timeout=30) as response:
        assert response.status == 200


# ---- a page costs the same in a round of any size ---------------------------------------------


@pytest.fixture(scope="module")
def big_rounds(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Project]:
    """Projects whose one round selected all of their 1,000 or 30,000 images (URIs)."""
    found = {}
    for n in (1000, 30_000):
        tmp = tmp_path_factory.mktemp(f"round{n}")
        uris = [f"s3://pool/{i:07d}.jpg" for i in range(n)]
        (tmp / "list.csv").write_text("path\n" + "\n".join(uris))
        project = Project.init(
            tmp / "project", task="classification", classes=["a", "b"], manifest=tmp / "list.csv"
        )
        probs = np.random.default_rng(0).dirichlet(np.ones(2), size=n)
        np.savez(tmp / "preds.npz", ids=np.arange(1, n + 1), probs=probs)
        project.round(tmp / "preds.npz", "margin", n)
        found[n] = project
    return found


def test_a_page_costs_the_same_in_a_round_of_any_size(big_rounds: dict[int, Project]) -> None:
    from tests.integration.test_project_scale import steps

    counts, pages = {}, {}
    for n, project in big_rounds.items():
        project.selection_page(1, after_rank=500, limit=100)  # once, so that first-call work is not counted
        with steps(project) as counted:
            pages[n] = project.selection_page(1, after_rank=600, limit=100)
        counts[n] = counted[0]
        assert [row.rank for row in pages[n]] == list(range(601, 701))
        assert pages[n] == project.selection(1)[600:700]
    assert counts[30_000] <= 1.5 * counts[1000] + 10, counts
    with steps(big_rounds[30_000]) as scanned:  # the count sees a walk through the round
        big_rounds[30_000].selection(1)
    assert scanned[0] > 10 * counts[30_000]


def test_page_arguments_are_checked(big_rounds: dict[int, Project]) -> None:
    project = big_rounds[1000]
    with pytest.raises(ValueError, match=r"after_rank must be an integer >= 0 \(0: the first page\); got -1"):
        project.selection_page(1, after_rank=-1)
    with pytest.raises(ValueError, match=r"limit must be an integer from 1 to 1000; got 0"):
        project.selection_page(1, limit=0)
    with pytest.raises(ValueError, match=r"round must be a round of this project \(1..1\); got 2"):
        project.selection_page(2)
    assert project.selection_page(1, after_rank=1000) == []


# ---- in process: refusals, escaping, links ------------------------------------------------------


def small_project(tmp: Path) -> Project:
    write_digit_images(tmp / "pool", 4)
    (tmp / "pool" / "000.png").rename(tmp / "pool" / "x<i>&'.png")
    project = Project.init(tmp / "project", task="classification", classes=["a", "b"], images=tmp / "pool")
    items = project.items()
    probs = np.random.default_rng(0).dirichlet(np.ones(2), size=len(items))
    np.savez(tmp / "preds.npz", ids=[i.path for i in items], probs=probs)
    project.round(tmp / "preds.npz", "entropy", 3)
    return project


def client(config: Any) -> Any:
    from fastapi.testclient import TestClient

    from activecv.service import create_review_app

    return TestClient(create_review_app(config), headers={"Authorization": f"Bearer {TOKEN}"})


def test_pages_escape_what_they_show_and_link_label_studio_tasks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from activecv.service import ReviewConfig, task_links

    project = small_project(tmp_path)
    assert task_links(object(), [1, 2]) == {}  # an activecv that cannot tell: no links
    monkeypatch.setattr(
        Project,
        "label_studio_tasks",
        lambda self, ids: {i: f"http://ls.test/tasks/{i}?a=1&b=2" for i in ids},
    )
    with client(ReviewConfig(project.directory, TOKEN)) as browser:
        page = browser.get("/rounds/1").text
    assert "x&lt;i&gt;&amp;&#x27;.png" in page and "x<i>" not in page
    for row in project.selection(1):
        assert f'<a class="task" href="http://ls.test/tasks/{row.id}?a=1&amp;b=2">' in page


def test_a_confident_learning_list_opens_too(tmp_path: Path) -> None:
    from activecv.service import ReviewConfig

    project = small_project(tmp_path)
    first, second = project.items()[1:3]
    review = tmp_path / "confident.csv"
    review.write_text(
        "rank,id,label,suggested,self_confidence,normalized_margin\n"
        f"1,{second.id},b,a,0.125,-0.75\n2,{first.path},a,b,0.25,-0.5\n"
    )
    with client(ReviewConfig(project.directory, TOKEN, suspects=review)) as browser:
        page = browser.get("/suspects").text
    assert ">self-confidence</th>" in page and "confident learning flags" in page
    assert page.index("0.125") < page.index("0.25")
    assert (
        f'src="/items/{second.id}/thumbnail.png"' in page and f'src="/items/{first.id}/thumbnail.png"' in page
    )


def test_refusals_name_what_is_wrong(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from activecv.service import ReviewConfig

    project = small_project(tmp_path)
    with pytest.raises(
        ValueError, match=r"the review page needs a token \(ACTIVECV_SERVICE_TOKEN or --token\)"
    ):
        ReviewConfig(project.directory)
    with pytest.raises(ValueError, match=r"token must have at least 16 characters; got 5"):
        ReviewConfig(project.directory, "short")
    with pytest.raises(
        ValueError, match=r"has no results.csv; pass the --out directory of: activecv simulate"
    ):
        ReviewConfig(project.directory, TOKEN, simulation=tmp_path)
    with pytest.raises(
        ValueError, match=r"suspects file .* does not exist; write it with: activecv review-labels"
    ):
        ReviewConfig(project.directory, TOKEN, suspects=tmp_path / "missing.csv")
    (tmp_path / "bad.csv").write_text("id,label\n1,a\n")
    with pytest.raises(
        ValueError,
        match=r"must have the columns rank,id,label and aum or self_confidence .*; got \['id', 'label'\]",
    ):
        client(ReviewConfig(project.directory, TOKEN, suspects=tmp_path / "bad.csv"))
    from activecv.service._thumbnails import thumbnail

    with pytest.raises(ValueError, match=r"sha256 must be 64 lowercase hex digits; got '\.\./x'"):
        thumbnail(tmp_path, "../x", tmp_path / "pool" / "001.png")

    with client(ReviewConfig(project.directory, allow_anonymous=True)) as browser:
        missing = {
            "/rounds/2": "round must be a round of this project (1..1); got 2.",
            "/rounds/2/balance": "round must be a round of this project (1..1); got 2.",
            "/items/99/thumbnail.png": "1 items name no image of this project: 99.",
            "/simulation/files/learning_curves.png": "no plot 'learning_curves.png' in the simulation",
        }
        for path, message in missing.items():
            answer = browser.get(path)
            assert answer.status_code == 404 and message in answer.json()["detail"], (path, answer.text)
        assert "No simulation directory" in browser.get("/simulation").text
        assert "No suspect list" in browser.get("/suspects").text
    (tmp_path / "pool" / "001.png").unlink()
    with client(ReviewConfig(project.directory, TOKEN)) as browser:
        answer = browser.get(f"/items/{project.item('001.png').id}/thumbnail.png")
        assert answer.status_code == 404 and "has no local image file" in answer.json()["detail"]


def test_anonymous_only_on_loopback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from activecv.cli import main

    project = small_project(tmp_path)
    assert main(["project", "ui", str(project.directory), "--allow-anonymous", "--host", "0.0.0.0"]) == 2
    assert "--allow-anonymous serves without a token, so only on a loopback host" in capsys.readouterr().err
