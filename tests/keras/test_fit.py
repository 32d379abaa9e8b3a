"""The learning rate every update of a real ``model.fit`` applies equals the core's, on this
process's Keras backend, for every policy type (read from the kernel: ``keras_probe``).

TensorFlow runs the same in ``tests/tf/test_fit.py`` (graph and XLA, with mixed precision,
TensorBoard, BackupAndRestore); here it is JAX and torch, where ``jit_compile=True`` is
``jax.jit`` and ``torch.compile``."""

import keras
import numpy as np
import pytest

from cyclr import policy
from cyclr_tf.schedule import Schedule
from tests.tf.keras_probe import POLICIES, Probe, max_error, ones, probe_model

BACKEND = keras.backend.backend()
#: How every policy runs: jitted on JAX, eagerly on torch (torch.compile costs seconds per
#: model: test_momentum.py runs it once, for the learning rate and the momentum together).
EVERY = {"jax": True, "torch": False}.get(BACKEND)

on_tensorflow = pytest.mark.skipif(BACKEND == "tensorflow",
                                   reason="tests/tf/test_fit.py runs these on TensorFlow")


def fit_trace(p, jit_compile, epochs=3, n=80):
    model = probe_model(keras.optimizers.SGD(Schedule(p)), jit_compile=jit_compile)
    probe = Probe()
    x, y = ones(n)
    model.fit(x, y, batch_size=2, epochs=epochs, verbose=0, shuffle=False, callbacks=[probe])
    return probe


@on_tensorflow
@pytest.mark.parametrize("name", list(POLICIES))
def test_applied_lr_equals_core_at_every_update(name):
    probe = fit_trace(POLICIES[name], EVERY)
    assert probe.steps == list(range(120))
    assert max_error(POLICIES[name], probe.steps, probe.applied) <= 1e-6
    assert max_error(POLICIES[name], probe.steps, probe.reported) <= 1e-6


@pytest.mark.skipif(BACKEND != "jax", reason="torch.compile: test_momentum.py fits once")
def test_jax_without_jit():
    probe = fit_trace(POLICIES["join"], False, epochs=2, n=60)
    assert probe.steps == list(range(60))
    assert max_error(POLICIES["join"], probe.steps, probe.applied) <= 1e-6


def test_steps_are_int64_where_the_backend_has_them():
    """TensorFlow and torch: int64 (Keras' own int is int32 on torch); JAX: int32 without
    jax_enable_x64, so a policy whose integers do not fit is refused when it is built."""
    from cyclr_tf.ops import INT

    huge = policy.OneCycle(0.1, total_steps=10**10)
    if INT == "int64":
        sched = Schedule(huge)
        for k in (5, 2**31 + 7, 10**10 - 1, 2**62):
            assert float(sched(k)) == pytest.approx(huge(k), rel=1e-6, abs=1e-9)
    else:
        assert BACKEND == "jax"
        with pytest.raises(ValueError, match="must be a policy whose integers .* fit in int32"):
            Schedule(huge)


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_backend_tensors_and_variables_as_steps(dtype):
    from cyclr_tf.ops import INT

    if np.iinfo(dtype).max > np.iinfo(INT).max:
        pytest.skip(f"{dtype} does not exist on this backend without more configuration")
    p, sched = POLICIES["cosine_restarts_mult"], Schedule(POLICIES["cosine_restarts_mult"])
    steps = np.arange(0, 200, 7)
    tensor = keras.ops.convert_to_tensor(steps, dtype=dtype)
    assert max_error(p, steps, keras.ops.convert_to_numpy(sched(tensor))) <= 1e-6
    variable = keras.Variable(33, dtype=dtype, trainable=False)
    assert float(sched(variable)) == pytest.approx(p(33), rel=1e-6)
    negative = keras.ops.convert_to_tensor(-4, dtype=dtype)
    assert float(sched(negative)) == pytest.approx(p(0), rel=1e-6)  # clamped, not checked


def test_float_and_unsigned_tensors_are_refused():
    sched = Schedule(POLICIES["triangular"])
    for dtype in ("float32", "uint8"):
        with pytest.raises(TypeError, match="Argument `step` must be an integer"):
            sched(keras.ops.convert_to_tensor(3, dtype=dtype))
