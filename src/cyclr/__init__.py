"""cyclr: cyclical learning-rate policies as exact pure functions of the optimizer step.

The core is numpy only; ``cyclr_tf`` (Keras 3) and ``cyclr_torch`` (PyTorch) are thin adapters
that put the same policy into a training loop.
"""

from cyclr import policy
from cyclr.policy import *  # noqa: F403  (the policy classes, listed once in policy.__all__)

__version__ = "0.1.0"

__all__ = ["policy", *policy.__all__]
