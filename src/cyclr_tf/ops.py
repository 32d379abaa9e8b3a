"""The ``keras.ops`` array namespace the core's policy formulas run on inside a Keras graph.

It satisfies :class:`cyclr.ops.Ops`, as :data:`cyclr.ops.PY` and :data:`cyclr.ops.NP` do;
``step`` is an integer tensor of Keras' own step dtype (``int64`` on TensorFlow), so the formula's
integer arithmetic (cycle index, position in the cycle) is exact up to ``2**63 - 1``, and only
the small remainder is converted by ``float``.

Floats are ``float32``, not ``float64``: the optimizer casts the learning rate to its variables'
dtype (``float32``, also under ``mixed_float16``) anyway, ``float64`` is slow or missing on GPUs,
TPUs and JAX without ``jax_enable_x64``, and because the step is split into integers first every
float32 quantity is a small remainder or a bounded ratio. The result stays within a few float32
rounding errors (about ``1e-7`` relative) of the core's float64 value at any step, where a
float32 step alone would be off by whole steps beyond ``2**24``. Values must stay within float32's
range: see :data:`MAX_LEVEL`.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import keras
import numpy as np
from keras import ops

from cyclr.ops import Ops

FLOAT = "float32"
"""Dtype of every value a formula computes in a Keras graph."""

INT = keras.backend.standardize_dtype("int")
"""Dtype of the step and of integer tables: the one Keras gives optimizer step counters, ``int64``
on TensorFlow (``int32`` on JAX, where int64 needs ``jax_enable_x64``, and on torch)."""

MAX_LEVEL = 2.0**127
"""The largest value (:attr:`cyclr.policy.Policy.levels`) a policy may reach in a Keras graph:
2**127, about 1.7e38, half of float32's largest finite number (3.4e38). Below it every value
and every intermediate of the formulas (a difference of two levels, times a factor up to 2)
stays finite in float32; ``cyclr_tf.Schedule`` refuses a policy above it, naming the field."""


def _table(values: tuple) -> object:
    """A constant tuple as a tensor: ``INT`` for step tables (without the entries past the
    largest ``INT``, which no step reaches), ``float32`` otherwise."""
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        largest = np.iinfo(INT).max
        return ops.convert_to_tensor([v for v in values if v <= largest], dtype=INT)
    return ops.convert_to_tensor(values, dtype=FLOAT)


def _power(base: float, x: object) -> object:
    """``base ** x`` for a constant Python float ``base`` in (0, 2]: ``exp2`` for 2 (exact for
    whole ``x``), otherwise ``exp(x * log(base))`` with the log taken in float64. (A float32
    ``base`` raised to a large ``x`` multiplies its rounding error by ``x``: ``0.99994 ** k`` would
    be off by 1e-4 of its value.) Underflows to 0."""
    if base == 2.0:
        return ops.exp2(x)
    return ops.exp(x * math.log(base))


def _count_le(table: tuple, step: object) -> object:
    # a sum of comparisons instead of searchsorted: branch-free, compiles anywhere (XLA, JAX)
    hits = ops.expand_dims(step, -1) >= _table(table)
    return ops.sum(ops.cast(hits, INT), axis=-1)


KERAS_OPS: Ops = SimpleNamespace(
    float=lambda k: ops.cast(k, FLOAT),
    cos=ops.cos,
    power=_power,
    where=ops.where,
    minimum=ops.minimum,
    maximum=ops.maximum,
    count_le=_count_le,
    take=lambda table, i: ops.take(_table(table), i),
)
"""``keras.ops``: ``step`` is an ``INT`` tensor, results are ``float32`` tensors."""
