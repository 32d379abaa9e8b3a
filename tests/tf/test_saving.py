"""A ``.keras`` file saved mid-training loads in a fresh process without ``custom_objects`` and
continues at the same step with the same learning rate."""

import json

import keras
import numpy as np

from cyclr import policy
from cyclr_tf.schedule import Schedule
from tests.tf.keras_probe import LRReader, max_error, run_python

POLICY = policy.warmup(policy.CosineRestarts(0.1, period=6, period_mult=2, min_lr=1e-3), steps=5)

CONTINUE_IN_A_FRESH_PROCESS = """
import json, sys
import numpy as np
import keras
from tests.tf.keras_probe import LRReader
assert not any(name.startswith("cyclr_tf") for name in sys.modules)
import cyclr_tf  # registers "cyclr>Schedule": no custom_objects below

model = keras.saving.load_model(sys.argv[1])
data = np.load(sys.argv[2])
start = int(model.optimizer.iterations)
reader = LRReader()
model.fit(data["x"], data["y"], batch_size=4, epochs=2, verbose=0, shuffle=False,
          callbacks=[reader])
print(json.dumps({"start": start, "steps": reader.steps, "lrs": reader.lrs,
                  "losses": reader.losses,
                  "schedule": model.optimizer.get_config()["learning_rate"]}))
"""


def test_keras_file_continues_in_a_fresh_process(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)).astype("float32"), rng.normal(size=(40, 1)).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(Schedule(POLICY), momentum=0.9), loss="mse",
                  jit_compile=True)
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False)
    path, data = tmp_path / "model.keras", tmp_path / "data.npz"
    model.save(path)
    np.savez(data, x=x, y=y)

    reader = LRReader()  # the uninterrupted run, in this process
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False, callbacks=[reader])
    fresh = run_python(CONTINUE_IN_A_FRESH_PROCESS, path, data)

    assert fresh["schedule"]["registered_name"] == "cyclr>Schedule"
    assert fresh["schedule"]["config"] == {"policy": json.loads(json.dumps(POLICY.to_config()))}
    assert fresh["start"] == 20
    assert fresh["steps"] == reader.steps == list(range(20, 40))
    assert fresh["lrs"] == reader.lrs
    assert max_error(POLICY, fresh["steps"], fresh["lrs"]) <= 1e-6
    np.testing.assert_allclose(fresh["losses"], reader.losses, rtol=1e-5)  # the same training
