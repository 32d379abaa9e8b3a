"""A ``.keras`` file saved mid-training loads in a fresh process without ``custom_objects`` and
continues at the same step with the same learning rate."""

import json

import keras
import numpy as np

from cyclr import policy
from cyclr_tf.schedule import Schedule
from tests.tf.keras_probe import continued_here_and_fresh, max_error

POLICY = policy.warmup(policy.CosineRestarts(0.1, period=6, period_mult=2, min_lr=1e-3), steps=5)

def test_keras_file_continues_in_a_fresh_process(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)).astype("float32"), rng.normal(size=(40, 1)).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(Schedule(POLICY), momentum=0.9), loss="mse",
                  jit_compile=True)
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False)
    reader, fresh = continued_here_and_fresh(model, x, y, tmp_path, epochs=2)

    assert fresh["schedule"]["registered_name"] == "cyclr>Schedule"
    assert fresh["schedule"]["config"] == {"policy": json.loads(json.dumps(POLICY.to_config()))}
    assert fresh["start"] == 20
    assert fresh["steps"] == reader.steps == list(range(20, 40))
    assert fresh["lrs"] == reader.lrs
    assert max_error(POLICY, fresh["steps"], fresh["lrs"]) <= 1e-6
    np.testing.assert_allclose(fresh["losses"], reader.losses, rtol=1e-5)  # the same training
