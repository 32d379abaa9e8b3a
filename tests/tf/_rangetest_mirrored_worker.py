"""cyclr_tf.range_test under ``tf.distribute.MirroredStrategy`` over two logical CPU devices, for
test_rangetest_tf_distribute.py. Run in a fresh process (logical devices must be configured
before TensorFlow starts):

    python -c "from tests.tf._rangetest_mirrored_worker import main; main()"

Prints one JSON line: per scenario, what the test needs to check.
"""

import json

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402  (after the logical devices)
import numpy as np  # noqa: E402

from cyclr.rangetest import Sweep  # noqa: E402
from cyclr_tf.rangetest import range_test  # noqa: E402
from tests.tf.test_rangetest_tf import make_data  # noqa: E402

SWEEP = Sweep(start_lr=1e-3, end_lr=3.0, num_steps=30)
BATCH = 32  # the global batch: 16 rows per replica


class ShardProbe(keras.layers.Layer):
    """Passes its input through; records the batch size each replica traces it with."""

    seen: list = []

    def call(self, x):
        if tf.distribute.get_replica_context() is not None:  # a replica, not a symbolic build
            ShardProbe.seen.append(x.shape[0])
        return x


def mlp(probe=False):
    """No batch norm, no dropout: the replicas compute what one device computes."""
    keras.utils.set_random_seed(0)
    layers = [keras.Input((6,), batch_size=None)] + ([ShardProbe()] if probe else [])
    model = keras.Sequential(layers + [keras.layers.Dense(16, activation="tanh"),
                                       keras.layers.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9), "binary_crossentropy")
    return model


def rich(pretrain=True, loss="binary_crossentropy", optimizer=None):
    """Batch norm, dropout, a metric; fitted one short epoch (slots, iterations, metric state
    that differs between the replicas)."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((6,)), keras.layers.Dense(16), keras.layers.BatchNormalization(),
        keras.layers.Activation("relu"), keras.layers.Dropout(0.2),
        keras.layers.Dense(1, activation="sigmoid")])
    optimizer = optimizer or keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True)
    model.compile(optimizer, loss, metrics=["accuracy"])
    if pretrain:  # two updates
        x, y = make_data(64)
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    return model


def replicas(strategy, model, variables=None):
    """Every replica's copy of every variable (model, optimizer, metrics), by position."""
    out = []
    if variables is None:
        variables = model.variables + model.optimizer.variables + model.metrics_variables
    for v in variables:
        out.append([np.array(c.numpy()).tolist()
                    for c in strategy.experimental_local_results(v.value)])
    return out


def curve(result):
    return {"lrs": result.lrs.tolist(), "losses": result.losses.tolist(),
            "stop_reason": result.stop_reason,
            "suggestion": [result.suggestion.base_lr, result.suggestion.max_lr,
                           result.suggestion.status]}


def fit_after(strategy, model, x, y):
    keras.utils.set_random_seed(7)
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
    return replicas(strategy, model)


def main():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    x, y = make_data(256, seed=5)
    out = {"replicas": strategy.num_replicas_in_sync}

    # one device vs two replicas, same global batches
    single = mlp(probe=True)
    ShardProbe.seen.clear()
    out["single"] = curve(range_test(single, x, y, SWEEP, batch_size=BATCH))
    out["single_shards"] = sorted(set(ShardProbe.seen) - {None})  # None: symbolic builds
    with strategy.scope():
        model = mlp(probe=True)
    before = replicas(strategy, model, model.variables)  # the optimizer is built by the test
    ShardProbe.seen.clear()
    out["mirrored"] = curve(range_test(model, x, y, SWEEP, batch_size=BATCH))
    out["mirrored_shards"] = sorted(set(ShardProbe.seen) - {None})
    out["mirrored_restored"] = before == replicas(strategy, model, model.variables)
    out["mirrored_iterations"] = int(model.optimizer.iterations.numpy())

    # batch norm, dropout, metrics: restored on every replica; training afterwards unchanged
    with strategy.scope():
        tested, twin = rich(), rich()
    before = replicas(strategy, tested)
    out["rich_metrics_differ"] = any(len({json.dumps(c) for c in v}) > 1
                                     for v in before[-len(tested.metrics_variables):])
    range_test(tested, x, y, Sweep(1e-3, 1.0, 12), batch_size=BATCH)
    out["rich_restored"] = before == replicas(strategy, tested)
    out["rich_trained_equal"] = fit_after(strategy, tested, x, y) == fit_after(strategy, twin,
                                                                                 x, y)

    # a fresh model: optimizer and compiled metrics built by the test, from a plain batch
    with strategy.scope():
        tested, twin = rich(pretrain=False), rich(pretrain=False)
    range_test(tested, x, y, Sweep(1e-3, 1.0, 8), batch_size=BATCH)
    out["fresh_trained_equal"] = fit_after(strategy, tested, x, y) == fit_after(strategy, twin,
                                                                                 x, y)

    # a NaN in the second replica's shard of update 6: every replica stops there
    order = np.random.default_rng(0).permutation(len(x))
    poisoned = x.copy()
    poisoned[order[6 * BATCH + BATCH // 2 + 3]] = np.nan
    with strategy.scope():
        model = rich()
    before = replicas(strategy, model)
    out["nan"] = curve(range_test(model, poisoned, y, SWEEP, batch_size=BATCH))
    out["nan_restored"] = before == replicas(strategy, model)

    # an exception on the second replica only, at update 5 (graph mode: a failing assertion)
    with strategy.scope():
        optimizer = keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True)

    def failing(y_true, y_pred):
        loss = keras.losses.binary_crossentropy(y_true, y_pred)
        context = tf.distribute.get_replica_context()
        if context is None:  # a symbolic build
            return loss
        ok = tf.logical_or(tf.not_equal(context.replica_id_in_sync_group, 1),
                           tf.not_equal(optimizer.iterations, 2 + 5))  # 2 updates of pretraining
        with tf.control_dependencies([tf.debugging.Assert(ok, ["replica 1 failed on purpose"])]):
            return tf.identity(loss)

    with strategy.scope():
        model = rich(loss=failing, optimizer=optimizer)
    before = replicas(strategy, model)
    try:
        range_test(model, x, y, SWEEP, batch_size=BATCH)
        out["raised"] = None
    except Exception as error:
        out["raised"] = [type(error).__name__, str(error)[:200] + " ... " + str(error)[-500:]]
    out["raised_restored"] = before == replicas(strategy, model)

    # what fit takes (issue 11): a dict of two inputs, and a tf.data.Dataset of the same
    # batches, each split over the replicas as one device would see them
    from tests.tf.test_rangetest_tf_inputs import SWEEP as INPUTS_SWEEP
    from tests.tf.test_rangetest_tf_inputs import batches, data, two_inputs

    x1, x2, y2 = data()
    out["inputs_single"] = curve(range_test(two_inputs("dict"), {"a": x1, "b": x2}, y2,
                                            INPUTS_SWEEP, batch_size=BATCH))
    dataset = tf.data.Dataset.from_tensor_slices(
        ({"a": np.concatenate([b[0]["a"] for b in batches()]),
          "b": np.concatenate([b[0]["b"] for b in batches()])},
         np.concatenate([b[1] for b in batches()]))).batch(BATCH)
    for name, source, target in (("dict", {"a": x1, "b": x2}, y2), ("dataset", dataset, None)):
        with strategy.scope():
            model = two_inputs("dict")
        before = replicas(strategy, model, model.variables)
        kwargs = {"batch_size": BATCH} if target is not None else {}
        out[f"inputs_{name}"] = curve(range_test(model, source, target, INPUTS_SWEEP, **kwargs))
        out[f"inputs_{name}_restored"] = before == replicas(strategy, model, model.variables)
    with strategy.scope():
        model = two_inputs("dict")
    try:
        range_test(model, strategy.experimental_distribute_dataset(dataset))
        out["distributed_dataset"] = None
    except TypeError as error:
        out["distributed_dataset"] = str(error)

    # refused: a batch smaller than the replicas
    with strategy.scope():
        model = mlp()
    try:
        range_test(model, x, y, SWEEP, batch_size=1)
        out["small_batch"] = None
    except ValueError as error:
        out["small_batch"] = str(error)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
