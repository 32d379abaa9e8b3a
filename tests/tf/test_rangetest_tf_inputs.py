"""The Keras range test takes what ``model.fit`` takes (issue 11): arrays in the structure of the
model's inputs and outputs (lists, dicts, nested, several outputs) and sources of batches
(``tf.data.Dataset``, ``keras.utils.PyDataset``, generators, other iterables). The same rows in
the same order give the same curve, bit for bit, whatever form they come in; what it cannot take
is refused in one line before anything changes."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from cyclr.rangetest import Sweep
from cyclr_tf.rangetest import range_test
from tests.tf.test_rangetest_tf import assert_identical, everything

SWEEP = Sweep(start_lr=1e-3, end_lr=1.0, num_steps=20)
N, BATCH = 512, 32


def data(seed=0):
    rng = np.random.default_rng(seed)
    x1, x2 = (rng.normal(size=(N, 3)).astype("float32") for _ in range(2))
    y = (x1.sum(1, keepdims=True) - x2[:, :1]).astype("float32")
    return x1, x2, y


def two_inputs(inputs="list"):
    """The issue's model: inputs a and b of shape (3,), concatenated, Dense 8, Dense 1; SGD,
    mse. ``inputs``: how the functional model takes them (a list or a dict by name)."""
    keras.utils.set_random_seed(0)
    a, b = keras.Input((3,), name="a"), keras.Input((3,), name="b")
    h = keras.layers.Dense(8, activation="tanh")(keras.layers.Concatenate()([a, b]))
    model = keras.Model([a, b] if inputs == "list" else {"a": a, "b": b}, keras.layers.Dense(1)(h))
    model.compile(keras.optimizers.SGD(0.01), "mse")
    return model


def batches():
    """The batches the array form takes (seed 0, batch 32), as a source would yield them."""
    x1, x2, y = data()
    order = np.random.default_rng(0).permutation(N)
    return [({"a": x1[rows], "b": x2[rows]}, y[rows])
            for rows in (order[i:i + BATCH] for i in range(0, N, BATCH))]


class Batches(keras.utils.PyDataset):
    def __init__(self, items):
        super().__init__()
        self.items, self.epochs_ended = items, 0

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]

    def on_epoch_end(self):
        self.epochs_ended += 1


@pytest.fixture(scope="module")
def reference():
    """The issue's call: a list of two input arrays (it used to read them as two samples)."""
    x1, x2, y = data()
    return range_test(two_inputs("list"), [x1, x2], y, SWEEP, batch_size=BATCH)


def test_a_list_of_inputs_is_one_array_per_input(reference):
    assert reference.stop_reason == "completed" and len(reference.losses) == 20
    assert len(set(reference.losses.tolist())) > 15


SOURCES = {
    "tuple": lambda: (data()[0], data()[1]),
    "dict": lambda: {"a": data()[0], "b": data()[1]},
    "tf.data.Dataset": lambda: tf.data.Dataset.from_tensor_slices(
        ({"a": np.concatenate([b[0]["a"] for b in batches()]),
          "b": np.concatenate([b[0]["b"] for b in batches()])},
         np.concatenate([b[1] for b in batches()]))).batch(BATCH),
    "PyDataset": lambda: Batches(batches()),
    "generator": lambda: (b for b in batches()),
    "list iterator": lambda: iter(batches()),
}


@pytest.mark.parametrize("kind", SOURCES)
def test_every_form_of_the_same_batches_gives_the_same_curve(kind, reference):
    x = SOURCES[kind]()
    model = two_inputs("dict" if kind != "tuple" else "list")
    if kind in ("tuple", "dict"):
        result = range_test(model, x, data()[2], SWEEP, batch_size=BATCH)
    else:
        result = range_test(model, x, sweep=SWEEP)
    np.testing.assert_array_equal(result.losses, reference.losses)


def test_sources_are_read_again_when_they_run_out():
    """20 updates from 16 batches: every source wraps around to its first batch."""
    source = Batches(batches())
    result = range_test(two_inputs("dict"), source, sweep=SWEEP)
    assert source.epochs_ended == 1          # as fit ends an epoch before reading it again
    replayed = range_test(two_inputs("dict"), (b for b in batches()), sweep=SWEEP)
    np.testing.assert_array_equal(replayed.losses, result.losses)


def test_nested_inputs_several_outputs_and_sample_weights():
    x1, x2, y = data()
    keras.utils.set_random_seed(0)
    a, b = keras.Input((3,), name="a"), keras.Input((3,), name="b")
    h = keras.layers.Dense(8, activation="tanh")(keras.layers.Concatenate()([a, b]))
    outputs = {"sum": keras.layers.Dense(1, name="sum")(h),
               "sign": keras.layers.Dense(1, activation="sigmoid", name="sign")(h)}
    model = keras.Model({"a": a, "rest": [b]}, outputs)
    model.compile(keras.optimizers.SGD(0.01), {"sum": "mse", "sign": "binary_crossentropy"})
    targets = {"sum": y, "sign": (y > 0).astype("float32")}
    model.fit({"a": x1[:64], "rest": [x2[:64]]}, {k: v[:64] for k, v in targets.items()},
              batch_size=BATCH, verbose=0)  # slots, metric state: all of it must come back
    before = everything(model)
    result = range_test(model, {"a": x1, "rest": [x2]}, targets, SWEEP, batch_size=BATCH)
    assert result.stop_reason == "completed" and np.isfinite(result.losses).all()
    assert_identical(before, everything(model))

    weights = np.where(y[:, 0] > 0, 2.0, 0.5).astype("float32")
    source = tf.data.Dataset.from_tensor_slices(
        ({"a": x1, "rest": (x2,)}, targets, weights)).batch(BATCH)
    weighted = range_test(model, source, sweep=SWEEP)
    assert weighted.stop_reason == "completed"
    assert not np.array_equal(weighted.losses[:16], result.losses[:16])  # weights applied
    assert_identical(before, everything(model))


def test_a_source_leaves_the_model_as_it_was():
    model = two_inputs("dict")
    model.fit(batches()[0][0], batches()[0][1], epochs=1, verbose=0)
    before = everything(model)
    range_test(model, Batches(batches()), sweep=Sweep(1e-3, 1e4, 30, diverge=1.5))
    assert_identical(before, everything(model))


def test_an_unbuilt_subclassed_model_is_built_from_the_first_batch():
    class Pair(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1)

        def call(self, inputs):
            return self.dense(keras.ops.concatenate([inputs["a"], inputs["b"]], axis=-1))

    keras.utils.set_random_seed(0)
    model = Pair()
    model.compile(keras.optimizers.SGD(0.01), "mse")
    result = range_test(model, tf.data.Dataset.from_generator(
        lambda: iter(batches()), output_signature=(
            {"a": tf.TensorSpec((None, 3)), "b": tf.TensorSpec((None, 3))},
            tf.TensorSpec((None, 1)))), sweep=SWEEP)
    assert result.stop_reason == "completed"


def refused(error, pattern):
    return pytest.raises(error, match=pattern)


@pytest.mark.parametrize("call, error, pattern", [
    (lambda m, x1, x2, y: range_test(m, [x1, x2[:100]], y),
     ValueError, r"^Argument `x` must be arrays with the same number of rows \(one per sample\)"
                 r"\. Received: x\[0\] of shape \(512, 3\) and x\[1\] of shape \(100, 3\)$"),
    (lambda m, x1, x2, y: range_test(m, {"a": x1, "b": x2}, [y, y[:7]]),
     ValueError, r"^Argument `y` must be arrays with as many rows as x \(512\)\. "
                 r"Received: y\[1\] of shape \(7, 1\)$"),
    (lambda m, x1, x2, y: range_test(m, [[1.0, 2.0, 3.0]] * 4, y),
     TypeError, r"^Argument `x` must be arrays with one row per sample .*Received: x\[0\]\[0\]="
                r"1\.0$"),
    (lambda m, x1, x2, y: range_test(m, "x.npy", y),
     TypeError, r"^Argument `x` must be arrays .*Received: x='x\.npy'$"),
    (lambda m, x1, x2, y: range_test(m, np.array([None, 1]), y),
     TypeError, r"^Argument `x` must be arrays .*dtype object$"),
    (lambda m, x1, x2, y: range_test(m, Batches(batches()), y),
     ValueError, r"^Argument `y` must be None when x is a keras.utils.PyDataset"),
    (lambda m, x1, x2, y: range_test(m, Batches(batches()), batch_size=32),
     ValueError, r"^Argument `batch_size` must be None when x is a keras.utils.PyDataset"),
    (lambda m, x1, x2, y: range_test(m, tf.data.Dataset.from_tensor_slices(x1).take(0)),
     ValueError, r"^Argument `x` must be a tf.data.Dataset that yields at least one batch"),
    (lambda m, x1, x2, y: range_test(m, (b for b in [])),
     ValueError, r"^Argument `x` must be a generator that yields at least one batch"),
    (lambda m, x1, x2, y: range_test(m, iter(range(5))),
     TypeError, r"^Argument `x` must be an iterator whose batches are arrays or tensors .*"
                r"Received: a first batch with x=0$"),
])
def test_what_fit_would_not_take_is_refused_in_one_line_before_anything_changes(call, error,
                                                                              pattern):
    model = two_inputs("dict")
    before = everything(model)
    with refused(error, pattern) as info:
        call(model, *data())
    assert "\n" not in str(info.value)
    assert_identical(before, everything(model))
