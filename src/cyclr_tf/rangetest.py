"""The LR range test for a compiled Keras 3 model: one ``train_on_batch`` per LR, everything else
in :class:`cyclr.rangetest.Sweep`; the model and optimizer are restored bit for bit afterwards.

Under a ``tf.distribute`` strategy with several replicas in this process (``MirroredStrategy``)
each global batch is split over the replicas, as ``fit`` does, and every replica's copy of every
variable is restored.
"""

from __future__ import annotations

import contextlib
from typing import Any

import keras
import numpy as np

from cyclr import validate as check
from cyclr.rangetest import RangeTestResult, Sweep

__all__ = ["range_test"]


def range_test(model: keras.Model, x: Any, y: Any, sweep: Sweep | None = None, *,
               batch_size: int = 128, seed: int = 0) -> RangeTestResult:
    """Smith's LR range test on a compiled Keras model: ``sweep.num_steps`` calls of
    ``model.train_on_batch`` while the optimizer's LR rises from ``sweep.start_lr`` to
    ``sweep.end_lr``.

    Args:
        model: a compiled ``keras.Model`` whose optimizer's learning rate is a number.
        x, y: arrays with one row per sample.
        sweep: the sweep, its smoothing, stopping rule and suggestion method
            (:class:`cyclr.rangetest.Sweep`; default ``Sweep()``: 100 updates from 1e-7 to 10).
        batch_size: rows per update.
        seed: the batch order.

    Returns:
        A :class:`cyclr.rangetest.RangeTestResult`: LRs, raw and smoothed losses, suggestion.

    Raises:
        TypeError / ValueError: an argument of the wrong type or value, named, before anything
            changes.

    ``x`` and ``y`` are arrays with one row per sample; batches of ``batch_size`` rows (all of
    them if fewer) are taken in a fixed random order (``seed``), wrapping around at the end.
    The recorded loss is the one ``train_on_batch`` reports: the batch's loss before the update,
    regularization included. The model must be compiled with an optimizer whose learning rate
    is a number (a ``LearningRateSchedule`` cannot be overridden: compile with a float for the
    test, then with the schedule built from its bounds).

    Afterwards, also when the test diverges or the loss raises, everything is as it was, bit
    for bit: the model's variables (weights, non-trainable state, dropout seeds), the metric
    variables, and the optimizer's variables (slots such as momentum or Adam moments,
    ``iterations``, ``learning_rate``). An optimizer that was not built yet is built first (its
    fresh slots are zeros, as on the first update of ``fit``); an unbuilt model is built by a
    call on the first batch.

    A model built and compiled in ``strategy.scope()`` of a ``tf.distribute.MirroredStrategy``
    (or any strategy whose replicas all run in this process) is tested on its replicas: each
    batch of ``batch_size`` rows (the global batch) is split into one shard per replica, in
    order (``np.array_split``), placed on the replica's device, and ``train_on_batch`` runs one
    synchronous update, with gradients summed over the replicas from losses Keras scales by
    ``1 / replicas``. The loss recorded is the mean of the replicas' losses: with equal shards,
    the loss of the global batch, so the curve equals a single-device run on the same batches
    within float32 summation noise (layers that compute batch statistics, such as
    ``BatchNormalization``, see one shard each, as in ``fit``). ``batch_size`` must be at least
    the number of replicas. Every replica's copy of every variable is restored, metric
    variables included. Strategies with replicas in other processes
    (``MultiWorkerMirroredStrategy`` with several workers, ``ParameterServerStrategy``) are
    refused before anything changes: each worker would run its own Python loop, and nothing
    here makes them stop together or raise together. The LRs swept are LRs for the global
    batch: scale them yourself if you train with another global batch size.
    """
    sweep = Sweep() if sweep is None else sweep
    if not isinstance(sweep, Sweep):
        check.fail("sweep", "a cyclr.rangetest.Sweep", sweep, TypeError)
    if not isinstance(model, keras.Model):
        check.fail("model", "a compiled keras.Model", model, TypeError)
    if not model.compiled or model.optimizer is None:
        check.fail("model", "a compiled keras.Model (call model.compile first)", model)
    optimizer = model.optimizer
    if not isinstance(optimizer.learning_rate, keras.Variable):
        check.fail("model", "compiled with an optimizer whose learning_rate is a number, not a "
                   "schedule or a callable (the range test sets the LR itself)",
                   optimizer.learning_rate)
    strategy = _strategy(model)
    replicas = 1 if strategy is None else strategy.num_replicas_in_sync
    batch_size = check.positive_int("batch_size", batch_size)
    x, y = _rows("x", x), _rows("y", y)
    if len(x) == 0:
        check.fail("x", "a non-empty array of samples", x)
    if len(y) != len(x):
        raise ValueError(f"Argument `y` must be an array with as many rows as x ({len(x)}). "
                         f"Received: y of shape {y.shape}")
    seed = check.integer("seed", seed, 0, "a non-negative integer")
    order = np.random.default_rng(seed).permutation(len(x))
    size = min(batch_size, len(x))
    if size < replicas:
        check.fail("batch_size", f"at least the number of replicas ({replicas}), with as many "
                   "samples, so that every replica gets a shard", batch_size)
    taken = 0

    def train_step(lr: float) -> float:
        nonlocal taken
        rows = order[(taken + np.arange(size)) % len(x)]
        taken += size
        optimizer.learning_rate = lr
        xb, yb = (x[rows], y[rows]) if replicas == 1 else _shards(strategy, x[rows], y[rows])
        return float(model.train_on_batch(xb, yb, return_dict=True)["loss"])

    with _scope(strategy):
        if not model.built:
            model(x[:size])
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
        if replicas > 1:
            # Keras builds compiled metrics and losses from the first batch it is given, which
            # cannot be a distributed one: build them from a plain batch first (only shapes).
            model._maybe_symbolic_build(data_batch=(x[:size], y[:size], None))
        state = _parts(strategy, model.variables + optimizer.variables)
        saved = [v.numpy().copy() for v in state]
        metric_state = _parts(strategy, model.metrics_variables)
        saved_metrics = [v.numpy().copy() for v in metric_state]
        try:
            return sweep.run(train_step)
        finally:
            for variable, value in zip(state, saved):
                variable.assign(value)
            model.reset_metrics()  # metrics built during the test start from zero
            for variable, value in zip(metric_state, saved_metrics):
                variable.assign(value)


def _strategy(model: keras.Model) -> Any:
    """The model's ``tf.distribute`` strategy, if it has replicas (``None`` otherwise, and on
    the other Keras backends); refuses strategies with replicas in other processes."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    strategy = model.distribute_strategy
    if isinstance(strategy, tf.distribute.experimental.ParameterServerStrategy) or (
            strategy.num_replicas_in_sync > 1
            and strategy.num_replicas_in_sync > len(strategy.extended.worker_devices)):
        check.fail("model", "built under a strategy whose replicas all run in this process "
                   "(MirroredStrategy, OneDeviceStrategy, TPUStrategy, none): the range test does "
                   "not run across workers. Run it on one worker under a MirroredStrategy of "
                   "its devices", f"{type(strategy).__name__} with "
                   f"{strategy.num_replicas_in_sync} replicas")
    return strategy if strategy.num_replicas_in_sync > 1 else None


def _scope(strategy: Any) -> Any:
    return contextlib.nullcontext() if strategy is None else strategy.scope()


def _shards(strategy: Any, x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
    """``(x, y)`` split into one shard per replica, in order, each on its replica's device."""
    import tensorflow as tf

    devices = strategy.extended.worker_devices
    parts = np.array_split(np.arange(len(x)), strategy.num_replicas_in_sync)

    def shard(context: Any) -> tuple[Any, Any]:
        i = context.replica_id_in_sync_group
        with tf.device(devices[i]):
            return tf.constant(x[parts[i]]), tf.constant(y[parts[i]])

    return strategy.experimental_distribute_values_from_function(shard)


def _parts(strategy: Any, variables: list) -> list:
    """What to save and assign: the variables, or under a strategy with replicas every
    replica's copy of each (assigning a mirrored variable writes one value to every copy, and
    a metric's on-read copies would get equal shares of their sum)."""
    if strategy is None:
        return list(variables)
    return [part for v in variables for part in strategy.experimental_local_results(v.value)]


def _rows(name: str, value: Any) -> np.ndarray:
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        check.fail(name, "an array with one row per sample", value, TypeError)
    if array.ndim == 0 or array.dtype.kind not in "biuf":
        check.fail(name, "a numeric array with one row per sample", value, TypeError)
    return array
