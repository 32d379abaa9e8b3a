"""Porting from TF Addons (issue 15): ``import cyclr_tf.tfa as tfa`` instead of
``import tensorflow_addons as tfa``, and the rest of the code runs unchanged.

Every recognised form gives TF Addons' values (``tests/tf/tfa_reference.py``) and a cyclr
``Schedule`` that is exact at huge steps; every other form is refused with a message naming the
argument; the article's training script runs with only its import changed; the model saves and
loads as a ``.keras`` file.
"""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

import cyclr_tf
import cyclr_tf.tfa as tfa
from cyclr import policy
from tests.tf.keras_probe import continued_here_and_fresh, max_error
from tests.tf.tfa_reference import cyclical_learning_rate, scale

LO, HI, STEP_SIZE, GAMMA = 1e-3, 0.1, 250, 0.9995
KW = {"initial_learning_rate": LO, "maximal_learning_rate": HI, "step_size": STEP_SIZE}
CYCLICAL = {"base_lr": LO, "max_lr": HI, "step_size": STEP_SIZE}
TRIANGULAR = policy.Triangular(**CYCLICAL)
TRIANGULAR2 = policy.Triangular2(**CYCLICAL)
EXP_RANGE = policy.ExpRange(**CYCLICAL, gamma=GAMMA)
opt = tfa.optimizers


def needs_a_tensor(x):
    """triangular2 written with tf ops on the float tensor TF Addons passed: fails on a float."""
    return tf.cast(0.5, x.dtype) ** (x - 1)


#: id: (the TF Addons call, the policy it must give, TF Addons' scale_fn and scale_mode for it)
RECOGNISED = {
    "scale_fn=1": (lambda: opt.CyclicalLearningRate(**KW, scale_fn=lambda x: 1.0), TRIANGULAR,
                   *scale("triangular")),
    "scale_fn=1, iterations": (
        lambda: opt.CyclicalLearningRate(**KW, scale_fn=lambda x: 1, scale_mode="iterations"),
        TRIANGULAR, lambda x: 1, "iterations"),
    "scale_fn=triangular2": (
        lambda: opt.CyclicalLearningRate(**KW, scale_fn=lambda x: 1 / (2.0 ** (x - 1))),
        TRIANGULAR2, *scale("triangular2")),
    "scale_fn=triangular2 in tf ops": (
        lambda: opt.CyclicalLearningRate(**KW, scale_fn=needs_a_tensor), TRIANGULAR2,
        needs_a_tensor, "cycle"),
    "scale_fn=gamma**x": (
        lambda: opt.CyclicalLearningRate(**KW, scale_fn=lambda x: GAMMA**x,
                                         scale_mode="iterations"),
        EXP_RANGE, *scale("exp_range", GAMMA)),
    "positional": (
        lambda: opt.CyclicalLearningRate(LO, HI, STEP_SIZE, lambda x: 1 / (2.0 ** (x - 1)),
                                         "cycle", "MyCyclicScheduler"),
        TRIANGULAR2, *scale("triangular2")),
    "tensor arguments": (
        lambda: opt.CyclicalLearningRate(tf.constant(LO), tf.constant(HI), tf.constant(STEP_SIZE),
                                         lambda x: 1 / (2.0 ** (x - 1))),
        policy.Triangular2(base_lr=float(np.float32(LO)), max_lr=float(np.float32(HI)),
                           step_size=STEP_SIZE),
        *scale("triangular2")),
    "Triangular": (lambda: opt.TriangularCyclicalLearningRate(**KW), TRIANGULAR,
                   *scale("triangular")),
    "Triangular2": (lambda: opt.Triangular2CyclicalLearningRate(**KW, name="clr"), TRIANGULAR2,
                    *scale("triangular2")),
    "Exponential": (lambda: opt.ExponentialCyclicalLearningRate(**KW, gamma=GAMMA), EXP_RANGE,
                    *scale("exp_range", GAMMA)),
    "Exponential, default gamma": (
        lambda: opt.ExponentialCyclicalLearningRate(**KW),
        policy.ExpRange(**CYCLICAL, gamma=1.0), *scale("exp_range", 1.0)),
    "Exponential, gamma=1 on cycles": (
        lambda: opt.ExponentialCyclicalLearningRate(**KW, scale_mode="cycle"),
        policy.ExpRange(**CYCLICAL, gamma=1.0), *scale("exp_range", 1.0)),
}


@pytest.mark.parametrize("form", list(RECOGNISED))
def test_recognised_forms_give_tfa_values_and_are_exact_at_huge_steps(form):
    build, want, scale_fn, scale_mode = RECOGNISED[form]
    schedule = build()
    assert isinstance(schedule, cyclr_tf.Schedule)
    assert schedule.policy == want

    steps = np.arange(3000)
    exact = want(steps)
    ours = schedule(tf.constant(steps)).numpy()
    theirs = cyclical_learning_rate(tf.constant(steps), *KW.values(), scale_fn,
                                    scale_mode).numpy()
    assert np.max(np.abs(ours - exact)) <= 1e-6 * HI
    if isinstance(want, policy.ExpRange) and want.gamma != 1.0:
        # tfa raises a float32 gamma to the step: its own error, larger than ours
        assert np.max(np.abs(theirs - exact)) <= 1e-4 * HI
    else:
        assert np.max(np.abs(ours - theirs)) <= 1e-6 * HI

    huge = np.array([10**9 + 125, 3 * 10**9 + 1, 10**10 + 375, 10**12 + 250], dtype=np.int64)
    assert np.max(np.abs(schedule(tf.constant(huge)).numpy() - want(huge))) <= 1e-6 * HI


def call(**changes):
    """``CyclicalLearningRate`` with the triangular2 scale and ``changes``."""
    return lambda: opt.CyclicalLearningRate(**{**KW, "scale_fn": lambda x: 1 / (2.0 ** (x - 1)),
                                             **changes})


def fail_on_call(x):
    raise RuntimeError("no")


#: id: (the call, the error, the argument its message names)
REFUSED = {
    "constant 0.5": (call(scale_fn=lambda x: 0.5), ValueError, "scale_fn"),
    "1/x": (call(scale_fn=lambda x: 1 / x), ValueError, "scale_fn"),
    "growing gamma**x": (call(scale_fn=lambda x: 1.01**x, scale_mode="iterations"), ValueError,
                         "scale_fn"),
    "sine": (call(scale_fn=lambda x: 0.5 * (1 + np.sin(x * np.pi / 2.0))), ValueError,
             "scale_fn"),
    "gamma**x on cycles": (call(scale_fn=lambda x: 0.99**x), ValueError, "scale_mode"),
    "triangular2 on iterations": (call(scale_mode="iterations"), ValueError, "scale_mode"),
    "unknown scale_mode": (call(scale_mode="epochs"), ValueError, "scale_mode"),
    "scale_fn raises": (call(scale_fn=fail_on_call), TypeError, "scale_fn"),
    "scale_fn returns a string": (call(scale_fn=lambda x: "1"), TypeError, "scale_fn"),
    "scale_fn returns a vector": (call(scale_fn=lambda x: [1.0, 1.0]), TypeError, "scale_fn"),
    "scale_fn not callable": (call(scale_fn=1.0), TypeError, "scale_fn"),
    "negative initial_learning_rate": (call(initial_learning_rate=-1e-4), ValueError,
                                       "initial_learning_rate"),
    "maximal_learning_rate a string": (call(maximal_learning_rate="0.01"), TypeError,
                                       "maximal_learning_rate"),
    "fractional step_size": (call(step_size=2.5), ValueError, "step_size"),
    "zero step_size": (call(step_size=0), ValueError, "step_size"),
    "Triangular2 on iterations": (
        lambda: opt.Triangular2CyclicalLearningRate(**KW, scale_mode="iterations"), ValueError,
        "scale_mode"),
    "Exponential on cycles (tfa's own docstring example)": (
        lambda: opt.ExponentialCyclicalLearningRate(**KW, scale_mode="cycle", gamma=0.96),
        ValueError, "scale_mode"),
    "Exponential gamma > 1": (lambda: opt.ExponentialCyclicalLearningRate(**KW, gamma=1.5),
                              ValueError, "gamma"),
    "Triangular negative maximal_learning_rate": (
        lambda: opt.TriangularCyclicalLearningRate(**{**KW, "maximal_learning_rate": -1.0}),
        ValueError, "maximal_learning_rate"),
}


@pytest.mark.parametrize("form", list(REFUSED))
def test_other_forms_are_refused_naming_the_argument(form):
    build, error, name = REFUSED[form]
    with pytest.raises(error) as info:
        build()
    message = str(info.value)
    assert message.startswith(f"Argument `{name}` must be ")
    assert f". Received: {name}=" in message
    assert "Received: base_lr" not in message and "Received: max_lr" not in message
    if error is ValueError and name == "scale_fn":  # the one message for unknown scale functions
        for text in ("`lambda x: 1.`", "policy.Triangular;", "`lambda x: 1/(2.**(x-1))`",
                     "scale_mode='cycle' -> policy.Triangular2", "`lambda x: gamma**x`",
                     "scale_mode='iterations' -> policy.ExpRange(gamma=gamma)", "policy.Join",
                     "Porting from TF Addons"):
            assert text in message


ARTICLE = """
import tensorflow as tf
import tensorflow_addons as tfa

steps_per_epoch = len(X_train) // BATCH_SIZE
clr = tfa.optimizers.CyclicalLearningRate(initial_learning_rate=1e-4,
    maximal_learning_rate=1e-2,
    scale_fn=lambda x: 1/(2.**(x-1)),
    step_size=2 * steps_per_epoch
)
optimizer = tf.keras.optimizers.SGD(clr)

model = tf.keras.Sequential([
    tf.keras.layers.Dense(64, activation="relu", input_shape=(X_train.shape[1],)),
    tf.keras.layers.Dense(32, activation="relu"),
    tf.keras.layers.Dense(1, activation="sigmoid"),
])
model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=["accuracy"])
history = model.fit(X_train, y_train, batch_size=BATCH_SIZE, epochs=EPOCHS,
                    validation_data=(X_val, y_val))
"""


class AppliedLR(keras.callbacks.Callback):
    """Per update of a model trained by plain SGD on known batches: the step, the LR the optimizer
    reports, and the LR the update applied, ``-<dw, g> / <g, g>`` over all weights, with ``g`` the
    batch's gradient computed here from the weights before the update."""

    def __init__(self, x, y, batch_size):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size
        self.steps, self.reported, self.applied = [], [], []

    def on_train_batch_begin(self, batch, logs=None):
        self.steps.append(int(self.model.optimizer.iterations.numpy()))
        self.reported.append(float(self.model.optimizer.learning_rate))
        rows = slice(batch * self.batch_size, (batch + 1) * self.batch_size)
        weights = self.model.trainable_weights
        with tf.GradientTape() as tape:
            y_pred = self.model(self.x[rows], training=True)
            loss = ops.mean(keras.losses.binary_crossentropy(self.y[rows], y_pred))
        self.grads = [np.float64(g.numpy()) for g in tape.gradient(loss, weights)]
        self.before = [np.float64(w.numpy()) for w in weights]

    def on_train_batch_end(self, batch, logs=None):
        after = [np.float64(w.numpy()) for w in self.model.trainable_weights]
        along = sum(np.sum((a - b) * g) for a, b, g in zip(after, self.before, self.grads))
        self.applied.append(-along / sum(np.sum(g * g) for g in self.grads))


@pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`")  # the article's Keras 2 style
def test_the_articles_code_runs_with_only_its_import_changed(monkeypatch):
    ported = ARTICLE.replace("import tensorflow_addons as tfa", "import cyclr_tf.tfa as tfa")
    changed = [(a, b) for a, b in zip(ARTICLE.splitlines(), ported.splitlines()) if a != b]
    assert changed == [("import tensorflow_addons as tfa", "import cyclr_tf.tfa as tfa")]

    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 11)).astype("float32")
    y = rng.integers(0, 2, size=(80, 1)).astype("float32")
    data = {"X_train": x[:64], "y_train": y[:64], "X_val": x[64:], "y_val": y[64:],
            "BATCH_SIZE": 8, "EPOCHS": 6}
    probe = AppliedLR(data["X_train"], data["y_train"], data["BATCH_SIZE"])
    fit = keras.Model.fit

    def watched_fit(self, *args, **kwargs):  # the test's only addition: a probe, known batches
        return fit(self, *args, callbacks=[probe], shuffle=False, verbose=0, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", watched_fit)
    keras.utils.set_random_seed(0)
    exec(compile(ported, "article.py", "exec"), data)

    want = policy.Triangular2(base_lr=1e-4, max_lr=1e-2, step_size=16)
    assert data["clr"].policy == want
    steps = list(range(6 * 8))
    assert probe.steps == steps
    tfa_lrs = cyclical_learning_rate(tf.constant(steps), 1e-4, 1e-2, 16,
                                     *scale("triangular2")).numpy()
    assert max_error(want, steps, probe.reported) <= 1e-6
    np.testing.assert_allclose(probe.reported, tfa_lrs, rtol=0, atol=1e-6 * 1e-2)
    # applied: up to the float32 rounding of the weights (measured: 7e-5 relative at worst, at
    # the smallest LR); neighbouring steps differ by 10% and more, cycles by a factor of 2
    np.testing.assert_allclose(probe.applied, tfa_lrs, rtol=5e-4)
    assert len(data["history"].history["loss"]) == 6


def test_ported_model_saves_and_loads_in_a_fresh_process(tmp_path):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(24, 3)).astype("float32"), rng.normal(size=(24, 1)).astype("float32")
    clr = tfa.optimizers.CyclicalLearningRate(initial_learning_rate=1e-4,
                                              maximal_learning_rate=1e-2,
                                              scale_fn=lambda x: 1 / (2.0 ** (x - 1)),
                                              step_size=4)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(clr), loss="mse")
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False)
    reader, fresh = continued_here_and_fresh(model, x, y, tmp_path, epochs=1)

    want = policy.Triangular2(base_lr=1e-4, max_lr=1e-2, step_size=4)
    assert fresh["schedule"]["registered_name"] == "cyclr>Schedule"
    assert fresh["schedule"]["config"] == {"policy": json.loads(json.dumps(want.to_config()))}
    assert fresh["steps"] == reader.steps == list(range(12, 18))
    assert fresh["lrs"] == reader.lrs
    assert max_error(want, fresh["steps"], fresh["lrs"]) <= 1e-6
