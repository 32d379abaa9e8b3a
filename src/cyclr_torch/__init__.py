"""cyclr_torch: cyclr policies in PyTorch training loops.

``Scheduler(optimizer, policy, momentum=None)`` is a ``torch.optim.lr_scheduler.LRScheduler``
whose LR at optimizer update ``k`` is ``policy(k)``; ``lightning_config(scheduler)`` is its
Lightning ``lr_scheduler`` entry, stepped per update.
"""

from cyclr_torch.rangetest import range_test
from cyclr_torch.scheduler import Scheduler, lightning_config

__all__ = ["Scheduler", "lightning_config", "range_test"]
