"""Mask codecs: Label Studio brush RLE, COCO RLE and polygons, PNG index masks.

Masks are real digits (``load_digits`` thresholded at > 4) and edge cases: empty, full, one
pixel, 48 x 64 (so H and W cannot be swapped unnoticed), a 1024 x 1024 mask of random blobs.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pycocotools.mask as coco_mask
import pytest
from PIL import Image
from scipy import ndimage
from sklearn.datasets import load_digits

from activecv._errors import InputError, MissingExtraError
from activecv.io._masks import (
    IGNORE,
    brush_decode,
    brush_encode,
    coco_rle_decode,
    coco_rle_encode,
    percent_polygon_to_mask,
    polygons_to_mask,
    read_index_mask,
    write_index_mask,
)

DIGITS = load_digits().images


def digit_masks(n: int = 40) -> list[np.ndarray]:
    return [image > 4 for image in DIGITS[:n]]


def blobs(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth random blobs covering about half the image."""
    noise = np.random.default_rng(seed).random((height, width))
    return ndimage.gaussian_filter(noise, sigma=max(height, width) / 128) > 0.5


def masks() -> dict[str, np.ndarray]:
    one = np.zeros((5, 7), dtype=bool)
    one[3, 4] = True
    wide = np.kron(DIGITS[7] > 4, np.ones((6, 8), dtype=bool))  # a real digit, 48 x 64
    wide[0, -1] = True  # and a corner pixel, so a swapped axis shows
    return {
        "empty": np.zeros((6, 9), dtype=bool),
        "full": np.ones((6, 9), dtype=bool),
        "one pixel": one,
        "1 x 1": np.ones((1, 1), dtype=bool),
        "48 x 64": wide,
        "blobs 1024": blobs(1024, 1024),
        **{f"digit {i}": m for i, m in enumerate(digit_masks(8))},
    }


MASKS = masks()


def stream(bits: str) -> list[int]:
    """Bytes of a bit string written out by hand (spaces are for reading), zero-padded."""
    bits = bits.replace(" ", "")
    bits += "0" * (-len(bits) % 8)
    return [int(bits[i : i + 8], 2) for i in range(0, len(bits), 8)]


def pack(
    count: int, word: int, fields: Sequence[int], runs: Sequence[tuple[bool, int, list[int]]]
) -> list[int]:
    """A stream straight from the documented layout: ``runs`` of (repeat, field index, words)."""
    bits = f"{count:032b}{word - 1:05b}" + "".join(f"{f - 1:04b}" for f in fields)
    for repeat, choice, words in runs:
        n = len(words)
        bits += ("1" if repeat else "0") + f"{choice:02b}" + f"{n - 1:0{fields[choice]}b}"
        bits += "".join(f"{w:0{word}b}" for w in (words[:1] if repeat else words))
    return stream(bits)


def random_stream(mask: np.ndarray, word: int, seed: int) -> list[int]:
    """A valid stream of RGBA values whose alpha is nonzero exactly where ``mask`` is set, in
    ``word``-bit words, with random field sizes and a random mix of literal and repeat runs."""
    rng = np.random.default_rng(seed)
    top = (1 << word) - 1
    alpha = np.where(mask, top, 0)
    odd = mask & (rng.random(mask.shape) < 0.2)
    alpha[odd] = rng.integers(1, top, size=int(odd.sum()), endpoint=True)
    rgba = np.repeat(alpha[..., None], 4, axis=-1)
    noisy = rng.random(mask.shape) < 0.3
    rgba[noisy, :3] = rng.integers(0, top, size=(int(noisy.sum()), 3), endpoint=True)
    values = [int(v) for v in rgba.ravel()]
    fields = [int(f) for f in rng.integers(1, 17, size=4)]
    runs: list[tuple[bool, int, list[int]]] = []
    i = 0
    while i < len(values):
        choice = int(rng.integers(4))
        same = 1
        while i + same < len(values) and values[i + same] == values[i] and same < 1 << fields[choice]:
            same += 1
        if rng.random() < 0.6:  # a repeat of part of the stretch of equal values
            n = int(rng.integers(1, same, endpoint=True))
            runs.append((True, choice, values[i : i + n]))
        else:
            n = int(rng.integers(1, min(1 << fields[choice], len(values) - i), endpoint=True))
            runs.append((False, choice, values[i : i + n]))
        i += n
    return pack(len(values), word, fields, runs)


# ---- brush RLE -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(MASKS))
def test_brush_round_trip(name: str) -> None:
    mask = MASKS[name]
    rle = brush_encode(mask)
    assert all(isinstance(b, int) and 0 <= b <= 255 for b in rle)
    decoded = brush_decode(rle, width=mask.shape[1], height=mask.shape[0])
    assert decoded.dtype == np.bool_ and decoded.shape == mask.shape
    np.testing.assert_array_equal(decoded, mask)


def test_brush_round_trip_of_every_digit() -> None:
    for mask in digit_masks(len(DIGITS)):
        np.testing.assert_array_equal(brush_decode(brush_encode(mask), 8, 8), mask)


def test_brush_encode_takes_0_1_integers_like_bool() -> None:
    mask = MASKS["48 x 64"]
    assert brush_encode(mask.astype(np.uint8)) == brush_encode(mask) == brush_encode(mask.astype(float))


def test_brush_decode_of_a_stream_written_by_hand() -> None:
    # A 2 x 1 image, the left pixel unset and the right one set: RGBA values 0 0 0 0 255 255 255 255.
    rle = stream(
        "00000000 00000000 00000000 00001000"  # count: 8 values
        " 00111"  # word size - 1 = 7: 8-bit words
        " 0010 0011 0111 1111"  # run-length field sizes - 1: 3, 4, 8, 16 bits
        " 1 00 011 00000000"  # repeat, field 0 (3 bits), length - 1 = 3: four times 0
        " 1 00 011 11111111"  # repeat, field 0, length 4: four times 255
    )  # 53 + 14 + 14 = 81 bits, then 7 zero bits to the byte
    assert rle == [0, 0, 0, 8, 57, 27, 252, 96, 17, 255, 128]
    np.testing.assert_array_equal(brush_decode(rle, width=2, height=1), [[False, True]])
    assert brush_encode(np.array([[False, True]])) == rle


def test_brush_decode_of_a_literal_run_of_1_bit_words_written_by_hand() -> None:
    # The same image as 1-bit words in one literal run, with field sizes 1, 1, 2, 3.
    rle = stream(
        "00000000 00000000 00000000 00001000"  # count: 8 values
        " 00000"  # word size - 1 = 0: 1-bit words
        " 0000 0000 0001 0010"  # field sizes - 1: 1, 1, 2, 3 bits
        " 0 11 111"  # literal, field 3 (3 bits), length - 1 = 7: eight words follow
        " 0 0 0 0 1 1 1 1"  # R G B A of the left pixel, then of the right
    )
    np.testing.assert_array_equal(brush_decode(rle, width=2, height=1), [[False, True]])


@pytest.mark.parametrize("word", [1, 2, 5, 8, 9, 16, 17, 31, 32])
def test_brush_decode_of_any_valid_stream(word: int) -> None:
    for seed, mask in enumerate([*digit_masks(3), MASKS["one pixel"], MASKS["full"]]):
        rle = random_stream(mask, word, seed)
        np.testing.assert_array_equal(brush_decode(rle, mask.shape[1], mask.shape[0]), mask)


def test_brush_decode_of_32_bit_words_keeps_high_bits() -> None:
    # Alpha 2**31 (only its top bit set) marks a set pixel; a decoder that kept 8 bits would lose it.
    rle = pack(8, 32, [1, 2, 3, 16], [(True, 2, [0] * 4), (False, 2, [7, 7, 7, 1 << 31])])
    np.testing.assert_array_equal(brush_decode(rle, 2, 1), [[False, True]])


def test_brush_decode_takes_bytes_and_ignores_padding_after_the_last_value() -> None:
    mask = MASKS["digit 3"]
    rle = brush_encode(mask)
    np.testing.assert_array_equal(brush_decode(bytes(rle), 8, 8), mask)
    np.testing.assert_array_equal(brush_decode([*rle, 0], 8, 8), mask)  # Label Studio may add a byte


def test_brush_runs_longer_than_the_largest_field_are_split() -> None:
    mask = np.zeros((200, 300), dtype=bool)  # 240,000 values of 0: four 16-bit runs
    mask[-1, -1] = True
    rle = brush_encode(mask)
    assert len(rle) < 40
    np.testing.assert_array_equal(brush_decode(rle, 300, 200), mask)


def test_brush_rows_are_image_rows() -> None:
    mask = np.zeros((2, 3), dtype=bool)
    mask[0, 1] = True
    # value 4 to 7 (pixel 1, row 0) are the set ones: the stream is in row-major RGBA order.
    # Runs of up to 8 values take the 3-bit field, 9 to 16 the 4-bit one, as Label Studio's do.
    rle = pack(24, 8, [3, 4, 8, 16], [(True, 0, [0] * 4), (True, 0, [255] * 4), (True, 1, [0] * 16)])
    assert brush_encode(mask) == rle
    np.testing.assert_array_equal(brush_decode(rle, width=3, height=2), mask)


def test_brush_decode_errors() -> None:
    rle = brush_encode(MASKS["digit 0"])  # 8 x 8: 256 values
    with pytest.raises(InputError, match=r"brush RLE decodes to 256 values; a 8x4 image needs 8\*4\*4 = 128"):
        brush_decode(rle, width=8, height=4)
    with pytest.raises(InputError, match=r"brush RLE is truncated: its header declares 256 values"):
        brush_decode(rle[:-3], width=8, height=8)
    literal = pack(8, 8, [3, 4, 8, 16], [(False, 0, [0, 0, 0, 0, 9, 9, 9, 9])])
    with pytest.raises(InputError, match=r"brush RLE is truncated: .* end after 0"):
        brush_decode(literal[:-2], width=2, height=1)  # in the middle of a literal run's words
    with pytest.raises(InputError, match=r"brush RLE is truncated: 5 bytes cannot hold its 53-bit header"):
        brush_decode(rle[:5], width=8, height=8)
    with pytest.raises(InputError, match=r"brush RLE is truncated: 0 bytes"):
        brush_decode([], width=8, height=8)
    overshoot = pack(8, 8, [3, 4, 8, 16], [(True, 0, [0] * 4), (True, 0, [255] * 8)])
    with pytest.raises(InputError, match=r"a run of 8 values at value 4 passes the 8 values its header"):
        brush_decode(overshoot, width=2, height=1)
    with pytest.raises(InputError, match=r"rle must hold byte values 0-255; got 256, -1"):
        brush_decode([*rle[:3], 256, -1], width=8, height=8)
    with pytest.raises(InputError, match=r"rle must be a flat list of byte values .* got str"):
        brush_decode("0, 0, 1", width=8, height=8)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"rle must be a flat list of byte values .* float64"):
        brush_decode([0.0, 1.5], width=8, height=8)  # type: ignore[list-item]


@pytest.mark.parametrize("bad", [0, -3, 2.0, True, "8", None])
@pytest.mark.parametrize("argument", ["width", "height"])
def test_sizes_must_be_positive_integers(argument: str, bad: Any) -> None:
    sizes: dict[str, Any] = {"width": 8, "height": 8, argument: bad}
    message = rf"{argument} must be a positive integer \(pixels\); got {bad!r}"
    rle = brush_encode(MASKS["digit 1"])
    with pytest.raises(InputError, match=message):
        brush_decode(rle, **sizes)
    if bad is not None:  # None is "not given" there
        with pytest.raises(InputError, match=message):
            coco_rle_decode(coco_rle_encode(MASKS["digit 1"]), **sizes)
    with pytest.raises(InputError, match=message):
        polygons_to_mask([[1, 1, 4, 1, 4, 3]], **sizes)
    with pytest.raises(InputError, match=message):
        percent_polygon_to_mask([[1, 1], [4, 1], [4, 3]], **sizes)


@pytest.mark.parametrize("encode", [brush_encode, coco_rle_encode])
def test_encoders_refuse_masks_that_are_not_binary_2d(encode: Any) -> None:
    with pytest.raises(InputError, match=r"mask must be a 2-D \(H, W\) array; got shape \(2, 8, 8\) bool"):
        encode(np.stack(digit_masks(2)))
    with pytest.raises(InputError, match=r"mask must be a 2-D \(H, W\) array; got shape \(64,\)"):
        encode(MASKS["digit 0"].ravel())
    with pytest.raises(InputError, match=r"mask must have at least one pixel; got shape \(0, 5\)"):
        encode(np.zeros((0, 5), dtype=bool))
    with pytest.raises(InputError, match=r"only 0 and 1; got 2 other values \(4.0, nan\)\. .*mask > 0"):
        encode(np.array([[0, 1, 4], [np.nan, 1, 0]]))
    with pytest.raises(InputError, match=r"mask must be a bool \(or 0/1\) array; got dtype <U1"):
        encode(np.array([["a", "b"]]))


def test_brush_encode_refuses_a_mask_its_32_bit_count_cannot_hold() -> None:
    huge = np.broadcast_to(np.False_, (1 << 15, 1 << 15))  # 2**30 pixels, no memory
    with pytest.raises(InputError, match=r"too large for brush RLE: .* got 4294967296"):
        brush_encode(huge)


# ---- COCO RLE ------------------------------------------------------------------------------


def reference_encode(mask: np.ndarray) -> dict[str, Any]:
    rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": list(rle["size"]), "counts": rle["counts"].decode("ascii")}


def reference_decode(rle: dict[str, Any]) -> np.ndarray:
    with warnings.catch_warnings():  # pycocotools' decode warns under NumPy 2 (__array__ copy)
        warnings.simplefilter("ignore", DeprecationWarning)
        return coco_mask.decode(rle)


@pytest.mark.parametrize("name", list(MASKS))
def test_coco_rle_encode_is_pycocotools_byte_for_byte(name: str) -> None:
    mask = MASKS[name]
    rle = coco_rle_encode(mask)
    assert rle == reference_encode(mask)
    assert isinstance(rle["counts"], str) and rle["size"] == list(mask.shape)
    np.testing.assert_array_equal(reference_decode({**rle, "counts": rle["counts"].encode()}), mask)


def test_coco_rle_runs_go_down_the_columns() -> None:
    mask = np.zeros((2, 3), dtype=bool)
    mask[0, 1] = True  # column-major: 0 0 | 1 0 | 0 0 -> runs 2, 1, 3
    assert coco_rle_encode(mask) == {"size": [2, 3], "counts": "213"}
    np.testing.assert_array_equal(coco_rle_decode({"size": [2, 3], "counts": [2, 1, 3]}), mask)


@pytest.mark.parametrize("name", list(MASKS))
def test_coco_rle_decode_of_compressed_and_uncompressed(name: str) -> None:
    mask = MASKS[name]
    rle = coco_rle_encode(mask)
    height, width = mask.shape
    for counts in (rle["counts"], rle["counts"].encode("ascii")):
        decoded = coco_rle_decode({"size": rle["size"], "counts": counts}, width=width, height=height)
        assert decoded.dtype == np.bool_ and decoded.flags.c_contiguous
        np.testing.assert_array_equal(decoded, mask)
    flat = mask.ravel(order="F")
    edges = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    runs = np.diff([0, *edges, flat.size]).tolist()
    uncompressed = {"size": [height, width], "counts": ([0] if flat[0] else []) + runs}
    np.testing.assert_array_equal(coco_rle_decode(uncompressed, width, height), mask)
    from_pycocotools = coco_mask.frPyObjects(uncompressed, height, width)  # to compressed
    np.testing.assert_array_equal(coco_rle_decode(from_pycocotools), mask)


def test_coco_rle_decode_errors() -> None:
    rle = coco_rle_encode(MASKS["48 x 64"])
    with pytest.raises(
        InputError, match=r"COCO RLE size \[H, W\] = \[48, 64\] does not match width=48, height=64"
    ):
        coco_rle_decode(rle, width=48, height=64)  # the axes swapped
    with pytest.raises(InputError, match=r"does not match width=64, height=50"):
        coco_rle_decode(rle, width=64, height=50)
    with pytest.raises(InputError, match=r"COCO RLE counts cover 6 pixels; its size \[2, 2\] needs 4"):
        coco_rle_decode({"size": [2, 2], "counts": [1, 2, 3]})
    with pytest.raises(InputError, match=r"COCO RLE counts cover 1 pixels; its size \[2, 2\] needs 4"):
        coco_rle_decode({"size": [2, 2], "counts": "1"})  # pycocotools would return stale memory
    with pytest.raises(InputError, match=r"only the characters '0' to 'o'; got 'z' at position 1"):
        coco_rle_decode({"size": [2, 2], "counts": "1z"})
    with pytest.raises(InputError, match=r"must be ASCII"):
        coco_rle_decode({"size": [2, 2], "counts": "1é"})
    with pytest.raises(InputError, match=r"counts end in the middle of a number: '1P'"):
        coco_rle_decode({"size": [2, 2], "counts": "1P"})  # 'P' has the "more follows" bit
    with pytest.raises(InputError, match=r"counts decode to a negative run \(-1\) at run 0"):
        coco_rle_decode({"size": [2, 2], "counts": "O"})  # 'O' - '0' = 0x1F: 15 with the sign bit, -1
    with pytest.raises(InputError, match=r"rle\['counts'\] run lengths must be >= 0; got -1"):
        coco_rle_decode({"size": [2, 2], "counts": [5, -1]})
    with pytest.raises(InputError, match=r"rle\['counts'\] must be a str or bytes .* got float"):
        coco_rle_decode({"size": [2, 2], "counts": 4.0})
    with pytest.raises(InputError, match=r"rle\['size'\] must be \[H, W\], two positive integers; got \[4\]"):
        coco_rle_decode({"size": [4], "counts": [4]})
    with pytest.raises(InputError, match=r"rle\['size'\] must be .* got \[0, 4\]"):
        coco_rle_decode({"size": [0, 4], "counts": []})
    with pytest.raises(InputError, match=r"rle must be a COCO RLE dict .* got \['counts'\]"):
        coco_rle_decode({"counts": "4"})
    with pytest.raises(InputError, match=r"rle must be a COCO RLE dict .* got list"):
        coco_rle_decode([4])  # type: ignore[arg-type]


# ---- polygons ------------------------------------------------------------------------------


def test_a_square_polygon_gives_the_pixels_pycocotools_gives() -> None:
    square = [1.0, 1.0, 4.0, 1.0, 4.0, 3.0, 1.0, 3.0]  # x from 1 to 4, y from 1 to 3
    expected = np.zeros((4, 6), dtype=bool)
    expected[1:3, 1:4] = True
    reference = reference_decode(coco_mask.merge(coco_mask.frPyObjects([square], 4, 6)))
    np.testing.assert_array_equal(reference, expected)
    mask = polygons_to_mask([square], width=6, height=4)
    assert mask.dtype == np.bool_ and mask.shape == (4, 6) and mask.flags.c_contiguous
    np.testing.assert_array_equal(mask, expected)


def digit_polygons(mask: np.ndarray) -> list[list[float]]:
    """One square polygon around every set pixel of a (small) mask."""
    return [
        [x - 0.5, y - 0.5, x + 0.5, y - 0.5, x + 0.5, y + 0.5, x - 0.5, y + 0.5]
        for y, x in zip(*np.nonzero(mask), strict=True)
    ]


@pytest.mark.parametrize("index", range(4))
def test_polygons_are_merged_like_pycocotools(index: int) -> None:
    mask = np.kron(digit_masks(4)[index], np.ones((3, 4), dtype=bool))  # 24 x 32
    polygons = [[4 * v + 2 for v in p] for p in digit_polygons(digit_masks(4)[index])]
    polygons.append([0, 0, 31, 0, 16, 7])  # and a triangle overlapping them
    height, width = mask.shape
    reference = reference_decode(coco_mask.merge(coco_mask.frPyObjects(polygons, height, width)))
    np.testing.assert_array_equal(polygons_to_mask(polygons, width, height), reference.astype(bool))
    assert polygons_to_mask(polygons, width, height).any()


def test_percent_polygon_is_the_pixel_polygon() -> None:
    width, height = 64, 48
    pixels = [[5.0, 4.0], [60.0, 10.0], [40.0, 45.0], [3.0, 30.0]]
    percent = [[x / width * 100, y / height * 100] for x, y in pixels]
    flat = [v / 100 * size for x, y in percent for v, size in ((x, width), (y, height))]
    expected = polygons_to_mask([flat], width, height)
    np.testing.assert_array_equal(percent_polygon_to_mask(percent, width, height), expected)
    assert expected.sum() > 500 and not expected[0, -1] and expected[30, 10]


def test_no_polygons_is_an_empty_mask() -> None:
    np.testing.assert_array_equal(polygons_to_mask([], 5, 3), np.zeros((3, 5), dtype=bool))


def test_polygon_errors() -> None:
    with pytest.raises(
        InputError, match=r"polygons\[1\] must be a flat .* at least 3 points .* got \[1, 2, 3, 4\]"
    ):
        polygons_to_mask([[0, 0, 5, 0, 5, 5], [1, 2, 3, 4]], 8, 8)
    with pytest.raises(InputError, match=r"polygons\[0\] must be a flat .* \(an even number"):
        polygons_to_mask([[0, 0, 5, 0, 5, 5, 1]], 8, 8)
    with pytest.raises(
        InputError, match=r"polygons\[0\] must be a flat .* got 0\. For one polygon pass \[polygon\]"
    ):
        polygons_to_mask([0, 0, 5, 0, 5, 5], 8, 8)  # type: ignore[list-item]
    with pytest.raises(InputError, match=r"polygons\[0\] must be a flat"):
        polygons_to_mask([["a", "b", "c", "d", "e", "f"]], 8, 8)  # type: ignore[list-item]
    with pytest.raises(InputError, match=r"polygons\[0\] must hold finite coordinates; got nan"):
        polygons_to_mask([[0, 0, 5, 0, 5, float("nan")]], 8, 8)
    with pytest.raises(InputError, match=r"polygons must be a list of flat .* got str"):
        polygons_to_mask("0 0 5 0 5 5", 8, 8)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"points must be \[\[x%, y%\], \.\.\.\] with at least 3 points"):
        percent_polygon_to_mask([[10, 10], [50, 50]], 8, 8)
    with pytest.raises(InputError, match=r"points must be \[\[x%, y%\], \.\.\.\] with at least 3 points"):
        percent_polygon_to_mask([10, 10, 50, 50, 10, 50], 8, 8)  # type: ignore[list-item]
    with pytest.raises(InputError, match=r"points must be \[\[x%, y%\]"):
        percent_polygon_to_mask([[10, 10], [50], [10, 50]], 8, 8)
    with pytest.raises(InputError, match=r"points must be finite percentages; got inf"):
        percent_polygon_to_mask([[10, 10], [50, float("inf")], [10, 50]], 8, 8)


# ---- PNG index masks -----------------------------------------------------------------------


def index_mask(height: int = 48, width: int = 64, classes: int = 5) -> np.ndarray:
    """Real digit shapes as classes 1..: each digit pixel > 4 gets its digit's class."""
    mask = np.zeros((height, width), dtype=np.int64)
    for i, digit in enumerate(DIGITS[:classes]):
        tile = np.kron(digit > 4, np.ones((2, 2), dtype=bool))  # 16 x 16
        y, x = (i * 16) % (height - 15), (i * 24) % (width - 15)
        mask[y : y + 16, x : x + 16][tile] = i + 1
    mask[-3:, :] = IGNORE
    return mask


def test_index_mask_round_trip_8_bit(tmp_path: Path) -> None:
    mask = index_mask()
    write_index_mask(tmp_path / "mask.png", mask)
    with Image.open(tmp_path / "mask.png") as image:
        assert (image.mode, image.size) == ("L", (64, 48))
    read = read_index_mask(tmp_path / "mask.png")
    assert read.dtype == np.int64
    np.testing.assert_array_equal(read, mask)
    assert (read == IGNORE).sum() == 3 * 64
    assert sorted(os.listdir(tmp_path)) == ["mask.png"]  # no temporary file left


def test_index_mask_round_trip_16_bit(tmp_path: Path) -> None:
    mask = index_mask() * 250  # up to 63,750
    mask[0, 0] = 65535
    write_index_mask(str(tmp_path / "mask.png"), mask.astype(np.uint32))
    with Image.open(tmp_path / "mask.png") as image:
        assert image.mode.startswith("I;16")
    np.testing.assert_array_equal(read_index_mask(str(tmp_path / "mask.png")), mask)


def test_index_masks_of_bool_and_one_pixel(tmp_path: Path) -> None:
    write_index_mask(tmp_path / "a.png", MASKS["48 x 64"])
    np.testing.assert_array_equal(read_index_mask(tmp_path / "a.png"), MASKS["48 x 64"].astype(np.int64))
    write_index_mask(tmp_path / "b.png", np.array([[7]], dtype=np.uint8))
    np.testing.assert_array_equal(read_index_mask(tmp_path / "b.png"), [[7]])


def test_read_index_mask_of_palette_and_gray_rgb_pngs(tmp_path: Path) -> None:
    mask = index_mask()
    palette = Image.fromarray(mask.astype(np.uint8)).convert("P")  # VOC-style
    palette.putpalette([v for c in range(256) for v in ((c * 37) % 256, (c * 91) % 256, c)])
    palette.save(tmp_path / "palette.png")
    with Image.open(tmp_path / "palette.png") as image:
        assert image.mode == "P"
    np.testing.assert_array_equal(read_index_mask(tmp_path / "palette.png"), mask)
    Image.fromarray(np.repeat(mask.astype(np.uint8)[..., None], 3, axis=-1)).save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(read_index_mask(tmp_path / "rgb.png"), mask)


def test_write_index_mask_replaces_a_file_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "mask.png"
    write_index_mask(target, index_mask())
    write_index_mask(target, np.ones((3, 4), dtype=np.int64))  # replaced
    np.testing.assert_array_equal(read_index_mask(target), np.ones((3, 4)))

    def fail(source: Any, destination: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_index_mask(target, index_mask())
    np.testing.assert_array_equal(read_index_mask(target), np.ones((3, 4)))  # the old file is whole
    assert sorted(os.listdir(tmp_path)) == ["mask.png"]


def test_read_index_mask_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"index mask '.*missing.png' does not exist"):
        read_index_mask(tmp_path / "missing.png")
    colours = np.zeros((4, 4, 3), dtype=np.uint8)
    colours[1, 1] = (128, 0, 0)  # a VOC-style colour
    Image.fromarray(colours).save(tmp_path / "colour.png")
    with pytest.raises(InputError, match=r"is an RGB image whose channels differ: a colour-coded mask"):
        read_index_mask(tmp_path / "colour.png")
    Image.fromarray(np.zeros((4, 4, 4), dtype=np.uint8)).save(tmp_path / "rgba.png")
    with pytest.raises(InputError, match=r"has mode RGBA; an index mask is a single-channel PNG"):
        read_index_mask(tmp_path / "rgba.png")
    Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(tmp_path / "mask.jpg")
    with pytest.raises(InputError, match=r"is JPEG, not PNG; index masks must be lossless PNG"):
        read_index_mask(tmp_path / "mask.jpg")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(InputError, match=r"is not a readable PNG image"):
        read_index_mask(tmp_path / "text.png")


def test_write_index_mask_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"mask must be a 2-D \(H, W\) array; got shape \(4, 4, 3\)"):
        write_index_mask(tmp_path / "m.png", np.zeros((4, 4, 3), dtype=np.uint8))
    with pytest.raises(InputError, match=r"mask must hold integer class indices; got dtype float64"):
        write_index_mask(tmp_path / "m.png", np.zeros((4, 4)))
    with pytest.raises(InputError, match=r"class indices must lie in \[0, 65535\]; got values from -1 to 3"):
        write_index_mask(tmp_path / "m.png", np.array([[-1, 3]]))
    with pytest.raises(InputError, match=r"got values from 0 to 65536"):
        write_index_mask(tmp_path / "m.png", np.array([[0, 65536]]))
    with pytest.raises(InputError, match=r"the folder of '.*m.png' does not exist; create it first"):
        write_index_mask(tmp_path / "no" / "m.png", np.zeros((2, 2), dtype=np.uint8))
    assert os.listdir(tmp_path) == []


# ---- optional dependencies -----------------------------------------------------------------


def test_missing_extras_name_their_install_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pycocotools.mask", None)
    with pytest.raises(MissingExtraError, match=r"pycocotools .* pip install 'activecv\[project\]'"):
        coco_rle_encode(MASKS["digit 0"])
    with pytest.raises(MissingExtraError, match=r"pycocotools .* pip install 'activecv\[project\]'"):
        polygons_to_mask([[0, 0, 5, 0, 5, 5]], 8, 8)
    np.testing.assert_array_equal(coco_rle_decode({"size": [1, 2], "counts": "11"}), [[False, True]])
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(MissingExtraError, match=r"Pillow .* pip install 'activecv\[project\]'"):
        write_index_mask(tmp_path / "m.png", np.zeros((2, 2), dtype=np.uint8))
    (tmp_path / "m.png").write_bytes(b"")
    with pytest.raises(MissingExtraError, match=r"Pillow .* pip install 'activecv\[project\]'"):
        read_index_mask(tmp_path / "m.png")
