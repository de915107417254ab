"""Annotation projects: a durable SQLite ledger of the pool, labels, rounds and leases, and the
round trip to Label Studio, CSV and COCO."""

from activecv.project._export import FORMATS as EXPORT_FORMATS
from activecv.project._export import ITEM_SETS, export
from activecv.project._import import FORMATS as IMPORT_FORMATS
from activecv.project._import import import_labels
from activecv.project._labelstudio import PushReport, pull, push
from activecv.project._links import LabelStudioLink
from activecv.project._project import Project
from activecv.project._records import (
    HistoryEntry,
    ImportReport,
    Item,
    Lease,
    ProjectError,
    ProjectStatus,
    QueuedItem,
    RegisterReport,
    RoundProgress,
    RoundRecord,
    SelectedItem,
)
from activecv.project._schema import SCHEMA_VERSION
from activecv.project._suspects import Suspect

__all__ = [
    "EXPORT_FORMATS",
    "IMPORT_FORMATS",
    "ITEM_SETS",
    "SCHEMA_VERSION",
    "HistoryEntry",
    "ImportReport",
    "Item",
    "LabelStudioLink",
    "Lease",
    "Project",
    "ProjectError",
    "ProjectStatus",
    "PushReport",
    "QueuedItem",
    "RegisterReport",
    "RoundProgress",
    "RoundRecord",
    "SelectedItem",
    "Suspect",
    "export",
    "import_labels",
    "pull",
    "push",
]
