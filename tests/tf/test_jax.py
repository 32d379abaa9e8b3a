"""The same ``Schedule`` under ``KERAS_BACKEND=jax`` (optional: runs where JAX is installed).

JAX's optimizer step counter is int32 (int64 needs ``jax_enable_x64``), so there the schedule
covers steps up to ``2**31 - 1``; momentum cycling is TensorFlow-only (docs/keras.md)."""

import pytest

pytest.importorskip("jax", reason="optional backend: install jax to test KERAS_BACKEND=jax")

from tests.tf.keras_probe import POLICIES, max_error, run_python

JAX_FIT = """
import json, sys
import keras
from cyclr_tf.schedule import Schedule
from tests.tf.keras_probe import POLICIES, Probe, ones, probe_model

traces = {"backend": keras.backend.backend()}
for name in sys.argv[1:]:
    model = probe_model(keras.optimizers.SGD(Schedule(POLICIES[name])), jit_compile=True)
    probe = Probe()
    x, y = ones(80)
    model.fit(x, y, batch_size=2, epochs=3, verbose=0, shuffle=False, callbacks=[probe])
    traces[name] = probe.trace()
print(json.dumps(traces))
"""


def test_applied_lr_equals_core_under_jax():
    names = ["triangular2", "exp_range", "one_cycle_3phase", "cosine_restarts_mult", "join"]
    traces = run_python(JAX_FIT, *names, env={"KERAS_BACKEND": "jax"})
    assert traces.pop("backend") == "jax"
    for name, trace in traces.items():
        assert trace["steps"] == list(range(120))
        assert max_error(POLICIES[name], trace["steps"], trace["applied"]) <= 1e-6
        assert max_error(POLICIES[name], trace["steps"], trace["reported"]) <= 1e-6
