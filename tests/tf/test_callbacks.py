"""``LRLogger`` and ``cycle_momentum`` in real ``model.fit`` runs."""

import csv
import json

import keras
import numpy as np
import pytest

import cyclr_tf
from cyclr import policy
from cyclr_tf.callbacks import CycledValue, cycle_momentum
from cyclr_tf.schedule import Schedule
from tests.tf.keras_probe import (
    SlotProbe,
    check_adam_family,
    max_error,
    mean_output,
    ones,
    previous,
    probe_model,
)

LR = policy.Triangular(0.01, 0.1, step_size=7)
MOMENTUM = policy.Triangular(0.95, 0.85, step_size=5)  # inverted: 0.95 -> 0.85 -> 0.95


class LogsRecorder(keras.callbacks.Callback):
    """What callbacks later in the list see in ``logs`` at the end of each batch."""

    def __init__(self):
        super().__init__()
        self.batch_logs = []

    def on_train_batch_end(self, batch, logs=None):
        self.batch_logs.append(dict(logs))


def _tensorboard_scalars(log_dir, tag):
    tf = pytest.importorskip("tensorflow")
    return [float(tf.make_ndarray(value.tensor)) for path in sorted(log_dir.iterdir())
            for event in tf.compat.v1.train.summary_iterator(str(path))
            for value in event.summary.value if value.tag == tag]


@pytest.mark.parametrize("logger_first", [True, False], ids=["logger_first", "logger_last"])
def test_history_csv_and_tensorboard_show_each_updates_lr_in_any_order(tmp_path, logger_first):
    """Issue 11: one line, anywhere in the list, and the real LR reaches CSVLogger and TensorBoard
    (before, CSVLogger had no LR column unless LRLogger came first, and TensorBoard alone has no
    per-batch LR)."""
    pytest.importorskip("tensorboard", reason="Keras' TensorBoard callback needs tensorboard")
    model = probe_model(keras.optimizers.SGD(Schedule(LR)))
    x, y = ones(40)
    csv_path, board = tmp_path / "log.csv", tmp_path / "board"
    recorder = LogsRecorder()
    others = [keras.callbacks.CSVLogger(csv_path),
              keras.callbacks.TensorBoard(board, update_freq="batch"), recorder]
    callbacks = [cyclr_tf.LRLogger(), *others] if logger_first else [*others, cyclr_tf.LRLogger()]
    history = model.fit(x, y, batch_size=4, epochs=4, verbose=0, callbacks=callbacks)
    epoch_ends = [9, 19, 29, 39]  # each epoch logs its last update's LR
    assert "momentum" not in history.history
    assert max_error(LR, epoch_ends, history.history["learning_rate"]) <= 1e-6
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    assert max_error(LR, epoch_ends, [float(r["learning_rate"]) for r in rows]) <= 1e-6
    steps = np.arange(40)
    assert max_error(LR, steps, [logs["learning_rate"] for logs in recorder.batch_logs]) <= 1e-6
    assert max_error(LR, steps, _tensorboard_scalars(board / "train",
                                                     "batch_learning_rate")) <= 1e-6
    # TensorBoard's own epoch value stays Keras': the LR of the next update (docs/keras.md)
    assert max_error(LR, [10, 20, 30, 40], _tensorboard_scalars(board / "train",
                                                                "epoch_learning_rate")) <= 1e-6


@pytest.mark.parametrize("optimizer_class", ["SGD", "Adam"])
def test_every_batch_logs_the_lr_and_cycled_momentum_of_its_update(optimizer_class):
    kwargs = {"momentum": 0.9} if optimizer_class == "SGD" else {}
    name = "momentum" if optimizer_class == "SGD" else "beta_1"
    optimizer = getattr(keras.optimizers, optimizer_class)(Schedule(LR), **kwargs)
    model = probe_model(cycle_momentum(optimizer, MOMENTUM))
    recorder = LogsRecorder()
    x, y = ones(30)
    history = model.fit(x, y, batch_size=3, epochs=3, verbose=0,
                        callbacks=[recorder, cyclr_tf.LRLogger()])
    steps = np.arange(30)
    assert max_error(LR, steps, [logs["learning_rate"] for logs in recorder.batch_logs]) <= 1e-6
    assert max_error(MOMENTUM, steps, [logs[name] for logs in recorder.batch_logs]) <= 1e-6
    assert max_error(MOMENTUM, [9, 19, 29], history.history[name]) <= 1e-6


def test_a_float_learning_rate_is_logged_too():
    model = probe_model(keras.optimizers.SGD(0.05))
    x, y = ones(8)
    history = model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[cyclr_tf.LRLogger()])
    assert history.history["learning_rate"] == pytest.approx([0.05, 0.05])


def test_per_batch_is_deprecated_and_still_checked():
    with pytest.warns(DeprecationWarning, match="per_batch=...\\) is deprecated"):
        cyclr_tf.LRLogger(per_batch=True)
    with pytest.raises(TypeError, match="Argument `per_batch` must be a bool"):
        cyclr_tf.LRLogger(per_batch="yes")


def _fit_with_cycled_momentum(optimizer, jit_compile, n=40):
    model = probe_model(cycle_momentum(optimizer, MOMENTUM), jit_compile=jit_compile)
    probe = SlotProbe()
    x, y = ones(n)
    model.fit(x, y, batch_size=2, epochs=2, verbose=0, shuffle=False, callbacks=[probe])
    k = np.arange(len(probe.steps))
    assert probe.steps == list(k)
    return k, probe


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
@pytest.mark.parametrize("nesterov", [False, True], ids=["heavy_ball", "nesterov"])
def test_sgd_applies_the_momentum_policy_at_every_update(nesterov, jit_compile):
    optimizer = keras.optimizers.SGD(Schedule(LR), momentum=0.9, nesterov=nesterov)
    k, probe = _fit_with_cycled_momentum(optimizer, jit_compile)
    velocity = np.array([s["momentum"] for s in probe.slots])
    mu, lr = MOMENTUM(k), LR(k)
    # Keras SGD, gradient 1: v <- mu * v - lr; w <- w + v (nesterov: w + mu * v - lr)
    np.testing.assert_allclose(velocity, mu * previous(velocity) - lr, rtol=1e-6)
    step = mu * velocity - lr if nesterov else velocity
    np.testing.assert_allclose(-np.array(probe.applied), step, rtol=1e-6)
    # the same run with the momentum of the next or previous update would differ by percents
    assert np.max(np.abs(MOMENTUM(k + 1) * previous(velocity) - lr - velocity)) > 1e-3


@pytest.mark.parametrize(("optimizer_class", "jit_compile"), [
    ("Adam", False), ("Adam", True), ("AdamW", True), ("Adamax", True)])
def test_adam_family_applies_the_beta_1_policy_and_keeps_beta_2(optimizer_class, jit_compile):
    optimizer = getattr(keras.optimizers, optimizer_class)(Schedule(LR), beta_2=0.99)
    _, probe = _fit_with_cycled_momentum(optimizer, jit_compile)
    check_adam_family(optimizer, probe, LR, MOMENTUM)


def _velocity_recurrence(steps):
    velocity = 0.0
    for k in range(steps):
        velocity = MOMENTUM(k) * velocity - LR(k)
    return velocity


def test_momentum_follows_every_update_with_steps_per_execution():
    optimizer = cycle_momentum(keras.optimizers.SGD(Schedule(LR), momentum=0.9), MOMENTUM)
    model = probe_model(optimizer, jit_compile=True)
    model.compile(optimizer=optimizer, loss=mean_output, steps_per_execution=4, jit_compile=True)
    x, y = ones(74)
    model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    velocity = next(v for v in optimizer.variables if v.path.endswith("momentum"))
    assert int(optimizer.iterations.numpy()) == 37
    assert float(velocity.numpy().ravel()[0]) == pytest.approx(_velocity_recurrence(37), rel=1e-5)
    assert _velocity_recurrence(37) != pytest.approx(_velocity_recurrence(36), rel=1e-2)


def test_works_through_a_loss_scale_optimizer():
    inner = keras.optimizers.SGD(Schedule(LR), momentum=0.9)
    wrapped = keras.optimizers.LossScaleOptimizer(inner)
    assert cycle_momentum(wrapped, MOMENTUM) is wrapped
    assert isinstance(inner.momentum, CycledValue) and inner.momentum == 0.9


@pytest.mark.parametrize(("optimizer", "error", "match"), [
    (keras.optimizers.RMSprop(momentum=0.9), TypeError, "Argument `optimizer` must be a Keras "
                                                        "optimizer with a momentum term"),
    (keras.optimizers.Adagrad(), TypeError, "Argument `optimizer` must be a Keras optimizer"),
    ("sgd", TypeError, "Argument `optimizer` must be a Keras optimizer"),
    (keras.optimizers.SGD(), ValueError, "built with momentum > 0"),
    (keras.optimizers.SGD(momentum=0.9, gradient_accumulation_steps=2), ValueError,
     "without gradient accumulation"),
])
def test_unsupported_optimizers_raise(optimizer, error, match):
    with pytest.raises(error, match=match):
        cycle_momentum(optimizer, MOMENTUM)


@pytest.mark.parametrize("bad", [0.9, None, {"type": "Nope"}, Schedule(MOMENTUM)])
def test_non_policy_momentum_raises_type_error_naming_policy(bad):
    optimizer = keras.optimizers.SGD(momentum=0.9)
    with pytest.raises(TypeError, match="Argument `policy` must be a cyclr policy"):
        cycle_momentum(optimizer, bad)
    assert type(optimizer.momentum) is float  # unchanged


def test_a_saved_model_stores_the_original_momentum(tmp_path):
    """Keras 3 restores optimizer hyperparameters as floats: the cycle is re-applied after
    loading (documented in docs/keras.md)."""
    model = probe_model(cycle_momentum(keras.optimizers.SGD(Schedule(LR), momentum=0.9),
                                       MOMENTUM))
    x, y = ones(8)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert json.loads(json.dumps(model.optimizer.get_config()))["momentum"] == 0.9
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, custom_objects={"mean_output": mean_output})
    assert type(loaded.optimizer.momentum) is float and loaded.optimizer.momentum == 0.9
    cycle_momentum(loaded.optimizer, MOMENTUM)
    velocity = float(next(v for v in loaded.optimizer.variables
                          if v.path.endswith("momentum")).numpy().ravel()[0])
    probe = SlotProbe()
    loaded.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[probe])
    assert probe.steps == [2, 3]
    velocities = [velocity] + [s["momentum"] for s in probe.slots]
    for k, (before, after) in zip(probe.steps, zip(velocities, velocities[1:])):
        assert after == pytest.approx(MOMENTUM(k) * before - LR(k), rel=1e-6)
