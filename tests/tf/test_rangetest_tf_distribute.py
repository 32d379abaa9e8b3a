"""cyclr_tf.range_test under ``tf.distribute.MirroredStrategy`` with two logical CPU devices: each
replica trains on its shard of the global batch, the curve equals a single-device run on the same
global batches, a NaN or an exception on one replica stops the whole test, and every replica's
copy of every variable is restored. Runs _rangetest_mirrored_worker.py in a fresh process
(logical devices must be configured before TensorFlow starts)."""

import math

import numpy as np
import pytest

from tests.tf.keras_probe import run_python


@pytest.fixture(scope="module")
def mirrored():
    return run_python("from tests.tf._rangetest_mirrored_worker import main; main()",
                      timeout=300)


def test_each_replica_trains_on_its_half_of_the_global_batch(mirrored):
    assert mirrored["replicas"] == 2
    assert mirrored["single_shards"] == [32]
    assert mirrored["mirrored_shards"] == [16]      # not the global 32 rows on every replica


def test_the_curve_equals_one_device_on_the_same_global_batches(mirrored):
    single, two = mirrored["single"], mirrored["mirrored"]
    assert two["lrs"] == single["lrs"] and two["stop_reason"] == single["stop_reason"]
    # two half-batch means averaged vs one mean, gradients summed over replicas: float32 noise
    np.testing.assert_allclose(two["losses"], single["losses"], rtol=1e-5)
    assert two["suggestion"] == single["suggestion"] and two["suggestion"][2] == "ok"


def test_every_replica_is_restored_bit_for_bit(mirrored):
    assert mirrored["mirrored_restored"] and mirrored["mirrored_iterations"] == 0
    assert mirrored["rich_metrics_differ"]            # per-replica metric state, kept as it was
    assert mirrored["rich_restored"]
    assert mirrored["nan_restored"] and mirrored["raised_restored"]


def test_training_afterwards_equals_training_an_untested_twin(mirrored):
    assert mirrored["rich_trained_equal"]
    assert mirrored["fresh_trained_equal"]          # optimizer and metrics built by the test


def test_a_nan_on_one_replica_stops_the_test_at_that_update(mirrored):
    nan = mirrored["nan"]
    assert nan["stop_reason"] == "non-finite loss" and len(nan["lrs"]) == 7
    assert math.isnan(nan["losses"][-1]) and all(math.isfinite(v) for v in nan["losses"][:-1])


def test_an_exception_on_one_replica_raises_and_restores(mirrored):
    kind, message = mirrored["raised"]
    assert kind == "InvalidArgumentError" and "replica 1 failed on purpose" in message
    assert "Detected at node replica_1/" in message


def test_a_batch_smaller_than_the_replicas_is_refused(mirrored):
    assert mirrored["small_batch"].startswith(
        "Argument `batch_size` must be at least the number of replicas (2)")


def test_structured_inputs_and_datasets_are_split_over_the_replicas_too(mirrored):
    single = mirrored["inputs_single"]
    for name in ("dict", "dataset"):
        two = mirrored[f"inputs_{name}"]
        assert two["lrs"] == single["lrs"] and two["stop_reason"] == single["stop_reason"]
        np.testing.assert_allclose(two["losses"], single["losses"], rtol=1e-5)
        assert mirrored[f"inputs_{name}_restored"]


def test_an_already_distributed_dataset_is_refused(mirrored):
    assert mirrored["distributed_dataset"].startswith(
        "Argument `x` must be a tf.data.Dataset that is not distributed yet")
