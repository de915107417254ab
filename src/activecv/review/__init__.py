"""Wrong labels: confident learning from out-of-sample probabilities (numpy only).

``find_label_issues(labels, probs)`` flags and ranks likely wrong labels (Northcutt, Jiang,
Chuang, JAIR 2021); ``cross_val_probs`` makes the out-of-sample probabilities from any
``fit_predict(train, test)`` callable. The torch-based Area Under the Margin lives in
``activecv.adapters.torch`` (``find_mislabeled``).
"""

from activecv.review._confident import (
    FILTERS,
    RANKINGS,
    LabelIssues,
    confident_joint,
    confident_thresholds,
    find_label_issues,
    label_quality_scores,
)
from activecv.review._csv import read_review_csv, write_label_issues_csv
from activecv.review._folds import cross_val_probs, stratified_folds

__all__ = [
    "FILTERS",
    "RANKINGS",
    "LabelIssues",
    "confident_joint",
    "confident_thresholds",
    "cross_val_probs",
    "find_label_issues",
    "label_quality_scores",
    "read_review_csv",
    "stratified_folds",
    "write_label_issues_csv",
]
