"""Argument checks shared by every public entry point.

One message style, Keras's:
"Argument `step_size` must be a positive integer. Received: step_size=0".
``TypeError`` for a wrong type, ``ValueError`` for a wrong value. Validation happens once, at the
public boundary; formulas trust what they are given.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

#: Largest step a policy accepts: the largest signed 64-bit integer.
MAX_STEP = 2**63 - 1


def fail(name: str, requirement: str, value: object, error: type[Exception] = ValueError):
    """Raise ``error`` with the project's one message style."""
    raise error(f"Argument `{name}` must be {requirement}. Received: {name}={value!r}")


def _is_bool(value: object) -> bool:
    return isinstance(value, (bool, np.bool_))


def real(name: str, value: object, requirement: str = "a finite number") -> float:
    """``value`` as a finite Python float, or a clear error."""
    if _is_bool(value) or not isinstance(value, numbers.Real):
        fail(name, requirement, value, TypeError)
    out = float(value)
    if not math.isfinite(out):
        fail(name, requirement, value)
    return out


def non_negative(name: str, value: object) -> float:
    """A learning rate (or momentum): finite and >= 0."""
    out = real(name, value, "a finite number >= 0")
    if out < 0:
        fail(name, "a finite number >= 0", value)
    return out


def positive(name: str, value: object) -> float:
    out = real(name, value, "a finite number > 0")
    if out <= 0:
        fail(name, "a finite number > 0", value)
    return out


def integer(name: str, value: object, minimum: int, requirement: str) -> int:
    """``value`` as a Python int >= ``minimum``; whole floats (``2000.0``) are accepted."""
    if _is_bool(value) or not isinstance(value, numbers.Real):
        fail(name, requirement, value, TypeError)
    if isinstance(value, numbers.Integral):
        out = int(value)
    else:
        f = float(value)
        if not (math.isfinite(f) and f.is_integer()):
            fail(name, requirement, value)
        out = int(f)
    if out < minimum or out > MAX_STEP:
        fail(name, requirement, value)
    return out


def positive_int(name: str, value: object) -> int:
    return integer(name, value, 1, "a positive integer")


def choice(name: str, value: object, options: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in options:
        fail(name, "one of " + ", ".join(repr(o) for o in options), value,
             ValueError if isinstance(value, str) else TypeError)
    return value


def step(value: object) -> int | np.ndarray:
    """A training step: a non-negative integer (Python int, numpy integer, whole float) or an
    array of them. Returns a Python int or an int64 array."""
    if isinstance(value, (int, np.integer, float, np.floating)) and not _is_bool(value):
        return integer("step", value, 0, "a non-negative integer")
    if isinstance(value, (list, tuple)) or hasattr(value, "__array__"):
        arr = np.asarray(value)
        if arr.dtype.kind == "b" or arr.dtype.kind not in "iuf":
            fail("step", "a non-negative integer or an array of them", value, TypeError)
        if arr.size == 0:
            return arr.astype(np.int64)
        if arr.dtype.kind == "f":
            bad = ~np.isfinite(arr) | (arr != np.floor(np.where(np.isfinite(arr), arr, 0)))
            if bad.any():
                fail("step", "a non-negative integer", arr[bad].flat[0].item())
        if arr.min() < 0 or arr.max() > MAX_STEP:
            worst = arr.min() if arr.min() < 0 else arr.max()
            fail("step", f"a non-negative integer <= {MAX_STEP}", worst.item())
        return arr.astype(np.int64)
    fail("step", "a non-negative integer or an array of them", value, TypeError)
