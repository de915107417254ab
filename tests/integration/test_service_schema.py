"""Schemathesis against the service's OpenAPI schema, with every check it has: status codes,
response bodies and headers as declared, valid requests accepted, invalid ones rejected, auth
not ignored, and no server error."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest

schemathesis = pytest.importorskip("schemathesis")
pytest.importorskip("fastapi")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from PIL import Image  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.engine import events, from_schema  # noqa: E402

from activecv.project import Project  # noqa: E402
from activecv.service import AnnotatePolicy, ModelSpec, Predictor, ServiceConfig, create_app  # noqa: E402

TOKEN = "schema-test-token-0001"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

pytestmark = pytest.mark.service


def softmax_of_mean(batch: np.ndarray) -> np.ndarray:
    """A deterministic stand-in model: two logits from the image's mean brightness."""
    mean = batch.reshape(batch.shape[0], -1).mean(axis=1)
    return np.stack([mean, 1 - mean], axis=1)


def png(value: int, size: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (size, size), value).save(buffer, format="PNG")
    return buffer.getvalue()


# Parts declared image/png get real PNGs (a list keeps each part's file name, so it arrives as a file).
schemathesis.openapi.media_type(
    "image/png", st.lists(st.builds(png, st.integers(0, 255), st.integers(1, 64)), min_size=1, max_size=3)
)


def config(max_examples: int) -> Any:
    return schemathesis.Config.from_dict(
        {
            "headers": AUTH,
            "generation": {"max-examples": max_examples, "database": "none", "deterministic": True},
            "seed": 1,
            # Valid by the schema yet naming what the service does not have, so a 422: a task's
            # image that does not exist, a queue cursor (`after`) that is no queued image.
            "operations": [
                {
                    "include-path": path,
                    "include-method": method,
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": ["2xx", "401", "403", "404", "409", "422", "429"]
                        }
                    },
                }
                for method, path in (("POST", "/predict"), ("GET", "/v1/queue"))
            ],
        }
    )


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, digit_folder: Path) -> Any:
    project = tmp_path_factory.mktemp("schema") / "project"
    Project.init(project, task="classification", classes=["a", "b"], images=digit_folder).close()
    predictor = Predictor(
        ModelSpec("stub", "classification", ("a", "b"), input_size=(8, 8)), softmax_of_mean, "v1"
    )
    config_ = ServiceConfig(policy=AnnotatePolicy("entropy", threshold=0.5), token=TOKEN, project=project)
    return create_app(config_, predictor)


def test_every_check_passes_on_generated_requests(app: Any) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config(25))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9
    statuses: list[int] = []
    for operation in operations:
        # Negative requests need something to break besides the Authorization header.
        negatable = list(operation.body) or any(
            p.name != "Authorization" for p in operation.iter_parameters()
        )
        for mode in list(GenerationMode) if negatable else [GenerationMode.POSITIVE]:

            @settings(
                max_examples=25,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
            )
            @given(operation.as_strategy(generation_mode=mode))
            def call(case: Any) -> None:
                statuses.append(case.call_and_validate(headers=AUTH).status_code)  # every check

            call()
    assert 200 in statuses and any(400 <= status < 500 for status in statuses)


def test_a_full_schemathesis_run_finds_nothing(app: Any) -> None:
    """The command-line engine in process: examples, coverage and fuzzing phases."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config(50))
    failures, errors, ran = [], [], set()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            for nodes in event.recorder.checks.values():
                for node in nodes:
                    ran.add(node.name)
                    if node.failure_info is not None:
                        failures.append((node.name, event.recorder.label, node.failure_info.failure.title))
        elif isinstance(event, (events.NonFatalError, events.FatalError)):
            errors.append(repr(event))
        elif isinstance(event, events.EngineFinished):
            assert event.stop_reason.value == "completed"
    assert failures == [] and errors == []
    assert {
        "ignored_auth",
        "positive_data_acceptance",
        "negative_data_rejection",
        "status_code_conformance",
        "response_schema_conformance",
        "not_a_server_error",
    } <= ran
