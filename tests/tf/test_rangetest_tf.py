"""The Keras range test on real tiny compiled models: the sweep applied, the suggestions, and the
model, metric and optimizer variables left exactly as found (completed, diverged, loss raising)."""


import keras
import numpy as np
import pytest

from cyclr import policy
from cyclr.rangetest import Sweep
from cyclr_tf.rangetest import range_test

OPTIMIZERS = {
    "sgd-nesterov": lambda: keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    "adam": lambda: keras.optimizers.Adam(1e-3, amsgrad=True),
}


def make_data(n=256, features=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    y = (x @ rng.normal(size=features) > 0).astype("float32")
    return x, y


def make_model(opt="sgd-nesterov", pretrain=True, run_eagerly=False, loss="binary_crossentropy"):
    """Batch norm (non-trainable state), dropout (seed state), a metric; fitted one short epoch
    so that the optimizer has slots and a non-zero iteration count."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((6,)), keras.layers.Dense(16), keras.layers.BatchNormalization(),
        keras.layers.Activation("relu"), keras.layers.Dropout(0.2),
        keras.layers.Dense(1, activation="sigmoid")])
    model.compile(OPTIMIZERS[opt](), loss, metrics=["accuracy"], run_eagerly=run_eagerly)
    if pretrain:
        x, y = make_data(64)
        model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    return model


def everything(model):
    """Every variable the range test could touch, by position, copied."""
    state = {}
    for kind, variables in (("model", model.variables), ("metric", model.metrics_variables),
                            ("optimizer", model.optimizer.variables)):
        for i, v in enumerate(variables):
            state[f"{kind} variable {i}"] = np.array(v.numpy(), copy=True)
    return state


def assert_identical(before, after):
    assert before.keys() == after.keys()
    for key in before:
        assert before[key].dtype == after[key].dtype, key
        np.testing.assert_array_equal(before[key], after[key], err_msg=key, strict=True)


@pytest.mark.parametrize("opt", OPTIMIZERS)
def test_completed_test_restores_everything_bit_for_bit(opt):
    model = make_model(opt)
    before = everything(model)
    x, y = make_data()
    result = range_test(model, x, y, batch_size=32,
                        sweep=Sweep(start_lr=1e-5, end_lr=0.1, num_steps=20))
    assert result.stop_reason == "completed" and len(result.lrs) == 20
    assert len(set(result.losses.tolist())) > 10      # it did train, on changing batches
    assert_identical(before, everything(model))


def test_a_diverging_test_restores_everything_and_stops_early():
    model = make_model()
    before = everything(model)
    x, y = make_data()
    result = range_test(model, x, y, batch_size=32,
                        sweep=Sweep(start_lr=1e-3, end_lr=1e6, num_steps=40, smooth=0.5,
                                    diverge=1.5))
    assert result.stopped_early and result.stop_reason in ("diverged", "non-finite loss")
    assert_identical(before, everything(model))


def test_a_raising_loss_restores_everything_and_propagates():
    calls = []

    def flaky(y_true, y_pred):
        calls.append(1)
        if len(calls) == 7:
            raise RuntimeError("loss exploded on purpose")
        return keras.losses.binary_crossentropy(y_true, y_pred)

    model = make_model(run_eagerly=True, loss=flaky)
    calls.clear()
    before = everything(model)
    x, y = make_data()
    with pytest.raises(RuntimeError, match="on purpose"):
        range_test(model, x, y, batch_size=32, sweep=Sweep(start_lr=1e-4, end_lr=1.0, num_steps=20))
    assert len(calls) == 7
    assert_identical(before, everything(model))


def test_training_after_the_test_equals_training_without_it():
    x, y = make_data()
    tested, untouched = make_model(), make_model()
    range_test(tested, x, y, batch_size=32, sweep=Sweep(start_lr=1e-4, end_lr=10.0, num_steps=30))
    for model in (tested, untouched):
        keras.utils.set_random_seed(7)
        model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert_identical(everything(untouched), everything(tested))


def test_a_fresh_model_and_optimizer_train_afterwards_as_if_untested():
    x, y = make_data()
    tested, untouched = make_model(pretrain=False), make_model(pretrain=False)
    range_test(tested, x, y, batch_size=32, sweep=Sweep(start_lr=1e-4, end_lr=10.0, num_steps=10))
    for model in (tested, untouched):
        keras.utils.set_random_seed(7)
        model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert_identical(everything(untouched), everything(tested))


@pytest.mark.parametrize("mode", ["exp", "linear"])
def test_each_update_runs_at_the_swept_lr(mode):
    seen = []

    def recording(y_true, y_pred):
        seen.append(float(model.optimizer.learning_rate))
        return keras.losses.binary_crossentropy(y_true, y_pred)

    model = make_model(run_eagerly=True, loss=recording, pretrain=False)
    x, y = make_data()
    result = range_test(model, x, y, batch_size=32,
                        sweep=Sweep(start_lr=1e-4, end_lr=0.5, num_steps=12, mode=mode))
    expected = Sweep(1e-4, 0.5, 12, mode).lrs
    np.testing.assert_array_equal(result.lrs, expected)
    np.testing.assert_array_equal(seen, expected.astype("float32"))   # the variable is float32


def test_batches_wrap_around_in_a_fixed_random_order():
    seen = []

    def recording(y_true, y_pred):
        seen.append(np.asarray(y_true).ravel().copy())
        return keras.losses.binary_crossentropy(y_true, y_pred)

    model = make_model(run_eagerly=True, loss=recording)
    seen.clear()
    x = np.arange(40, dtype="float32")[:, None].repeat(6, axis=1)
    y = np.arange(40, dtype="float32")                  # the targets name the rows
    range_test(model, x, y, batch_size=16, seed=3,
               sweep=Sweep(start_lr=1e-4, end_lr=1e-3, num_steps=5))
    order = np.random.default_rng(3).permutation(40)
    rows = np.concatenate(seen)
    np.testing.assert_array_equal(rows, order[np.arange(80) % 40])


def test_suggestions_are_ordered_and_inside_the_swept_range():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.SGD(0.01), "binary_crossentropy")
    x, y = make_data(2048, seed=3)
    result = range_test(model, x, y, batch_size=64,
                        sweep=Sweep(start_lr=1e-4, end_lr=100.0, num_steps=80))
    for method in ("smith", "steepest", "valley", "minimum"):
        s = result.suggest(method)
        assert s.ok, s
        assert 1e-4 <= s.base_lr < s.max_lr <= result.lrs[-1], s
    policy.Triangular2(**result.suggestion.bounds(), step_size=100)   # the direct hand-off


@pytest.mark.parametrize("kwargs, name, error", [
    ({"x": np.zeros((0, 6), "float32"), "y": np.zeros(0, "float32")}, "x", ValueError),
    ({"y": np.zeros(5, "float32")}, "y", ValueError),
    ({"sweep": {"start_lr": 1e-4}}, "sweep", TypeError),
    ({"batch_size": 0}, "batch_size", ValueError),
    ({"model": "net"}, "model", TypeError),
])
def test_bad_arguments_raise_and_touch_nothing(kwargs, name, error):
    model = make_model()
    before = everything(model)
    x, y = make_data()
    args = {"model": model, "x": x, "y": y, **kwargs}
    with pytest.raises(error, match=rf"Argument `{name}` must be"):
        range_test(**args)
    assert_identical(before, everything(model))


def test_uncompiled_models_and_scheduled_optimizers_are_refused():
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(1)])
    x, y = make_data()
    with pytest.raises(ValueError, match="Argument `model` must be a compiled"):
        range_test(model, x, y)
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    model.compile(keras.optimizers.SGD(schedule), "mse")
    with pytest.raises(ValueError, match="learning_rate is a number"):
        range_test(model, x, y)


class MultiWorker:
    """What a MultiWorkerMirroredStrategy over 2 workers of 2 GPUs shows: 4 replicas, 2 here.
    (A real one cannot be built in one test process: its variables wait for the other worker.)"""

    num_replicas_in_sync = 4

    class extended:  # noqa: N801
        worker_devices = ("/job:worker/task:0/device:GPU:0", "/job:worker/task:0/device:GPU:1")


def test_strategies_with_replicas_in_other_processes_are_refused_before_anything_changes():
    model = make_model()
    model._distribute_strategy = MultiWorker()   # what Keras records when built in its scope
    before = everything(model)
    x, y = make_data()
    with pytest.raises(ValueError, match="Argument `model` must be built under a strategy whose "
                       "replicas all run in this process"):
        range_test(model, x, y)
    assert_identical(before, everything(model))
