"""``activecv predict``: a real model (ONNX, TorchScript, a torch module) over real digit PNGs
into the predictions file that ``select`` and ``project round`` read; resumable shards."""

from __future__ import annotations

import csv
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("fastapi")

import torch
from PIL import Image
from tests.conftest import write_digit_images

from activecv.adapters.torch import GalCNN, export_onnx
from activecv.cli import main
from activecv.io import load_predictions
from activecv.scale import predict_pool, shard_folder

pytestmark = pytest.mark.torch
N = 300
MODULE = "activecv_predict_test_models"


def cli(command: str) -> int:
    return main(command.split())


class TwoOutputs(torch.nn.Module):
    """GalCNN with its penultimate features as a second output (for ONNX embeddings)."""

    def __init__(self, net: GalCNN) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.net.features(self.net.conv(x))
        return self.net.fc(self.net.dropout(h)), h


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A pool of 300 digits, one GalCNN as ONNX (one and two outputs), TorchScript and module:callable."""
    root = tmp_path_factory.mktemp("predict")
    write_digit_images(root / "pool" / "a", N // 2)
    write_digit_images(root / "pool" / "b", N - N // 2, start=N // 2)
    torch.manual_seed(0)
    net = GalCNN(10).eval()
    torch.save(net.state_dict(), root / "weights.pt")
    onnx = export_onnx(net, root / "cnn.onnx", (1, 28, 28))
    two = root / "two.onnx"
    with warnings.catch_warnings():  # the TorchScript-based exporter, as export_onnx uses it
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            TwoOutputs(net).eval(),
            (torch.zeros(1, 1, 28, 28),),
            str(two),
            input_names=["images"],
            output_names=["outputs", "features"],
            dynamic_axes={"images": {0: "b"}, "outputs": {0: "b"}, "features": {0: "b"}},
            dynamo=False,
        )
        scripted = root / "cnn.pt"
        torch.jit.save(torch.jit.script(net), str(scripted))  # type: ignore[no-untyped-call]
    (root / f"{MODULE}.py").write_text(
        "import torch\nfrom activecv.adapters.torch import GalCNN\n"
        f"def cnn():\n    net = GalCNN(10)\n"
        f"    net.load_state_dict(torch.load({str(root / 'weights.pt')!r}))\n"
        "    return net.eval()\n"
        "def not_callable():\n    return 3\n"
        "def numpy_fn():\n    return lambda batch: __import__('numpy').zeros((len(batch), 10))\n"
    )
    return {"root": root, "pool": root / "pool", "net": net, "onnx": onnx, "two": two, "scripted": scripted}


@pytest.fixture
def on_path(setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(setup["root"]))


def direct_probs(net: GalCNN, pool: Path, ids: np.ndarray) -> np.ndarray:
    """The torch model run on the images decoded here with PIL: the reference."""
    pixels = []
    for item in ids:
        with Image.open(pool / item) as image:
            resized = image.convert("L").resize((28, 28), Image.Resampling.BILINEAR)
        pixels.append(np.asarray(resized, dtype=np.float32)[None] / 255.0)
    with torch.no_grad():
        return torch.softmax(net(torch.from_numpy(np.stack(pixels))), dim=1).numpy()


def test_onnx_predictions_equal_the_model_run_directly(setup: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "p.parquet"
    assert cli(f"predict --model {setup['onnx']} --images {setup['pool']} --out {out} --classes 10 "
               "--shard-size 128 --batch-size 50 --quiet") == 0  # fmt: skip
    data = load_predictions(out)
    assert sorted(data) == ["ids", "probs"]
    assert data["ids"].tolist() == sorted(
        p.relative_to(setup["pool"]).as_posix() for p in setup["pool"].rglob("*.png")
    )
    assert (
        data["ids"][0] == "a/000.png" and data["probs"].shape == (N, 10) and data["probs"].dtype == np.float32
    )
    np.testing.assert_allclose(
        data["probs"], direct_probs(setup["net"], setup["pool"], data["ids"]), atol=2e-6
    )
    assert sorted(p.name for p in shard_folder(out).glob("*.parquet")) == [
        f"part-0000{i}.parquet" for i in range(3)
    ]


def test_select_reads_the_file(setup: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "p.parquet"
    assert (
        cli(f"predict --model {setup['onnx']} --images {setup['pool']} --out {out} --classes 10 --quiet") == 0
    )
    assert (
        cli(f"select --predictions {out} --strategy entropy --budget 7 --out {tmp_path}/s.csv --quiet") == 0
    )
    with open(tmp_path / "s.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 7


def test_project_round_reads_predictions_of_the_projects_images(
    setup: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "project"
    classes = ",".join(str(k) for k in range(10))
    assert (
        cli(f"project init {project} --images {setup['pool']} --task classification --classes {classes}") == 0
    )
    out = tmp_path / "p.parquet"
    assert cli(f"predict --model {setup['scripted']} --project {project} --out {out} --quiet") == 0
    ids = load_predictions(out)["ids"]
    assert ids.shape == (N,) and ids[0] == "a/000.png"
    assert cli(f"project round {project} --predictions {out} --strategy margin --budget 5 --quiet") == 0
    assert "round 1: 5 images selected with margin" in capsys.readouterr().out


def test_a_manifest_names_the_ids(setup: dict[str, Any], tmp_path: Path) -> None:
    manifest = setup["root"] / "list.csv"
    manifest.write_text("path,label\npool/b/200.png,x\npool/a/003.png,y\n")
    out = tmp_path / "p.parquet"
    assert cli(f"predict --model {setup['onnx']} --manifest {manifest} --out {out} --classes 10 --quiet") == 0
    data = load_predictions(out)
    assert data["ids"].tolist() == ["pool/b/200.png", "pool/a/003.png"]
    reference = direct_probs(setup["net"], setup["root"], data["ids"])
    np.testing.assert_allclose(data["probs"], reference, atol=2e-6)


def test_resume_keeps_written_shards_and_rewrites_a_deleted_one(
    setup: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "p.parquet"
    command = (
        f"predict --model {setup['onnx']} --images {setup['pool']} --out {out} --classes 10 --shard-size 64"
    )
    assert cli(command + " --quiet") == 0
    first = load_predictions(out)
    folder = shard_folder(out)
    kept = (folder / "part-00000.parquet").stat().st_mtime_ns
    assert cli(command) == 0
    assert "(5 shards in" in capsys.readouterr().err
    (folder / "part-00002.parquet").unlink()
    out.unlink()
    assert cli(command) == 0
    assert "4 of them from an earlier run" in capsys.readouterr().err
    assert (folder / "part-00000.parquet").stat().st_mtime_ns == kept
    again = load_predictions(out)
    assert again["ids"].tolist() == first["ids"].tolist()
    np.testing.assert_array_equal(again["probs"], first["probs"])


def test_an_interrupted_job_resumes_where_it_stopped(setup: dict[str, Any], tmp_path: Path) -> None:
    files = sorted(str(p) for p in setup["pool"].rglob("*.png"))
    ids = [Path(f).name + Path(f).parent.name for f in files]
    calls: list[int] = []

    def decoder(file: str) -> np.ndarray:
        return np.asarray(Image.open(file).convert("L").resize((28, 28)), np.float32)[None] / 255

    def loader(fail_after: int | None) -> Any:
        def model(batch: np.ndarray) -> dict[str, np.ndarray]:
            calls.append(len(batch))
            if fail_after is not None and len(calls) > fail_after:
                raise KeyboardInterrupt  # the user pressing Ctrl-C in the third shard
            return {"probs": np.full((len(batch), 2), 0.5, np.float32)}

        return lambda: model

    out = tmp_path / "p.parquet"
    with pytest.raises(KeyboardInterrupt):
        predict_pool(ids, files, loader(4), decoder, out, job={"m": 1}, batch_size=50, shard_rows=100)
    folder = shard_folder(out)
    assert sorted(p.name for p in folder.glob("*.parquet")) == ["part-00000.parquet", "part-00001.parquet"]
    assert not out.exists() and list((folder / ".tmp").iterdir()) == []
    calls.clear()
    report = predict_pool(ids, files, loader(None), decoder, out, job={"m": 1}, batch_size=50, shard_rows=100)
    assert (report.shards_total, report.shards_reused, sum(calls)) == (3, 2, 100)
    assert load_predictions(out)["ids"].tolist() == ids


def test_a_rerun_with_other_settings_is_refused(
    setup: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "p.parquet"
    command = f"predict --model {setup['onnx']} --images {setup['pool']} --out {out} --classes 10 --quiet"
    assert cli(command) == 0
    assert cli(command + " --mean 0.5") == 2
    assert "were written by another job (job.mean is 0.5 now, 0.0 there)" in capsys.readouterr().err
    assert cli(command.replace(str(setup["onnx"]), str(setup["two"]))) == 2
    assert "job.model is" in capsys.readouterr().err
    (setup["pool"] / "a" / "000.png").rename(setup["pool"] / "a" / "000-moved.png")
    try:
        assert cli(command) == 2
        assert "inputs_sha256 is" in capsys.readouterr().err
    finally:
        (setup["pool"] / "a" / "000-moved.png").rename(setup["pool"] / "a" / "000.png")


def test_embeddings_and_mc_samples(setup: dict[str, Any], tmp_path: Path, on_path: None) -> None:
    out = tmp_path / "t.parquet"
    model = f"--model {MODULE}:cnn --images {setup['pool']} --classes 10 --mc-samples 4"
    assert cli(f"predict {model} --out {out} --embeddings features --batch-size 64 --quiet") == 0
    data = load_predictions(out)
    assert data["probs"].shape == (N, 10) and data["mc_probs"].shape == (N, 4, 10)
    assert data["embeddings"].shape == (N, 128)
    np.testing.assert_allclose(data["mc_probs"].sum(axis=2), 1.0, atol=1e-5)
    assert not np.allclose(data["mc_probs"][:, 0], data["mc_probs"][:, 1])  # dropout sampled
    np.testing.assert_allclose(
        data["probs"], direct_probs(setup["net"], setup["pool"], data["ids"]), atol=2e-6
    )
    again = tmp_path / "u.parquet"  # other batches, same masks: MC samples do not depend on batching
    assert cli(f"predict {model} --out {again} --batch-size 7 --quiet") == 0
    np.testing.assert_allclose(load_predictions(again)["mc_probs"], data["mc_probs"], atol=1e-6)
    onnx = tmp_path / "o.parquet"
    assert cli(f"predict --model {setup['two']} --images {setup['pool']} --out {onnx} --classes 10 "
               "--embeddings features --quiet") == 0  # fmt: skip
    from_onnx = load_predictions(onnx)
    np.testing.assert_allclose(from_onnx["embeddings"], data["embeddings"], atol=1e-4)
    np.testing.assert_allclose(from_onnx["probs"], data["probs"], atol=2e-6)
    assert cli(f"select --predictions {out} --strategy bald --budget 5 --out {tmp_path}/s.csv --quiet") == 0
    assert (
        cli(f"select --predictions {out} --strategy coreset --budget 5 --out {tmp_path}/c.csv --quiet") == 0
    )


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("--model {onnx} --images {root}/none --classes 10", "--images must be a folder of images"),
        ("--model {onnx} --images {root}/empty --classes 10", "holds no image files"),
        ("--model {onnx} --images {pool}", "--classes is required with --images or --manifest"),
        ("--model {onnx} --manifest {root}/blank.csv --classes 10", "lists no images"),
        ("--model {onnx} --manifest {root}/uri.csv --classes 10", "predict reads local files"),
        ("--model {onnx} --manifest {root}/bad.jsonl --classes 10", "must be a JSON object with 'path'"),
        ("--model {onnx} --manifest {root}/missing.csv --classes 10", "does not exist"),
        ("--model {onnx} --manifest {root}/broken.csv --classes 10", "is not a decodable image"),
        ("--model {onnx} --manifest {root}/gone.csv --classes 10", "cannot be read"),
        ("--model {onnx} --images {pool} --classes 10 --mc-samples 3", "ONNX graph is exported in eval mode"),
        (
            "--model {scripted} --images {pool} --classes 10 --embeddings features",
            "TorchScript modules do not",
        ),
        ("--model {two} --images {pool} --classes 10 --embeddings nope", "is not an output of"),
        (
            "--model {onnx} --images {pool} --classes 10 --mc-samples 0",
            "--mc-samples must be an integer >= 1",
        ),
        (f"--model {MODULE}:not_callable --images {{pool}} --classes 10", "must return a function of the"),
        ("--model no_such_module:f --images {pool} --classes 10", "cannot be loaded"),
        (
            f"--model {MODULE}:numpy_fn --images {{pool}} --classes 10 --mc-samples 2",
            "to return a torch.nn.Module",
        ),
        (
            f"--model {MODULE}:cnn --images {{pool}} --classes 10 --embeddings nope",
            "is not a module of the model",
        ),
        ("--model {onnx} --images {pool} --classes 3", "expected (1, 3), one column per class"),
        ("--model {onnx} --images {pool} --classes 10 --batch-size 0", "batch_size must be an integer >= 1"),
        ("--model {onnx} --images {pool} --classes 10 --num-gpus -1", "num_gpus must be a number >= 0"),
    ],
)
def test_bad_inputs_are_refused_by_name(
    setup: dict[str, Any],
    tmp_path: Path,
    on_path: None,
    capsys: pytest.CaptureFixture[str],
    command: str,
    message: str,
) -> None:
    root = setup["root"]
    (root / "empty").mkdir(exist_ok=True)
    (root / "blank.csv").write_text("path\n")
    (root / "uri.csv").write_text("s3://bucket/a.png\n")
    (root / "bad.jsonl").write_text('{"file": "a.png"}\n')
    (root / "broken.png").write_bytes(b"not a png")
    (root / "broken.csv").write_text("broken.png\n")
    (root / "gone.csv").write_text("gone.png\n")
    paths = {k: setup[k] for k in ("onnx", "two", "scripted", "pool")}
    assert cli("predict " + command.format(root=root, **paths) + f" --out {tmp_path}/p.parquet --quiet") == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"out": "p.npz"}, "out must be a .parquet file"),
        ({"out": "folder.parquet"}, "is a folder"),
        ({"ids": []}, "the pool is empty"),
        ({"ids": ["a"]}, "ids and files must pair up"),
        ({"ids": ["a", "a"]}, "ids must name each image once; repeated: 'a'"),
        ({"ids": [1, 2]}, "ids must be strings"),
        ({"engine": "spark"}, "engine must be one of local, ray"),
        ({"concurrency": 0}, "concurrency must be an integer >= 1"),
        ({"shard_rows": True}, "shard_rows must be an integer >= 1"),
        ({"model": lambda b: [1]}, "must return a mapping of array names"),
        ({"model": lambda b: {"probs": np.zeros(3)}}, "must have one row per image (1); got (3,)"),
        ({"model": "changing"}, "the model returned arrays ['b'] after ['a']"),
    ],
)
def test_predict_pool_refuses_bad_arguments(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    (tmp_path / "folder.parquet").mkdir()
    seen: list[int] = []

    def changing(batch: np.ndarray) -> dict[str, np.ndarray]:
        seen.append(1)
        return {"a" if len(seen) == 1 else "b": np.zeros(len(batch))}

    model = kwargs.pop("model", lambda b: {"probs": np.zeros((len(b), 2))})
    model = changing if model == "changing" else model
    args: dict[str, Any] = {"ids": ["a", "b"], "files": ["a", "b"], "out": "p.parquet", "batch_size": 1}
    args.update(kwargs)
    if len(args["ids"]) == 1 or args["ids"] == []:
        args["files"] = ["a", "b"] if args["ids"] else []
    out = tmp_path / args.pop("out")
    with pytest.raises((ValueError, TypeError), match=re.escape(message)):
        predict_pool(
            args.pop("ids"), args.pop("files"), lambda: model, lambda f: np.zeros((1, 2, 2), np.float32), out,
            job={}, **args,
        )  # fmt: skip


def test_shards_without_a_job_file_are_not_resumed(tmp_path: Path) -> None:
    folder = shard_folder(tmp_path / "p.parquet")
    folder.mkdir()
    (folder / "part-00000.parquet").write_bytes(b"")
    with pytest.raises(ValueError, match=r"holds shards but no job\.json"):
        predict_pool(
            ["a"], ["a"], lambda: lambda b: {}, lambda f: np.zeros(1), tmp_path / "p.parquet", job={}
        )
    (folder / "job.json").write_text("{")
    with pytest.raises(ValueError, match=r"job\.json' cannot be read"):
        predict_pool(
            ["a"], ["a"], lambda: lambda b: {}, lambda f: np.zeros(1), tmp_path / "p.parquet", job={}
        )


def test_shards_of_other_types_or_missing_are_not_merged(tmp_path: Path) -> None:
    out = tmp_path / "p.parquet"
    folder = shard_folder(out)

    def run(dtype: Any, delete: bool = False) -> Any:
        def model(batch: np.ndarray) -> dict[str, np.ndarray]:
            if delete:
                (folder / "part-00000.parquet").unlink(missing_ok=True)
            return {"probs": np.full((len(batch), 2), 0.5, dtype)}

        decoder = lambda f: np.zeros((1, 2, 2), np.float32)  # noqa: E731
        return predict_pool(["a", "b"], ["a", "b"], lambda: model, decoder, out, job={}, shard_rows=1)

    run(np.float32)
    (folder / "part-00001.parquet").unlink()
    with pytest.raises(ValueError, match=r"shards 'part-00000\.parquet' of .* were not written"):
        run(np.float32, delete=True)  # something removed a shard while the job ran
    message = r"shard 'part-00001\.parquet' has columns \['ids', 'probs'\] of other types"
    with pytest.raises(ValueError, match=message):
        run(np.float64)
