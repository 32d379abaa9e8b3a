"""A Keras model whose every update reveals the learning rate the optimizer applied, and the
policies the Keras tests run through ``model.fit``.

The model is ``y = w * x`` with ``x = 1`` and loss ``mean(y)``, so the gradient is exactly 1.
:class:`Probe` resets ``w`` to 0 before each update; plain SGD then leaves ``w == -lr``, the
float32 learning rate the compiled training step applied, bit for bit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
from keras import ops

from tests.policies import EVERY_TYPE

ROOT = Path(__file__).resolve().parents[2]

#: One short policy per type (all visibly changing within ~100 updates), by test id.
POLICIES = EVERY_TYPE


def mean_output(y_true, y_pred):
    """Per-sample loss ``y``; Keras averages it over the batch (and the replicas), so the
    gradient with respect to the probe's kernel is exactly ``mean(x) == 1``."""
    return ops.mean(y_pred, axis=-1)


def probe_model(optimizer, jit_compile=False):
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(
        1, use_bias=False, kernel_initializer="zeros")])
    model.compile(optimizer=optimizer, loss=mean_output, jit_compile=jit_compile)
    return model


def ones(n):
    return np.ones((n, 1), "float32"), np.zeros((n, 1), "float32")


class Probe(keras.callbacks.Callback):
    """Per update: the optimizer's step, the LR it reports before the update (read in
    ``on_train_batch_begin``), and the LR the update applied (read from the kernel)."""

    def __init__(self):
        super().__init__()
        self.steps, self.reported, self.applied = [], [], []

    def on_train_batch_begin(self, batch, logs=None):
        optimizer = self.model.optimizer
        self.steps.append(int(optimizer.iterations.numpy()))
        self.reported.append(float(optimizer.learning_rate))
        self.model.layers[0].kernel.assign(np.zeros((1, 1), "float32"))

    def on_train_batch_end(self, batch, logs=None):
        self.applied.append(-float(self.model.layers[0].kernel.numpy()[0, 0]))

    def trace(self):
        return {"steps": self.steps, "reported": self.reported, "applied": self.applied}


class LRReader(keras.callbacks.Callback):
    """Per update: the step and the LR the optimizer reports before it, and the batch loss."""

    def __init__(self):
        super().__init__()
        self.steps, self.lrs, self.losses = [], [], []

    def on_train_batch_begin(self, batch, logs=None):
        self.steps.append(int(self.model.optimizer.iterations.numpy()))
        self.lrs.append(float(self.model.optimizer.learning_rate))

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(logs["loss"]))


def max_error(p, steps, values):
    """Largest ``|values - p(steps)|`` as a fraction of the largest LR on those steps."""
    want = p(np.asarray(steps, dtype=np.int64))
    scale = max(float(np.max(np.abs(want))), 1e-300)
    return float(np.max(np.abs(np.asarray(values, dtype=np.float64) - want))) / scale


def run_python(script, *args, env=None, timeout=240):
    """Run ``script`` with ``args`` in a fresh Python process at the repository root; return
    what it printed on its last line, decoded from JSON."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    done = subprocess.run([sys.executable, "-c", script, *map(str, args)], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"subprocess failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


CONTINUE_IN_A_FRESH_PROCESS = """
import json, sys
import numpy as np
import keras
from tests.tf.keras_probe import LRReader
assert not any(name.startswith("cyclr_tf") for name in sys.modules)
import cyclr_tf  # registers "cyclr>Schedule": no custom_objects, nothing else imported by hand

model = keras.saving.load_model(sys.argv[1])
assert "cyclr_tf.tfa" not in sys.modules
data = np.load(sys.argv[2])
start = int(model.optimizer.iterations)
reader = LRReader()
model.fit(data["x"], data["y"], batch_size=4, epochs=int(sys.argv[3]), verbose=0,
          shuffle=False, callbacks=[reader])
print(json.dumps({"start": start, "steps": reader.steps, "lrs": reader.lrs,
                  "losses": reader.losses,
                  "schedule": model.optimizer.get_config()["learning_rate"]}))
"""


def continued_here_and_fresh(model, x, y, tmp_path, epochs):
    """Save ``model`` as a ``.keras`` file, then train it ``epochs`` more epochs (batch 4, no
    shuffling) here and, from the file, in a fresh process that imports only ``cyclr_tf``.
    Returns (this process's LRReader, what the fresh one saw: start step, steps, LRs, losses,
    the saved schedule's config)."""
    path, data = tmp_path / "model.keras", tmp_path / "data.npz"
    model.save(path)
    np.savez(data, x=x, y=y)
    reader = LRReader()
    model.fit(x, y, batch_size=4, epochs=epochs, verbose=0, shuffle=False, callbacks=[reader])
    return reader, run_python(CONTINUE_IN_A_FRESH_PROCESS, path, data, epochs)


class SlotProbe(Probe):
    """Probe that also records the optimizer's first-moment (momentum) slot after each update."""

    def __init__(self):
        super().__init__()
        self.slots = []

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        self.slots.append({v.path.rsplit("_", 1)[-1]: float(np.ravel(v.numpy())[0])
                           for v in self.model.optimizer.variables if v.path.endswith(("m", "y"))})


def previous(values):
    """``values`` one update later: 0 before the first."""
    return np.concatenate([[0.0], values[:-1]])


def check_adam_family(optimizer, probe, lr, momentum):
    """An ``Adam`` / ``AdamW`` / ``Adamax`` run with ``beta_2=0.99`` on the probe (gradient 1):
    the first moment of every update follows ``beta_1 = momentum(k)``, ``beta_2`` stays a
    constant float, and the weight step uses the current ``beta_1`` in the bias correction (as
    torch does)."""
    k = np.arange(len(probe.steps))
    assert optimizer.beta_2 == 0.99 and type(optimizer.beta_2) is float
    m = np.array([s["momentum"] for s in probe.slots])
    beta_1, t = momentum(k), k + 1
    # gradient 1: m <- m + (1 - m) * (1 - beta_1)
    np.testing.assert_allclose(m, previous(m) + (1 - previous(m)) * (1 - beta_1), rtol=1e-6)
    if type(optimizer).__name__ == "Adamax":
        step = lr(k) * m / ((1 - beta_1**t) * (1 + optimizer.epsilon))
    else:
        v = np.array([s["velocity"] for s in probe.slots])
        np.testing.assert_allclose(v, 1 - 0.99**t, rtol=1e-5)  # beta_2 constant
        alpha = lr(k) * np.sqrt(1 - 0.99**t) / (1 - beta_1**t)
        step = alpha * m / (np.sqrt(v) + optimizer.epsilon)
    np.testing.assert_allclose(probe.applied, step, rtol=1e-5)
