"""A real Label Studio for the integration tests, started as DEVELOPERS.md says.

Label Studio lives in its own virtual environment (its pins would fight ours): the one named
by ``LABEL_STUDIO_BIN``, else ``label-studio`` on PATH, else one installed once into
``~/.cache/activecv/``. ``ACTIVECV_SKIP_LABEL_STUDIO=1`` skips the tests that use it.
"""

from __future__ import annotations

import contextlib
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

import pytest

LABEL_STUDIO = "label-studio==1.23.2"
TOKEN = "ac7c0ffee0ddba11decafbad5eed0000000000ac"  # 40 hex characters


def label_studio_executable() -> Path:
    if os.environ.get("LABEL_STUDIO_BIN"):
        return Path(os.environ["LABEL_STUDIO_BIN"])
    if found := shutil.which("label-studio"):
        return Path(found)
    venv = Path.home() / ".cache" / "activecv" / LABEL_STUDIO.replace("==", "-")
    executable = venv / "bin" / "label-studio"
    complete = venv / "activecv-install-complete"  # written last: a killed install is redone
    if not complete.is_file():
        print(f"installing {LABEL_STUDIO} into {venv} (once)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        install = subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", LABEL_STUDIO],
            capture_output=True,
            text=True,
            timeout=1200,
        )
        if install.returncode != 0:
            pytest.fail(f"could not install {LABEL_STUDIO}: {install.stderr[-2000:]}")
        complete.touch()
    return executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LabelStudio:
    """A REST client for the running server (stdlib only). It serves local files under
    ``document_root``, to projects with a Local Files storage below it."""

    def __init__(self, url: str, document_root: Path) -> None:
        self.url, self.document_root = url, document_root

    def call(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Token {TOKEN}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            text = response.read()
        return json.loads(text) if text else None


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudio]:
    if os.environ.get("ACTIVECV_SKIP_LABEL_STUDIO") == "1":
        pytest.skip("ACTIVECV_SKIP_LABEL_STUDIO=1")
    executable = label_studio_executable()
    data = tmp_path_factory.mktemp("label-studio")
    documents = tmp_path_factory.mktemp("label-studio-documents")
    port = free_port()
    env = {
        **os.environ,
        "LABEL_STUDIO_USERNAME": "annotator@example.com",
        "LABEL_STUDIO_PASSWORD": "activecv-test-password",
        "LABEL_STUDIO_USER_TOKEN": TOKEN,
        "ML_BLOCK_LOCAL_IP": "false",
        "SSRF_PROTECTION_ENABLED": "false",
        "LATEST_VERSION_CHECK": "false",
        "COLLECT_ANALYTICS": "false",
        "SENTRY_DSN": "",
        "FRONTEND_SENTRY_DSN": "",
        "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
        "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(documents),
    }
    command = [str(executable), "start", "--no-browser", "--internal-host", "127.0.0.1", "-p", str(port)]
    command += ["--data-dir", str(data), "--enable-legacy-api-token"]
    log = open(data / "server.log", "w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    client = LabelStudio(f"http://127.0.0.1:{port}", documents)
    deadline = time.monotonic() + 300
    try:
        while True:
            try:
                if client.call("GET", "/health")["status"] == "UP":
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Label Studio did not start: {(data / 'server.log').read_text()[-3000:]}")
            time.sleep(1)
        yield client
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """An ASGI app on uvicorn in a thread, on a free loopback port; yields its base URL."""
    import threading

    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def wait_until_healthy(base: str, server: subprocess.Popen[Any], log: Path, seconds: float = 60) -> None:
    """Wait for a server process to answer ``/health``; fail with its log if it dies or stalls."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        assert server.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
