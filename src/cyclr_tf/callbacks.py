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

    How a float becomes a tensor differs per backend: TensorFlow asks ``__tf_tensor__``, JAX
    ``__jax_array__``; arithmetic (``1 - beta_1``) goes through the operators below on all of
    them. Keras' torch optimizers pass the value to ``torch._foreach_*`` functions and to
    ``torch.as_tensor``, which take a float subclass as the plain float: there
    :func:`cycle_momentum` puts the tensor itself in the attribute for the duration of each
    update (:func:`_tensor_during_updates`).
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
        # TensorFlow: tf.convert_to_tensor / ops.cast of this float give the policy's tensor
        return self.tensor(dtype)

    def __jax_array__(self) -> Any:
        # JAX: jnp.asarray(x, dtype) (what Keras' ops.cast does on JAX) gives the policy's array
        return self.tensor()

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


def _tensor_during_updates(target: Any, attribute: str) -> None:
    """On the torch backend: make ``target``'s update step see ``attribute`` as the policy's
    tensor (0-d, float32, on the device) instead of the :class:`CycledValue` float, which torch
    functions read as the float it was built with. The attribute is the CycledValue again after
    the update, for ``get_config`` and ``if self.momentum != 0`` outside it. Idempotent."""
    update = target._backend_update_step
    if getattr(update, "_cyclr_tensor_attributes", None) is not None:
        update._cyclr_tensor_attributes.add(attribute)
        return

    def update_with_tensors(grads, trainable_variables, learning_rate):
        saved = {name: getattr(target, name) for name in attributes}
        for name, value in saved.items():
            if isinstance(value, CycledValue):
                object.__setattr__(target, name, value.tensor("float32"))
        try:
            return update(grads, trainable_variables, learning_rate)
        finally:
            for name, value in saved.items():
                object.__setattr__(target, name, value)

    attributes = {attribute}
    update_with_tensors._cyclr_tensor_attributes = attributes
    object.__setattr__(target, "_backend_update_step", update_with_tensors)


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

    Every Keras backend: TensorFlow (eager, graph, XLA), JAX (jitted or not) and torch (eager,
    and ``jit_compile=True``, which is ``torch.compile``). On torch the momentum of each update
    is read from the device as a number, as Keras' torch optimizers already do with the learning
    rate (they pass both to ``torch._foreach_*`` as Python scalars).

    Hazards: ``SGD`` must be built with ``momentum > 0`` (otherwise Keras creates no velocity);
    no gradient accumulation. A ``.keras`` file stores the optimizer's original momentum, not
    the cycle (Keras 3 restores optimizer hyperparameters as plain floats): call
    ``cycle_momentum`` again after loading.

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
        ValueError: ``optimizer`` built with zero momentum or with gradient accumulation; a
            value of ``policy`` too large for float32.
    """
    policy = as_policy(policy)
    target = _inner(optimizer)
    attribute = next((MOMENTUM_ATTRIBUTES[c] for c in type(target).__mro__
                      if c in MOMENTUM_ATTRIBUTES), None)
    if attribute is None:
        supported = ", ".join(c.__name__ for c in MOMENTUM_ATTRIBUTES)
        check.fail("optimizer", f"a Keras optimizer with a momentum term ({supported})",
                   optimizer, TypeError)
    if target.gradient_accumulation_steps:
        check.fail("optimizer", "an optimizer without gradient accumulation (Keras gives "
                   "schedules the micro-step count there)", optimizer)
    base = float(getattr(target, attribute))
    if base == 0:
        check.fail("optimizer", f"built with {attribute} > 0 (Keras creates no momentum state "
                   f"for {attribute}=0; the policy replaces the value)", optimizer)
    setattr(target, attribute, CycledValue(base, policy, target))
    if keras.backend.backend() == "torch":
        _tensor_during_updates(target, attribute)
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
