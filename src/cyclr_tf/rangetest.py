"""The LR range test for a compiled Keras 3 model: one ``train_on_batch`` per LR, everything else
in :class:`cyclr.rangetest.Sweep`; the model and optimizer are restored bit for bit afterwards."""

from __future__ import annotations

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
    taken = 0

    def train_step(lr: float) -> float:
        nonlocal taken
        rows = order[(taken + np.arange(size)) % len(x)]
        taken += size
        optimizer.learning_rate = lr
        return float(model.train_on_batch(x[rows], y[rows], return_dict=True)["loss"])

    if not model.built:
        model(x[:size])
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    state = model.variables + optimizer.variables
    saved = [v.numpy().copy() for v in state]
    metric_state = model.metrics_variables
    saved_metrics = [v.numpy().copy() for v in metric_state]
    try:
        return sweep.run(train_step)
    finally:
        for variable, value in zip(state, saved):
            variable.assign(value)
        model.reset_metrics()  # metrics built during the test start from zero
        for variable, value in zip(metric_state, saved_metrics):
            variable.assign(value)


def _rows(name: str, value: Any) -> np.ndarray:
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        check.fail(name, "an array with one row per sample", value, TypeError)
    if array.ndim == 0 or array.dtype.kind not in "biuf":
        check.fail(name, "a numeric array with one row per sample", value, TypeError)
    return array
