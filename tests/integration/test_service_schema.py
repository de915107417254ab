"""Schemathesis against the service's OpenAPI schema: generated requests never get a 5xx."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

schemathesis = pytest.importorskip("schemathesis")
pytest.importorskip("fastapi")
from hypothesis import HealthCheck, given, settings  # noqa: E402

from activecv.project import Project  # noqa: E402
from activecv.service import AnnotatePolicy, ModelSpec, Predictor, ServiceConfig, create_app  # noqa: E402

TOKEN = "schema-test-token-0001"

pytestmark = pytest.mark.service


def softmax_of_mean(batch: np.ndarray) -> np.ndarray:
    """A deterministic stand-in model: two logits from the image's mean brightness."""
    mean = batch.reshape(batch.shape[0], -1).mean(axis=1)
    return np.stack([mean, 1 - mean], axis=1)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, digit_folder: Path) -> Any:
    project = tmp_path_factory.mktemp("schema") / "project"
    Project.init(project, task="classification", classes=["a", "b"], images=digit_folder).close()
    predictor = Predictor(
        ModelSpec("stub", "classification", ("a", "b"), input_size=(8, 8)), softmax_of_mean, "v1"
    )
    config = ServiceConfig(policy=AnnotatePolicy("entropy", threshold=0.5), token=TOKEN, project=project)
    return create_app(config, predictor)


def test_no_generated_request_gets_a_server_error(app: Any) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9
    calls: list[tuple[str, str, int]] = []
    for operation in operations:

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        @given(operation.as_strategy())
        def call(case: Any) -> None:
            response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
            calls.append((case.method, case.path, response.status_code))
            assert response.status_code < 500, (
                case.method,
                case.path,
                response.status_code,
                response.text[:300],
            )

        call()
    assert len({(method, path) for method, path, _ in calls}) == len(operations)
    assert any(status == 200 for *_, status in calls) and any(400 <= status < 500 for *_, status in calls)
