"""``cyclr_tf.ReduceLROnPlateau`` on this process's Keras backend (every backend runs this file):
a plateau scales the schedule in phase from the next update, decided as Keras' own callback
decides; Keras' own LR setters refuse a Schedule before training (issue 11)."""

import keras
import numpy as np
import pytest

import cyclr_tf
from cyclr import policy
from cyclr_tf.schedule import Schedule
from tests.tf.keras_probe import Probe, continued_here_and_fresh, ones, probe_model

LR = policy.Triangular(0.01, 0.1, step_size=7)
BACKEND = keras.backend.backend()
# torch: jit_compile=True is torch.compile, seconds per model: the eager step there
MODES = [False, True] if BACKEND != "torch" else [False]


class Scripted(keras.callbacks.Callback):
    """Puts ``values[epoch]`` into ``logs["score"]`` (first in the list: what a metric does)."""

    def __init__(self, values):
        super().__init__()
        self.values = values

    def on_epoch_end(self, epoch, logs=None):
        logs["score"] = self.values[epoch]


def fit(optimizer, *callbacks, epochs=4, jit_compile=False):
    """``epochs`` epochs of 10 updates; the probe's loss is 0 at every batch (a plateau)."""
    model = probe_model(optimizer, jit_compile=jit_compile)
    probe = Probe()
    x, y = ones(40)
    model.fit(x, y, batch_size=4, epochs=epochs, verbose=0, shuffle=False,
              callbacks=[probe, *callbacks])
    return model, probe


@pytest.mark.parametrize("jit_compile", MODES, ids=lambda c: "compiled" if c else "eager")
def test_a_plateau_scales_the_schedule_in_phase_from_the_next_update(jit_compile):
    schedule = Schedule(LR)
    plateau = cyclr_tf.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1)
    model, probe = fit(keras.optimizers.SGD(schedule), plateau, jit_compile=jit_compile)
    # epoch 0 sets the best loss (0); epochs 1, 2, 3 do not improve on it: a reduction after each
    assert schedule.policy == policy.Scaled(LR, (20, 30, 40), (0.5, 0.5, 0.5))
    assert probe.steps == list(range(40))
    k = np.arange(40)
    want = LR(k) * np.where(k >= 30, 0.25, np.where(k >= 20, 0.5, 1.0))
    np.testing.assert_allclose(probe.applied, want, rtol=1e-6)
    np.testing.assert_allclose(probe.reported, want, rtol=1e-6)


@pytest.mark.parametrize(("patience", "cooldown", "min_delta", "mode", "min_lr"), [
    (0, 0, 0.0, "min", 0.0), (1, 0, 1e-4, "min", 0.0), (2, 1, 0.05, "min", 0.0),
    (1, 2, 0.0, "max", 0.0), (0, 0, 0.0, "min", 0.003)])
def test_reductions_come_when_keras_own_callback_reduces_a_float_lr(
        patience, cooldown, min_delta, mode, min_lr):
    scores = [1.0, 0.9, 0.9, 0.95, 0.85, 0.849, 0.849, 0.7, 0.9, 0.9]
    args = dict(monitor="score", factor=0.5, patience=patience, cooldown=cooldown,
                min_delta=min_delta, mode=mode, min_lr=min_lr)
    model, keras_probe = fit(keras.optimizers.SGD(0.01), Scripted(scores),
                             keras.callbacks.ReduceLROnPlateau(**args), epochs=len(scores))
    schedule = Schedule(policy.Constant(0.01))
    _, probe = fit(keras.optimizers.SGD(schedule), Scripted(scores),
                   cyclr_tf.ReduceLROnPlateau(**args), epochs=len(scores))
    assert len(set(np.round(keras_probe.applied, 9))) > 1  # Keras did reduce
    np.testing.assert_allclose(probe.applied, keras_probe.applied, rtol=1e-6)


def test_a_float_lr_is_reduced_as_keras_reduces_it():
    model, probe = fit(keras.optimizers.SGD(0.08),
                       cyclr_tf.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1))
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)
    assert probe.applied[19] == pytest.approx(0.08) and probe.applied[20] == pytest.approx(0.04)


def test_a_keras_file_holds_the_reductions_and_training_continues_exactly(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)).astype("float32"), rng.normal(size=(40, 1)).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    schedule = Schedule(LR)
    model.compile(optimizer=keras.optimizers.SGD(schedule), loss="mse")
    # the loss falls, so in mode "max" every epoch after the first is a plateau
    plateau = cyclr_tf.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, mode="max")
    model.fit(x, y, batch_size=4, epochs=3, verbose=0, shuffle=False, callbacks=[plateau])
    here, fresh = continued_here_and_fresh(model, x, y, tmp_path, epochs=1)
    assert fresh["schedule"]["config"]["policy"] == policy.Scaled(
        LR, (20, 30), (0.5, 0.5)).to_config()
    assert fresh["start"] == 30 and fresh["steps"] == here.steps == list(range(30, 40))
    assert fresh["lrs"] == here.lrs
    np.testing.assert_allclose(here.lrs, 0.25 * LR(np.arange(30, 40)), rtol=1e-6)


def test_min_lr_floors_the_peak_then_stops_reducing():
    schedule = Schedule(LR)  # peak 0.1
    plateau = cyclr_tf.ReduceLROnPlateau(monitor="loss", factor=0.1, patience=1, min_lr=0.004)
    fit(keras.optimizers.SGD(schedule), plateau)
    # 0.1 -> 0.01 (x 0.1), -> 0.004 (x 0.4, not 0.001), then at min_lr: no third reduction
    assert schedule.policy.boundaries == (20, 30)
    assert schedule.policy.scales == pytest.approx((0.1, 0.4))


def test_reductions_continue_a_scaled_schedule_flat():
    schedule = Schedule(policy.Scaled(LR, (5,), (0.5,)))  # e.g. loaded from a .keras file
    fit(keras.optimizers.SGD(schedule),
        cyclr_tf.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1), epochs=3)
    assert schedule.policy == policy.Scaled(LR, (5, 20, 30), (0.5, 0.5, 0.5))


@pytest.mark.parametrize("callback", [
    keras.callbacks.ReduceLROnPlateau(monitor="loss", patience=1),
    keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.9),
], ids=["ReduceLROnPlateau", "LearningRateScheduler"])
def test_keras_own_lr_setters_refuse_a_schedule_before_training(callback):
    model = probe_model(keras.optimizers.SGD(Schedule(LR)))
    x, y = ones(40)
    name = type(callback).__name__
    with pytest.raises(TypeError, match=f"keras.callbacks.{name} cannot set the learning rate "
                                        "of an optimizer whose learning_rate is a "
                                        r"cyclr_tf.Schedule .* Received: learning_rate=Sched"):
        model.fit(x, y, batch_size=4, epochs=3, verbose=0, callbacks=[callback])
    assert int(model.optimizer.iterations.numpy()) == 0  # nothing trained


def test_another_keras_schedule_is_refused_before_training():
    decay = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=100)
    model = probe_model(keras.optimizers.SGD(decay))
    x, y = ones(8)
    with pytest.raises(TypeError, match="Argument `learning_rate` must be a cyclr_tf.Schedule "
                                        "or a float for cyclr_tf.ReduceLROnPlateau"):
        model.fit(x, y, batch_size=4, epochs=2, verbose=0,
                  callbacks=[cyclr_tf.ReduceLROnPlateau(monitor="loss")])
    assert int(model.optimizer.iterations.numpy()) == 0


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"factor": 1.0}, ValueError, r"Argument `factor` must be a number in \(0, 1\). "
                                  "Received: factor=1.0"),
    ({"factor": 0}, ValueError, "Argument `factor` must be a number in"),
    ({"factor": "0.5"}, TypeError, "Argument `factor` must be a number in"),
    ({"patience": -1}, ValueError, "Argument `patience` must be a non-negative integer"),
    ({"cooldown": 1.5}, ValueError, "Argument `cooldown` must be a non-negative integer"),
    ({"mode": "up"}, ValueError, "Argument `mode` must be one of"),
    ({"min_lr": -1e-3}, ValueError, "Argument `min_lr` must be a finite number >= 0"),
    ({"min_delta": float("nan")}, ValueError, "Argument `min_delta` must be a finite number"),
])
def test_bad_arguments_are_refused_naming_them(kwargs, error, match):
    with pytest.raises(error, match=match):
        cyclr_tf.ReduceLROnPlateau(**kwargs)
