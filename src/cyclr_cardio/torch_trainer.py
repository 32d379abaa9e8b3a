"""The PyTorch :class:`~cyclr_cardio.trainer.Trainer`: the comparison's MLP in plain torch.

Linear 64-32-1 with ReLU, Glorot (Xavier) uniform weights and zero biases, logits out (the loss
is ``binary_cross_entropy_with_logits``, the numerically stable form of Keras' sigmoid + binary
cross-entropy). Batches are slices of one shuffled index tensor over data held on the device:
no per-sample ``DataLoader``. The LR comes from :class:`cyclr_torch.Scheduler`, stepped once per
update.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.nn import functional as F

from cyclr import validate as check
from cyclr.policy import Policy
from cyclr.rangetest import RangeTestResult, Sweep
from cyclr_cardio.data import Dataset
from cyclr_cardio.trainer import DEVICES, EpochLog, TrainResult
from cyclr_torch import Scheduler, range_test

__all__ = ["Trainer", "build_model"]


def build_model(n_features: int, seed: int) -> nn.Module:
    """Linear ``n_features``-64-32-1 with ReLU, logits out; Glorot-uniform weights, zero biases
    (Keras' ``Dense`` defaults), drawn from a generator seeded with ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Linear(n_features, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(),
                          nn.Linear(32, 1))
    for layer in model:
        if isinstance(layer, nn.Linear):
            nn.init.xavier_uniform_(layer.weight, generator=generator)
            nn.init.zeros_(layer.bias)
    return model


def _loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of logits of shape (n, 1) against 0/1 targets of shape (n,)."""
    return F.binary_cross_entropy_with_logits(logits.squeeze(1), target)


def _correct(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """How many of the (n, 1) logits classify their (n,) 0/1 targets right (a 0-d tensor)."""
    return ((logits.squeeze(1) > 0) == (target > 0.5)).sum()


class Trainer:
    """The comparison's model in PyTorch on ``device`` with ``threads`` CPU threads (see
    :func:`cyclr_cardio.trainer.load`)."""

    backend = "torch"

    def __init__(self, device: str = "auto", threads: int = 1):
        check.choice("device", device, DEVICES)
        if device == "cuda" and not torch.cuda.is_available():
            check.fail("device", "'auto' or 'cpu' here: torch sees no CUDA device", device)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.torch_device = torch.device(device)
        self.threads = check.positive_int("threads", threads)
        if self.torch_device.type == "cuda":
            self.device = f"cuda ({torch.cuda.get_device_name(self.torch_device)})"
        else:
            self.device = f"cpu ({self.threads} threads)"

    @contextmanager
    def _session(self) -> Iterator[None]:
        """Run with this trainer's CPU threads, then restore torch's."""
        before = torch.get_num_threads()
        if self.torch_device.type == "cpu":
            torch.set_num_threads(self.threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    def _tensor(self, array) -> torch.Tensor:
        return torch.from_numpy(array).to(self.torch_device)

    def range_test(self, data: Dataset, sweep: Sweep, *, batch_size: int,
                   seed: int) -> RangeTestResult:
        """The range test ``sweep`` on a fresh model with plain SGD over batches of the shuffled
        training rows."""
        with self._session():
            x, y = self._tensor(data.x_train), self._tensor(data.y_train)
            model = build_model(x.shape[1], seed).to(self.torch_device)
            optimizer = torch.optim.SGD(model.parameters(), lr=sweep.start_lr)
            order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
            batches = [(x[idx], y[idx]) for idx in order.to(self.torch_device).split(batch_size)]
            return range_test(model, optimizer, _loss, batches, sweep=sweep)

    @torch.no_grad()
    def _accuracy(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
        return _correct(model(x), y).item() / len(y)

    def train(self, data: Dataset, policy: Policy, *, epochs: int, batch_size: int, seed: int,
              on_epoch: Callable[[EpochLog], None] | None = None) -> TrainResult:
        """Train a fresh model with SGD whose LR for update ``k`` is ``policy(k)``; validation
        accuracy after each epoch, test accuracy at the end."""
        with self._session():
            dev = self.torch_device
            x, y = self._tensor(data.x_train), self._tensor(data.y_train)
            model = build_model(x.shape[1], seed).to(dev)
            optimizer = torch.optim.SGD(model.parameters(), lr=policy(0))
            scheduler = Scheduler(optimizer, policy)
            shuffle = torch.Generator().manual_seed(seed)
            x_val, y_val = self._tensor(data.x_val), self._tensor(data.y_val)
            n = x.shape[0]
            history: list[EpochLog] = []
            start = time.perf_counter()
            for epoch in range(1, epochs + 1):
                model.train()
                order = torch.randperm(n, generator=shuffle).to(dev)
                loss_sum = torch.zeros((), device=dev)
                correct = torch.zeros((), device=dev)
                for i in range(0, n, batch_size):
                    idx = order[i:i + batch_size]
                    xb, yb = x[idx], y[idx]
                    logits = model(xb)
                    loss = _loss(logits, yb)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    lr = optimizer.param_groups[0]["lr"]  # the LR this update uses
                    optimizer.step()
                    scheduler.step()
                    loss_sum += loss.detach() * len(idx)
                    correct += _correct(logits.detach(), yb)
                model.eval()
                log = EpochLog(epoch=epoch, lr=float(lr), train_loss=loss_sum.item() / n,
                               train_accuracy=correct.item() / n,
                               val_accuracy=self._accuracy(model, x_val, y_val),
                               elapsed_s=time.perf_counter() - start)
                history.append(log)
                if on_epoch is not None:
                    on_epoch(log)
            wall = time.perf_counter() - start
            test = self._accuracy(model, self._tensor(data.x_test), self._tensor(data.y_test))
            return TrainResult(history=history, test_accuracy=test, device=self.device,
                               wall_s=wall)
