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

from types import SimpleNamespace

import keras
import numpy as np
from keras import ops

from cyclr.ops import ArrayOps, Ops

FLOAT = "float32"
"""Dtype of every value a formula computes in a Keras graph."""



def _step_dtype() -> str:
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return "int64" if jax.config.read("jax_enable_x64") else "int32"
    return "int64"


INT = _step_dtype()
"""Dtype of the step and of integer tables: ``int64`` on TensorFlow and torch (whose step
counters Keras keeps in int64 and int32: the formula casts), ``int32`` on JAX unless
``jax_enable_x64`` is set when ``cyclr_tf`` is imported (JAX has no int64 without it). With
int32 steps a schedule covers steps up to ``2**31 - 1``, and a policy whose integers (a period, a
boundary, a step count) do not fit in int32 is refused when the schedule is built."""

MAX_LEVEL = 2.0**127
"""The largest value (:attr:`cyclr.policy.Policy.levels`) a policy may reach in a Keras graph:
2**127, about 1.7e38, half of float32's largest finite number (3.4e38). Below it every value
and every intermediate of the formulas (a difference of two levels, times a factor up to 2)
stays finite in float32; ``cyclr_tf.Schedule`` refuses a policy above it, naming the field."""


def _clip(x: object, min: object = None, max: object = None) -> object:
    # where, with the bound in x's dtype: on torch, Keras' minimum / maximum return int32 for
    # int64 operands (its type promotion does not know torch's int64), a wrapped step
    dtype = keras.backend.standardize_dtype(x.dtype)
    if min is not None:
        low = ops.convert_to_tensor(min, dtype=dtype)
        x = ops.where(x < low, low, x)
    if max is not None:
        high = ops.convert_to_tensor(max, dtype=dtype)
        x = ops.where(x > high, high, x)
    return x


#: The array API functions :class:`cyclr.ops.ArrayOps` calls, on ``keras.ops`` (any backend).
KERAS_ARRAYS = SimpleNamespace(
    __name__="keras.ops",
    asarray=lambda values, dtype=None, device=None: ops.convert_to_tensor(values, dtype=dtype),
    astype=ops.cast,
    clip=_clip,
    cos=ops.cos,
    exp=ops.exp,
    exp2=ops.exp2,
    expand_dims=ops.expand_dims,
    iinfo=np.iinfo,
    maximum=ops.maximum,
    minimum=ops.minimum,
    reshape=ops.reshape,
    sum=ops.sum,
    take=ops.take,
    where=ops.where,
)

KERAS_OPS: Ops = ArrayOps(KERAS_ARRAYS, INT, FLOAT, take_nd=True).as_namespace()
"""``keras.ops``: ``step`` is an ``INT`` tensor, results are ``float32`` tensors. The core's
:class:`cyclr.ops.ArrayOps` (the namespace of every array-API library) over ``keras.ops``: tables
are made at each call, a constant in a graph; ``gamma ** k`` is ``exp(k * log(gamma))`` with the
log in float64 (a float32 ``gamma`` raised to a large ``k`` multiplies its rounding error by
``k``: ``0.99994 ** k`` would be off by 1e-4 of its value)."""
