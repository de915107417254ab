"""activecv: which images to annotate next, for computer-vision teams.

The acquisition core needs only numpy and scipy::

    import activecv as acv
    sel = acv.select("bald", budget=10, mc_probs=mc_probs, rng=0)
    sel.indices, sel.scores
"""

from activecv._errors import (
    ActiveCVError,
    EmptyPoolError,
    InputError,
    InputTypeError,
    MissingExtraError,
    PoolExhaustedError,
    UnknownStrategyError,
)
from activecv.strategies import (
    Strategy,
    detection_costs,
    get_strategy,
    list_strategies,
    score,
    select,
    select_regions,
    select_within_cost,
)
from activecv.types import Detections, RegionSelection, Selection

__version__ = "0.1.0"

__all__ = [
    "ActiveCVError",
    "Detections",
    "EmptyPoolError",
    "InputError",
    "InputTypeError",
    "MissingExtraError",
    "PoolExhaustedError",
    "RegionSelection",
    "Selection",
    "Strategy",
    "UnknownStrategyError",
    "__version__",
    "detection_costs",
    "get_strategy",
    "list_strategies",
    "score",
    "select",
    "select_regions",
    "select_within_cost",
]
