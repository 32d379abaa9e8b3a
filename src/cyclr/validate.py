"""Argument checks shared by every public entry point.

One message style, Keras's:
"Argument `step_size` must be a positive integer. Received: step_size=0".
``TypeError`` for a wrong type, ``ValueError`` for a wrong value. Validation happens once, at the
public boundary; formulas trust what they are given. Every check returns the value as a plain
Python ``int``, ``float``, ``bool`` or ``str`` (never a numpy scalar or a subclass), so what a
policy stores is JSON and ``torch.load(weights_only=True)`` material.

"Received:" shows the value the caller passed, as :func:`describe` writes it: its ``repr``, cut
short for big containers, huge integers and objects with long or multi-line reprs.
"""

from __future__ import annotations

import math
import numbers
import reprlib
from typing import Any, NoReturn

import numpy as np

#: Largest step a policy accepts: the largest signed 64-bit integer.
MAX_STEP = 2**63 - 1


class _Describe(reprlib.Repr):
    """``repr`` with limits: nested containers, long strings and huge integers are elided, and an
    object whose ``repr`` is multi-line or long (an optimizer, a big tensor) becomes
    ``<ClassName object>``."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 4
        self.maxdict = self.maxlist = self.maxtuple = self.maxset = 12
        self.maxstring = 80
        self.maxlong = 60
        self.maxother = 160

    def repr_dict(self, x: dict, level: int) -> str:  # in the caller's order, not sorted
        if not x:
            return "{}"
        if level <= 0:
            return "{...}"
        items = [f"{self.repr1(k, level - 1)}: {self.repr1(v, level - 1)}"
                 for k, v in list(x.items())[:self.maxdict]]
        return "{" + ", ".join(items) + (", ..." if len(x) > self.maxdict else "") + "}"

    def repr_instance(self, x: object, level: int) -> str:
        try:
            text = repr(x)
        except Exception:  # a broken __repr__ must not hide the real error
            text = ""
        if not text or "\n" in text or len(text) > self.maxother:
            return f"<{type(x).__name__} object>"
        return text


_describe = _Describe()


def describe(value: object) -> str:
    """The value as a message shows it after "Received:" (a short ``repr``)."""
    return _describe.repr(value)


def fail(name: str, requirement: str, value: object,
         error: type[Exception] = ValueError) -> NoReturn:
    """Raise ``error`` with the project's one message style."""
    raise error(f"Argument `{name}` must be {requirement}. Received: {name}={describe(value)}")


def _is_bool(value: object) -> bool:
    return isinstance(value, (bool, np.bool_))


def real(name: str, value: object, requirement: str = "a finite number") -> float:
    """``value`` as a finite Python float, or a clear error (an integer too large for a float,
    such as ``10**400``, is a ``ValueError`` too)."""
    if _is_bool(value) or not isinstance(value, numbers.Real):
        fail(name, requirement, value, TypeError)
    try:
        out = float(value)
    except OverflowError:
        fail(name, requirement, value)
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
    """A finite number > 0."""
    out = real(name, value, "a finite number > 0")
    if out <= 0:
        fail(name, "a finite number > 0", value)
    return out


def integer(name: str, value: object, minimum: int, requirement: str,
            maximum: int = MAX_STEP) -> int:
    """``value`` as a Python int in ``[minimum, maximum]``; whole floats (``2000.0``) are
    accepted, exactly (a numpy ``longdouble`` is not rounded through a float first)."""
    if _is_bool(value) or not isinstance(value, numbers.Real):
        fail(name, requirement, value, TypeError)
    if isinstance(value, numbers.Integral):
        out = int(value)
    elif isinstance(value, np.floating):
        if not (np.isfinite(value) and np.floor(value) == value):
            fail(name, requirement, value)
        out = int(value)
    else:
        try:
            f = float(value)
        except OverflowError:
            fail(name, requirement, value)
        if not (math.isfinite(f) and f.is_integer()):
            fail(name, requirement, value)
        out = int(f)
    if out < minimum or out > maximum:
        fail(name, requirement, value)
    return out


def positive_int(name: str, value: object) -> int:
    """An integer in ``[1, MAX_STEP]`` (a count of optimizer updates)."""
    return integer(name, value, 1, "a positive integer")


def boolean(name: str, value: object) -> bool:
    """``True`` or ``False`` (numpy's too), as a Python bool."""
    if not _is_bool(value):
        fail(name, "a bool", value, TypeError)
    return bool(value)


def choice(name: str, value: object, options: tuple[str, ...]) -> str:
    """One of ``options``, returned as the option itself (a plain ``str``, also for a numpy
    string or another ``str`` subclass)."""
    if not isinstance(value, str) or value not in options:
        fail(name, "one of " + ", ".join(repr(o) for o in options), value,
             ValueError if isinstance(value, str) else TypeError)
    return options[options.index(value)]


_STEP = "a non-negative integer or an array of them"


def _step_array(value: Any) -> np.ndarray:
    """``np.asarray(value)``, with numpy's own errors (a ragged list) turned into ours."""
    try:
        arr = np.asarray(value)
    except NotImplementedError:  # a symbolic tensor (TensorFlow's, in a tf.function)
        fail("step", f"{_STEP} with values (a tensor of a traced function has none: inside "
             "tf.function, use cyclr_tf.Schedule(policy)(step), which computes with keras.ops)",
             value, TypeError)
    except (ValueError, TypeError, OverflowError):
        fail("step", f"{_STEP}, rectangular (a ragged list has no array shape)", value)
    if arr.dtype == object and arr.size and all(
            isinstance(v, numbers.Integral) and not _is_bool(v) for v in arr.flat):
        # Python integers numpy keeps as objects: beyond uint64, or an object array
        low, high = min(arr.flat), max(arr.flat)
        if low < 0 or high > MAX_STEP:
            fail("step", f"a non-negative integer <= {MAX_STEP}", low if low < 0 else high)
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iuf":
        fail("step", _STEP, value, TypeError)
    return arr


def _list_elements(value: list | tuple, arr: np.ndarray) -> np.ndarray | None:
    """The list's own elements (Python objects, before numpy converted them), when that shape
    matches ``arr``; ``None`` when it cannot be built."""
    try:
        exact = np.asarray(value, dtype=object)
    except (ValueError, TypeError):
        return None
    return exact if exact.shape == arr.shape else None


def step(value: object) -> int | np.ndarray:
    """A training step: a non-negative integer (Python int, numpy integer, whole float) or an
    array of them, at most :data:`MAX_STEP`. Returns a Python int or an int64 array.

    Float arrays are checked exactly: ``2.0**63`` is refused (it is not ``<= 2**63 - 1``, though
    ``float(2**63 - 1)`` rounds up to it). A list is checked element by element for what numpy
    would change silently: a bool (``[True, 3]`` becomes ``[1, 3]``) or an integer numpy had to
    round to float64 (``[2**62 + 1, 1.0]``)."""
    if isinstance(value, (int, np.integer, float, np.floating)) and not _is_bool(value):
        return integer("step", value, 0, f"a non-negative integer <= {MAX_STEP}")
    if not (isinstance(value, (list, tuple)) or hasattr(value, "__array__")):
        fail("step", _STEP, value, TypeError)
    arr = _step_array(value)
    if arr.size == 0:
        return arr.astype(np.int64)
    exact = _list_elements(value, arr) if isinstance(value, (list, tuple)) else None
    if exact is not None and any(_is_bool(v) for v in exact.flat):
        fail("step", _STEP + " (not bools)", value, TypeError)
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr) | (arr != np.floor(np.where(np.isfinite(arr), arr, 0)))
        if bad.any():
            fail("step", "a non-negative integer", arr[bad].flat[0].item())
        # compared in float64 or wider, where 2.0**63 is exact (float(MAX_STEP) rounds to it)
        wide = np.result_type(arr.dtype, np.float64).type
        low, high = wide(arr.min()), wide(arr.max())
        if low < 0 or high >= 2.0**63:
            fail("step", f"a non-negative integer <= {MAX_STEP}",
                 (low if low < 0 else high).item())
        if exact is not None:
            lost = exact != arr.astype(object)  # Python compares int and float exactly
            if lost.any():
                fail("step", "a list of integers that float64 holds exactly (mixing floats "
                     "with integers above 2**53 rounds them: pass integers only)",
                     exact[lost].flat[0])
    else:
        low = arr.min()
        # a signed integer of 64 bits or fewer is <= MAX_STEP: one pass over the array, not two
        high = arr.max() if arr.dtype.kind == "u" or arr.dtype.itemsize > 8 else 0
        if low < 0 or high > MAX_STEP:
            fail("step", f"a non-negative integer <= {MAX_STEP}",
                 (low if low < 0 else high).item())
    return arr.astype(np.int64, copy=False)


def array_step(value: Any, xp: Any) -> None:
    """A step array of a library other than numpy (``xp`` is its array API namespace) must have
    a signed integer dtype. Only the dtype is checked, eagerly: the values may be traced (under
    ``jax.jit``, ``torch.compile``), where a check would need a branch or a host round trip; a
    negative one is clamped to step 0 instead. Unsigned dtypes are refused because a ``uint64``
    above ``2**63 - 1`` would wrap around, floats because a fractional step has no meaning."""
    dtype = value.dtype
    if not xp.isdtype(dtype, "signed integer"):
        fail("step", "a non-negative integer, or an array of a signed integer dtype (int32 or "
             f"int64; this one is {dtype})", value, TypeError)
