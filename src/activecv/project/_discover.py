"""Finding a project's images: a folder, a glob or a manifest, as paths under one root."""

from __future__ import annotations

import csv
import glob
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from activecv._errors import InputError, missing_extra
from activecv._files import IMAGE_SUFFIXES, file_sha256, read_text, resolve_under

_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_GLOB = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class ItemFile:
    """One image as the ledger records it."""

    path: str  # POSIX path relative to the root, or a URI
    sha256: str | None
    bytes: int | None
    width: int | None
    height: int | None


def is_uri(path: str) -> bool:
    return bool(_URI.match(path))


def find_images(images: str | Path) -> tuple[Path, list[str]]:
    """The root and the image paths under it (sorted, relative) of a folder or a glob pattern."""
    text = str(images)
    wildcard = _GLOB.search(text)
    if wildcard:
        prefix = text[: wildcard.start()]  # "pool/" is the root of "pool/*.png"; "pool/a" of "pool/a*.png"
        root = Path(prefix) if prefix.endswith(("/", os.sep)) else Path(prefix).parent
        found = [Path(p) for p in glob.glob(text, recursive=True)]
    else:
        root = Path(text)
        if not root.is_dir():
            raise InputError(f"--images {text!r} is neither a directory nor a glob pattern.")
        found = list(root.rglob("*"))
    root = root.resolve()
    paths = sorted(_inside(p, root) for p in found if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise InputError(f"--images {text!r} matches no image files ({', '.join(sorted(IMAGE_SUFFIXES))}).")
    return root, paths


def _inside(file: Path, root: Path) -> str:
    """The path of ``file`` relative to ``root``; a link is followed and must stay inside."""
    target = resolve_under(root, str(file.absolute()))  # root / an absolute path is that path
    if target is None:
        raise InputError(
            f"{str(file)!r} is a link to {str(file.resolve())!r}, outside the images root {str(root)!r}; "
            "a project reads images only under its root. Copy the file into the root, or register a "
            "folder that holds both."
        )
    return target.relative_to(root).as_posix()


def unique(paths: list[str]) -> tuple[list[str], int]:
    """``paths`` without repeats (a link to a file already listed, ``./a.png`` beside
    ``a.png``), first occurrence kept, and how many repeats were dropped."""
    kept = list(dict.fromkeys(paths))
    return kept, len(paths) - len(kept)


def read_manifest(manifest: str | Path, root: str | Path | None = None) -> tuple[Path, list[str]]:
    """Paths listed in a CSV (a ``path`` column, else the first) or JSONL (``{"path": ...}``)
    manifest, relative to ``root`` (default: the manifest's folder). URIs pass as they are."""
    manifest = Path(manifest)
    if not manifest.is_file():
        raise InputError(f"--manifest {str(manifest)!r} does not exist.")
    base = Path(root) if root is not None else manifest.parent
    text = read_text(manifest, "--manifest")
    if manifest.suffix.lower() == ".jsonl":
        entries = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    entries.append(str(json.loads(line)["path"]))
                except (json.JSONDecodeError, KeyError, TypeError):
                    raise InputError(
                        f"line {n} of {str(manifest)!r} must be a JSON object with 'path'."
                    ) from None
    else:
        entries = _csv_paths(text, str(manifest))
    if not entries:
        raise InputError(f"--manifest {str(manifest)!r} lists no images.")
    return base.resolve(), [
        entry if is_uri(entry) else relative_path(entry, base.resolve()) for entry in entries
    ]


def _csv_paths(text: str, where: str) -> list[str]:
    """The ``path`` column of a CSV (else its first column); blank lines are skipped."""
    rows = [(n, row) for n, row in enumerate(csv.reader(io.StringIO(text, newline="")), 1) if any(row)]
    if not rows:
        return []
    header = rows[0][1]
    column = header.index("path") if "path" in header else 0
    entries = []
    for n, row in rows[1:] if header[column] == "path" else rows:
        if column >= len(row) or not row[column].strip():
            raise InputError(f"line {n} of {where!r} has no path in column {column + 1}; got {row!r}.")
        entries.append(row[column])
    return entries


def relative_path(path: str, root: Path) -> str:
    """``path`` as a POSIX path relative to ``root``; refuses one that leaves the root."""
    full = resolve_under(root, path)
    if full is None:
        raise InputError(
            f"image path {path!r} is outside the project's images root {str(root)!r}; "
            "list paths under the root, or pass a --root that contains them."
        )
    return full.relative_to(root).as_posix()


def describe(root: Path, paths: list[str]) -> list[ItemFile]:
    """Hash and measure each local image (header only); URIs are recorded as they are."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise missing_extra("Pillow", "project") from None
    items, broken = [], []
    for path in paths:
        if is_uri(path):
            items.append(ItemFile(path, None, None, None, None))
            continue
        file = root / PurePosixPath(path)
        if not file.is_file():
            broken.append(f"{path} (missing)")
            continue
        try:
            with Image.open(file) as image:
                width, height = image.size
        except (UnidentifiedImageError, OSError):
            broken.append(f"{path} (not a readable image)")
            continue
        items.append(ItemFile(path, file_sha256(file), file.stat().st_size, width, height))
    if broken:
        raise InputError(
            f"{len(broken)} listed images cannot be registered: {', '.join(broken[:5])}"
            f"{f' and {len(broken) - 5} more' if len(broken) > 5 else ''}. Nothing was registered."
        )
    return items
