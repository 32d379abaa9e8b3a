"""Array namespaces a policy formula runs on.

Every policy writes its formula once, as ``policy.formula(ops, step)``, against the small set of
operations below. ``step`` is a non-negative integer in the namespace's own integer type; the
formula does its integer arithmetic (``//``, ``%``, ``-``, comparisons) on it with Python
operators and converts to float only the small remainder, through ``ops.float``.

Two namespaces live here: :data:`PY` (plain Python numbers, the fast path a torch scheduler takes
once per update) and :data:`NP` (numpy int64 arrays, for previews and plots). ``cyclr_tf`` adds a
third one over ``keras.ops`` that runs inside a compiled graph. A new namespace implements the
same attributes:

===============  ============================================================
``float(k)``     integer step(s) -> floating point
``cos(x)``       cosine
``power(b, x)``  ``b ** x`` for a constant Python float ``b`` in (0, 2]: underflows to 0,
                 exact for ``b = 2`` and whole ``x``
``where(c,a,b)`` elementwise ``a if c else b``
``minimum``      elementwise minimum (integers or floats)
``maximum``      elementwise maximum
``count_le(t,k)`` how many entries of the sorted integer table ``t`` are ``<= k``
``take(t, i)``   ``t[i]`` for a constant table ``t`` (a tuple of numbers)
===============  ============================================================
"""

from __future__ import annotations

import bisect
import math
from types import SimpleNamespace

import numpy as np

PY = SimpleNamespace(
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

NP = SimpleNamespace(
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
