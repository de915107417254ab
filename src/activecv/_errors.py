"""Package errors: each subclasses ActiveCVError and the builtin a caller would catch."""

from __future__ import annotations


class ActiveCVError(Exception):
    """Base class of every error raised by activecv."""


class InputError(ActiveCVError, ValueError):
    """An input has the wrong shape, dtype or value."""


class InputTypeError(ActiveCVError, TypeError):
    """An input has the wrong type."""


class UnknownStrategyError(ActiveCVError, ValueError):
    """A strategy name that is not registered."""


class EmptyPoolError(InputError):
    """The pool has no items at all."""


class PoolExhaustedError(InputError):
    """Every item of the pool is already labeled: nothing is left to select."""


class MissingExtraError(ActiveCVError, ImportError):
    """An optional dependency is not installed."""


def missing_extra(package: str, extra: str) -> MissingExtraError:
    """The error for an optional dependency that is not installed, naming the install line."""
    return MissingExtraError(
        f"{package} is required for this feature but is not installed. "
        f"Install it with: pip install 'activecv[{extra}]'"
    )


def shown(values: object, limit: int = 5) -> str:
    """The first ``limit`` of ``values`` for a message, and how many more there are."""
    items = list(values)  # type: ignore[call-overload]
    text = ", ".join(repr(v) for v in items[:limit])
    return text + (f" and {len(items) - limit} more" if len(items) > limit else "")
