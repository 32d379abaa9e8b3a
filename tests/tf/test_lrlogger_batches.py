"""LRLogger logs the LR each batch's own update used, for any
steps_per_execution (issue 11's replay: expected (0, 3, 0.064), (0, 7, 0.064), (1, 3, 0.028),
(1, 7, 0.1))."""

import keras
import numpy as np
import pytest

from cyclr import policy
from cyclr_tf import LRLogger, Schedule, cycle_momentum


class Batches(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.seen.append((self.epoch, batch, logs["learning_rate"], logs.get("momentum")))


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
@pytest.mark.parametrize("spe", [1, 3, 4, 5, 8])
def test_each_logged_batch_has_its_own_updates_lr(spe, jit_compile):
    p = policy.Triangular(base_lr=0.01, max_lr=0.1, step_size=5)
    m = policy.Triangular(base_lr=0.95, max_lr=0.85, step_size=5)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    optimizer = keras.optimizers.SGD(Schedule(p), momentum=0.9)
    cycle_momentum(optimizer, m)
    model.compile(optimizer, loss="mse", steps_per_execution=spe, jit_compile=jit_compile)
    batches = Batches()
    x, y = np.ones((128, 3), "float32"), np.ones((128, 1), "float32")
    model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0,
              callbacks=[batches, LRLogger()])
    assert batches.seen, "no batch hook ran"
    for epoch, batch, lr, momentum in batches.seen:
        # 8 updates per epoch; for a last chunk shorter than steps_per_execution Keras reports
        # the chunk's nominal last index (8 when spe=3), one past the epoch's last batch
        update = 8 * epoch + min(batch, 7)
        assert lr == pytest.approx(p(update), abs=1e-6)
        assert momentum == pytest.approx(m(update), abs=1e-6)
    if spe == 4:  # the replay
        assert [(e, b, round(lr, 3)) for e, b, lr, _ in batches.seen[:4]] == [
            (0, 3, 0.064), (0, 7, 0.064), (1, 3, 0.028), (1, 7, 0.1)]
