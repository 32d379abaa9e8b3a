"""``tf.distribute.MirroredStrategy`` over two logical CPU devices: the applied LR matches the
core. Runs in a fresh process: logical devices must be configured before TensorFlow starts."""

import pytest

pytest.importorskip("tensorflow")

from tests.tf.keras_probe import POLICIES, max_error, run_python  # noqa: E402

MIRRORED_FIT = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from cyclr_tf.schedule import Schedule
from tests.tf.keras_probe import POLICIES, Probe, ones, probe_model

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    model = probe_model(keras.optimizers.SGD(Schedule(POLICIES[sys.argv[1]])))
probe = Probe()
x, y = ones(480)
model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False, callbacks=[probe])
print(json.dumps({"replicas": strategy.num_replicas_in_sync, **probe.trace()}))
"""


def test_mirrored_strategy_applies_the_core_lr_on_two_replicas():
    name = "one_cycle_3phase"
    result = run_python(MIRRORED_FIT, name)
    assert result["replicas"] == 2
    assert result["steps"] == list(range(120))
    assert max_error(POLICIES[name], result["steps"], result["applied"]) <= 1e-6
    assert max_error(POLICIES[name], result["steps"], result["reported"]) <= 1e-6
