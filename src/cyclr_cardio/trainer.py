"""What every backend's trainer is: the :class:`Trainer` protocol and the records it returns.

A trainer trains the comparison's model (Dense ``n_features``-64-32-1, ReLU, sigmoid output,
Glorot-uniform kernels, zero biases, plain SGD) on a :class:`cyclr_cardio.data.Dataset` under a
cyclr policy, and runs the LR range test on the same model. :func:`load` is the one place that
chooses a backend's implementation at run time; nothing else imports a trainer module by name.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from cyclr import validate as check

if TYPE_CHECKING:
    from cyclr.policy import Policy
    from cyclr.rangetest import RangeTestResult, Sweep
    from cyclr_cardio.data import Dataset

__all__ = ["BACKENDS", "DEVICES", "EpochLog", "TrainResult", "Trainer", "load"]

#: The backends, each with its module in this package.
BACKENDS = {"tf": "cyclr_cardio.tf_trainer", "torch": "cyclr_cardio.torch_trainer"}
#: The ``device`` a trainer accepts: ``"auto"`` takes a GPU when the backend sees one.
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class EpochLog:
    """One epoch of one run.

    ``lr`` is the learning rate the epoch's last update used, read from the optimizer (not
    recomputed from the policy); ``train_loss`` and ``train_accuracy`` are averages over the
    epoch's batches as they were trained (what Keras' ``fit`` logs); ``val_accuracy`` is measured
    after the epoch; ``elapsed_s`` counts seconds from the start of training, validation
    included."""

    epoch: int
    lr: float
    train_loss: float
    train_accuracy: float
    val_accuracy: float
    elapsed_s: float


@dataclass
class TrainResult:
    """What :meth:`Trainer.train` returns: one :class:`EpochLog` per epoch, the final weights'
    test accuracy, the device in words, and the seconds spent in training (validation included,
    model building and the test evaluation not)."""

    history: list[EpochLog]
    test_accuracy: float
    device: str
    wall_s: float


class Trainer(Protocol):
    """One backend's way to train the comparison's model.

    Built by :func:`load` with the device and CPU threads it runs on (both fixed for its
    lifetime); the methods take only what differs between runs.
    """

    backend: str
    device: str
    """The device in words, for the record (e.g. ``"cpu (1 threads)"``)."""

    def train(self, data: Dataset, policy: Policy, *, epochs: int, batch_size: int, seed: int,
              on_epoch: Callable[[EpochLog], None] | None = None) -> TrainResult:
        """Train a fresh model (weights from ``seed``) for ``epochs`` epochs of ``batch_size``
        rows in a seeded shuffled order; update ``k`` uses LR ``policy(k)``."""
        ...

    def range_test(self, data: Dataset, sweep: Sweep, *, batch_size: int,
                   seed: int) -> RangeTestResult:
        """The LR range test ``sweep`` on a fresh model with plain SGD over the shuffled
        training rows; the model is thrown away afterwards."""
        ...


@contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Send what native code writes to the process's stderr (file descriptor 2) to nowhere.

    TensorFlow's C++ start-up lines (``failed call to cuInit``, oneDNN and CPU-feature notices)
    bypass Python and ignore ``TF_CPP_MIN_LOG_LEVEL``; they all come while the framework is
    imported and its devices listed, which is all this wraps. Python's own errors raised inside
    are printed after it, as usual."""
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def load(backend: str, *, device: str = "auto", threads: int = 1,
         verbose: bool = False) -> Trainer:
    """The trainer of ``backend`` (``"tf"`` or ``"torch"``) on ``device`` (one of
    :data:`DEVICES`; ``"cuda"`` without a GPU is an error, not a fallback) with ``threads`` CPU
    threads (a model this small is fastest on one). The framework's native start-up lines are
    dropped (:func:`quiet_native_logs`) unless ``verbose``.

    Raises:
        ValueError: unknown ``backend`` or ``device``, or ``"cuda"`` where there is none.
        ModuleNotFoundError: the backend's framework is not installed (names the extra).
    """
    check.choice("backend", backend, tuple(BACKENDS))
    check.choice("device", device, DEVICES)
    threads = check.positive_int("threads", threads)
    framework = {"tf": "keras", "torch": "torch"}[backend]
    if importlib.util.find_spec(framework) is None:
        raise ModuleNotFoundError(f"the {backend} backend needs {framework}: pip install "
                                  f"'cyclr[{backend}]'", name=framework)
    with nullcontext() if verbose else quiet_native_logs():
        module = importlib.import_module(BACKENDS[backend])
        return module.Trainer(device=device, threads=threads)
