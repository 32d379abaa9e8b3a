"""TensorFlow does not follow the Python array API standard: ``policy(tf_tensor)`` reads an eager
tensor's values as numpy does (float64 numpy array back), and refuses a symbolic one (inside
``tf.function``) saying what works there, ``cyclr_tf.Schedule``."""

import numpy as np
import pytest
import tensorflow as tf

from cyclr_tf.schedule import Schedule
from tests.policies import EVERY_TYPE, FLOAT32, max_error


def test_an_eager_tensor_is_read_as_numpy_reads_it():
    p = EVERY_TYPE["join"]
    out = p(tf.range(100, dtype=tf.int64))
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    assert np.array_equal(out, p(np.arange(100)))


def test_a_symbolic_tensor_is_refused_naming_the_schedule():
    p = EVERY_TYPE["join"]
    with pytest.raises(TypeError, match=r"inside tf.function, use cyclr_tf.Schedule\(policy\)"):
        tf.function(p)(tf.constant(3))
    compiled = tf.function(Schedule(p), jit_compile=True)
    assert max_error(p, range(100), compiled(tf.range(100, dtype=tf.int64)).numpy()) <= FLOAT32
