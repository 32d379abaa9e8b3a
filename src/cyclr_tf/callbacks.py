"""Momentum cycling and LR logging for Keras 3.

Smith (2018, arXiv:1803.09820) cycles the momentum inversely to the learning rate: high momentum
while the LR is low, low while it is high. :func:`cycle_momentum` makes an optimizer's momentum
(``SGD.momentum``) or first-moment decay (``beta_1`` of the Adam family) follow a cyclr policy,
step by step inside the compiled graph. :class:`LRLogger` puts the values into ``logs``.
:class:`ReduceLROnPlateau` scales a :class:`~cyclr_tf.Schedule` on a plateau.

Importing this module also makes Keras' own ``ReduceLROnPlateau`` and ``LearningRateScheduler``
(and subclasses that keep their LR-setting methods) refuse an optimizer whose learning rate is a
:class:`~cyclr_tf.Schedule` at the start of ``fit`` (they cannot set it; Keras would fail when
they first try, for a plateau mid-run).
"""

from __future__ import annotations

import bisect
import warnings
from typing import Any

import keras
import numpy as np
from keras import ops

from cyclr import validate as check
from cyclr.policy import FLOAT32_FACTORS, Policy, Scaled, scaled
from cyclr_tf.ops import KERAS_OPS
from cyclr_tf.schedule import Schedule, as_policy, as_step

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


def _targets(optimizer: Any) -> list[tuple[str, Any]]:
    """``(suffix, optimizer)`` for each optimizer that updates weights: the optimizer itself
    (suffix ``""``), or each of a ``MultiOptimizer``'s (suffix ``"_<name>"``, as Keras' own
    TensorBoard names their learning rates)."""
    if optimizer is None:
        return []
    parts = getattr(optimizer, "optimizers", None)
    if parts is None:
        return [("", optimizer)]
    return [(f"_{part.name}", part) for part in parts]


def _schedule_of(optimizer: Any) -> Any:
    """The optimizer's learning-rate schedule (or callable), or ``None`` for a float LR."""
    # Keras keeps it in ``_learning_rate``, with no public accessor; its public
    # ``learning_rate`` is only the value at the current step
    rate = getattr(_inner(optimizer), "_learning_rate", None)
    return None if rate is None or isinstance(rate, keras.Variable) else rate


def _update_values(optimizer: Any) -> dict[str, Any]:
    """The learning rate (``"learning_rate"``) and the cycled momenta of each optimizer's next
    update as float32 tensors, traceable: its schedule (or LR variable) at its own step, read
    now (before the update, as it reads it), and :func:`cycle_momentum`'s policies."""
    values = {}
    for suffix, target in _targets(optimizer):
        k = ops.copy(_inner(target).iterations)
        schedule = _schedule_of(target)
        if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
            values["learning_rate" + suffix] = schedule(k)
        else:
            values["learning_rate" + suffix] = ops.convert_to_tensor(target.learning_rate)
        values.update({name + suffix: value.policy.formula(KERAS_OPS, as_step(k))
                       for name, value in cycled_values(target).items()})
    return {name: ops.cast(value, "float32") for name, value in values.items()}


def _with_values(train_step: Any, model: Any) -> Any:
    """A new function: ``train_step`` whose logs also hold :func:`_update_values`. A new one
    each time the train function is made: JAX caches a jitted function's trace by its
    identity, so one object would bring back values traced before a reduction or a compile."""
    if keras.backend.backend() == "jax":  # a pure step: the optimizer's state is passed in
        def step_with_values(state, data):
            optimizer, values = model.optimizer, {}
            if optimizer is not None:
                with keras.StatelessScope(state_mapping=list(zip(optimizer.variables,
                                                                 state[2]))):
                    values = _update_values(optimizer)
            logs, state = train_step(state, data)
            return (logs if not isinstance(logs, dict) else {**logs, **values}), state
    else:
        def step_with_values(data):
            values = _update_values(model.optimizer)  # before the update: off its critical path
            logs = train_step(data)
            return logs if not isinstance(logs, dict) else {**logs, **values}
    return step_with_values


class _Logged:
    """Kept on a model once an :class:`LRLogger` has met it: the model's
    ``make_train_function`` makes the train function from :func:`_with_values` of its step for
    a ``fit`` that has an ``LRLogger``, and from its plain step otherwise.

    A fit asks for the values when its ``LRLogger`` meets the model (``set_model``, before the
    fit makes its train function) and gets them when the fit makes it; a train function made
    afresh during that fit (``force=True``: a reduction) keeps them; the next one made without
    a request (the next fit, ``train_on_batch``, also after a fit that raised) drops them."""

    def __init__(self, model: Any):
        self.model, self.asked, self.on = model, False, False
        self.step, self.make = model.train_step, model.make_train_function
        self.own_step = model.__dict__.get("train_step")  # a step set on the model itself
        model.__dict__.update(make_train_function=self.make_train_function, _cyclr_logged=self)

    @classmethod
    def of(cls, model: Any) -> _Logged:
        return model.__dict__.get("_cyclr_logged") or cls(model)

    def make_train_function(self, force: bool = False) -> Any:
        want = self.asked or (self.on and force)
        self.asked = False
        if want == self.on and self.model.train_function is not None and not force:
            return self.make(False)
        if want:  # a new function each time: JAX caches a jitted function's trace by identity
            self.model.__dict__["train_step"] = _with_values(self.step, self.model)
        elif self.own_step is not None:
            self.model.__dict__["train_step"] = self.own_step
        else:
            self.model.__dict__.pop("train_step", None)
        self.on = want
        return self.make(True)


class LRLogger(keras.callbacks.Callback):
    """Puts the learning rate (and the momentum, when cycled) of each update into the ``logs``
    every callback sees, whatever their order in the list.

    ``logs["learning_rate"]`` is read from the optimizer itself (its schedule at the update's
    step) inside the compiled train step, as the optimizer reads it: each batch's logs hold the
    value its own update used (with ``steps_per_execution > 1``, the execution's last update),
    and each epoch's the value of its last update. So ``History``, ``CSVLogger``,
    ``TensorBoard`` (``batch_learning_rate`` with ``update_freq="batch"``), the progress bar
    and custom callbacks show the schedule's real values (Keras 3 logs none). A momentum cycled
    by :func:`cycle_momentum` is logged under its attribute name (``"momentum"`` or
    ``"beta_1"``); a ``MultiOptimizer``'s values get each optimizer's name as a suffix
    (``"learning_rate_<name>"``, as Keras' TensorBoard names them). For the fits it is in only:
    such a fit makes its train function with the values (a trace of its own), and the next one
    made without an ``LRLogger`` (a later fit, ``train_on_batch``) is made without them again.

    Args:
        per_batch: deprecated, ignored: every batch's logs hold the values now (computed in the
            compiled step, at no host cost).

    Returns:
        A Keras callback.

    Raises:
        TypeError: ``per_batch`` is not a bool.
    """

    def __init__(self, per_batch: bool | None = None):
        super().__init__()
        self._fitting = False
        if per_batch is not None:
            check.boolean("per_batch", per_batch)
            warnings.warn("LRLogger(per_batch=...) is deprecated and ignored: every batch's logs "
                          "hold the learning rate of its own update now", DeprecationWarning,
                          stacklevel=2)

    def set_model(self, model):
        super().set_model(model)
        _Logged.of(model).asked = True  # before fit makes its train function: made with values

    def on_train_begin(self, logs=None):
        self._fitting = True

    def on_train_end(self, logs=None):
        self._fitting = False

    def on_test_begin(self, logs=None):
        if not self._fitting:  # evaluate(callbacks=[LRLogger()]): no fit asked
            _Logged.of(self.model).asked = False

    on_predict_begin = on_test_begin


class ReduceLROnPlateau(keras.callbacks.ReduceLROnPlateau):
    """Keras' ``ReduceLROnPlateau`` for an optimizer whose learning rate is a :class:`Schedule`:
    when ``monitor`` has not improved for ``patience`` epochs, the schedule is multiplied by
    ``factor`` from the next update on. The cycle goes on in phase, scaled (Smith's
    ``triangular2`` and ``exp_range`` are the scheduled form of this).

    Same arguments, defaults and monitoring as Keras' callback (it is a subclass; ``mode="auto"``
    infers the direction as Keras does, checked when ``fit`` starts); a float learning rate is
    reduced as Keras' callback reduces it. A reduction gives the optimizer a new
    :class:`Schedule` of :func:`cyclr.policy.scaled` of the old policy (the schedule object you
    built is left as it was, for another model) and makes the train function again (one retrace
    per reduction): a ``.keras`` file saved later holds every reduction in the schedule's config,
    and training continues from it with the same learning rates. Like Keras' callback, its
    counters (``best``, ``wait``, ``cooldown_counter``) restart with each ``fit``. A
    ``MultiOptimizer``'s optimizers are reduced each by its own kind of learning rate.

    Args:
        monitor: the ``logs`` key to watch (``"val_loss"``).
        factor: the schedule is multiplied by this, ``0 < factor < 1``.
        patience: epochs without improvement before a reduction.
        verbose: 0 (silent) or more (print each reduction).
        mode: ``"auto"``, ``"min"`` or ``"max"``.
        min_delta: the least change that counts as an improvement.
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: the schedule's peak (the largest value of its policy, times the factor in force)
            is never cut below this; no reduction once it is there (nor once the factor would
            leave float32's normal range).

    Returns:
        A Keras callback.

    Raises:
        TypeError: an argument of the wrong type; at the start of ``fit``, an optimizer whose
            learning rate is another kind of schedule, or a callable (they cannot be reduced:
            Keras would fail at the first plateau).
        ValueError: ``factor`` not in (0, 1); a negative ``patience``, ``cooldown``,
            ``min_delta``, ``min_lr`` or ``verbose``; ``mode`` not one of the three; at the
            start of ``fit``, ``mode="auto"`` for a ``monitor`` whose direction Keras cannot
            tell.
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 verbose: int = 0, mode: str = "auto", min_delta: float = 1e-4,
                 cooldown: int = 0, min_lr: float = 0.0):
        if not isinstance(monitor, str) or not monitor:
            check.fail("monitor", "the name of a logs entry (a non-empty str)", monitor,
                       ValueError if isinstance(monitor, str) else TypeError)
        factor = check.real("factor", factor, "a number in (0, 1)")
        if not 0 < factor < 1:
            check.fail("factor", "a number in (0, 1)", factor)
        super().__init__(
            monitor=monitor, factor=factor,
            verbose=check.integer("verbose", verbose, 0, "a non-negative integer"),
            mode=check.choice("mode", mode, ("auto", "min", "max")),
            patience=check.integer("patience", patience, 0, "a non-negative integer"),
            min_delta=check.non_negative("min_delta", min_delta),
            cooldown=check.integer("cooldown", cooldown, 0, "a non-negative integer"),
            min_lr=check.non_negative("min_lr", min_lr))

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.model is None:  # hooks driven by hand, before set_model: nothing to check
            return
        for _, target in _targets(self.model.optimizer):
            schedule = _schedule_of(target)
            if schedule is not None and not isinstance(schedule, Schedule):
                check.fail("learning_rate", "a cyclr_tf.Schedule or a float for "
                           "cyclr_tf.ReduceLROnPlateau (it scales the schedule's policy)",
                           schedule, TypeError)
        if self.monitor_op is None:
            try:  # Keras' direction for mode="auto": an error now rather than after an epoch
                self._set_monitor_op()
            except ValueError:
                if all(getattr(m, "built", True) for m in self.model.metrics):
                    raise
                # TensorFlow builds compiled metrics in the first update: Keras tells then

    def on_epoch_end(self, epoch, logs=None):
        targets = [target for _, target in _targets(self.model.optimizer)]
        if not any(isinstance(_schedule_of(t), Schedule) for t in targets):
            super().on_epoch_end(epoch, logs)  # float learning rates: Keras' callback
            return
        if self.monitor_op is None:
            self._set_monitor_op()
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"Learning rate reduction is conditioned on metric `{self.monitor}` "
                          f"which is not available. Available metrics are: "
                          f"{','.join(logs or {})}.", stacklevel=2)
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best, self.wait = current, 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                reduced = [self._reduce(target, epoch) for target in targets]
                if any(reduced):
                    if any(isinstance(_schedule_of(t), Schedule) for t in targets):
                        self.model.make_train_function(force=True)  # policies are compiled in
                    self.cooldown_counter, self.wait = self.cooldown, 0

    def _reduce(self, optimizer: Any, epoch: int) -> bool:
        """Reduce ``optimizer``'s learning rate from its next update on; ``False`` when it is
        already at ``min_lr``."""
        schedule = _schedule_of(optimizer)
        if not isinstance(schedule, Schedule):  # a float: Keras' rule
            old = float(ops.convert_to_numpy(optimizer.learning_rate))
            if not old > np.float32(self.min_lr):
                return False
            new = max(old * self.factor, self.min_lr)
            optimizer.learning_rate = new
            self._say(epoch, f"reducing the learning rate to {new:.4g}")
            return True
        old = schedule.policy
        step = int(ops.convert_to_numpy(_inner(optimizer).iterations))
        base, later = old, (1.0,)  # the factors in force from ``step`` on
        if isinstance(old, Scaled):
            base, later = old.policy, old.products[bisect.bisect_right(old.boundaries, step):]
        peak = base.peak * later[0]
        if not peak > np.float32(self.min_lr):
            return False
        scale = max(self.factor, self.min_lr / peak)
        if min(later) * scale < FLOAT32_FACTORS[0]:
            return False
        _inner(optimizer).learning_rate = Schedule(scaled(old, step, scale))
        self._say(epoch, f"scaling the schedule by {scale:.4g} from update {step} (peak "
                         f"{peak * scale:.4g})")
        return True

    def _say(self, epoch: int, what: str) -> None:
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau {what}.")


def _refuse_a_schedule(cls: type, setters: tuple[str, ...], fix: str) -> None:
    """Make Keras' ``cls``, and subclasses that keep its ``setters`` (the methods that set the
    LR), raise at the start of ``fit`` when an optimizer's learning rate is a :class:`Schedule`,
    instead of Keras' "not settable" when they first set it (for ``ReduceLROnPlateau``, at the
    first plateau, mid-run)."""
    on_train_begin = cls.on_train_begin
    if getattr(on_train_begin, "_cyclr_checked", False):
        return
    setters = tuple(name for name in setters if hasattr(cls, name))

    def checked(self, logs=None):
        model = getattr(self, "_model", None)  # callbacks driven by hand may have none
        keeps = all(getattr(type(self), name) is getattr(cls, name) for name in setters)
        found = [] if model is None or not keeps else [
            schedule for _, target in _targets(getattr(model, "optimizer", None))
            if isinstance(schedule := _schedule_of(target), Schedule)]
        if found:
            raise TypeError(f"keras.callbacks.{cls.__name__} cannot set the learning rate of an "
                            f"optimizer whose learning_rate is a cyclr_tf.Schedule (Keras makes "
                            f"a schedule's LR not settable and would stop fit when it first "
                            f"tries). {fix} Received: learning_rate={check.describe(found[0])}")
        return on_train_begin(self, logs)

    checked._cyclr_checked = True
    cls.on_train_begin = checked


_refuse_a_schedule(keras.callbacks.ReduceLROnPlateau, ("on_epoch_end", "_reduce_optimizer_lr"),
                   "Use cyclr_tf.ReduceLROnPlateau, with the same arguments: it scales the "
                   "schedule on a plateau.")
_refuse_a_schedule(keras.callbacks.LearningRateScheduler,
                   ("on_epoch_begin", "_update_optimizer_lr"),
                   "Put the whole run's learning rate in the cyclr policy instead (policy.Join "
                   "of pieces, policy.Scaled for factors from given updates on), or build the "
                   "optimizer with a float learning rate.")
