"""The prediction service (``activecv serve``): predictions with active-learning measures and an
"annotate" decision, the annotation queue, and a Label Studio ML backend. Needs
``pip install 'activecv[service]'``."""

from activecv._errors import missing_extra as _missing_extra

try:
    import fastapi  # noqa: F401
except ImportError:  # pragma: no cover - exercised only without the extra
    raise _missing_extra("fastapi", "service") from None

from activecv.io.labelstudio import label_studio_score
from activecv.service._app import create_app
from activecv.service._config import ServiceConfig
from activecv.service._images import DecodedImage, ImageRejected, decode_image
from activecv.service._measures import AnnotatePolicy
from activecv.service._model import ModelSpec, Predictor, load_predictor
from activecv.service._review import ReviewConfig, create_review_app, task_links

__all__ = [
    "AnnotatePolicy",
    "DecodedImage",
    "ImageRejected",
    "ModelSpec",
    "Predictor",
    "ReviewConfig",
    "ServiceConfig",
    "create_app",
    "create_review_app",
    "decode_image",
    "label_studio_score",
    "load_predictor",
    "task_links",
]
