"""cyclr_cardio: the application around the cyclr library.

The ``cyclr`` command line (``compare``, ``range-test``, ``plot``), the cardio data pipeline
(:mod:`cyclr_cardio.data`), one trainer per backend behind the
:class:`~cyclr_cardio.trainer.Trainer` protocol, the comparison's driver
(:mod:`cyclr_cardio.experiment`) and its report (:mod:`cyclr_cardio.report`). It imports the
library (``cyclr``) and the adapters (``cyclr_tf``, ``cyclr_torch``); nothing imports it.
"""

import time

__version__ = "0.1.0"

#: When the application was first imported: the start of a ``cyclr`` command, for the wall
#: times its outputs report (start-up and data loading included, as a user sees them).
STARTED = time.perf_counter()
