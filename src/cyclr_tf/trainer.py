"""The Keras side of ``cyclr compare``: the article's MLP trained with plain SGD under a policy.

Dense 64-32-1 (ReLU, sigmoid output), Glorot-uniform kernels and zero biases (Keras's defaults,
seeded), SGD whose learning rate is a :class:`cyclr_tf.schedule.Schedule`, trained by ``model.fit``
on in-memory numpy arrays. ``steps_per_execution`` runs many updates per call into the compiled
train function, so a small model is not dominated by Python overhead; the schedule is evaluated
inside that graph once per update, exactly as with ``steps_per_execution=1``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext

import keras

from cyclr import validate as check
from cyclr.policy import Policy
from cyclr.report import DEVICES, EpochLog, TrainResult
from cyclr_tf.schedule import Schedule

__all__ = ["build_model", "limit_threads", "range_test", "resolve_device", "train"]

#: Updates per call into the compiled train function.
STEPS_PER_EXECUTION = 32
#: CPU threads for TensorFlow's ops: one is fastest for this small model on a busy machine.
THREADS = 1


def build_model(n_features: int, seed: int) -> keras.Model:
    """Uncompiled Dense ``n_features``-64-32-1, ReLU, sigmoid output; Glorot-uniform kernels
    seeded from ``seed``, zero biases."""
    layers = [keras.Input(shape=(n_features,))]
    for i, (units, activation) in enumerate(((64, "relu"), (32, "relu"), (1, "sigmoid"))):
        layers.append(keras.layers.Dense(
            units, activation=activation, bias_initializer="zeros",
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed * 1000 + i)))
    return keras.Sequential(layers)


def resolve_device(device: str = "auto") -> str:
    """A TensorFlow device name: ``"/GPU:0"`` when asked for (``"cuda"``) or, with ``"auto"``,
    when TensorFlow's GPU build sees one; else ``"/CPU:0"``. Other Keras backends place data
    themselves: the result is then just ``"cpu"`` / ``"gpu"`` for the record."""
    check.choice("device", device, DEVICES)
    gpus = _gpus()
    if device == "cuda" and not gpus:
        check.fail("device", f"'auto' or 'cpu' here: Keras ({keras.backend.backend()}) sees no "
                   "GPU", device)
    use_gpu = bool(gpus) and device != "cpu"
    if keras.backend.backend() != "tensorflow":
        return "gpu" if use_gpu else "cpu"
    return "/GPU:0" if use_gpu else "/CPU:0"


def _gpus() -> list:
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.config.list_physical_devices("GPU")
    if backend == "jax":
        import jax

        return [d for d in jax.devices() if d.platform == "gpu"]
    return []


def _placement(device: str):
    if device.startswith("/"):
        import tensorflow as tf

        return tf.device(device)
    return nullcontext()


def describe_device(device: str) -> str:
    backend = keras.backend.backend()
    name = {"/GPU:0": "gpu", "/CPU:0": "cpu"}.get(device, device)
    if name == "gpu" and backend == "tensorflow":
        import tensorflow as tf

        details = tf.config.experimental.get_device_details(_gpus()[0])
        name = f"gpu ({details.get('device_name', 'GPU:0')})"
    return f"{name} (keras {keras.__version__} on {backend})"


class _Recorder(keras.callbacks.Callback):
    def __init__(self, policy: Policy, on_epoch):
        super().__init__()
        self.policy, self.on_epoch, self.history = policy, on_epoch, []

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        last_update = int(self.model.optimizer.iterations.numpy()) - 1
        log = EpochLog(epoch=epoch + 1, lr=float(self.policy(last_update)),
                       train_loss=float(logs["loss"]), train_accuracy=float(logs["accuracy"]),
                       val_accuracy=float(logs["val_accuracy"]),
                       elapsed_s=time.perf_counter() - self.start)
        self.history.append(log)
        if self.on_epoch is not None:
            self.on_epoch(log)


def limit_threads(n: int = THREADS) -> None:
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


def range_test(data, sweep, *, batch_size: int, seed: int, device: str = "auto"):
    """The LR range test ``sweep`` (a :class:`cyclr.rangetest.Sweep`) on a fresh compiled
    :func:`build_model` with plain SGD; returns the :class:`cyclr.rangetest.RangeTestResult`."""
    from dataclasses import asdict

    from cyclr_tf import rangetest

    limit_threads()
    place = resolve_device(device)
    keras.utils.set_random_seed(seed)
    with _placement(place):
        model = build_model(data.n_features, seed)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=sweep.start_lr),
                      loss="binary_crossentropy")
        return rangetest.range_test(model, data.x_train, data.y_train, batch_size=batch_size,
                                    seed=seed, **asdict(sweep))


def train(data, policy: Policy, *, epochs: int, batch_size: int, seed: int,
          device: str = "auto", on_epoch: Callable[[EpochLog], None] | None = None,
          jit_compile: bool = False) -> TrainResult:
    """Train :func:`build_model` on ``data`` (a :class:`cyclr.data.Dataset`) with ``model.fit``
    and SGD whose LR for update ``k`` is ``policy(k)``; validation accuracy after each epoch,
    test accuracy at the end. ``on_epoch`` is called with each epoch's :class:`EpochLog`.

    Seeds Keras's global RNG (``keras.utils.set_random_seed``) for the shuffling. XLA
    (``jit_compile=True``) works but is slower for this model on a CPU (measured: about 2x per
    epoch, plus seconds of compilation per run), hence off by default.
    """
    limit_threads()
    place = resolve_device(device)
    keras.utils.set_random_seed(seed)
    with _placement(place):
        model = build_model(data.n_features, seed)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=Schedule(policy)),
                      loss="binary_crossentropy",
                      metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
                      jit_compile=jit_compile, steps_per_execution=STEPS_PER_EXECUTION)
        recorder = _Recorder(policy, on_epoch)
        start = time.perf_counter()
        model.fit(data.x_train, data.y_train, batch_size=batch_size, epochs=epochs,
                  shuffle=True, validation_data=(data.x_val, data.y_val),
                  validation_batch_size=4096, callbacks=[recorder], verbose=0)
        wall = time.perf_counter() - start
        test = model.evaluate(data.x_test, data.y_test, batch_size=4096, verbose=0,
                              return_dict=True)
    return TrainResult(history=recorder.history, test_accuracy=float(test["accuracy"]),
                       device=describe_device(place), wall_s=wall)

