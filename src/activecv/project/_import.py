"""Imports of labels into a project, from each format activecv reads."""

from __future__ import annotations

from pathlib import Path

from activecv.io import (
    read_class_folders,
    read_coco_annotations,
    read_label_csv,
    read_label_studio_export,
    read_mask_folder,
)
from activecv.project._project import Project
from activecv.project._records import ImportReport, ProjectError

FORMATS = ("labelstudio", "coco", "csv", "folder", "masks")


def import_labels(project: Project, path: str | Path, fmt: str, annotator: str | None = None) -> ImportReport:
    """Import a Label Studio JSON export, a COCO dataset, a ``path,label`` CSV, a
    ROOT/<class>/<image> folder, or a folder of index-mask PNGs (segmentation); all or nothing
    (see :meth:`Project.import_annotations`). ``annotator`` names who labeled, for formats that
    do not say (all but Label Studio)."""
    if fmt == "labelstudio":
        file = read_label_studio_export(path)
    elif fmt == "coco":
        file = read_coco_annotations(path, annotator or "coco", masks=project.task == "segmentation")
    elif fmt == "csv":
        file = read_label_csv(path, annotator or "csv")
    elif fmt == "folder":
        file, _ = read_class_folders(path, annotator or "folder")
    elif fmt == "masks":
        file = read_mask_folder(path, annotator or "masks")
    else:
        raise ProjectError(f"format must be one of {', '.join(FORMATS)}; got {fmt!r}.")
    return project.import_annotations(file)
