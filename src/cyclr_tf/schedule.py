"""``Schedule``: a cyclr policy as a Keras 3 ``LearningRateSchedule``.

The optimizer calls ``schedule(optimizer.iterations)`` before each update, so update ``k`` uses
``policy(k)`` (DESIGN.md's step convention). The value is the core's own formula,
``policy.formula(KERAS_OPS, step)``, evaluated with ``keras.ops`` on the int64 step: it traces
under ``tf.function``, compiles under XLA (``jit_compile=True``) and needs no Python callback.
"""

from __future__ import annotations

import numbers
from typing import Any

import keras
import numpy as np
from keras import ops

from cyclr import validate as check
from cyclr.policy import Policy, from_config
from cyclr_tf.ops import INT, KERAS_OPS


def as_policy(policy: Any) -> Policy:
    """``policy`` itself, or the policy its config describes; ``TypeError`` naming ``policy``
    for anything else."""
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, dict):
        try:
            return from_config(policy)
        except (TypeError, ValueError) as err:
            check.fail("policy", f"a cyclr policy or a valid policy config ({err})", policy,
                       TypeError)
    check.fail("policy", "a cyclr policy (from cyclr.policy) or its config dict", policy,
               TypeError)


def as_step(step: Any) -> Any:
    """``step`` as an ``INT`` tensor (int64 on TensorFlow). Python and numpy integers (and
    arrays) are validated eagerly; a tensor or variable must have an integer dtype (its values
    are not checked, so that the schedule stays branch-free inside a graph)."""
    if isinstance(step, (numbers.Number, np.generic, np.ndarray, list, tuple)):
        return ops.convert_to_tensor(check.step(step), dtype=INT)
    dtype = getattr(step, "dtype", None)
    if dtype is None or "int" not in keras.backend.standardize_dtype(dtype):
        check.fail("step", "an integer (Python, numpy, or an integer tensor or variable)", step,
                   TypeError)
    return ops.cast(step, INT)


@keras.saving.register_keras_serializable(package="cyclr")
class Schedule(keras.optimizers.schedules.LearningRateSchedule):
    """The learning rate of a cyclr policy, for any Keras 3 optimizer.

    >>> sched = Schedule(policy.Triangular2(base_lr=1e-3, max_lr=0.1, step_size=800))
    >>> optimizer = keras.optimizers.SGD(learning_rate=sched, momentum=0.9)

    ``schedule(step)`` accepts a Python or numpy integer, an integer tensor (``int32`` or
    ``int64``) or the optimizer's ``iterations`` variable, and returns a ``float32`` tensor:
    the policy's value at that step. The integer arithmetic happens on the ``int64`` step
    before any float conversion, so the value stays within ``1e-6 * max_lr`` of the core's
    float64 value up to step ``10**10`` and beyond.

    ``get_config()`` is ``{"policy": policy.to_config()}`` (JSON); the class is registered as
    ``"cyclr>Schedule"``, so a ``.keras`` file holding it loads with
    ``keras.saving.load_model`` in any process that has imported ``cyclr_tf``.
    """

    def __init__(self, policy: Policy | dict[str, Any]):
        self.policy = as_policy(policy)

    def __call__(self, step: Any) -> Any:
        return self.policy.formula(KERAS_OPS, as_step(step))

    def get_config(self) -> dict[str, Any]:
        return {"policy": self.policy.to_config()}

    def __repr__(self) -> str:
        return f"Schedule({self.policy!r})"
