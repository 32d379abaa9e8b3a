"""cyclr for Keras 3: a cyclr policy as a ``LearningRateSchedule``, an LR logger, momentum cycling.

Importing ``cyclr_tf`` registers :class:`Schedule` with Keras (``"cyclr>Schedule"``), which is
all ``keras.saving.load_model`` needs to load a ``.keras`` file that uses it.

``cyclr_tf.tfa`` has TF Addons' cyclical learning rates under their own names, for porting
(``import cyclr_tf.tfa as tfa``); it is not imported here.
"""

from cyclr_tf.callbacks import LRLogger, ReduceLROnPlateau, cycle_momentum
from cyclr_tf.rangetest import range_test
from cyclr_tf.schedule import Schedule

__all__ = ["Schedule", "LRLogger", "ReduceLROnPlateau", "cycle_momentum", "range_test"]
