"""Argument helpers shared by subcommands."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from activecv._errors import InputError


def parse_param(text: str) -> tuple[str, Any]:
    """``key=value`` with value parsed as JSON when it can be (numbers, true/false, null)."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise InputError(f"--param must look like key=value; got {text!r}.")
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw


def pixel_pair(names: str) -> Callable[[str], tuple[int, int]]:
    """An argparse type for two pixel counts ``A,B``, in the order ``names`` gives (e.g. "WIDTH,HEIGHT")."""

    def parse(text: str) -> tuple[int, int]:
        first, sep, second = text.partition(",")
        if not sep or not first.isdigit() or not second.isdigit():
            raise argparse.ArgumentTypeError(f"expected {names} in pixels; got {text!r}")
        return int(first), int(second)

    return parse


def add_budget_arguments(parser: argparse.ArgumentParser, unit: str) -> None:
    """``--budget`` in ``unit`` (items, images), or ``--cost-budget`` with where each one's cost
    comes from: a predictions-file column, or predicted boxes on COCO detection results."""
    one = unit[:-1]
    parser.add_argument("--budget", type=int, help=f"number of {unit} to select (or --cost-budget)")
    parser.add_argument(
        "--cost-budget",
        type=float,
        help=f"annotation cost to spend instead (e.g. seconds): {unit} ranked by score per unit cost",
    )
    parser.add_argument(
        "--costs-column", help=f"--cost-budget: the predictions-file column of per-{one} costs"
    )
    parser.add_argument(
        "--seconds-per-box", type=float, help="--cost-budget on COCO detection results: cost per box"
    )
    parser.add_argument(
        "--seconds-per-image", type=float, help="--cost-budget on COCO detection results: cost per image (0)"
    )
