"""``LRLogger`` on this process's Keras backend (every backend runs this file): the values are in
the logs of the fits it is in, and only there; a later compile or reduction is traced afresh
(JAX once reused a trace by the function's identity); a ``MultiOptimizer``'s optimizers are
logged each under its name."""

import keras
import numpy as np
import pytest

import cyclr_tf
from cyclr import policy
from cyclr_tf.schedule import Schedule
from tests.tf.keras_probe import Probe, mean_output, ones, probe_model

LR = policy.Triangular(0.01, 0.1, step_size=7)


def test_the_values_are_there_for_the_fits_it_is_in_and_only_there():
    model = probe_model(keras.optimizers.SGD(Schedule(LR)))
    x, y = ones(20)
    loss = model.train_on_batch(x[:4], y[:4])
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[cyclr_tf.LRLogger()])
    assert history.history["learning_rate"] == pytest.approx([LR(5)], rel=1e-6)  # update 5
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert "learning_rate" not in history.history
    after = model.train_on_batch(x[:4], y[:4])  # what it returned before: the loss alone
    assert np.ndim(after) == np.ndim(loss) == 0


@pytest.mark.parametrize("jit_compile", [False, True], ids=["eager", "compiled"])
def test_a_new_compile_after_a_logged_fit_is_traced_afresh(jit_compile):
    if jit_compile and keras.backend.backend() == "torch":
        pytest.skip("torch.compile: seconds per model; the eager step covers the logic here")
    model = probe_model(keras.optimizers.SGD(Schedule(LR)), jit_compile=jit_compile)
    x, y = ones(20)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[cyclr_tf.LRLogger()])
    other = policy.Constant(0.5)
    model.compile(optimizer=keras.optimizers.SGD(Schedule(other)), loss=mean_output,
                  jit_compile=jit_compile)
    probe = Probe()
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0,
                        callbacks=[probe, cyclr_tf.LRLogger()])
    assert probe.applied == pytest.approx([0.5] * 5)
    assert history.history["learning_rate"] == pytest.approx([0.5])


def multi_optimizer_model(schedule):
    inputs = keras.Input((1,))
    encoded = keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros", name="enc")(inputs)
    outputs = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones", name="head")(encoded)
    model = keras.Model(inputs, outputs)
    mapping = keras.optimizers.OptimizerMap(
        default_optimizer=keras.optimizers.SGD(0.01, name="rest"))
    mapping["^enc/.*"] = keras.optimizers.SGD(schedule, name="encoder")
    model.compile(optimizer=keras.optimizers.MultiOptimizer(mapping), loss=mean_output)
    return model


def test_a_multi_optimizers_learning_rates_are_logged_by_name():
    if not hasattr(keras.optimizers, "MultiOptimizer"):
        pytest.skip("this Keras has no MultiOptimizer (new in 3.15)")
    model = multi_optimizer_model(Schedule(LR))
    x, y = ones(20)
    seen = []
    logged = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(
        (logs["learning_rate_encoder"], logs["learning_rate_rest"])))
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[logged, cyclr_tf.LRLogger()])
    np.testing.assert_allclose([s[0] for s in seen], LR(np.arange(10)), rtol=1e-6)
    assert [s[1] for s in seen] == pytest.approx([0.01] * 10)


class Crash(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 2:
            raise KeyboardInterrupt  # as Ctrl-C: Keras calls no on_train_end


def test_after_a_fit_that_raised_or_an_evaluate_later_logs_are_plain():
    model = probe_model(keras.optimizers.SGD(Schedule(LR)))
    x, y = ones(20)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[cyclr_tf.LRLogger(), Crash()])
    assert np.ndim(model.train_on_batch(x[:4], y[:4])) == 0
    model.evaluate(x, y, verbose=0, callbacks=[cyclr_tf.LRLogger()])
    assert "learning_rate" not in model.fit(x, y, batch_size=4, verbose=0).history
    history = model.fit(x, y, batch_size=4, verbose=0, callbacks=[cyclr_tf.LRLogger()])
    assert history.history["learning_rate"] == pytest.approx([LR(13)], rel=1e-6)  # 3+1+4+5 updates
