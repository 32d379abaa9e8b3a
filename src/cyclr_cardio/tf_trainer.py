"""The Keras :class:`~cyclr_cardio.trainer.Trainer`: the comparison's MLP trained by
``model.fit``.

Dense 64-32-1 (ReLU, sigmoid output), Glorot-uniform kernels and zero biases (Keras' defaults,
seeded), SGD whose learning rate is a :class:`cyclr_tf.Schedule`, on in-memory numpy arrays.
``steps_per_execution`` runs many updates per call into the compiled train function, so a small
model is not dominated by Python overhead; the schedule is evaluated inside that graph once per
update, exactly as with ``steps_per_execution=1``. XLA (``jit_compile=True``) works but is slower
for this model on a CPU (measured: about 2x per epoch, plus seconds of compilation per run), so
it is off.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext

import keras

from cyclr import validate as check
from cyclr.policy import Policy
from cyclr.rangetest import RangeTestResult, Sweep
from cyclr_cardio.data import Dataset
from cyclr_cardio.trainer import DEVICES, EpochLog, TrainResult
from cyclr_tf import Schedule, range_test

__all__ = ["Trainer", "build_model"]

#: Updates per call into the compiled train function.
STEPS_PER_EXECUTION = 32
#: Rows per batch when evaluating (no update happens: only speed depends on it).
EVAL_BATCH = 4096


def build_model(n_features: int, seed: int) -> keras.Model:
    """Uncompiled Dense ``n_features``-64-32-1, ReLU, sigmoid output; Glorot-uniform kernels
    seeded from ``seed``, zero biases."""
    layers = [keras.Input(shape=(n_features,))]
    for i, (units, activation) in enumerate(((64, "relu"), (32, "relu"), (1, "sigmoid"))):
        layers.append(keras.layers.Dense(
            units, activation=activation, bias_initializer="zeros",
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed * 1000 + i)))
    return keras.Sequential(layers)


def _gpus() -> list:
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.config.list_physical_devices("GPU")
    if backend == "jax":
        import jax

        return [d for d in jax.devices() if d.platform == "gpu"]
    return []


def _limit_threads(n: int) -> None:
    """Give TensorFlow ``n`` intra- and inter-op threads. TensorFlow reads these once, when its
    runtime starts: later calls change nothing (the runtime keeps what it started with)."""
    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)
    except RuntimeError:  # the runtime is already initialised: its thread pools are fixed
        pass


class _Recorder(keras.callbacks.Callback):
    """One :class:`EpochLog` per epoch. Keras keeps no record of the LR it applied, so the LR is
    the optimizer's own ``schedule`` evaluated in float32 at the optimizer's step of the epoch's
    last update: the value that update used, as torch's trainer reads it from the param group."""

    def __init__(self, schedule: Schedule, on_epoch):
        super().__init__()
        self.schedule, self.on_epoch, self.history = schedule, on_epoch, []

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        last_update = self.model.optimizer.iterations - 1
        lr = float(keras.ops.convert_to_numpy(self.schedule(last_update)))
        log = EpochLog(epoch=epoch + 1, lr=lr, train_loss=float(logs["loss"]),
                       train_accuracy=float(logs["accuracy"]),
                       val_accuracy=float(logs["val_accuracy"]),
                       elapsed_s=time.perf_counter() - self.start)
        self.history.append(log)
        if self.on_epoch is not None:
            self.on_epoch(log)


class Trainer:
    """The comparison's model in Keras 3 on ``device`` with ``threads`` CPU threads (see
    :func:`cyclr_cardio.trainer.load`). TensorFlow fixes its thread pools when its runtime
    starts: the first trainer of a process sets them."""

    backend = "tf"

    def __init__(self, device: str = "auto", threads: int = 1):
        check.choice("device", device, DEVICES)
        self.threads = check.positive_int("threads", threads)
        _limit_threads(self.threads)
        gpus = _gpus()
        if device == "cuda" and not gpus:
            check.fail("device", f"'auto' or 'cpu' here: Keras ({keras.backend.backend()}) "
                       "sees no GPU", device)
        self.gpu = bool(gpus) and device != "cpu"
        backend = keras.backend.backend()
        name = "gpu" if self.gpu else "cpu"
        if self.gpu and backend == "tensorflow":
            import tensorflow as tf

            details = tf.config.experimental.get_device_details(gpus[0])
            name = f"gpu ({details.get('device_name', 'GPU:0')})"
        self.device = f"{name} (keras {keras.__version__} on {backend})"

    def _placement(self):
        """TensorFlow places ops by device scope; other Keras backends place data themselves."""
        if keras.backend.backend() != "tensorflow":
            return nullcontext()
        import tensorflow as tf

        return tf.device("/GPU:0" if self.gpu else "/CPU:0")

    def range_test(self, data: Dataset, sweep: Sweep, *, batch_size: int,
                   seed: int) -> RangeTestResult:
        """The range test ``sweep`` on a fresh compiled model with plain SGD."""
        keras.utils.set_random_seed(seed)
        with self._placement():
            model = build_model(data.n_features, seed)
            model.compile(optimizer=keras.optimizers.SGD(learning_rate=sweep.start_lr),
                          loss="binary_crossentropy")
            return range_test(model, data.x_train, data.y_train, sweep=sweep,
                              batch_size=batch_size, seed=seed)

    def train(self, data: Dataset, policy: Policy, *, epochs: int, batch_size: int, seed: int,
              on_epoch: Callable[[EpochLog], None] | None = None) -> TrainResult:
        """Train a fresh model with ``model.fit`` and SGD whose LR for update ``k`` is
        ``policy(k)``; validation accuracy after each epoch, test accuracy at the end. Seeds
        Keras' global RNG (``keras.utils.set_random_seed``) for the shuffling."""
        keras.utils.set_random_seed(seed)
        with self._placement():
            model = build_model(data.n_features, seed)
            schedule = Schedule(policy)
            model.compile(optimizer=keras.optimizers.SGD(learning_rate=schedule),
                          loss="binary_crossentropy",
                          metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
                          steps_per_execution=STEPS_PER_EXECUTION)
            recorder = _Recorder(schedule, on_epoch)
            start = time.perf_counter()
            model.fit(data.x_train, data.y_train, batch_size=batch_size, epochs=epochs,
                      shuffle=True, validation_data=(data.x_val, data.y_val),
                      validation_batch_size=EVAL_BATCH, callbacks=[recorder], verbose=0)
            wall = time.perf_counter() - start
            test = model.evaluate(data.x_test, data.y_test, batch_size=EVAL_BATCH, verbose=0,
                                  return_dict=True)
        return TrainResult(history=recorder.history, test_accuracy=float(test["accuracy"]),
                           device=self.device, wall_s=wall)
