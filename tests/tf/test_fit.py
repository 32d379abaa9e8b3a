"""The LR the optimizer applies at every update of a real ``model.fit`` equals the core's value."""

import pytest

pytest.importorskip("tensorflow")

import keras  # noqa: E402

from cyclr_tf.schedule import Schedule  # noqa: E402
from tests.tf.keras_probe import POLICIES, Probe, max_error, ones, probe_model  # noqa: E402

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
