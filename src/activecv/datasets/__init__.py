"""Labeled image datasets that ship inside packages (offline), and users' image folders."""

from activecv.datasets._bundled import Dataset, list_datasets, load, stratified_split
from activecv.datasets._folder import load_image_folder
from activecv.datasets._layout import channels_first
from activecv.datasets._noise import flip_labels
from activecv.datasets._scenes import Scenes, SegmentationScenes, make_scenes, make_segmentation_scenes

__all__ = [
    "Dataset",
    "Scenes",
    "SegmentationScenes",
    "channels_first",
    "flip_labels",
    "list_datasets",
    "load",
    "load_image_folder",
    "make_scenes",
    "make_segmentation_scenes",
    "stratified_split",
]
