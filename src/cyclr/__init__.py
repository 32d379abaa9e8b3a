"""cyclr: cyclical learning-rate policies as exact pure functions of the optimizer step.

The core is numpy only; ``cyclr_tf`` (Keras 3) and ``cyclr_torch`` (PyTorch) are thin adapters
that put the same policy into a training loop.
"""

from cyclr import policy
from cyclr.policy import (
    Constant,
    CosineRestarts,
    ExpRange,
    Join,
    Linear,
    OneCycle,
    Policy,
    Triangular,
    Triangular2,
    from_config,
    one_cycle_momentum,
    warmup,
)

__version__ = "0.1.0"

__all__ = [
    "policy",
    "Policy",
    "Constant",
    "Linear",
    "Triangular",
    "Triangular2",
    "ExpRange",
    "OneCycle",
    "CosineRestarts",
    "Join",
    "warmup",
    "one_cycle_momentum",
    "from_config",
]
