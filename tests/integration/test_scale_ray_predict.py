"""``activecv predict --engine ray`` on a real local Ray (2 CPUs): the same file as the local
engine on 2,000 digit PNGs; an actor killed in the middle of the job still leaves every image
predicted exactly once."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("fastapi")
ray = pytest.importorskip("ray")

import pyarrow.parquet as pq  # noqa: E402
import torch  # noqa: E402
from tests.conftest import write_digit_images  # noqa: E402

from activecv.adapters.torch import GalCNN, export_onnx  # noqa: E402
from activecv.cli import main  # noqa: E402
from activecv.io import load_predictions  # noqa: E402
from activecv.scale import shard_folder  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.torch,
    # Ray Data's DataContext sets, on creation, fields it deprecated itself (ray 2.60)
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context"),
]
MODULE = "activecv_ray_predict_models"
CRASHING = '''
import os
from pathlib import Path

import numpy as np

FLAG = Path(__file__).with_name("crash-once")


def crashing():
    """Logits from the pixels; the first batch after FLAG appears kills its worker process."""

    def run(batch):
        if FLAG.exists():
            FLAG.unlink()
            os._exit(1)
        return batch.reshape(len(batch), -1)[:, 300:310].astype(np.float64) * 4.0

    return run
'''


def cli(command: str) -> int:
    return main(command.split())


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """2,000 digit PNGs, the Gal CNN as ONNX, a crashing model module, and a local Ray whose
    workers can import that module."""
    root = tmp_path_factory.mktemp("ray-predict")
    write_digit_images(root / "pool" / "a", 1000)
    write_digit_images(root / "pool" / "b", 1000, start=797)
    torch.manual_seed(0)
    onnx = export_onnx(GalCNN(10).eval(), root / "cnn.onnx", (1, 28, 28))
    (root / f"{MODULE}.py").write_text(CRASHING)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_USAGE_STATS_ENABLED", "0")
        patch.setenv("PYTHONPATH", os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
        patch.syspath_prepend(str(root))
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        try:
            yield {"root": root, "pool": root / "pool", "onnx": onnx}
        finally:
            ray.shutdown()


def test_ray_writes_the_same_file_as_the_local_engine(setup: dict[str, Any], tmp_path: Path) -> None:
    common = f"--model {setup['onnx']} --images {setup['pool']} --classes 10 --shard-size 256 --quiet"
    assert cli(f"predict {common} --out {tmp_path}/local.parquet") == 0
    assert cli(f"predict {common} --out {tmp_path}/ray.parquet --engine ray --concurrency 2") == 0
    local, distributed = pq.read_table(tmp_path / "local.parquet"), pq.read_table(tmp_path / "ray.parquet")
    assert local.num_rows == 2000 and local.equals(distributed)
    shards = sorted(p.name for p in shard_folder(tmp_path / "ray.parquet").glob("*.parquet"))
    assert shards == [f"part-{i:05d}.parquet" for i in range(8)]
    select = "--strategy entropy --budget 25 --quiet"
    assert cli(f"select --predictions {tmp_path}/local.parquet {select} --out {tmp_path}/a.csv") == 0
    folder = shard_folder(tmp_path / "ray.parquet")
    assert cli(f"select --engine ray --predictions {folder} {select} --out {tmp_path}/b.csv") == 0
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()


def test_a_worker_killed_mid_job_still_leaves_every_image_once(setup: dict[str, Any], tmp_path: Path) -> None:
    common = f"--model {MODULE}:crashing --images {setup['pool']} --classes 10 --shard-size 200 --quiet"
    assert cli(f"predict {common} --out {tmp_path}/local.parquet") == 0
    (setup["root"] / "crash-once").touch()
    assert cli(f"predict {common} --out {tmp_path}/ray.parquet --engine ray --concurrency 2") == 0
    assert not (setup["root"] / "crash-once").exists()  # a worker did die
    local, distributed = (
        load_predictions(tmp_path / "local.parquet"),
        load_predictions(tmp_path / "ray.parquet"),
    )
    assert distributed["ids"].shape == (2000,) and len(set(distributed["ids"].tolist())) == 2000
    assert distributed["ids"].tolist() == local["ids"].tolist()
    np.testing.assert_array_equal(distributed["probs"], local["probs"])
    assert len(list(shard_folder(tmp_path / "ray.parquet").glob("*.parquet"))) == 10


def test_an_unreadable_image_on_a_worker_is_named(
    setup: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken.png").write_bytes(b"not a png")
    (tmp_path / "list.csv").write_text("broken.png\n")
    command = f"predict --model {setup['onnx']} --manifest {tmp_path}/list.csv --classes 10 --engine ray"
    assert cli(f"{command} --out {tmp_path}/p.parquet --quiet") == 2
    assert "broken.png' cannot be used: the upload is not a decodable image" in capsys.readouterr().err
