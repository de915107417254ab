"""Simulated annotation rounds on labeled data: which strategy beats random here, and by how much.

Needs the ``sim`` extra (torch, the bundled datasets, matplotlib).
"""

from activecv.sim._config import PRESETS, SimulationConfig, preset
from activecv.sim._data import SimulationData, load_simulation_data
from activecv.sim._map import coco_map
from activecv.sim._miou import mean_iou
from activecv.sim._report import Summary, labels_to_reach, summarize
from activecv.sim._runner import SimulationResult, simulate
from activecv.sim._stats import aubc

__all__ = [
    "PRESETS",
    "SimulationConfig",
    "SimulationData",
    "SimulationResult",
    "Summary",
    "aubc",
    "coco_map",
    "labels_to_reach",
    "load_simulation_data",
    "mean_iou",
    "preset",
    "simulate",
    "summarize",
]
