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
from cyclr_tf.ops import INT, KERAS_OPS, MAX_LEVEL

_LARGEST_STEP = int(np.iinfo(INT).max)


def as_policy(policy: Any) -> Policy:
    """``policy`` itself, or the policy its config describes, checked for float32.

    Raises:
        TypeError: naming ``policy``, for anything but a policy or a valid policy config.
        ValueError: naming the field responsible, when a value of the policy (one of its
            :attr:`~cyclr.policy.Policy.levels`) is above :data:`cyclr_tf.ops.MAX_LEVEL`:
            float32, in which Keras computes it, would overflow to inf.
    """
    if isinstance(policy, dict):
        try:
            policy = from_config(policy)
        except (TypeError, ValueError) as err:
            check.fail("policy", f"a cyclr policy or a valid policy config ({err})", policy,
                       TypeError)
    if not isinstance(policy, Policy):
        check.fail("policy", "a cyclr policy (from cyclr.policy) or its config dict", policy,
                   TypeError)
    for level in policy.levels:
        if level.value > MAX_LEVEL:
            where = "" if level.meaning == level.field.rsplit(".", 1)[-1] else (
                f"such that {level.meaning} is ")
            check.fail(level.field, f"{where}at most 2**127 (1.7e38) in a Keras schedule, which "
                       f"computes in float32 (it is {level.value:.3g})", level.received)
    if _LARGEST_STEP < check.MAX_STEP:  # int32 steps (JAX): the policy's integers must fit
        try:
            policy.formula(KERAS_OPS, ops.convert_to_tensor(0, dtype=INT))
        except OverflowError:
            check.fail("policy", f"a policy whose integers (periods, boundaries, step counts) "
                       f"fit in {INT}, the step dtype of the {keras.backend.backend()} backend "
                       "(on JAX, set jax_enable_x64 before importing cyclr_tf for int64 steps)",
                       policy)
    return policy


def as_step(step: Any) -> Any:
    """``step`` as an ``INT`` tensor (int64 on TensorFlow and torch, int32 on JAX without
    ``jax_enable_x64``).

    Python and numpy integers (and arrays, lists) are validated eagerly, as the core does. A
    tensor or variable must have a signed integer dtype; its values are not checked, so that the
    schedule stays branch-free inside a graph: a negative value is clamped to step 0.

    Raises:
        TypeError: a bool, float, string or unsigned tensor (an unsigned step above
            ``2**63 - 1`` would wrap around to a negative int64), or another type.
        ValueError: a Python or numpy step that is negative, fractional or above ``2**63 - 1``
            (``2**31 - 1`` where the backend's step dtype is int32, as on JAX).
    """
    if isinstance(step, (numbers.Number, np.generic, np.ndarray, list, tuple)):
        k = check.step(step)
        if np.max(k, initial=0) > _LARGEST_STEP:  # int32 steps (JAX): no silent wrap either
            check.fail("step", f"at most {_LARGEST_STEP} on the {keras.backend.backend()} "
                       f"backend, whose step dtype is {INT}", step)
        return ops.convert_to_tensor(k, dtype=INT)
    try:
        dtype = keras.backend.standardize_dtype(step.dtype)
    except (AttributeError, TypeError, ValueError):
        dtype = ""
    if not dtype.startswith("int"):
        check.fail("step", "an integer (Python, numpy, or a signed integer tensor or variable: "
                   "int32 or int64)", step, TypeError)
    return KERAS_OPS.maximum(ops.cast(step, INT), 0)


@keras.saving.register_keras_serializable(package="cyclr")
class Schedule(keras.optimizers.schedules.LearningRateSchedule):
    """The learning rate of a cyclr policy, for any Keras 3 optimizer.

    ``schedule(k) = policy(k)`` in float32, where ``k`` is the optimizer's update count
    (``optimizer.iterations``, read before each update). The integer arithmetic happens on the
    int64 step before any float conversion, so the value stays within ``1e-6 * max_lr`` of the
    core's float64 value up to step ``10**10`` and beyond (Keras' own schedules and TF Addons'
    cast the step to float32 and drift by whole steps beyond ``2**24``).

    >>> sched = Schedule(policy.Triangular2(base_lr=1e-3, max_lr=0.1, step_size=800))
    >>> optimizer = keras.optimizers.SGD(learning_rate=sched, momentum=0.9)

    Args:
        policy: a :class:`cyclr.policy.Policy`, or its config dict.

    Returns:
        A ``LearningRateSchedule``; ``schedule(step)`` accepts a Python or numpy integer (or
        array), an ``int32``/``int64`` tensor or the optimizer's ``iterations`` variable and
        returns a ``float32`` tensor of the step's shape. ``get_config()`` is
        ``{"policy": policy.to_config()}`` (JSON); the class is registered as
        ``"cyclr>Schedule"``, so a ``.keras`` file holding it loads with
        ``keras.saving.load_model`` in any process that has imported ``cyclr_tf``.

    Raises:
        TypeError: ``policy`` is not a policy or a valid config (naming ``policy``); when
            called, a step of the wrong type (see :func:`as_step`).
        ValueError: a value of the policy above 2**127 (float32 would overflow), naming the
            field; when called, a Python or numpy step that is negative, fractional or above
            ``2**63 - 1``. Tensor steps are not checked (a graph has no room for a branch): a
            negative one is clamped to 0.
    """

    def __init__(self, policy: Policy | dict[str, Any]):
        self.policy = policy

    @property
    def policy(self) -> Policy:
        """The policy (checked as in the constructor when set). A train function already made
        keeps the values it was traced with: after setting it on a model that has trained, make
        that again (``model.compile(...)`` or ``model.make_train_function(force=True)``)."""
        return self._policy

    @policy.setter
    def policy(self, policy: Policy | dict[str, Any]) -> None:
        self._policy = as_policy(policy)

    def __call__(self, step: Any) -> Any:
        return self.policy.formula(KERAS_OPS, as_step(step))

    def get_config(self) -> dict[str, Any]:
        return {"policy": self.policy.to_config()}

    def __repr__(self) -> str:
        return f"Schedule({self.policy!r})"
