"""TF Addons' cyclical learning rates under their own names: port with one changed import.

TensorFlow Addons is end of life and never supported Keras 3. Code written for it runs on cyclr
with only its import changed::

    import cyclr_tf.tfa as tfa           # was: import tensorflow_addons as tfa

    clr = tfa.optimizers.CyclicalLearningRate(
        initial_learning_rate=1e-4, maximal_learning_rate=1e-2,
        scale_fn=lambda x: 1 / (2.0 ** (x - 1)), step_size=2 * steps_per_epoch)

(``from cyclr_tf.tfa import CyclicalLearningRate`` works too.) Each name takes TF Addons'
arguments, in its order, and returns a :class:`cyclr_tf.Schedule` of the equivalent core policy,
so the model saves and loads as a ``.keras`` file (TF Addons' callable ``scale_fn`` never
allowed that) and the values are exact where TF Addons' float32 step drifts.

TF Addons' ``step_size`` is half a cycle, as cyclr's. ``scale_fn`` is evaluated on a few points
(never parsed) and must be one of the three functions of Smith's paper, with its ``scale_mode``:

=======================  ===============  =======================================
``scale_fn(x)``          ``scale_mode``   cyclr policy
=======================  ===============  =======================================
``1.``                   either           ``Triangular``
``1 / (2. ** (x - 1))``  ``"cycle"``      ``Triangular2``
``gamma ** x``           ``"iterations"`` ``ExpRange(gamma=scale_fn(1))``, 0 < gamma < 1
=======================  ===============  =======================================

Anything else raises (see :func:`CyclicalLearningRate`); ``name`` is accepted and ignored.
"""

from __future__ import annotations

import math
import re
from types import SimpleNamespace
from typing import Any

import keras
import numpy as np

from cyclr import policy
from cyclr import validate as check
from cyclr_tf.schedule import Schedule

__all__ = [
    "CyclicalLearningRate",
    "TriangularCyclicalLearningRate",
    "Triangular2CyclicalLearningRate",
    "ExponentialCyclicalLearningRate",
    "optimizers",
]

#: Where ``scale_fn`` is sampled: cycle numbers (TF Addons' cycles count from 1) and steps.
POINTS = (1, 2, 3, 4, 8, 16, 64)
#: Relative tolerance of the comparison (float32 tensors round to about 1e-7).
RTOL = 1e-6
#: The recognised scale functions: name, how to write it, the ``scale_mode`` it needs.
RECOGNISED = (
    "`lambda x: 1.` (either scale_mode) -> policy.Triangular; "
    "`lambda x: 1/(2.**(x-1))` with scale_mode='cycle' -> policy.Triangular2; "
    "`lambda x: gamma**x` with 0 < gamma < 1 and scale_mode='iterations' -> "
    "policy.ExpRange(gamma=gamma)"
)
JOIN_HINT = (
    "For another scale f on cycles, build the policy itself: a policy.Join of one "
    "policy.Triangular per cycle c, with max_lr = base + (max - base) * f(c), boundaries every "
    "2 * step_size updates, in cyclr_tf.Schedule (docs/keras.md, 'Porting from TF Addons')"
)
_TFA_NAMES = {"base_lr": "initial_learning_rate", "max_lr": "maximal_learning_rate"}


def CyclicalLearningRate(
    initial_learning_rate: Any,
    maximal_learning_rate: Any,
    step_size: Any,
    scale_fn: Any,
    scale_mode: str = "cycle",
    name: str = "CyclicalLearningRate",
) -> Schedule:
    """``tfa.optimizers.CyclicalLearningRate``: a :class:`cyclr_tf.Schedule` with the same values.

    TF Addons' formula, with ``c = floor(1 + k / (2 * step_size))`` the 1-based cycle of step
    ``k``::

        lr(k) = initial + (maximal - initial) * max(0, 1 - |k / step_size - 2c + 1|)
                * scale_fn(c if scale_mode == "cycle" else k)

    Args:
      initial_learning_rate: the lower bound (cyclr's ``base_lr``), a number or scalar tensor.
      maximal_learning_rate: the upper bound (``max_lr``), a number or scalar tensor.
      step_size: updates in half a cycle, a whole number.
      scale_fn: one of ``1.``, ``1/(2.**(x-1))`` (on cycles) or ``gamma**x`` (on iterations),
        recognised by its values at ``x`` in :data:`POINTS`, called with Python floats (or, when
        that raises, float32 tensors, as TF Addons passed).
      scale_mode: ``"cycle"`` or ``"iterations"``: what TF Addons passed to ``scale_fn``.
      name: accepted for compatibility and ignored (a ``Schedule`` has no name).

    Returns:
      ``cyclr_tf.Schedule(policy.Triangular | Triangular2 | ExpRange)``.

    Raises:
      TypeError: ``scale_fn`` not callable, raising, or not returning a number; a bound or
        ``step_size`` not a number (messages name TF Addons' arguments).
      ValueError: ``scale_fn`` not one of the three, or with the other ``scale_mode``; bad values.
    """
    mode = check.choice("scale_mode", scale_mode, ("cycle", "iterations"))
    kind, gamma = _recognise(scale_fn)
    return _schedule(kind, initial_learning_rate, maximal_learning_rate, step_size, mode, gamma)


def TriangularCyclicalLearningRate(
    initial_learning_rate: Any,
    maximal_learning_rate: Any,
    step_size: Any,
    scale_mode: str = "cycle",
    name: str = "TriangularCyclicalLearningRate",
) -> Schedule:
    """``tfa.optimizers.TriangularCyclicalLearningRate``: ``Schedule(policy.Triangular(...))``;
    ``scale_mode`` does not matter (the scale is 1), ``name`` is ignored."""
    mode = check.choice("scale_mode", scale_mode, ("cycle", "iterations"))
    return _schedule("triangular", initial_learning_rate, maximal_learning_rate, step_size, mode)


def Triangular2CyclicalLearningRate(
    initial_learning_rate: Any,
    maximal_learning_rate: Any,
    step_size: Any,
    scale_mode: str = "cycle",
    name: str = "Triangular2CyclicalLearningRate",
) -> Schedule:
    """``tfa.optimizers.Triangular2CyclicalLearningRate``: ``Schedule(policy.Triangular2(...))``;
    ``scale_mode`` must be ``"cycle"``, ``name`` is ignored."""
    mode = check.choice("scale_mode", scale_mode, ("cycle", "iterations"))
    return _schedule("triangular2", initial_learning_rate, maximal_learning_rate, step_size, mode)


def ExponentialCyclicalLearningRate(
    initial_learning_rate: Any,
    maximal_learning_rate: Any,
    step_size: Any,
    scale_mode: str = "iterations",
    gamma: Any = 1.0,
    name: str = "ExponentialCyclicalLearningRate",
) -> Schedule:
    """``tfa.optimizers.ExponentialCyclicalLearningRate``: ``Schedule(policy.ExpRange(...,
    gamma=gamma))``, ``gamma`` in (0, 1]; ``scale_mode`` must be ``"iterations"`` unless
    ``gamma == 1``, ``name`` is ignored."""
    mode = check.choice("scale_mode", scale_mode, ("cycle", "iterations"))
    return _schedule("exp_range", initial_learning_rate, maximal_learning_rate, step_size, mode,
                     gamma)


#: ``tfa.optimizers``, for ``import cyclr_tf.tfa as tfa``.
optimizers = SimpleNamespace(
    CyclicalLearningRate=CyclicalLearningRate,
    TriangularCyclicalLearningRate=TriangularCyclicalLearningRate,
    Triangular2CyclicalLearningRate=Triangular2CyclicalLearningRate,
    ExponentialCyclicalLearningRate=ExponentialCyclicalLearningRate,
)


def _schedule(kind: str, initial: Any, maximal: Any, step_size: Any, mode: str,
              gamma: Any = None) -> Schedule:
    """The core policy, validated by its own checks, with TF Addons' argument names in errors;
    then the ``scale_mode`` the policy needs."""
    kwargs = {"base_lr": _number(initial), "max_lr": _number(maximal),
              "step_size": _number(step_size)}
    try:
        if kind == "triangular":
            p = policy.Triangular(**kwargs)
        elif kind == "triangular2":
            p = policy.Triangular2(**kwargs)
        else:
            p = policy.ExpRange(**kwargs, gamma=_number(gamma))
    except (TypeError, ValueError) as err:
        message = str(err)
        for ours, theirs in _TFA_NAMES.items():
            message = re.sub(rf"\b{ours}\b", theirs, message)
        raise type(err)(message) from None
    if kind == "triangular2" and mode != "cycle":
        check.fail("scale_mode", "'cycle' for the triangular2 scale 1/(2.**(x-1)), which halves "
                   "the amplitude once per cycle (on iterations it would halve it at every "
                   "update: no cyclical policy)", mode)
    if kind == "exp_range" and mode != "iterations" and p.gamma != 1.0:
        check.fail("scale_mode", f"'iterations' for the exp_range scale gamma**x (gamma="
                   f"{p.gamma!r}), which decays the amplitude at every update. " + JOIN_HINT,
                   mode)
    return Schedule(p)


def _number(value: Any) -> Any:
    """A scalar tensor or array (TF Addons accepted them) as a Python number; anything else as
    it is, for the policy's own checks to judge."""
    if hasattr(value, "dtype") and hasattr(value, "shape") and not isinstance(value, np.generic):
        try:
            arr = np.asarray(value)
        except Exception:  # a symbolic tensor: let the policy's check refuse it
            return value
        if arr.shape == () and arr.dtype.kind in "iuf":
            return arr.item()
    return value


def _recognise(scale_fn: Any) -> tuple[str, float | None]:
    """``("triangular", None)``, ``("triangular2", None)`` or ``("exp_range", gamma)`` from
    the values of ``scale_fn`` on :data:`POINTS`; a clear error for anything else."""
    if not callable(scale_fn):
        check.fail("scale_fn", "a function of one number (the cycle or the step)", scale_fn,
                   TypeError)
    values = _sample(scale_fn)

    def like(f) -> bool:
        return all(math.isclose(v, f(x), rel_tol=RTOL) for x, v in zip(POINTS, values))

    if like(lambda x: 1.0):
        return "triangular", None
    if like(lambda x: 2.0 ** (1 - x)):
        return "triangular2", None
    gamma = values[0]
    if 0.0 < gamma < 1.0 and like(lambda x: gamma**x):
        return "exp_range", gamma
    shown = ", ".join(f"{v:.6g}" for v in values)
    check.fail("scale_fn", f"one of the scale functions cyclr maps to a policy: {RECOGNISED}. "
               f"At x = {', '.join(map(str, POINTS))} it gives {shown}. {JOIN_HINT}", scale_fn)


def _sample(scale_fn: Any) -> list[float]:
    """``scale_fn`` at :data:`POINTS` as Python floats: called with Python floats, or, if that
    fails, with float32 tensors (what TF Addons passed)."""
    errors = []
    for convert in (float, lambda x: keras.ops.convert_to_tensor(float(x), dtype="float32")):
        try:
            return [_as_float(scale_fn(convert(x))) for x in POINTS]
        except Exception as err:  # any failure of user code: reported below
            errors.append(f"{type(err).__name__}: {err}")
    check.fail("scale_fn", "a function that takes a number and returns a number (with a Python "
               f"float: {errors[0]}; with a float32 tensor: {errors[1]})", scale_fn, TypeError)


def _as_float(value: Any) -> float:
    arr = np.asarray(value)
    if arr.size != 1 or arr.dtype.kind not in "iuf":
        raise TypeError(f"returned {value!r}, not a number")
    return float(arr.reshape(()))
