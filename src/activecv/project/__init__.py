"""Annotation projects: a durable SQLite ledger of the pool, labels, rounds and leases, and the
round trip to Label Studio, CSV and COCO."""

from activecv.project._export import export
from activecv.project._import import import_labels
from activecv.project._project import ImportReport, Project, ProjectError, RegisterReport
from activecv.project._schema import SCHEMA_VERSION

__all__ = [
    "SCHEMA_VERSION",
    "ImportReport",
    "Project",
    "ProjectError",
    "RegisterReport",
    "export",
    "import_labels",
]
