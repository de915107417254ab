"""Argument helpers shared by subcommands."""

from __future__ import annotations

import json
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
