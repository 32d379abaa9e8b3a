"""``tf.distribute.MirroredStrategy`` over two logical CPU devices: the applied LR (and a cycled
momentum) match the core. Runs in a fresh process: logical devices must be configured before
TensorFlow starts."""

import numpy as np

from tests.tf.keras_probe import POLICIES, max_error, run_python

MIRRORED_FIT = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from cyclr_tf.callbacks import LRLogger, cycle_momentum
from cyclr_tf.schedule import Schedule
from tests.tf.keras_probe import POLICIES, Probe, ones, probe_model

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
result = {"replicas": strategy.num_replicas_in_sync}
for momentum in (None, sys.argv[2]):
    with strategy.scope():
        lr = Schedule(POLICIES[sys.argv[1]])
        if momentum:
            optimizer = cycle_momentum(keras.optimizers.SGD(lr, momentum=0.9), POLICIES[momentum])
        else:
            optimizer = keras.optimizers.SGD(lr)
        model = probe_model(optimizer)
    probe, logged = Probe(), []
    seen = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: logged.append(
        [logs["learning_rate"], logs.get("momentum")]))
    x, y = ones(480)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False,
              callbacks=[probe, seen, LRLogger()])
    result["cycled" if momentum else "plain"] = {**probe.trace(), "logged": logged}
print(json.dumps(result))
"""


def test_mirrored_strategy_applies_the_core_lr_and_momentum_on_two_replicas():
    lr, momentum = POLICIES["one_cycle_3phase"], POLICIES["triangular"]
    result = run_python(MIRRORED_FIT, "one_cycle_3phase", "triangular")
    assert result["replicas"] == 2

    plain = result["plain"]  # plain SGD: the probe's kernel ends each update at -lr
    assert plain["steps"] == list(range(120))
    assert max_error(lr, plain["steps"], plain["applied"]) <= 1e-6
    assert max_error(lr, plain["steps"], plain["reported"]) <= 1e-6
    # LRLogger's values, computed in each replica's step and reduced over the replicas
    assert max_error(lr, plain["steps"], [v[0] for v in plain["logged"]]) <= 1e-6

    cycled = result["cycled"]  # kernel reset to 0, so it ends at the velocity v(k+1)
    k = np.arange(120)
    assert cycled["steps"] == list(k)
    velocity = -np.array(cycled["applied"])
    previous = np.concatenate([[0.0], velocity[:-1]])
    np.testing.assert_allclose(velocity, momentum(k) * previous - lr(k), rtol=1e-6,
                               atol=1e-6 * np.abs(velocity).max())
    assert max_error(momentum, k, [v[1] for v in cycled["logged"]]) <= 1e-6
