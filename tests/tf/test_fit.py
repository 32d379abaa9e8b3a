"""The LR the optimizer applies at every update of a real ``model.fit`` equals the core's value."""

import keras
import numpy as np
import pytest

from cyclr_tf.schedule import Schedule
from tests.tf.keras_probe import POLICIES, Probe, max_error, ones, probe_model

TOLERANCE = 1e-6  # of the largest LR


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
@pytest.mark.parametrize("name", list(POLICIES))
def test_applied_lr_equals_core_at_every_update(name, jit_compile):
    p = POLICIES[name]
    model = probe_model(keras.optimizers.SGD(Schedule(p)), jit_compile=jit_compile)
    probe = Probe()
    x, y = ones(80)
    model.fit(x, y, batch_size=2, epochs=3, verbose=0, shuffle=False, callbacks=[probe])

    assert probe.steps == list(range(120))  # update k is the optimizer's step k, across epochs
    assert max_error(p, probe.steps, probe.applied) <= TOLERANCE
    assert max_error(p, probe.steps, probe.reported) <= TOLERANCE


def test_mixed_float16_schedule_sees_the_real_step_and_computes_float32():
    p = POLICIES["one_cycle"]
    x, y = ones(240)
    x[20] = np.inf  # batch 10: non-finite gradients, the LossScaleOptimizer skips the update
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = probe_model(keras.optimizers.SGD(Schedule(p)), jit_compile=True)
        probe = Probe()
        model.fit(x, y, batch_size=2, epochs=1, verbose=0, shuffle=False, callbacks=[probe])
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert model.layers[0].compute_dtype == "float16"
    assert model.optimizer.learning_rate.dtype == "float32"
    # the skipped batch is not an update: the step it would have used goes to the next batch
    assert probe.steps == list(range(11)) + list(range(10, 119))
    assert probe.applied[10] == 0.0
    updates = [i for i in range(120) if i != 10]
    assert max_error(p, [probe.steps[i] for i in updates],
                     [probe.applied[i] for i in updates]) <= TOLERANCE


def _fit_around_step_1e10(p, *callbacks):
    model = probe_model(keras.optimizers.SGD(Schedule(p)), jit_compile=True)
    model.optimizer.build(model.trainable_variables)
    model.optimizer.iterations.assign(10**10 - 60)
    probe = Probe()
    x, y = ones(60)
    model.fit(x, y, batch_size=1, epochs=2, verbose=0, shuffle=False,
              callbacks=[probe, *callbacks])
    return probe


def test_fit_across_step_1e10():
    p = POLICIES["cosine_restarts"]
    probe = _fit_around_step_1e10(p)
    assert probe.steps == list(range(10**10 - 60, 10**10 + 60))
    assert max_error(p, probe.steps, probe.applied) <= TOLERANCE


def test_tensorboard_logs_the_lr_with_int64_steps(tmp_path):
    """USERS.md #12: TF schedules that failed on the int64 step when TensorBoard read the LR."""
    tf = pytest.importorskip("tensorflow")
    pytest.importorskip("tensorboard", reason="Keras' TensorBoard callback needs tensorboard")
    p = POLICIES["cosine_restarts_mult"]
    probe = _fit_around_step_1e10(p, keras.callbacks.TensorBoard(tmp_path))
    assert max_error(p, probe.steps, probe.applied) <= TOLERANCE
    logged = [value.tensor for path in (tmp_path / "train").iterdir()
              for event in tf.compat.v1.train.summary_iterator(str(path))
              for value in event.summary.value if value.tag == "epoch_learning_rate"]
    # Keras' TensorBoard logs the LR of the next update at the end of each epoch
    assert max_error(p, [10**10, 10**10 + 60],
                     [float(tf.make_ndarray(t)) for t in logged]) <= TOLERANCE


class InterruptAt(keras.callbacks.Callback):
    def __init__(self, epoch, batch):
        super().__init__()
        self.at, self.epoch = (epoch, batch), 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise RuntimeError("simulated crash")


def test_backup_and_restore_continues_the_same_lr_trace(tmp_path):
    p = POLICIES["triangular2"]
    x, y = ones(40)

    def fit(*callbacks):
        probe = Probe()  # a fresh model and optimizer each time, as after a real crash
        model = probe_model(keras.optimizers.SGD(Schedule(p)), jit_compile=True)
        model.fit(x, y, batch_size=4, epochs=4, verbose=0, shuffle=False,
                  callbacks=[*callbacks, probe])
        return probe

    uninterrupted = fit()
    backup_dir = tmp_path / "backup"
    with pytest.raises(RuntimeError, match="simulated crash"):
        fit(keras.callbacks.BackupAndRestore(backup_dir), InterruptAt(epoch=2, batch=3))
    resumed = fit(keras.callbacks.BackupAndRestore(backup_dir))

    assert uninterrupted.steps == list(range(40))
    assert resumed.steps == list(range(20, 40))  # restored after epoch 2 of 4
    assert resumed.applied == uninterrupted.applied[20:]
    assert max_error(p, resumed.steps, resumed.applied) <= TOLERANCE
