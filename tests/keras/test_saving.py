"""A ``.keras`` file saved mid-training continues at the saved step with the same learning rate
and the same training: on this process's Keras backend, and across backends, in a fresh process,
without ``custom_objects`` for the schedule.

Across backends (run by ``test_other_backends.py``): this process saves its file and the run
that continues it; every other installed backend loads that file in its own process, saves it
again itself and continues it; this process then continues each of their files. So with
backends A (this one), B and C: A -> B, A -> C, B -> A, C -> A."""

import json
import os
from pathlib import Path

import keras
import numpy as np
import pytest

from cyclr import policy
from cyclr_tf.callbacks import cycle_momentum
from cyclr_tf.schedule import Schedule
from tests.tf.keras_probe import LRReader, max_error

BACKEND = keras.backend.backend()
POLICY = policy.warmup(policy.CosineRestarts(0.1, period=6, period_mult=2, min_lr=1e-3), steps=5)
MOMENTUM = policy.Triangular(0.95, 0.85, step_size=4)
#: Set in a child process: the folder with the parent's file and reference run.
SHARED = "CYCLR_KERAS_SHARED"


def load(path):
    """``keras.saving.load_model(path)``; for a file saved on the torch backend, on another one,
    with Keras' own optimizer class as ``custom_objects``: Keras writes the class of its torch
    optimizers into the file (``keras.src.backend.torch.optimizers.torch_sgd.SGD``), and that
    class runs torch functions on the other backend's variables."""
    if Path(path).stem == "torch" and BACKEND != "torch":
        return keras.saving.load_model(path, custom_objects={"SGD": keras.optimizers.SGD})
    return keras.saving.load_model(path)


def data():
    rng = np.random.default_rng(0)
    return (rng.normal(size=(40, 3)).astype("float32"),
            rng.normal(size=(40, 1)).astype("float32"))


def trained_model():
    x, y = data()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1)])
    optimizer = cycle_momentum(keras.optimizers.SGD(Schedule(POLICY), momentum=0.9), MOMENTUM)
    model.compile(optimizer=optimizer, loss="mse", jit_compile=BACKEND == "jax")
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False)
    return model


def continue_training(model):
    """One more epoch (updates 20 to 29): the step it starts at, the LRs and losses."""
    x, y = data()
    start = int(model.optimizer.iterations)
    reader = LRReader()
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False, callbacks=[reader])
    return {"start": start, "steps": reader.steps, "lrs": reader.lrs, "losses": reader.losses}


def continue_file(path):
    """Load ``path``, cycle the momentum again (a ``.keras`` file stores it as a float), go on."""
    model = load(path)
    assert model.optimizer.get_config()["learning_rate"] == {
        "module": "cyclr_tf.schedule", "class_name": "Schedule",
        "config": {"policy": json.loads(json.dumps(POLICY.to_config()))},
        "registered_name": "cyclr>Schedule"}
    cycle_momentum(model.optimizer, MOMENTUM)
    return continue_training(model)


def save_with_reference(folder):
    """This backend's file (after updates 0 to 19) and the run that continues it here."""
    model = trained_model()
    model.save(Path(folder) / f"{BACKEND}.keras")
    (Path(folder) / f"{BACKEND}.json").write_text(json.dumps(continue_training(model)))


def check(run, reference, rtol):
    assert run["start"] == 20
    assert run["steps"] == reference["steps"] == list(range(20, 30))
    assert max_error(POLICY, run["steps"], run["lrs"]) <= 1e-6
    np.testing.assert_allclose(run["lrs"], reference["lrs"], rtol=1e-6)
    np.testing.assert_allclose(run["losses"], reference["losses"], rtol=rtol)  # same training


def test_keras_file_continues_on_this_backend(tmp_path):
    save_with_reference(tmp_path)
    run = continue_file(tmp_path / f"{BACKEND}.keras")
    check(run, json.loads((tmp_path / f"{BACKEND}.json").read_text()), rtol=1e-5)


@pytest.mark.skipif(SHARED not in os.environ, reason="runs in the processes that "
                    "test_other_backends.py starts, on the parent's file")
def test_keras_file_of_the_parent_backend_continues_here():
    folder = Path(os.environ[SHARED])
    parent = next(p for p in folder.glob("*.keras") if p.stem != BACKEND)
    model = load(parent)
    model.save(folder / f"{BACKEND}.keras")  # saved again on this backend, for the parent
    cycle_momentum(model.optimizer, MOMENTUM)
    reference = json.loads(parent.with_suffix(".json").read_text())
    # another backend: float32 sums in another order
    check(continue_training(model), reference, rtol=1e-4)
