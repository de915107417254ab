"""What every route shares: the settings, the model, the open project, metrics, the model gate."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import Depends, HTTPException, Request

from activecv.io.labelstudio import label_studio_score
from activecv.project import Project
from activecv.service._config import ServiceConfig
from activecv.service._images import DecodedImage
from activecv.service._limits import ModelGate
from activecv.service._measures import (
    classification_measures,
    detection_measures,
    segmentation_measures,
)
from activecv.service._metrics import Metrics
from activecv.service._model import Predictor
from activecv.service._training import Training


@dataclass
class ServiceState:
    """The project stays open for the app's life: one ledger connection per worker thread."""

    config: ServiceConfig
    predictor: Predictor
    project: Project | None
    root: Path | None  # the only folder task images are read from
    metrics: Metrics
    gate: ModelGate
    training: Training

    def local_files_root(self) -> Path | None:
        """What Label Studio's local-files URLs are relative to: as configured, else the
        document root of the project's latest push (read per request: a push may come later)."""
        if self.config.local_files_root is not None:
            return self.config.local_files_root.resolve()
        link = self.project.label_studio_link() if self.project is not None else None
        return link.document_root if link is not None else None

    def require_project(self) -> Project:
        if self.project is None:
            raise HTTPException(409, "this service has no project (start it with --project DIR).")
        return self.project

    async def predict(self, batch: np.ndarray) -> Any:
        return await self.gate.run(self.predictor.predict, batch)

    def assess(self, output: Any, image: DecodedImage) -> dict[str, Any]:
        """Prediction, measures and the annotate decision of one image."""
        spec, policy = self.predictor.spec, self.config.policy
        if spec.task == "classification":
            prediction, measures = classification_measures(output, spec.classes)
        elif spec.task == "segmentation":
            prediction, measures = segmentation_measures(output, spec.classes, (image.width, image.height))
        else:
            prediction, measures = detection_measures(output, spec.classes)
        value = measures[policy.metric]
        return {
            "prediction": prediction,
            "measures": measures,
            "annotate": policy.decide(value),
            "label_studio_score": label_studio_score(policy.metric, value, len(spec.classes)),
        }

    def enqueue(self, data: bytes, image: DecodedImage, result: dict[str, Any]) -> int:
        metric = self.config.policy.metric
        return self.require_project().enqueue(
            data,
            image.suffix,
            (image.width, image.height),
            metric,
            result["measures"][metric],
            self.predictor.version,
        )


def _state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


State = Annotated[ServiceState, Depends(_state)]
