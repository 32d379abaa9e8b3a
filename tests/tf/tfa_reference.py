"""TensorFlow Addons' ``CyclicalLearningRate``, transcribed: the reference the parity and port
tests compare with.

TF Addons is dead and has no Keras 3 support, so its formula (Smith 2017, as tfa wrote it in
``tensorflow_addons/optimizers/cyclical_learning_rate.py``) is transcribed here in TensorFlow:
the same float arithmetic on the step, cast to the LR's dtype, and the same ``scale_fn`` call.
"""

import tensorflow as tf


def cyclical_learning_rate(step, initial_learning_rate, maximal_learning_rate, step_size,
                           scale_fn, scale_mode="cycle"):
    """``tfa.optimizers.CyclicalLearningRate(...)(step)``."""
    initial = tf.convert_to_tensor(initial_learning_rate, dtype=tf.float32)
    dtype = initial.dtype
    maximal = tf.cast(maximal_learning_rate, dtype)
    step_size = tf.cast(step_size, dtype)
    step_as_dtype = tf.cast(step, dtype)
    cycle = tf.floor(1 + step_as_dtype / (2 * step_size))
    x = tf.abs(step_as_dtype / step_size - 2 * cycle + 1)
    mode_step = cycle if scale_mode == "cycle" else step_as_dtype
    return initial + (maximal - initial) * tf.maximum(tf.cast(0, dtype), (1 - x)) * scale_fn(
        mode_step)


def scale(mode, gamma=1.0):
    """``(scale_fn, scale_mode)`` as tfa's Triangular, Triangular2 and
    ExponentialCyclicalLearningRate pass them to ``CyclicalLearningRate``."""
    return {"triangular": (lambda x: 1.0, "cycle"),
            "triangular2": (lambda x: 1 / (2.0 ** (x - 1)), "cycle"),
            "exp_range": (lambda x: gamma**x, "iterations")}[mode]
