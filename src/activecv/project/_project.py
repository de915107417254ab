"""``Project``: the facade over one ledger; the work is done by the modules of one job each
(``_pool``, ``_labels``, ``_rounds``, ``_work``), every per-request call by keyed queries."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from activecv.io import AnnotationFile, Label
from activecv.project import _labels as labels
from activecv.project import _links as links
from activecv.project import _pool as pool
from activecv.project import _region_rounds as region_rounds
from activecv.project import _rounds as rounds
from activecv.project import _suspects as suspects
from activecv.project import _work as work
from activecv.project._discover import describe, find_images, is_uri, read_manifest, relative_path, unique
from activecv.project._ledger import LEDGER, Ledger, check_same_project
from activecv.project._links import LabelStudioLink
from activecv.project._masks import MAX_CLASSES
from activecv.project._records import (
    HistoryEntry,
    ImportReport,
    Item,
    Lease,
    ProjectError,
    ProjectStatus,
    QueuedItem,
    RegisterReport,
    RoundRecord,
    SelectedItem,
)
from activecv.project._stopping import StoppingSignal, stopping_signal
from activecv.project._suspects import Suspect

TASKS = ("classification", "detection", "segmentation")


class Project:
    """An annotation project in ``directory``: open an existing one, or create it with
    :meth:`Project.init`. Safe to share between threads (each gets its own connection).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from PIL import Image
    >>> from activecv.project import Project
    >>> folder = Path(tempfile.mkdtemp())
    >>> for i in range(3):
    ...     Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(folder / f"{i}.png")
    >>> project = Project.init(folder / "project", task="classification", classes=["a", "b"], images=folder)
    >>> project.status().items
    3
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.registered: RegisterReport | None = None  # what init's registration did
        path = self.directory / LEDGER
        if not path.is_file():
            raise ProjectError(
                f"{str(self.directory)!r} is not an activecv project (no {LEDGER}); "
                "create one with: activecv project init DIR --images PATH --task T --classes A,B"
            )
        self._ledger = Ledger(path)
        meta = self._ledger.meta
        if "project_id" not in meta:
            self._ledger.close()
            raise ProjectError(f"{str(path)!r} was left by an interrupted init; run the same init again.")
        self.id: str = meta["project_id"]
        self.task: str = meta["task"]
        self.root = Path(meta["root"])
        self.classes: tuple[str, ...] = tuple(
            name for (name,) in self._ledger.execute("SELECT name FROM classes ORDER BY id")
        )
        self._schema = labels.Schema(self.task, self.classes)

    @classmethod
    def init(
        cls,
        directory: str | Path,
        *,
        task: str,
        classes: Sequence[str],
        images: str | Path | None = None,
        manifest: str | Path | None = None,
        root: str | Path | None = None,
    ) -> Project:
        """Create a project (or re-register into an existing one with the same task and
        classes) over the images of a folder or glob (``images``) or a CSV/JSONL ``manifest``.
        Everything is checked before the project is created; creation and registration are
        one transaction."""
        if task not in TASKS:
            raise ProjectError(f"task must be one of {', '.join(TASKS)}; got {task!r}.")
        names = [str(c) for c in classes]
        if not names or len(set(names)) != len(names) or not all(c.strip() for c in names):
            raise ProjectError(f"classes must be distinct non-empty names; got {names!r}.")
        if task == "segmentation" and not 2 <= len(names) <= MAX_CLASSES:
            raise ProjectError(
                f"a segmentation project needs 2 to {MAX_CLASSES} classes, the first the background; "
                f"got {len(names)}."
            )
        if images is not None and manifest is None:
            base, paths = find_images(images)
        elif manifest is not None and images is None:
            base, paths = read_manifest(manifest, root)
        else:
            raise ProjectError(
                "pass exactly one of images (a folder or glob) and manifest (a CSV/JSONL file)."
            )
        paths, repeated = unique(paths)
        files = describe(base, paths)
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        ledger = Ledger(directory / LEDGER)
        try:
            with ledger.write() as conn:
                if conn.execute("SELECT COUNT(*) FROM meta").fetchone()[0] == 0:
                    meta = {
                        "project_id": uuid.uuid4().hex,
                        "task": task,
                        "root": str(base),
                        "created_at": pool.now(),
                    }
                    conn.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
                    conn.executemany("INSERT INTO classes (name) VALUES (?)", [(c,) for c in names])
                check_same_project(conn, directory, task, names, base)
                report = pool.register(conn, files)
        finally:
            ledger.close()
        project = cls(directory)
        project.registered = dataclasses.replace(report, repeated=report.repeated + repeated)
        return project

    def close(self) -> None:
        self._ledger.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the pool ------------------------------------------------------------------------

    def register_paths(self, paths: Sequence[str]) -> RegisterReport:
        """Hash, measure and register image files given by their paths under the images root
        (or URIs); a path already registered is left as it is (idempotent)."""
        checked, repeated = unique([p if is_uri(p) else relative_path(p, self.root) for p in paths])
        files = describe(self.root, checked)
        with self._ledger.write() as conn:
            report = pool.register(conn, files)
        return dataclasses.replace(report, repeated=report.repeated + repeated)

    def item_ids(self, keys: Sequence[int | str], what: str = "ids") -> list[int]:
        """Item ids of items named by id (int) or registered path (str); unknown ones raise."""
        return pool.item_ids(self._ledger, keys, what)

    def items(self, which: str = "all") -> list[Item]:
        """Items (all, labeled or unlabeled), in id order."""
        return pool.items(self._ledger, which)

    def local_path(self, path: str) -> Path:
        """The file of a registered path; refuses one that leaves the images root."""
        return pool.local_path(self.root, path)

    # ---- labels --------------------------------------------------------------------------

    def import_annotations(self, file: AnnotationFile) -> ImportReport:
        """Store a file's annotations, all or none.

        Everything is checked before anything is written: the file's project, every image,
        every class, every box. An annotation equal to the item's current one, or one the
        tool already delivered (same tool id and time), is not stored again, so a repeated
        import changes nothing; a different one becomes the item's label, the earlier kept.
        """
        if file.project_id is not None and file.project_id != self.id:
            raise ProjectError(
                f"this label file belongs to activecv project {file.project_id}, not to "
                f"{str(self.directory)!r} ({self.id}); import it into the project it was exported from."
            )
        return labels.import_annotations(self._ledger, self._schema, file)

    def labels(self) -> dict[int, list[Label]]:
        """The current labels of every labeled item (its latest annotation), by item id."""
        return labels.labels(self._ledger)

    def mask(self, item: int | str) -> np.ndarray | None:
        """The current (H, W) mask of an image of a segmentation project: class index per
        pixel (the project's classes in order), 255 where nothing is labeled yet."""
        (item_id,) = pool.item_ids(self._ledger, [item], "items")
        return labels.current_mask(self._ledger, item_id)

    def history(self, item: int | str) -> list[HistoryEntry]:
        """Every annotation of one item, oldest first: annotator, source, time and labels."""
        (item_id,) = pool.item_ids(self._ledger, [item], "items")
        return labels.history(self._ledger, item_id)

    # ---- rounds --------------------------------------------------------------------------

    def round(
        self,
        predictions: str | Path,
        strategy: str,
        budget: int | None = None,
        *,
        cost_budget: float | None = None,
        costs_column: str | None = None,
        seconds_per_box: float | None = None,
        seconds_per_image: float | None = None,
        params: dict[str, Any] | None = None,
        candidates: int | None = None,
        seed: int = 0,
        model_version: str | None = None,
        background_index: int | None = None,
        progress: bool = False,
    ) -> list[SelectedItem]:
        """Select the next ``budget`` images from a predictions file (``ids`` + arrays, or COCO
        detection results whose ``image_id`` are item ids) and record the round: strategy,
        parameters, seed, model version, the predictions file's hash, every score computed and
        the selection, in one transaction. Items labeled or selected in an earlier round are
        never selected. The same request again returns the round it made (nothing is selected
        twice); returns the round's selection, best first.

        Instead of ``budget`` images, ``cost_budget`` spends an annotation cost (seconds, say)
        with :func:`activecv.select_within_cost`: each image's cost is the predictions file's
        ``costs_column``, or on COCO results ``seconds_per_image`` + ``seconds_per_box`` x its
        predicted boxes. The round's record keeps the budget and the cost spent
        (``RoundRecord.cost``) and the scores of the selected images.
        """
        asked = rounds.request(
            predictions,
            strategy,
            budget,
            params,
            candidates,
            seed,
            model_version,
            background_index,
            cost_budget=cost_budget,
            costs_column=costs_column,
            seconds_per_box=seconds_per_box,
            seconds_per_image=seconds_per_image,
        )
        return rounds.selection(self._ledger, rounds.make_round(self._ledger, self._schema, asked, progress))

    def round_regions(
        self,
        predictions: str | Path,
        budget: int,
        *,
        measure: str = "entropy",
        regions: str = "grid",
        cell: int = 16,
        n_segments: int = 256,
        cost: str = "dominant",
        class_balance: bool = True,
        max_regions_per_image: int | None = None,
        model_version: str | None = None,
        per_click: bool = False,
        progress: bool = False,
    ) -> list[SelectedItem]:
        """A region round of a segmentation project: the regions to label within ``budget``
        clicks (``activecv.select_regions``: grid cells of ``cell`` pixels, or ``superpixels``,
        SLIC of about ``n_segments`` regions cached under the project), among images not
        labeled whole and regions not chosen before; ``per_click`` ranks regions by score per
        click. Returns the chosen images, best first, each with its regions in
        ``prediction["regions"]``."""
        if self.task != "segmentation":
            raise ProjectError(f"region rounds are for segmentation projects; this one is {self.task}.")
        asked = region_rounds.RegionRequest(
            Path(predictions), budget, measure, regions, cell, n_segments, cost, class_balance,
            max_regions_per_image, model_version, per_click,
        )  # fmt: skip
        cache = self.directory / "superpixels"
        number = region_rounds.make_region_round(
            self._ledger, self.classes, self.root, cache, asked, progress
        )
        return rounds.selection(self._ledger, number)

    def rounds(self) -> list[RoundRecord]:
        """Every round's record (strategy, params, seed, model version, ...), oldest first."""
        return rounds.rounds(self._ledger)

    def stopping(self, threshold: float = 0.99, window: int = 3) -> StoppingSignal:
        """When to stop: Cohen's kappa between successive rounds' recorded predictions on a
        fixed stop set (Bloodgood & Vijay-Shanker 2009); a missing or changed file is reported."""
        return stopping_signal(self.rounds(), self.id, self.directory, threshold, window)

    def selection(self, round_number: int | None = None) -> list[SelectedItem]:
        """One round's selected items (default: the latest round), best first."""
        return rounds.selection(self._ledger, round_number)

    def scores(self, round_number: int) -> dict[int, float]:
        """Every score a round computed, by item id."""
        return rounds.scores(self._ledger, round_number)

    def selection_page(self, round_number: int, after_rank: int = 0, limit: int = 100) -> list[SelectedItem]:
        """The ``limit`` items of a round ranked after ``after_rank``, best first; the next page
        starts after the last one's rank. Costs the same in a round of any size."""
        return rounds.selection_page(self._ledger, round_number, after_rank, limit)

    def round_balance(self, round_number: int) -> dict[str, tuple[int, int]]:
        """Per class: (selected by the model's prediction, labeled now) among a round's images."""
        return rounds.round_balance(self._ledger, round_number, self.classes)

    def labels_by_annotator(self) -> dict[str, tuple[int, int]]:
        """Per annotator: (annotations given, images annotated)."""
        return labels.labels_by_annotator(self._ledger)

    def item(self, key: int | str) -> Item:
        """One item, by id or registered path; an unknown one raises."""
        (item_id,) = pool.item_ids(self._ledger, [key], "items")
        return pool.item(self._ledger, item_id)

    # ---- work ----------------------------------------------------------------------------

    def next(self, annotator: str, n: int, lease_seconds: float = 3600.0) -> list[Lease]:
        """Hand ``n`` selected, unlabeled images to ``annotator`` under a lease: no one else gets
        them until the lease expires or a label arrives. The annotator's own unexpired leases
        come back first, so asking again gives the same images."""
        return work.next_work(self._ledger, annotator, n, lease_seconds)

    def enqueue(
        self, data: bytes, suffix: str, size: tuple[int, int], metric: str, value: float, model_version: str
    ) -> int:
        """Store an image flagged for annotation once (by content) under ``incoming/`` of the
        images root, register it and put it in the annotation queue; returns its item id."""
        return work.enqueue(self._ledger, self.root, data, suffix, size, metric, value, model_version)

    def queue(
        self, limit: int = 100, after: int | None = None, include_labeled: bool = False
    ) -> list[QueuedItem]:
        """Images the prediction service flagged, oldest first (unlabeled ones unless asked);
        the next page starts ``after`` the last item id of this one."""
        return work.queue(self._ledger, limit, after, include_labeled)

    # ---- Label Studio --------------------------------------------------------------------

    def label_studio_link(self) -> LabelStudioLink | None:
        """The Label Studio project this project was pushed to, if any."""
        return links.link(self._ledger)

    def label_studio_tasks(self, item_ids: Sequence[int]) -> dict[int, str]:
        """The page in Label Studio of each of ``item_ids`` pushed there, by item id."""
        known = links.link(self._ledger)
        if known is None:
            return {}
        return {item: known.task_url(task) for item, task in links.task_ids(self._ledger, item_ids).items()}

    def record_label_studio(self, link: LabelStudioLink, tasks: dict[int, int]) -> None:
        """Remember where the project was pushed and each pushed image's task (item -> task id)."""
        links.record(self._ledger, link, tasks)

    def record_suspects(self, rows: Sequence[tuple[int | str, str, int, float, str | None]]) -> int:
        """Make ``rows`` (item id or registered path, method, rank, score, suggested class) the
        review list, replacing the previous one; ``export(items="suspect")`` sends it out."""
        ids = self.item_ids([row[0] for row in rows], "suspect ids")
        suspects.replace(self._ledger, [(i, *row[1:]) for i, row in zip(ids, rows, strict=True)])
        return len(rows)

    def suspects(self) -> list[Suspect]:
        """The review list (labels likely wrong), most suspect first."""
        return suspects.suspects(self._ledger)

    def status(self) -> ProjectStatus:
        """Counts: items, labeled, per round (selected, labeled), class balance, pending leases."""
        ledger = self._ledger
        with ledger.snapshot():  # one state of the ledger, whatever writes meanwhile
            total, labeled = pool.count(ledger), labels.labeled_count(ledger)
            return ProjectStatus(
                self.id,
                self.task,
                total,
                labeled,
                total - labeled,
                rounds.progress(ledger),
                labels.class_balance(ledger, self.classes),
                work.leases_by_annotator(ledger),
            )
