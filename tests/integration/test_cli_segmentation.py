"""The segmentation commands as a user types them, on real composed digit scenes
(``activecv.datasets.make_segmentation_scenes``) and a small fully-convolutional network:
``project init --task segmentation``, ``project round`` with a seg strategy, ``project regions``,
``project export --format masks / coco``, ``project import --format masks``, and
``activecv serve --task segmentation`` as a real uvicorn process.

Every command's output is checked against the library call it stands for, on the same file."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("PIL")
from PIL import Image  # noqa: E402
from tests.integration.conftest import wait_until_healthy  # noqa: E402

import activecv as acv  # noqa: E402
from activecv.adapters.torch import SegmentationFCN, export_onnx, predict, train_segmenter  # noqa: E402
from activecv.cli import main  # noqa: E402
from activecv.datasets import make_segmentation_scenes  # noqa: E402
from activecv.io import UNLABELED, read_index_mask, write_index_mask  # noqa: E402
from activecv.project import Project  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.slow]  # about 15 s: scenes, a short training, a server

SIZE = 64  # two by two cells of 28 px digits
TOKEN = "cli-segmentation-token-01"


@dataclass(frozen=True)
class Scenes:
    pool: Path  # scene-00.png ... as 8-bit gray
    names: list[str]
    masks: np.ndarray  # (N, H, W) the true class of every pixel
    classes: str  # background,0,...,9 for --classes
    predictions: Path  # .npz: ids, seg_probs of the network below
    seg_probs: np.ndarray
    model: torch.nn.Module


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Scenes:
    folder = tmp_path_factory.mktemp("segmentation")
    made = make_segmentation_scenes(10, size=SIZE, max_objects=2, seed=3)
    pool = folder / "pool"
    pool.mkdir()
    names = [f"scene-{k:02d}.png" for k in range(len(made))]
    pixels = np.round(made.images[:, 0] * 255).astype(np.uint8)
    for name, image in zip(names, pixels, strict=True):
        Image.fromarray(image).save(pool / name)
    x = pixels[:, None].astype(np.float32) / 255.0  # what the service sees
    torch.manual_seed(0)
    model = SegmentationFCN(len(made.class_names), width=8)
    train_segmenter(model, x, made.masks, epochs=4, batch_size=5, lr=3e-2)  # about a second; eval mode after
    seg_probs = predict(model, x)
    np.savez(folder / "seg.npz", ids=np.array(names), seg_probs=seg_probs)
    return Scenes(pool, names, made.masks, ",".join(made.class_names), folder / "seg.npz", seg_probs, model)


def init(directory: Path, scenes: Scenes, capsys: pytest.CaptureFixture[str]) -> None:
    command = ["project", "init", str(directory), "--images", str(scenes.pool), "--task", "segmentation"]
    assert main([*command, "--classes", scenes.classes]) == 0
    assert f"{len(scenes.names)} images added" in capsys.readouterr().out


def test_an_image_round_then_masks_in_and_masks_and_coco_out(
    tmp_path: Path, scenes: Scenes, capsys: pytest.CaptureFixture[str]
) -> None:
    from pycocotools import mask as coco_mask

    directory = tmp_path / "project"
    init(directory, scenes, capsys)
    with Project(directory) as project:
        assert project.task == "segmentation" and len(project.classes) == 11
    budget = ["--budget", "3", "--param", "aggregate=top_q", "--param", "q=0.2", "--quiet"]
    assert main(["project", "round", str(directory), "--predictions", str(scenes.predictions),
                 "--strategy", "seg_entropy", *budget]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert out.startswith("round 1: 3 images selected with seg_entropy")
    strategy = acv.get_strategy("seg_entropy", aggregate="top_q", q=0.2)
    expected = [scenes.names[i] for i in acv.select(strategy, 3, seg_probs=scenes.seg_probs).indices]
    assert [line.split()[-1] for line in out.splitlines()[1:]] == expected

    # The annotator draws the true masks of the selection as PNG index masks; they come back.
    drawn = tmp_path / "drawn"
    drawn.mkdir()
    truth = {name: scenes.masks[scenes.names.index(name)] for name in expected}
    for name, mask in truth.items():
        write_index_mask(drawn / name, mask)
    assert main(["project", "import", str(directory), str(drawn), "--format", "masks"]) == 0
    assert "3 newly labeled" in capsys.readouterr().out
    with Project(directory) as project:
        for name, mask in truth.items():
            np.testing.assert_array_equal(project.mask(name), mask)

    assert (
        main(["project", "export", str(directory), "--format", "masks", "--out", str(tmp_path / "pngs")]) == 0
    )
    assert "wrote 3 images" in capsys.readouterr().out
    for name, mask in truth.items():
        np.testing.assert_array_equal(read_index_mask(tmp_path / "pngs" / name), mask)

    coco = tmp_path / "labeled.json"
    assert main(["project", "export", str(directory), "--format", "coco", "--out", str(coco)]) == 0
    dataset = json.loads(coco.read_text())
    files = {image["id"]: image["file_name"] for image in dataset["images"]}
    assert sorted(files.values()) == sorted(expected)
    for name, mask in truth.items():
        rebuilt = np.zeros_like(mask)
        for annotation in dataset["annotations"]:
            if files[annotation["image_id"]] == name:
                with warnings.catch_warnings():  # pycocotools' decode warns under NumPy 2 (__array__ copy)
                    warnings.simplefilter("ignore", DeprecationWarning)
                    pixels = coco_mask.decode(annotation["segmentation"]).astype(bool)
                rebuilt[pixels] = annotation["category_id"] - 1
        np.testing.assert_array_equal(rebuilt, mask)  # category k + 1 is class k; background included


def test_region_rounds_ask_for_cells_and_never_twice(
    tmp_path: Path, scenes: Scenes, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "project"
    init(directory, scenes, capsys)
    regions = ["project", "regions", str(directory), "--predictions", str(scenes.predictions), "--quiet"]
    assert main([*regions, "--budget", "6", "--cell", "16", "--cost", "classes"]) == 0
    out = capsys.readouterr().out
    chosen = acv.select_regions(6, seg_probs=scenes.seg_probs, cell=16, cost="classes")
    by_image = chosen.by_image()
    assert chosen.costs.max() > 1  # some cell holds more than one predicted class: the cost model counts
    assert out.startswith(
        f"round 1: {len(chosen)} regions of {len(by_image)} images selected, {chosen.clicks:g} clicks"
    )
    printed = {
        line.split(": ")[0].split()[-1]: sorted(int(r.split()[0]) for r in line.split(": ")[1].split(", "))
        for line in out.splitlines()[1:]
    }
    assert printed == {scenes.names[i]: sorted(r.tolist()) for i, r in by_image.items()}

    # The annotator labels the regions asked for (255 elsewhere: not labeled); they come back.
    drawn = tmp_path / "drawn"
    drawn.mkdir()
    cells = acv.strategies.grid_regions(SIZE, SIZE, 16)
    for image, asked in by_image.items():
        partial = np.where(np.isin(cells, asked), scenes.masks[image], UNLABELED)
        write_index_mask(drawn / scenes.names[image], partial)
    assert main(["project", "import", str(directory), str(drawn), "--format", "masks"]) == 0
    capsys.readouterr()
    coco = tmp_path / "regions.json"
    assert main(["project", "export", str(directory), "--format", "coco", "--out", str(coco)]) == 0
    dataset = json.loads(coco.read_text())
    assert all(image["activecv_complete"] is False for image in dataset["images"])  # regions only

    assert (
        main([*regions, "--budget", "6", "--cell", "16", "--cost", "classes", "--model-version", "v2"]) == 0
    )
    second = capsys.readouterr().out.splitlines()[1:]
    again = {
        (line.split(": ")[0].split()[-1], int(r.split()[0]))
        for line in second
        for r in line.split(": ")[1].split(", ")
    }
    first = {(scenes.names[i], int(r)) for i, r in zip(chosen.images, chosen.regions, strict=True)}
    assert again and not again & first  # no region is asked for twice


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.service
def test_serve_a_segmentation_model(
    tmp_path: Path, scenes: Scenes, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("uvicorn")
    import httpx2 as httpx

    from activecv.strategies import image_scores, pixel_uncertainty

    directory = tmp_path / "project"
    init(directory, scenes, capsys)
    model = export_onnx(scenes.model, tmp_path / "fcn.onnx", (1, SIZE, SIZE))
    port = free_port()
    command = [sys.executable, "-m", "activecv", "serve", "--model", str(model), "--task", "segmentation",
               "--classes", scenes.classes, "--input-size", f"{SIZE},{SIZE}", "--port", str(port),
               "--project", str(directory), "--threshold", "0"]  # fmt: skip
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "ACTIVECV_SERVICE_TOKEN": TOKEN},
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, server, log)
        name = scenes.names[4]
        files = [("images", (name, (scenes.pool / name).read_bytes(), "image/png"))]
        auth = {"Authorization": f"Bearer {TOKEN}"}
        response = httpx.post(f"{base}/v1/predict", files=files, headers=auth, timeout=60)
        assert response.status_code == 200, response.text
        (result,) = response.json()["results"]
        probs = scenes.seg_probs[4:5].astype(np.float64)
        for measure in ("entropy", "margin"):
            pixel = pixel_uncertainty(probs, measure)
            assert result["measures"][f"{measure}_mean"] == pytest.approx(
                image_scores(pixel, "mean")[0], abs=1e-5
            )
        assert result["annotate"] is True and result["queued_item"] is not None
        queue = httpx.get(f"{base}/v1/queue", headers=auth).json()["items"]
        assert [item["path"] for item in queue] == [name]
        assert httpx.post(f"{base}/v1/predict", files=files).status_code == 401
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) in (0, -signal.SIGTERM)  # uvicorn stops, then re-raises the signal
    assert "serving" in log.read_text()
