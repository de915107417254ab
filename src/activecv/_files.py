"""File helpers shared by every layer: image suffixes, content hashes, text in UTF-8."""

from __future__ import annotations

import hashlib
from pathlib import Path

from activecv._errors import InputError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def read_text(path: str | Path, what: str) -> str:
    """A text file's content as UTF-8, without the byte-order mark Excel and Notepad write;
    a missing file or another encoding gets an error naming ``what`` and the file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} {str(path)!r} does not exist.")
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{what} {str(path)!r} is not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start}); "
            "save it as UTF-8 (in Excel: 'CSV UTF-8')."
        ) from None


def resolve_under(root: Path, relative: str) -> Path | None:
    """``root / relative`` with links followed, or None when it leaves ``root``. A path the
    system cannot use (a NUL, a lone surrogate, too long, a loop of links) is an InputError."""
    try:
        if "\0" in relative:
            raise ValueError("embedded NUL character")
        relative.encode("utf-8")
        full = (root / relative).resolve()
        full.exists()  # raises for a name too long, which resolve() lets through
    except (ValueError, OSError, RuntimeError, UnicodeEncodeError) as exc:
        raise InputError(f"path {relative[:200]!r} is not a usable file path ({exc}).") from None
    return full if full.is_relative_to(root) else None
