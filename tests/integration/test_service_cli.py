"""``activecv serve`` as a user starts it: a real uvicorn process on a loopback port."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
torch = pytest.importorskip("torch")
import httpx2 as httpx  # noqa: E402
from tests.integration.conftest import wait_until_healthy  # noqa: E402

from activecv.adapters.torch import GalCNN, export_onnx  # noqa: E402
from activecv.cli import main  # noqa: E402

pytestmark = [pytest.mark.service, pytest.mark.torch]

TOKEN = "cli-service-token-0001"
CLASSES = ",".join(str(k) for k in range(10))


def test_serve_answers_predictions_and_stops_on_sigterm(tmp_path: Path, digit_pool: Any) -> None:
    pool, _ = digit_pool
    init = f"project init {tmp_path}/project --images {pool} --task classification --classes {CLASSES}"
    assert main(init.split()) == 0
    model = export_onnx(GalCNN(10), tmp_path / "cnn.onnx", (1, 28, 28))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "activecv",
        "serve",
        "--model",
        str(model),
        "--classes",
        CLASSES,
        "--port",
        str(port),
    ]
    command += [
        "--token",
        TOKEN,
        "--project",
        str(tmp_path / "project"),
        "--threshold",
        "0",
        "--annotate-metric",
        "margin",
    ]
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, server, log)
        files = [("images", ("a.png", (pool / "003.png").read_bytes(), "image/png"))]
        response = httpx.post(f"{base}/v1/predict", files=files, headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200, response.text
        (result,) = response.json()["results"]
        assert result["annotate"] is True and result["queued_item"] == 4
        assert httpx.post(f"{base}/v1/predict", files=files).status_code == 401
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) in (
            0,
            -signal.SIGTERM,
        )  # uvicorn shuts down, then re-raises the signal
    assert "serving" in log.read_text()


def test_serve_without_a_token_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ACTIVECV_SERVICE_TOKEN", raising=False)
    model = export_onnx(GalCNN(10), tmp_path / "cnn.onnx", (1, 28, 28))
    assert main(["serve", "--model", str(model), "--classes", CLASSES]) == 2
    assert "the service needs a token" in capsys.readouterr().err
