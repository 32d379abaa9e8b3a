"""Array namespaces a policy formula runs on, and the :class:`Ops` protocol they satisfy.

Every policy writes its formula once, as ``policy.formula(ops, step)``, against the small set of
operations in :class:`Ops`. ``step`` is a non-negative integer in the namespace's own integer
type; the formula does its integer arithmetic (``//``, ``%``, ``-``, comparisons) on it with
Python operators and converts to float only the small remainder, through ``ops.float``.

Two namespaces live here: :data:`PY` (plain Python numbers, the fast path a torch scheduler takes
once per update) and :data:`NP` (numpy int64 arrays, for previews and plots). ``cyclr_tf`` adds a
third one over ``keras.ops`` that runs inside a compiled graph (``cyclr_tf.ops.KERAS_OPS``). A new
namespace is any object with the attributes of :class:`Ops`.
"""

from __future__ import annotations

import bisect
import builtins
import math
from types import SimpleNamespace
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Ops(Protocol):
    """The operations a policy formula uses, besides Python's integer operators on the step.

    ``k`` is the step (or a quantity computed from it with ``//``, ``%``, ``-``, ``min``) in the
    namespace's integer type; ``x``, ``a`` and ``b`` are its floats (or Python numbers mixed in).
    """

    def float(self, k: Any) -> Any:
        """Integer step(s) -> floating point (float64 in PY and NP, float32 in Keras)."""

    def cos(self, x: Any) -> Any:
        """Elementwise cosine."""

    def power(self, base: builtins.float, x: Any) -> Any:
        """``base ** x`` for a constant Python float ``base`` in (0, 2]: underflows to 0, exact
        for ``base == 2`` and whole ``x``."""

    def where(self, c: Any, a: Any, b: Any) -> Any:
        """Elementwise ``a if c else b``."""

    def minimum(self, a: Any, b: Any) -> Any:
        """Elementwise minimum (integers or floats)."""

    def maximum(self, a: Any, b: Any) -> Any:
        """Elementwise maximum (integers or floats)."""

    def count_le(self, table: tuple[int, ...], k: Any) -> Any:
        """How many entries of the sorted constant integer ``table`` are ``<= k``."""

    def take(self, table: tuple[Any, ...], i: Any) -> Any:
        """``table[i]`` for a constant ``table`` (a tuple of numbers) and integer index ``i``."""


#: The attribute names of :class:`Ops`: exactly what a namespace provides.
OPERATIONS = ("float", "cos", "power", "where", "minimum", "maximum", "count_le", "take")


PY: Ops = SimpleNamespace(
    float=float,
    cos=math.cos,
    power=lambda base, x: base**x,
    where=lambda c, a, b: a if c else b,
    minimum=min,
    maximum=max,
    count_le=bisect.bisect_right,
    take=lambda table, i: table[i],
)
"""Plain Python numbers: ``step`` is an ``int``, results are ``float``."""

NP: Ops = SimpleNamespace(
    float=lambda k: np.asarray(k, dtype=np.float64),
    cos=np.cos,
    # numpy's pow is ~10x slower than exp2, which is exact for the whole exponents used with 2
    power=lambda base, x: np.exp2(x) if base == 2.0 else np.power(base, x),
    where=np.where,
    minimum=np.minimum,
    maximum=np.maximum,
    count_le=lambda table, k: np.searchsorted(np.asarray(table), k, side="right"),
    take=lambda table, i: np.asarray(table)[i],
)
"""numpy: ``step`` is an int64 array, results are float64 arrays."""
