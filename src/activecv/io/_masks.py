"""Segmentation masks in and out: Label Studio brush RLE, COCO RLE and polygons, PNG index masks.

Every function is pure (files aside) and works on ``(H, W)`` arrays: a binary mask is ``bool``,
an index mask holds a class index per pixel with :data:`IGNORE` (255) for pixels not labeled.

Label Studio's brush ``rle`` is the rle-pack format of thi.ng/umbrella run over the image's
RGBA bytes, row by row (4 values a pixel, 255 in all four where the mask is set). The stream is
big-endian bits: a 32-bit count of values, 5 bits of word size - 1, four 4-bit sizes - 1 of the
run-length fields, then runs until ``count`` values are out. A run is 1 flag bit (1 = one value
repeated, 0 = literal values), 2 bits choosing a run-length field, the run length - 1 in that
field, then one word (repeat) or run-length words (literal). The last byte is zero-padded.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from activecv._errors import InputError, missing_extra, shown
from activecv.io._annotations import UNLABELED

IGNORE = UNLABELED  # the index of "not labeled" pixels in an 8-bit index mask

_WORD = 8  # brush RLE words: RGBA bytes
_FIELDS = (3, 4, 8, 16)  # run-length field sizes, as Label Studio's converter writes them
_HEADER_BITS = 32 + 5 + 4 * 4


# ---- validation ----------------------------------------------------------------------------


def _positive(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise InputError(f"{name} must be a positive integer (pixels); got {value!r}.")
    return int(value)


def _two_d(mask: Any) -> np.ndarray:
    array = np.asarray(mask)
    if array.ndim != 2:
        raise InputError(
            f"mask must be a 2-D (H, W) array; got shape {array.shape} {array.dtype}. "
            "For a stack of masks pass one at a time, mask[i]."
        )
    if array.size == 0:
        raise InputError(f"mask must have at least one pixel; got shape {array.shape}.")
    return array


def _binary(mask: Any) -> np.ndarray:
    """``mask`` as a 2-D bool array; it must be bool or hold only 0 and 1."""
    array = _two_d(mask)
    if array.dtype == np.bool_:
        return array
    if array.dtype.kind not in "iuf":
        raise InputError(f"mask must be a bool (or 0/1) array; got dtype {array.dtype}.")
    odd = array[(array != 0) & (array != 1)]
    if odd.size:
        raise InputError(
            f"mask must be bool or hold only 0 and 1; got {odd.size} other values "
            f"({shown(np.unique(odd).tolist())}). For a 0/255 mask pass mask > 0."
        )
    return array.astype(bool)


def _pycocotools() -> Any:
    try:
        import pycocotools.mask as mask_api
    except ImportError:
        raise missing_extra("pycocotools", "project") from None
    return mask_api


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise missing_extra("Pillow", "project") from None
    return Image


# ---- Label Studio brush RLE ----------------------------------------------------------------


def _bits(values: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """The bits (uint8 0/1, most significant first) of each value in its width, concatenated."""
    values = values.astype(np.uint64)
    widths = widths.astype(np.uint64)
    box = 32 if values.size == 0 or int(widths.max()) <= 32 else 64
    aligned = (values << (np.uint64(box) - widths)).astype(f">u{box // 8}")
    bits = np.unpackbits(aligned.view(np.uint8).reshape(-1, box // 8), axis=1)
    return bits[np.arange(box) < widths[:, None].astype(np.int64)]


def _pack(lengths: np.ndarray, values: np.ndarray, count: int) -> np.ndarray:
    """The rle-pack stream (bytes as uint8) of runs ``lengths`` of ``values`` (8-bit words),
    with run-length fields :data:`_FIELDS`: a run of one value is a literal, longer runs are
    repeats, split at the largest field's capacity."""
    caps = np.array([1 << f for f in _FIELDS], dtype=np.int64)
    cap = int(caps[-1])
    pieces = (lengths - 1) // cap + 1
    chunks = np.full(int(pieces.sum()), cap, dtype=np.int64)
    chunks[np.cumsum(pieces) - 1] = lengths - (pieces - 1) * cap
    words = np.repeat(values, pieces).astype(np.int64)
    choice = np.searchsorted(caps, chunks)  # the smallest field that holds length - 1
    field = np.array(_FIELDS, dtype=np.int64)[choice]
    flag = (chunks > 1).astype(np.int64)
    tokens = (flag << (2 + field + _WORD)) | (choice << (field + _WORD)) | ((chunks - 1) << _WORD) | words
    header = _bits(np.array([count, _WORD - 1, *(f - 1 for f in _FIELDS)]), np.array([32, 5, 4, 4, 4, 4]))
    return np.packbits(np.concatenate([header, _bits(tokens, 3 + field + _WORD)]))


def _stream_bytes(rle: Any) -> bytes:
    if isinstance(rle, (bytes, bytearray)):
        return bytes(rle)
    array = np.asarray(rle)
    if isinstance(rle, str) or array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
        raise InputError(
            "rle must be a flat list of byte values (ints 0-255), a brushlabels result's 'rle'; "
            f"got {type(rle).__name__} of shape {array.shape} {array.dtype}."
        )
    if array.size and (array.min() < 0 or array.max() > 255):
        bad = array[(array < 0) | (array > 255)]
        raise InputError(f"rle must hold byte values 0-255; got {shown(bad.tolist())}.")
    return array.astype(np.uint8).tobytes()


class _BitReader:
    """Reads big-endian bit fields of a byte string; past its end is a truncated stream."""

    def __init__(self, data: bytes, count: int) -> None:
        self.data, self.total, self.count = data, len(data) * 8, count
        self.bits: np.ndarray | None = None

    def truncated(self, done: int) -> InputError:
        return InputError(
            f"brush RLE is truncated: its header declares {self.count} values and its "
            f"{len(self.data)} bytes end after {done}. Pass the result's complete 'rle' list."
        )

    def read(self, pos: int, width: int, done: int) -> int:
        end = pos + width
        if end > self.total:
            raise self.truncated(done)
        last = (end + 7) >> 3
        chunk = int.from_bytes(self.data[pos >> 3 : last], "big")
        return (chunk >> ((last << 3) - end)) & ((1 << width) - 1)

    def words(self, pos: int, n: int, word: int, done: int) -> np.ndarray:
        if pos + n * word > self.total:
            raise self.truncated(done)
        if self.bits is None:
            self.bits = np.unpackbits(np.frombuffer(self.data, dtype=np.uint8))
        block = self.bits[pos : pos + n * word].reshape(n, word).astype(np.uint64)
        return block @ (np.uint64(1) << np.arange(word - 1, -1, -1, dtype=np.uint64))


def _header(data: bytes) -> tuple[int, int, tuple[int, ...]]:
    if len(data) * 8 < _HEADER_BITS:
        raise InputError(
            f"brush RLE is truncated: {len(data)} bytes cannot hold its {_HEADER_BITS}-bit header "
            "(count, word size, run-length field sizes)."
        )
    head = int.from_bytes(data[:7], "big") >> (56 - _HEADER_BITS)
    count, word = head >> 21, ((head >> 16) & 0x1F) + 1
    fields = tuple(((head >> shift) & 0xF) + 1 for shift in (12, 8, 4, 0))
    return count, word, fields


def _unpack(data: bytes, count: int, word: int, fields: tuple[int, ...]) -> np.ndarray:
    """The ``count`` values of a stream whose header :func:`_header` read."""
    reader = _BitReader(data, count)
    values: list[int] = []
    lengths: list[int] = []
    literal: list[np.ndarray] = []  # literal runs' words, stored once their place is known
    pos, done = _HEADER_BITS, 0
    while done < count:
        head = reader.read(pos, 3, done)
        field = fields[head & 3]
        if head >> 2:  # a repeat: its length and one word in a single read
            both = reader.read(pos + 3, field + word, done)
            n, value = (both >> word) + 1, both & ((1 << word) - 1)
            pos += 3 + field + word
        else:
            n = reader.read(pos + 3, field, done) + 1
            pos += 3 + field
            if n == 1:  # Label Studio's encoder writes every lone value so: no array for it
                value = reader.read(pos, word, done)
            else:
                literal.append(reader.words(pos, n, word, done))
                value = -len(literal)  # a placeholder, replaced below
            pos += n * word
        if done + n > count:
            raise InputError(
                f"brush RLE is corrupt: a run of {n} values at value {done} passes the {count} values "
                "its header declares."
            )
        values.append(value)
        lengths.append(n)
        done += n
    dtype = np.uint8 if word <= 8 else np.uint32
    out = np.repeat(np.maximum(np.asarray(values, dtype=np.int64), 0).astype(dtype), lengths)
    if literal:
        starts = np.cumsum([0, *lengths[:-1]])
        for index in np.flatnonzero(np.asarray(values) < 0):
            out[starts[index] : starts[index] + lengths[index]] = literal[-values[index] - 1]
    return out


def brush_encode(mask: np.ndarray) -> list[int]:
    """The ``rle`` of a Label Studio ``brushlabels`` result for a binary mask.

    Parameters
    ----------
    mask : (H, W) bool or 0/1 array
        The brush stroke: True (1) where it covers the pixel.

    Returns
    -------
    list of int
        Byte values 0-255: the rle-pack stream of the image's RGBA bytes, row by row, 255 in
        all four channels where the mask is set, with the run-length fields Label Studio's
        converter uses (3, 4, 8, 16 bits). The result also needs ``original_width`` (W) and
        ``original_height`` (H).

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.zeros((2, 3), dtype=bool)
    >>> mask[1, 2] = True
    >>> rle = brush_encode(mask)
    >>> rle
    [0, 0, 0, 24, 57, 27, 254, 19, 0, 143, 252]
    >>> brush_decode(rle, width=3, height=2)
    array([[False, False, False],
           [False, False,  True]])
    """
    binary = _binary(mask)
    count = binary.size * 4
    if count >= 1 << 32:
        raise InputError(
            f"mask of shape {binary.shape} is too large for brush RLE: its 32-bit count holds "
            f"at most {(1 << 32) - 1} values (4 a pixel); got {count}."
        )
    pixels = binary.ravel()
    starts = np.concatenate([[0], np.flatnonzero(pixels[1:] != pixels[:-1]) + 1])
    lengths = np.diff(np.append(starts, pixels.size)) * 4
    return _pack(lengths, np.where(pixels[starts], 255, 0), count).tolist()


def brush_decode(rle: Sequence[int], width: int, height: int) -> np.ndarray:
    """The binary mask of a Label Studio ``brushlabels`` result's ``rle``.

    Parameters
    ----------
    rle : sequence of int
        Byte values 0-255 (or ``bytes``): an rle-pack stream of the image's RGBA values, row by
        row. Any valid stream decodes: any word size (1-32 bits), run-length field sizes and
        literal runs; bits after the last value are ignored.
    width, height : int
        The result's ``original_width`` and ``original_height``.

    Returns
    -------
    (H, W) bool array
        True where the alpha channel is not 0.

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.array([[0, 1, 1, 0], [0, 0, 1, 0]], dtype=bool)
    >>> brush_decode(brush_encode(mask), width=4, height=2)
    array([[False,  True,  True, False],
           [False, False,  True, False]])
    """
    width, height = _positive(width, "width"), _positive(height, "height")
    data = _stream_bytes(rle)
    count, word, fields = _header(data)
    if count != width * height * 4:
        raise InputError(
            f"brush RLE decodes to {count} values; a {width}x{height} image needs "
            f"{width}*{height}*4 = {width * height * 4}. Pass the result's original_width and "
            "original_height."
        )
    values = _unpack(data, count, word, fields)
    return values.reshape(height, width, 4)[:, :, 3] != 0


# ---- COCO RLE and polygons -----------------------------------------------------------------


def coco_rle_encode(mask: np.ndarray) -> dict[str, Any]:
    """The compressed COCO RLE of a binary mask, ready for JSON.

    Parameters
    ----------
    mask : (H, W) bool or 0/1 array

    Returns
    -------
    dict
        ``{"size": [H, W], "counts": str}``: exactly what ``pycocotools.mask.encode`` gives
        for the mask as a Fortran-ordered uint8 array (runs go down the columns), with
        ``counts`` decoded to ``str``.

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.zeros((3, 4), dtype=bool)
    >>> mask[0, 1:3] = True
    >>> coco_rle_encode(mask)
    {'size': [3, 4], 'counts': '31203'}
    >>> coco_rle_decode(coco_rle_encode(mask)).astype(int)
    array([[0, 1, 1, 0],
           [0, 0, 0, 0],
           [0, 0, 0, 0]])
    """
    binary = _binary(mask)
    encoded = _pycocotools().encode(np.asfortranarray(binary.astype(np.uint8)))
    return {"size": [int(n) for n in encoded["size"]], "counts": encoded["counts"].decode("ascii")}


def _coco_counts(text: bytes) -> list[int]:
    """The run lengths of a compressed COCO RLE string (pycocotools' ``rleFrString``): each
    count in 5-bit groups, least significant first, as characters from ``'0'``; bit 0x20 says
    another group follows and bit 0x10 of the last is the sign; from the fourth count on, the
    count two before is added."""
    counts: list[int] = []
    p = 0
    while p < len(text):
        x = shift = 0
        while True:
            if p == len(text):
                raise InputError(
                    f"COCO RLE counts end in the middle of a number: {text[-20:].decode('ascii')!r}."
                )
            c = text[p] - 48
            if not 0 <= c < 64:
                raise InputError(
                    f"COCO RLE counts may hold only the characters '0' to 'o'; got {chr(text[p])!r} "
                    f"at position {p}."
                )
            x |= (c & 0x1F) << shift
            p, shift = p + 1, shift + 5
            if not c & 0x20:
                break
        if c & 0x10:
            x -= 1 << shift
        if len(counts) > 2:
            x += counts[-2]
        if x < 0:
            raise InputError(f"COCO RLE counts decode to a negative run ({x}) at run {len(counts)}.")
        counts.append(x)
    return counts


def _coco_size(rle: Any) -> tuple[int, int]:
    if not isinstance(rle, Mapping) or "size" not in rle or "counts" not in rle:
        got = sorted(rle) if isinstance(rle, Mapping) else type(rle).__name__
        raise InputError(f'rle must be a COCO RLE dict {{"size": [H, W], "counts": ...}}; got {got}.')
    size = rle["size"]
    if (
        not isinstance(size, (list, tuple))
        or len(size) != 2
        or not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n > 0 for n in size)
    ):
        raise InputError(f"rle['size'] must be [H, W], two positive integers; got {size!r}.")
    return int(size[0]), int(size[1])


def coco_rle_decode(rle: dict[str, Any], width: int | None = None, height: int | None = None) -> np.ndarray:
    """The binary mask of a COCO RLE, compressed (``str`` or ``bytes`` counts) or not (a list).

    Parameters
    ----------
    rle : dict
        ``{"size": [H, W], "counts": ...}``; runs go down the columns, starting with 0s.
    width, height : int, optional
        The image's size: when given, ``rle["size"]`` must match it.

    Returns
    -------
    (H, W) bool array

    Examples
    --------
    >>> coco_rle_decode({"size": [2, 3], "counts": [1, 2, 3]}).astype(int)  # down the columns
    array([[0, 1, 0],
           [1, 0, 0]])
    >>> coco_rle_decode({"size": [2, 3], "counts": "123"}, width=3, height=2).astype(int)
    array([[0, 1, 0],
           [1, 0, 0]])
    """
    h, w = _coco_size(rle)
    if (width is not None and _positive(width, "width") != w) or (
        height is not None and _positive(height, "height") != h
    ):
        raise InputError(
            f"COCO RLE size [H, W] = [{h}, {w}] does not match width={width}, height={height}. "
            "Pass the size of the image the RLE was made for."
        )
    counts = rle["counts"]
    if isinstance(counts, str):
        try:
            counts = counts.encode("ascii")
        except UnicodeEncodeError:
            raise InputError("COCO RLE counts string must be ASCII ('0' to 'o').") from None
    if isinstance(counts, (bytes, bytearray)):
        runs = np.array(_coco_counts(bytes(counts)), dtype=np.int64)
    else:
        array = np.asarray(counts)
        if isinstance(counts, Mapping) or array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
            raise InputError(
                "rle['counts'] must be a str or bytes (compressed) or a list of run lengths; got "
                f"{type(counts).__name__} {array.dtype}."
            )
        runs = array.astype(np.int64)
        if runs.size and runs.min() < 0:
            raise InputError(f"rle['counts'] run lengths must be >= 0; got {shown(runs[runs < 0].tolist())}.")
    if int(runs.sum()) != h * w:
        raise InputError(
            f"COCO RLE counts cover {int(runs.sum())} pixels; its size [{h}, {w}] needs {h * w}."
        )
    flat = np.repeat(np.arange(runs.size) % 2 == 1, runs)
    return np.ascontiguousarray(flat.reshape(w, h).T)


def _polygon(polygon: Any, where: str) -> list[float]:
    try:
        coords = np.asarray(polygon, dtype=np.float64)
    except (TypeError, ValueError):  # not numbers, or ragged
        coords = np.empty((0, 0))
    if coords.ndim != 1 or coords.size % 2 or coords.size < 6:
        raise InputError(
            f"{where} must be a flat [x0, y0, x1, y1, ...] list of at least 3 points (an even number "
            f">= 6 of coordinates); got {polygon!r:.80}. For one polygon pass [polygon]."
        )
    if not np.isfinite(coords).all():
        raise InputError(
            f"{where} must hold finite coordinates; got {shown(coords[~np.isfinite(coords)].tolist())}."
        )
    return coords.tolist()


def _rasterise(polygons: list[list[float]], width: int, height: int) -> np.ndarray:
    if not polygons:
        return np.zeros((height, width), dtype=bool)
    mask_api = _pycocotools()
    merged = mask_api.merge(mask_api.frPyObjects(polygons, height, width))
    # pycocotools.mask.decode gives the same pixels but warns under NumPy 2 (its __array__
    # takes no copy argument), and warnings are errors here: decode its RLE ourselves.
    return coco_rle_decode(merged)


def polygons_to_mask(polygons: Sequence[Sequence[float]], width: int, height: int) -> np.ndarray:
    """The union of COCO polygons as a binary mask, rasterised by pycocotools.

    Parameters
    ----------
    polygons : sequence of sequences of float
        A COCO ``segmentation``: polygons, each a flat ``[x0, y0, x1, y1, ...]`` list in pixels
        (at least 3 points); an empty list gives an empty mask.
    width, height : int
        The image's size in pixels.

    Returns
    -------
    (H, W) bool array

    Examples
    --------
    >>> polygons_to_mask([[1, 1, 4, 1, 4, 3, 1, 3]], width=5, height=4).astype(int)
    array([[0, 0, 0, 0, 0],
           [0, 1, 1, 1, 0],
           [0, 1, 1, 1, 0],
           [0, 0, 0, 0, 0]])
    """
    width, height = _positive(width, "width"), _positive(height, "height")
    given: Any = polygons  # checked as it comes, whatever its annotation says
    if isinstance(given, (str, bytes)) or not isinstance(given, (Sequence, np.ndarray)):
        raise InputError(
            f"polygons must be a list of flat [x0, y0, x1, y1, ...] lists; got {type(given).__name__}."
        )
    rings = [_polygon(p, f"polygons[{i}]") for i, p in enumerate(given)]
    return _rasterise(rings, width, height)


def percent_polygon_to_mask(points: Sequence[Sequence[float]], width: int, height: int) -> np.ndarray:
    """The binary mask of a Label Studio ``polygonlabels`` value, rasterised like
    :func:`polygons_to_mask`.

    Parameters
    ----------
    points : sequence of [x, y]
        The value's ``points``, in percent of the image's width and height (at least 3).
    width, height : int
        The result's ``original_width`` and ``original_height``.

    Returns
    -------
    (H, W) bool array

    Examples
    --------
    >>> points = [[20, 25], [80, 25], [80, 75], [20, 75]]
    >>> percent_polygon_to_mask(points, width=5, height=4).astype(int)
    array([[0, 0, 0, 0, 0],
           [0, 1, 1, 1, 0],
           [0, 1, 1, 1, 0],
           [0, 0, 0, 0, 0]])
    """
    width, height = _positive(width, "width"), _positive(height, "height")
    try:
        xy = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        xy = np.empty((0, 0))
    if xy.ndim != 2 or xy.shape[1] != 2 or len(xy) < 3:
        raise InputError(f"points must be [[x%, y%], ...] with at least 3 points; got {points!r:.80}.")
    if not np.isfinite(xy).all():
        raise InputError(f"points must be finite percentages; got {shown(xy[~np.isfinite(xy)].tolist())}.")
    pixels = xy / 100 * np.array([width, height])  # as Label Studio's COCO export computes it
    return _rasterise([pixels.ravel().tolist()], width, height)


# ---- PNG index masks -----------------------------------------------------------------------


def read_index_mask(path: str | Path) -> np.ndarray:
    """The class index of every pixel of a PNG index mask.

    Parameters
    ----------
    path : str or Path
        A PNG of mode L or P (8-bit) or I;16 (16-bit): pixel value = class index,
        :data:`IGNORE` (255) = not labeled in an 8-bit mask. An RGB PNG whose three channels
        are equal is read as gray.

    Returns
    -------
    (H, W) int64 array

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     write_index_mask(f"{folder}/mask.png", np.array([[0, 1], [2, IGNORE]]))
    ...     read_index_mask(f"{folder}/mask.png")
    array([[  0,   1],
           [  2, 255]])
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"index mask {str(path)!r} does not exist.")
    image_module = _pillow()
    try:
        with image_module.open(path) as image:
            image.load()
            kind, mode, array = image.format, image.mode, np.asarray(image)
    except (OSError, ValueError, SyntaxError) as exc:  # UnidentifiedImageError is an OSError
        raise InputError(f"index mask {str(path)!r} is not a readable PNG image ({exc}).") from None
    if kind != "PNG":
        raise InputError(
            f"index mask {str(path)!r} is {kind}, not PNG; index masks must be lossless PNG files."
        )
    if mode == "RGB":
        if not ((array[..., 0] == array[..., 1]) & (array[..., 1] == array[..., 2])).all():
            raise InputError(
                f"index mask {str(path)!r} is an RGB image whose channels differ: a colour-coded "
                "mask, not an index mask. Map its colours to class indices and save it as a "
                "single-channel PNG (mode L, P or I;16)."
            )
        array = array[..., 0]
    elif mode not in ("L", "P", "1", "I", "I;16", "I;16B", "I;16L"):
        raise InputError(
            f"index mask {str(path)!r} has mode {mode}; an index mask is a single-channel PNG "
            "(mode L, P or I;16) with one class index a pixel."
        )
    return array.astype(np.int64)


def write_index_mask(path: str | Path, mask: np.ndarray) -> None:
    """Write an index mask as a grayscale PNG, atomically (a temporary file, then a rename).

    Parameters
    ----------
    path : str or Path
        The PNG to write; its folder must exist. An existing file is replaced.
    mask : (H, W) integer array
        Class indices 0-65535 (:data:`IGNORE` = not labeled): an 8-bit PNG when every value is
        at most 255, else a 16-bit one.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     write_index_mask(f"{folder}/mask.png", np.array([[0, 300]]))
    ...     read_index_mask(f"{folder}/mask.png")
    array([[  0, 300]])
    """
    array = _two_d(mask)
    if array.dtype.kind not in "biu":
        raise InputError(
            f"mask must hold integer class indices; got dtype {array.dtype}. "
            "Round it and pass mask.astype(np.int64)."
        )
    low, high = int(array.min()), int(array.max())
    if low < 0 or high > 65535:
        raise InputError(f"mask class indices must lie in [0, 65535]; got values from {low} to {high}.")
    image = _pillow().fromarray(array.astype(np.uint8 if high <= 255 else np.uint16))
    path = Path(path)
    if not path.parent.is_dir():
        raise InputError(f"the folder of {str(path)!r} does not exist; create it first.")
    temporary = path.parent / f".{path.name}.{secrets.token_hex(4)}.partial"
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(handle, "wb") as out:
            image.save(out, format="PNG")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
