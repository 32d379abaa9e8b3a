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


def policy_of(model):
    """The policy of the schedule the model's optimizer holds now (what a .keras file saves)."""
    return policy.from_config(model.optimizer.get_config()["learning_rate"]["config"]["policy"])


def fit(optimizer, *callbacks, epochs=4, jit_compile=False):
    """``epochs`` epochs of 10 updates; the probe's loss is 0 at every batch (a plateau)."""
    model = probe_model(optimizer, jit_compile=jit_compile)
    probe = Probe()
    x, y = ones(40)
    model.fit(x, y, batch_size=4, epochs=epochs, verbose=0, shuffle=False,
              callbacks=[probe, *callbacks])
    return model, probe


@pytest.mark.parametrize("logger", [False, True], ids=["alone", "with_LRLogger"])
@pytest.mark.parametrize("jit_compile", MODES, ids=lambda c: "compiled" if c else "eager")
def test_a_plateau_scales_the_schedule_in_phase_from_the_next_update(jit_compile, logger):
    schedule = Schedule(LR)
    plateau = cyclr_tf.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1)
    logged = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: lrs.append(
        logs.get("learning_rate")))
    lrs = []
    extra = [cyclr_tf.LRLogger(), logged] if logger else []
    model, probe = fit(keras.optimizers.SGD(schedule), plateau, *extra, jit_compile=jit_compile)
    # epoch 0 sets the best loss (0); epochs 1, 2, 3 do not improve on it: a reduction after each
    assert policy_of(model) == policy.Scaled(LR, (20, 30, 40), (0.5, 0.5, 0.5))
    assert schedule.policy == LR  # the schedule built by hand is left for another model
    assert probe.steps == list(range(40))
    k = np.arange(40)
    want = LR(k) * np.where(k >= 30, 0.25, np.where(k >= 20, 0.5, 1.0))
    np.testing.assert_allclose(probe.applied, want, rtol=1e-6)
    np.testing.assert_allclose(probe.reported, want, rtol=1e-6)
    if logger:  # JAX once reused the trace made before the reductions (issue 11's review)
        np.testing.assert_allclose(lrs, want, rtol=1e-6)


def test_one_schedule_serves_one_model_after_another():
    """A k-fold loop that builds the schedule once: each fold starts from the policy as built
    (a reduction used to change the shared schedule, and the next fold's first reduction at an
    update before the last boundary stopped its fit)."""
    schedule = Schedule(LR)
    for fold in range(2):
        model, probe = fit(keras.optimizers.SGD(schedule),
                           cyclr_tf.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1))
        assert probe.applied[:20] == pytest.approx(list(LR(np.arange(20))), rel=1e-6), fold
        assert policy_of(model) == policy.Scaled(LR, (20, 30, 40), (0.5, 0.5, 0.5))


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
    plateau = cyclr_tf.ReduceLROnPlateau(monitor="loss", factor=0.1, patience=1, min_lr=0.004)
    model, _ = fit(keras.optimizers.SGD(Schedule(LR)), plateau)  # peak 0.1
    # 0.1 -> 0.01 (x 0.1), -> 0.004 (x 0.4, not 0.001), then at min_lr: no third reduction
    assert policy_of(model).boundaries == (20, 30)
    assert policy_of(model).scales == pytest.approx((0.1, 0.4))


def test_reductions_stop_before_the_factor_leaves_float32():
    plateau = cyclr_tf.ReduceLROnPlateau(monitor="loss", factor=1e-20, patience=0)
    model, probe = fit(keras.optimizers.SGD(Schedule(LR)), plateau, epochs=5)
    assert policy_of(model).scales == (1e-20,)  # a second 1e-20 would make 1e-40: 0 in float32
    assert policy_of(model).boundaries == (20,)
    assert probe.applied[20:] == pytest.approx(list(1e-20 * LR(np.arange(20, 50))), rel=1e-5)


def test_reductions_continue_a_scaled_schedule_flat():
    schedule = Schedule(policy.Scaled(LR, (5, 25), (0.5, 0.5)))  # e.g. loaded from a .keras file
    model, _ = fit(keras.optimizers.SGD(schedule),
                   cyclr_tf.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1), epochs=3)
    # the reduction at 20 comes before the boundary at 25: it scales what follows too
    assert policy_of(model) == policy.Scaled(LR, (5, 20, 25, 30), (0.5, 0.5, 0.5, 0.5))


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


@pytest.mark.parametrize("rate", [keras.optimizers.schedules.CosineDecay(0.1, decay_steps=100),
                                  lambda: 0.05], ids=["CosineDecay", "callable"])
def test_another_kind_of_learning_rate_is_refused_before_training(rate):
    model = probe_model(keras.optimizers.SGD(rate))
    x, y = ones(8)
    with pytest.raises(TypeError, match="Argument `learning_rate` must be a cyclr_tf.Schedule "
                                        "or a float for cyclr_tf.ReduceLROnPlateau"):
        model.fit(x, y, batch_size=4, epochs=2, verbose=0,
                  callbacks=[cyclr_tf.ReduceLROnPlateau(monitor="loss")])
    assert int(model.optimizer.iterations.numpy()) == 0


@pytest.mark.parametrize("metrics", [[], ["mae"]], ids=["no_metrics", "compiled_metrics"])
def test_a_monitor_whose_direction_keras_cannot_tell_is_refused_before_a_reduction(metrics):
    model = probe_model(keras.optimizers.SGD(Schedule(LR)))
    model.compile(optimizer=model.optimizer, loss="mse", metrics=metrics)
    x, y = ones(8)
    with pytest.raises(ValueError, match="maximized or minimized"):
        model.fit(x, y, batch_size=4, epochs=2, verbose=0,
                  callbacks=[Scripted([1.0, 1.0]), cyclr_tf.ReduceLROnPlateau(monitor="score")])
    # when fit starts; TensorFlow may build the compiled metrics only in the first update, and
    # then Keras tells at the end of the first epoch, before any reduction
    done = int(model.optimizer.iterations.numpy())
    assert done == 0 or (BACKEND == "tensorflow" and done == 2)
    assert policy_of(model) == LR


def test_mode_auto_follows_a_compiled_metric():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.SGD(Schedule(LR)), loss="binary_crossentropy",
                  metrics=["accuracy"])
    x = np.random.default_rng(0).normal(size=(40, 3)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    plateau = cyclr_tf.ReduceLROnPlateau(monitor="val_accuracy", patience=1)
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, validation_data=(x, y),
              callbacks=[plateau])
    assert plateau.monitor_op is not None and plateau.best is not None


def test_keras_own_callbacks_driven_by_hand_without_a_model_are_unchanged():
    for callback in (keras.callbacks.ReduceLROnPlateau(),
                     keras.callbacks.LearningRateScheduler(lambda epoch: 0.1)):
        callback.on_train_begin()  # a custom loop may call hooks before set_model


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
    ({"verbose": "yes"}, TypeError, "Argument `verbose` must be a non-negative integer"),
    ({"verbose": None}, TypeError, "Argument `verbose` must be a non-negative integer"),
    ({"monitor": None}, TypeError, "Argument `monitor` must be the name of a logs entry"),
    ({"monitor": 3}, TypeError, "Argument `monitor` must be the name of a logs entry"),
    ({"monitor": ""}, ValueError, "Argument `monitor` must be the name of a logs entry"),
])
def test_bad_arguments_are_refused_naming_them(kwargs, error, match):
    with pytest.raises(error, match=match):
        cyclr_tf.ReduceLROnPlateau(**kwargs)


def test_a_multi_optimizers_schedule_and_float_are_each_reduced():
    if not hasattr(keras.optimizers, "MultiOptimizer"):
        pytest.skip("this Keras has no MultiOptimizer (new in 3.15)")
    from tests.keras.test_lrlogger import multi_optimizer_model

    model = multi_optimizer_model(Schedule(LR))
    x, y = ones(40)
    model.fit(x, y, batch_size=4, epochs=3, verbose=0,
              callbacks=[cyclr_tf.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1,
                                                    mode="max")])
    encoder, rest = model.optimizer.optimizers
    assert policy.from_config(encoder.get_config()["learning_rate"]["config"]["policy"]) == \
        policy.Scaled(LR, (20, 30), (0.5, 0.5))
    assert float(rest.learning_rate) == pytest.approx(0.0025)  # 0.01 halved twice, as Keras


def test_keras_learning_rate_scheduler_refuses_a_schedule_inside_a_multi_optimizer():
    if not hasattr(keras.optimizers, "MultiOptimizer"):
        pytest.skip("this Keras has no MultiOptimizer (new in 3.15)")
    from tests.keras.test_lrlogger import multi_optimizer_model

    model = multi_optimizer_model(Schedule(LR))
    x, y = ones(8)
    with pytest.raises(TypeError, match="keras.callbacks.LearningRateScheduler cannot set"):
        model.fit(x, y, batch_size=4, epochs=2, verbose=0,
                  callbacks=[keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr)])
    assert int(model.optimizer.iterations.numpy()) == 0


def test_verbose_prints_each_reduction(capsys):
    fit(keras.optimizers.SGD(Schedule(LR)),
        cyclr_tf.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, verbose=1), epochs=3)
    printed = capsys.readouterr().out
    assert "Epoch 2: ReduceLROnPlateau scaling the schedule by 0.5 from update 20" in printed
    assert "Epoch 3: ReduceLROnPlateau scaling the schedule by 0.5 from update 30" in printed


def test_setting_a_schedules_policy_is_checked_before_anything_changes():
    schedule = Schedule(LR)
    with pytest.raises(TypeError, match="Argument `policy` must be a cyclr policy"):
        schedule.policy = "garbage"
    assert schedule.policy == LR and schedule.get_config() == {"policy": LR.to_config()}
    schedule.policy = policy.Scaled(LR, (5,), (0.5,)).to_config()
    assert schedule.policy == policy.Scaled(LR, (5,), (0.5,))


def test_a_subclass_keeping_keras_lr_setter_is_refused_too_one_with_its_own_is_not():
    class Quieter(keras.callbacks.ReduceLROnPlateau):  # keeps Keras' way of setting the LR
        pass

    class Own(keras.callbacks.ReduceLROnPlateau):  # sets the LR its own way
        def on_epoch_end(self, epoch, logs=None):
            pass

    x, y = ones(8)
    model = probe_model(keras.optimizers.SGD(Schedule(LR)))
    with pytest.raises(TypeError, match="keras.callbacks.ReduceLROnPlateau cannot set"):
        model.fit(x, y, batch_size=4, verbose=0, callbacks=[Quieter(monitor="loss")])
    model.fit(x, y, batch_size=4, verbose=0, callbacks=[Own(monitor="loss")])
    assert int(model.optimizer.iterations.numpy()) == 2
    cyclr_tf.ReduceLROnPlateau().on_train_begin()  # before set_model, as Keras' own: no error
