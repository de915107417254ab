"""What one simulation runs: data, model, strategies, rounds, seeds; and the named presets."""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from dataclasses import dataclass, field
from typing import Any

from activecv._errors import InputError, InputTypeError
from activecv._validation import check_positive_int
from activecv.strategies import ScoreStrategy, get_strategy

BASELINE = "random"
MI_AOD_DETECTOR = "mi_aod_detector"
"""The grid detector with MI-AOD's heads, trained in its stages, for every strategy of a run (the
``mi_aod`` strategy always uses it): random against mi_aod then compares the selection alone."""
SCENES = "digit-scenes"  # detection and segmentation scenes composed from bundled MNIST digits
REGIONS = "regions"  # segmentation: superpixel regions under a click budget (activecv.select_regions)
REGION_PARAMS = ("measure", "class_balance", "max_regions_per_image")  # clicks: dominant labeling


@dataclass(frozen=True)
class SimulationConfig:
    """A pool-based simulation on labeled data (ALGORITHMS.md §0.4).

    Data: a bundled ``dataset``, or ``images`` (a folder ROOT/<class>/<image>), or ``features``
    (an ``.npz`` with ``embeddings (N, D)`` and ``labels (N,)``); a stratified ``test_fraction``
    is held out for evaluation. ``rounds`` acquisitions of ``budget`` items follow an initial
    set of ``initial`` items (``initial_mode`` "random" or "balanced" over classes), identical
    for every strategy of a seed. Each round trains ``model`` ("scratch": a fresh model with the
    same initial weights for every strategy, or "warm": continue from the last round) for
    ``train_steps`` optimizer steps (at least one epoch), then measures test accuracy.
    ``random`` is always run as the baseline.

    ``targets`` are the levels the report counts labels to reach: fractions of random's best
    metric (mean over seeds of each seed's best round) when ``target_mode`` is "relative", the
    metric itself when "absolute". Stopping (activecv._stopping): each round's model labels a
    seeded ``stop_set`` of the pool; the report gives the round at which the mean Cohen's kappa
    of successive rounds over ``stop_window`` rounds reaches ``stop_threshold``, and the round
    at which the test metric plateaued (stands in for a labeled validation set).

    Annotation cost: every round records the seconds spent labeling so far, ``seconds_per_image``
    per image plus, for detection, ``seconds_per_box`` per ground-truth box of each labeled
    scene (segmentation counts clicks instead). A detection simulation with ``cost_budget``
    buys that many seconds of annotation per round instead of ``budget`` scenes, chosen with
    ``activecv.select_within_cost`` priced by the model's predicted boxes
    (``activecv.detection_costs``).
    """

    task: str = "classification"
    dataset: str | None = "mnist5k"
    images: str | None = None
    features: str | None = None
    image_size: tuple[int, int] | None = None
    limit: int | None = None
    test_fraction: float = 0.2
    model: str = "gal_cnn"
    strategies: tuple[str, ...] = ("random", "entropy", "margin", "bald")
    strategy_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    initial: int = 20
    initial_mode: str = "balanced"
    budget: int = 10
    rounds: int = 10
    seeds: tuple[int, ...] = (0, 1, 2)
    candidates: int | None = None
    retrain: str = "scratch"
    train_steps: int = 300
    epochs: int | None = None
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str | None = None
    augment: bool = False
    mc_samples: int = 20
    embedding_layer: str = "features"
    loss_layers: tuple[str, ...] | None = None
    targets: tuple[float, ...] = (0.9, 0.95, 0.98)
    target_mode: str = "relative"  # targets as fractions of random's best metric, or "absolute"
    stop_threshold: float = 0.99  # stabilising predictions: mean kappa over stop_window rounds
    stop_window: int = 3
    stop_set: int = 1000  # pool items every round's model labels (the stop set)
    plateau_tolerance: float = 0.005  # plateau: the best metric rose by at most this over the window
    imbalance: float = 1.0
    segments: int = 64  # segmentation: superpixels per image (SLIC), the labeling units
    # Annotation time. 7 s a box: extreme clicking (Papadopoulos et al., ICCV 2017) measured about
    # 7 s per box, against about 35 s for drawing one the classic way with quality checks.
    seconds_per_box: float = 7.0
    # 1 s an image (looking at it, naming its class or seeing it holds nothing): an assumed
    # default, not a measurement; nonzero so that a scene without predicted boxes still costs.
    seconds_per_image: float = 1.0
    cost_budget: float | None = None  # detection: seconds of annotation bought per round, not scenes

    def __post_init__(self) -> None:
        object.__setattr__(self, "dataset", _bundled_dataset(self.dataset, self.images, self.features))
        strategies = tuple(dict.fromkeys((BASELINE, *self.strategies)))  # baseline first, no repeats
        object.__setattr__(self, "strategies", strategies)
        object.__setattr__(self, "seeds", tuple(self.seeds))
        object.__setattr__(self, "targets", tuple(self.targets))
        _check_strategies(strategies, self.strategy_params, self.task)
        names = ("initial", "budget", "rounds", "train_steps", "batch_size", "mc_samples", "segments")
        for name in (*names, "stop_window", "stop_set"):
            check_positive_int(getattr(self, name), name)
        for name in ("candidates", "limit", "epochs"):
            if getattr(self, name) is not None:
                check_positive_int(getattr(self, name), name)
        _check_seeds(self.seeds)
        if self.initial_mode not in ("random", "balanced"):
            raise InputError(f"initial_mode must be 'random' or 'balanced'; got {self.initial_mode!r}.")
        if self.retrain not in ("scratch", "warm"):
            raise InputError(f"retrain must be 'scratch' or 'warm'; got {self.retrain!r}.")
        _check_targets(self.targets, self.target_mode)
        if not 0.0 < self.stop_threshold <= 1.0 or self.plateau_tolerance < 0:
            raise InputError(
                f"stop_threshold must be a kappa in (0, 1] and plateau_tolerance >= 0; "
                f"got {self.stop_threshold!r} and {self.plateau_tolerance!r}."
            )
        _check_task(self.task, self.dataset, self.model, self.initial_mode)
        if self.imbalance < 1:
            raise InputError(f"imbalance must be >= 1; got {self.imbalance!r}.")
        if not 0.0 < self.test_fraction < 1.0:
            raise InputError(f"test_fraction must be in (0, 1); got {self.test_fraction!r}.")
        _check_costs(self)

    @property
    def metric_name(self) -> str:
        """What each round measures on the test split."""
        return {"detection": "mAP@0.5", "segmentation": "mIoU"}.get(self.task, "test accuracy")

    @property
    def per_round(self) -> str:
        """What one round buys: items, clicks or seconds of annotation."""
        if self.cost_budget is not None:
            return f"{self.cost_budget:g} s of annotation"
        return f"{self.budget}{' clicks' if self.task == 'segmentation' else ''}"

    @property
    def cost_name(self) -> str:
        """What a curve's x-axis counts: labels, or clicks for segmentation (the cost model of
        activecv.select_regions: one click a superpixel; a whole image costs all of its own)."""
        return {"detection": "labeled scenes", "segmentation": "clicks"}.get(self.task, "labeled images")

    def to_json(self) -> str:
        """Canonical JSON: equal configurations give equal text (used to resume safely)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True, indent=1)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SimulationConfig:
        """From JSON-like values (lists become tuples)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise InputError(
                f"unknown simulation settings: {', '.join(unknown)}; valid: {', '.join(sorted(names))}."
            )
        converted: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return cls(**converted)


def _bundled_dataset(dataset: str | None, images: str | None, features: str | None) -> str | None:
    """The bundled dataset a configuration loads: None when it brings ``images`` or ``features``
    (one data source at most, and at least one)."""
    sources = [s for s in (images, features) if s is not None]
    if len(sources) > 1:
        raise InputError("pass one data source: dataset, images or features; got images and features.")
    if sources:
        return None
    if dataset is None:
        raise InputError("pass a data source: dataset (bundled name), images (folder) or features (.npz).")
    return dataset


def _check_strategies(
    strategies: tuple[str, ...], strategy_params: dict[str, dict[str, Any]], task: str
) -> None:
    """Every strategy builds with its parameters, and parameters name only strategies in the run;
    a segmentation run may also select ``regions``."""
    for name in strategies:
        if name == REGIONS and task == "segmentation":
            unknown = sorted(set(strategy_params.get(name, {})) - set(REGION_PARAMS))
            if unknown:
                raise InputError(
                    f"regions has no parameter {', '.join(unknown)}; valid: {', '.join(REGION_PARAMS)}."
                )
            continue
        if name == "mi_aod" and task != "detection":
            raise InputError(
                f"mi_aod trains a detector's own heads: it runs with task='detection'; got {task!r}."
            )
        get_strategy(name, **strategy_params.get(name, {}))  # unknown names fail here
    unknown = sorted(set(strategy_params) - set(strategies))
    if unknown:
        raise InputError(f"strategy_params names strategies not in the run: {', '.join(unknown)}.")


def _seconds(value: object, name: str, positive: bool) -> float:
    """``value`` as a finite float, > 0 (``positive``) or >= 0."""
    amount = math.nan if isinstance(value, bool) or not isinstance(value, numbers.Real) else float(value)
    if not math.isfinite(amount) or (amount <= 0 if positive else amount < 0):
        raise InputError(
            f"{name} must be a finite number of seconds {'> 0' if positive else '>= 0'}; got {value!r}."
        )
    return amount


def _check_costs(config: SimulationConfig) -> None:
    """Seconds per box and per image >= 0; a cost budget only for detection, with strategies
    that can spend one, and with a price on every scene."""
    _seconds(config.seconds_per_box, "seconds_per_box", positive=False)
    _seconds(config.seconds_per_image, "seconds_per_image", positive=False)
    if config.cost_budget is None:
        return
    _seconds(config.cost_budget, "cost_budget", positive=True)
    if config.task != "detection":
        raise InputError(
            f"cost_budget buys seconds of box annotation in detection simulations; this one is "
            f"{config.task}: use budget ({'clicks' if config.task == 'segmentation' else 'images'})."
        )
    if config.seconds_per_image <= 0:
        raise InputError(
            "cost_budget prices each scene at seconds_per_image + seconds_per_box x its predicted "
            "boxes, and needs seconds_per_image > 0 (a scene without boxes is not free); "
            f"got {config.seconds_per_image!r}."
        )
    for name in config.strategies:
        chosen = get_strategy(name, **config.strategy_params.get(name, {}))
        if not isinstance(chosen, ScoreStrategy) and name != "ebal":
            raise InputError(
                f"strategy {name!r} chooses a batch jointly and cannot spend a cost_budget; "
                "use score strategies or 'ebal', or budget in scenes."
            )


def _check_targets(targets: tuple[float, ...], mode: str) -> None:
    if mode not in ("relative", "absolute"):
        raise InputError(f"target_mode must be 'relative' or 'absolute'; got {mode!r}.")
    if not all(0.0 < t <= 1.0 for t in targets):
        what = "fractions of random's best metric" if mode == "relative" else "metric values"
        raise InputError(f"targets must be {what} in (0, 1]; got {targets!r}.")


def _check_seeds(seeds: tuple[int, ...]) -> None:
    """A non-empty tuple of distinct ints (bools are not seeds)."""
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise InputTypeError(f"seeds must be a non-empty sequence of ints; got {seeds!r}.")
    if len(set(seeds)) != len(seeds):
        raise InputError(f"seeds must be distinct; got {seeds!r}.")


def _check_task(task: str, dataset: str | None, model: str, initial_mode: str) -> None:
    """A known task; detection and segmentation run on the digit scenes (with the grid
    detector, or the segmentation FCN), from a random start."""
    if task not in ("classification", "detection", "segmentation"):
        raise InputError(f"task must be 'classification', 'detection' or 'segmentation'; got {task!r}.")
    if task == "segmentation" and (
        dataset != SCENES or model != "segmentation_fcn" or initial_mode != "random"
    ):
        raise InputError(
            f"segmentation simulations run on dataset {SCENES!r} with model 'segmentation_fcn' and a random "
            f"initial set; got {dataset!r}, {model!r} and {initial_mode!r}."
        )
    if task == "detection" and (dataset != SCENES or model not in ("grid_detector", MI_AOD_DETECTOR)):
        raise InputError(
            f"detection simulations run on dataset {SCENES!r} with model 'grid_detector' or "
            f"{MI_AOD_DETECTOR!r}; got {dataset!r} and {model!r}."
        )
    if task == "detection" and initial_mode != "random":
        raise InputError("detection simulations draw the initial set at random: set initial_mode='random'.")


PRESETS: dict[str, dict[str, Any]] = {
    # The command's default: a few minutes on a 2-core CPU.
    "quick-mnist": {
        "dataset": "mnist5k",
        "model": "gal_cnn",
        "strategies": ("random", "entropy", "margin", "bald"),
        "initial": 20,
        "budget": 20,
        "rounds": 6,
        "seeds": (0, 1, 2),
        "candidates": 1000,
        "train_steps": 150,
        "mc_samples": 10,
    },
    # Gal, Islam & Ghahramani 2017 adapted to the bundled 4,000-image pool: 20 class-balanced
    # initial images, +10 per acquisition from a random subset of the pool, the dropout CNN.
    "gal2017-mnist": {
        "dataset": "mnist5k",
        "model": "gal_cnn",
        "strategies": ("random", "entropy", "margin", "bald", "batchbald", "coreset", "badge"),
        "initial": 20,
        "initial_mode": "balanced",
        "budget": 10,
        "rounds": 30,
        "seeds": (0, 1, 2),
        "candidates": 2000,
        "train_steps": 200,
        "mc_samples": 20,
    },
    # Yoo & Kweon 2019 on CIFAR-10 brought as an image folder (needs a GPU to finish in hours).
    "ll4al-cifar": {
        "dataset": None,
        "model": "resnet18_cifar",
        "strategies": ("random", "entropy", "coreset", "learning_loss"),
        "initial": 1000,
        "initial_mode": "random",
        "budget": 1000,
        "rounds": 9,
        "seeds": (0, 1, 2),
        "candidates": 10_000,
        "epochs": 200,
        "batch_size": 128,
        "optimizer": "sgd",
        "lr": 0.1,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "schedule": "step",
        "augment": True,
    },
    # Detection on scenes of 1-3 MNIST digits (64 x 64), class frequencies falling tenfold
    # from digit 0 to digit 9; the small grid detector; mAP@0.5 with pycocotools.
    "digit-scenes-detection": {
        "task": "detection",
        "dataset": SCENES,
        "model": "grid_detector",
        "strategies": ("random", "detection_entropy", "enms", "ebal"),
        "initial": 50,
        "initial_mode": "random",
        "budget": 25,
        "rounds": 6,
        "seeds": (0, 1, 2),
        "candidates": 500,
        "limit": 1500,
        "train_steps": 300,
        "imbalance": 10.0,
    },
    # Semantic segmentation on the same scenes (class = the digit where its ink > 0.5, else
    # background): a small dilated FCN, mIoU; whole images chosen by random, mean pixel entropy or
    # BALD against superpixel regions with class balance, all paying the same clicks per round.
    "digit-scenes-segmentation": {
        "task": "segmentation",
        "dataset": SCENES,
        "model": "segmentation_fcn",
        "strategies": ("random", "seg_entropy", "seg_bald", REGIONS),
        "initial": 8,
        "initial_mode": "random",
        "budget": 250,
        "rounds": 6,
        "seeds": (0, 1, 2),
        "candidates": 300,
        "limit": 800,
        "train_steps": 400,
        "batch_size": 8,
        "lr": 5e-3,
        "mc_samples": 8,
        "segments": 64,
    },
}


def preset(name: str, **overrides: Any) -> SimulationConfig:
    """A named protocol (``PRESETS``), with any setting overridden."""
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; valid: {', '.join(PRESETS)}.")
    return SimulationConfig(**{**PRESETS[name], **overrides})
