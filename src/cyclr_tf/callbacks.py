"""Momentum cycling and LR logging for Keras 3.

Smith (2018, arXiv:1803.09820) cycles the momentum inversely to the learning rate: high momentum
while the LR is low, low while it is high. :func:`cycle_momentum` makes an optimizer's momentum
(``SGD.momentum``) or first-moment decay (``beta_1`` of the Adam family) follow a cyclr policy,
step by step inside the compiled graph. :class:`LRLogger` puts the values into ``logs``.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from cyclr import validate as check
from cyclr.policy import Policy
from cyclr_tf.ops import KERAS_OPS
from cyclr_tf.schedule import as_policy, as_step

#: The optimizers whose momentum term cyclr can cycle, and the attribute holding it.
MOMENTUM_ATTRIBUTES = {
    keras.optimizers.SGD: "momentum",
    keras.optimizers.Adam: "beta_1",
    keras.optimizers.AdamW: "beta_1",
    keras.optimizers.Adamax: "beta_1",
}


class CycledValue(float):
    """An optimizer hyperparameter that follows a policy of the optimizer's step.

    Keras 3 optimizers keep ``momentum`` / ``beta_1`` as a Python float: their update step
    branches on it in Python (``if self.momentum != 0``), their config stores it as a number and
    ``SGD`` rejects anything but a float. So this *is* a float, equal to the value the optimizer
    was built with, for all of those; where the update step turns it into a tensor
    (``ops.cast``, or arithmetic with it) it becomes ``policy(optimizer.iterations)``, computed by
    the core's formula in the graph, at every update.
    """

    def __new__(cls, value: float, policy: Policy, optimizer: Any) -> CycledValue:
        self = super().__new__(cls, value)
        self.policy = policy
        self.optimizer = optimizer
        return self

    def tensor(self, dtype: Any = None) -> Any:
        """The policy's value at the optimizer's current step, as a tensor."""
        value = self.policy.formula(KERAS_OPS, as_step(self.optimizer.iterations))
        return value if dtype is None else ops.cast(value, dtype)

    def __tf_tensor__(self, dtype: Any = None, name: Any = None) -> Any:
        return self.tensor(dtype)

    def __reduce__(self):  # a copy or pickle is a plain float; the policy stays with the optimizer
        return float, (float(self),)

    def __add__(self, other): return self.tensor() + other
    def __radd__(self, other): return other + self.tensor()
    def __sub__(self, other): return self.tensor() - other
    def __rsub__(self, other): return other - self.tensor()
    def __mul__(self, other): return self.tensor() * other
    def __rmul__(self, other): return other * self.tensor()
    def __truediv__(self, other): return self.tensor() / other
    def __rtruediv__(self, other): return other / self.tensor()
    def __pow__(self, other): return self.tensor() ** other
    def __rpow__(self, other): return other ** self.tensor()
    def __neg__(self): return -self.tensor()


def _inner(optimizer: Any) -> Any:
    """The optimizer that does the updates (``LossScaleOptimizer`` wraps one)."""
    return getattr(optimizer, "inner_optimizer", optimizer)


def cycle_momentum(optimizer: Any, policy: Policy | dict[str, Any]) -> Any:
    """Make ``optimizer``'s momentum follow ``policy``: update ``k`` uses ``policy(k)``, like the
    learning rate (Smith 2018, "A disciplined approach to neural network hyper-parameters",
    arXiv:1803.09820: high momentum while the LR is low, low while it is high).

    ``SGD`` (``momentum``, with or without Nesterov) and ``Adam``, ``AdamW``, ``Adamax``
    (``beta_1``; ``beta_2`` is left alone). Call it before the first ``fit``: Keras traces the
    hyperparameters into the training function then. Adam's bias correction uses the current
    ``beta_1``, as PyTorch does.

    Hazards: ``SGD`` must be built with ``momentum > 0`` (otherwise Keras creates no velocity);
    TensorFlow backend only; no gradient accumulation. A ``.keras`` file stores the optimizer's
    original momentum, not the cycle (Keras 3 restores optimizer hyperparameters as plain
    floats): call ``cycle_momentum`` again after loading.

    >>> sgd = cycle_momentum(keras.optimizers.SGD(sched, momentum=0.9),
    ...                      policy.one_cycle_momentum(total_steps=1000))

    Args:
        optimizer: a Keras optimizer with a momentum term (or a ``LossScaleOptimizer`` around
            one).
        policy: the momentum as a function of the optimizer update, a
            :class:`cyclr.policy.Policy` or its config (usually
            :func:`cyclr.policy.one_cycle_momentum`, or a cycle inverted against the LR's).

    Returns:
        ``optimizer`` itself, changed in place.

    Raises:
        TypeError: ``optimizer`` has no momentum term cyclr knows; ``policy`` is not a policy.
        ValueError: ``optimizer`` built with zero momentum, with gradient accumulation, or on a
            backend other than TensorFlow; a value of ``policy`` too large for float32.
    """
    policy = as_policy(policy)
    target = _inner(optimizer)
    attribute = next((MOMENTUM_ATTRIBUTES[c] for c in type(target).__mro__
                      if c in MOMENTUM_ATTRIBUTES), None)
    if attribute is None:
        supported = ", ".join(c.__name__ for c in MOMENTUM_ATTRIBUTES)
        check.fail("optimizer", f"a Keras optimizer with a momentum term ({supported})",
                   optimizer, TypeError)
    if keras.backend.backend() != "tensorflow":
        check.fail("optimizer", "an optimizer of the TensorFlow backend (momentum cycling is "
                   "implemented for it only)", optimizer)
    if target.gradient_accumulation_steps:
        check.fail("optimizer", "an optimizer without gradient accumulation (Keras gives "
                   "schedules the micro-step count there)", optimizer)
    base = float(getattr(target, attribute))
    if base == 0:
        check.fail("optimizer", f"built with {attribute} > 0 (Keras creates no momentum state "
                   f"for {attribute}=0; the policy replaces the value)", optimizer)
    setattr(target, attribute, CycledValue(base, policy, target))
    return optimizer


def cycled_values(optimizer: Any) -> dict[str, CycledValue]:
    """The hyperparameters of ``optimizer`` that :func:`cycle_momentum` made cycle, by name."""
    target = _inner(optimizer)
    return {name: value for name in ("momentum", "beta_1")
            if isinstance(value := getattr(target, name, None), CycledValue)}


class LRLogger(keras.callbacks.Callback):
    """Puts the real learning rate (and the momentum, when cycled) into ``logs``.

    ``logs["learning_rate"]`` is the learning rate read from the optimizer itself, so ``History``,
    ``CSVLogger`` and custom callbacks see the schedule's values (Keras 3 logs none; its
    ``_decayed_lr`` is gone). A momentum cycled by :func:`cycle_momentum` is logged under its
    attribute name (``"momentum"`` or ``"beta_1"``). Put it before ``CSVLogger`` in the callback
    list: callbacks see ``logs`` in list order.

    Args:
        per_batch: ``False`` (default): each epoch logs the values its first update used.
            ``True``: each batch also logs the values its own update used, also with
            ``steps_per_execution > 1`` (Keras then calls batch hooks once per execution, with
            the execution's last batch). Costs a host read per batch hook.

    Returns:
        A Keras callback.

    Raises:
        TypeError: ``per_batch`` is not a bool.
    """

    def __init__(self, per_batch: bool = False):
        super().__init__()
        self.per_batch = check.boolean("per_batch", per_batch)
        self._epoch_values: dict[str, float] = {}
        if per_batch:  # only then: Keras dispatches batch hooks asynchronously unless overridden
            self.on_train_batch_end = self._log_batch

    def values_at(self, step: Any) -> dict[str, float]:
        """The learning rate (and cycled momentum) the optimizer uses for update ``step``."""
        optimizer = self.model.optimizer
        # Keras keeps the schedule in ``_learning_rate``, with no public accessor; its public
        # ``learning_rate`` is only the value at the current step
        schedule = getattr(_inner(optimizer), "_learning_rate", None)
        scheduled = isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule)
        lr = schedule(step) if scheduled else optimizer.learning_rate
        values = {"learning_rate": lr}
        values.update({name: value.policy.formula(KERAS_OPS, as_step(step))
                       for name, value in cycled_values(optimizer).items()})
        return {name: float(ops.convert_to_numpy(ops.convert_to_tensor(value)))
                for name, value in values.items()}

    def current_values(self) -> dict[str, float]:
        """What the optimizer will use for its next update."""
        return self.values_at(self.model.optimizer.iterations)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_values = self.current_values()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update(self._epoch_values)

    def _log_batch(self, batch, logs=None):
        # With steps_per_execution > 1 Keras calls this once per execution, after all of its
        # updates, with the last batch's index: that batch's update was the optimizer's last.
        if logs is not None:
            logs.update(self.values_at(self.model.optimizer.iterations - 1))
