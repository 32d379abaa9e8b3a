"""The PyTorch side of ``cyclr compare``: the article's MLP trained with plain SGD under a policy.

The model is the one :mod:`cyclr_tf.trainer` builds in Keras: Linear 64-32-1 with ReLU, Glorot
(Xavier) uniform weights and zero biases, outputs logits (the loss is
``binary_cross_entropy_with_logits``, the numerically stable form of Keras's sigmoid + binary
cross-entropy). Batches are slices of one shuffled index tensor over data held on the device:
no per-sample ``DataLoader``. The LR comes from :class:`cyclr_torch.scheduler.Scheduler`, stepped
once per update.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager

import torch
from torch import nn
from torch.nn import functional as F

from cyclr import validate as check
from cyclr.policy import Policy
from cyclr.report import DEVICES, EpochLog, TrainResult
from cyclr_torch.scheduler import Scheduler

__all__ = ["build_model", "resolve_device", "train", "range_test"]


def build_model(n_features: int, seed: int) -> nn.Module:
    """Linear ``n_features``-64-32-1 with ReLU, logits out; Glorot-uniform weights, zero biases
    (Keras's ``Dense`` defaults), drawn from a generator seeded with ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Linear(n_features, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(),
                          nn.Linear(32, 1))
    for layer in model:
        if isinstance(layer, nn.Linear):
            nn.init.xavier_uniform_(layer.weight, generator=generator)
            nn.init.zeros_(layer.bias)
    return model


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"``: CUDA when torch sees a GPU, else CPU. Asking for ``"cuda"`` without one is an
    error, not a silent fallback."""
    check.choice("device", device, DEVICES)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        check.fail("device", "'auto' or 'cpu' here: torch sees no CUDA device", device)
    return torch.device(device)


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


@contextmanager
def _threads(n: int | None):
    """Run with ``n`` intra-op CPU threads (a tiny MLP is fastest on one), then restore."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _tensors(data, device: torch.device):
    def t(a):
        return torch.from_numpy(a).to(device)

    return (t(data.x_train), t(data.y_train), t(data.x_val), t(data.y_val), t(data.x_test),
            t(data.y_test))


def range_test(data, sweep, *, batch_size: int, seed: int, device: str = "auto",
               threads: int | None = 1):
    """The LR range test ``sweep`` (a :class:`cyclr.rangetest.Sweep`) on a fresh
    :func:`build_model` with plain SGD, over batches of the shuffled training set; returns the
    :class:`cyclr.rangetest.RangeTestResult`."""
    from dataclasses import asdict

    from cyclr_torch import rangetest

    dev = resolve_device(device)
    with _threads(threads if dev.type == "cpu" else None):
        x, y = torch.from_numpy(data.x_train).to(dev), torch.from_numpy(data.y_train).to(dev)
        model = build_model(x.shape[1], seed).to(dev)
        optimizer = torch.optim.SGD(model.parameters(), lr=sweep.start_lr)
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed)).to(dev)
        batches = [(x[idx], y[idx]) for idx in order.split(batch_size)]
        return rangetest.range_test(model, optimizer, _loss, batches, **asdict(sweep))


def _loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits.squeeze(1), target)


@torch.no_grad()
def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return ((model(x).squeeze(1) > 0) == (y > 0.5)).float().mean().item()


def train(data, policy: Policy, *, epochs: int, batch_size: int, seed: int,
          device: str = "auto", threads: int | None = 1,
          on_epoch: Callable[[EpochLog], None] | None = None) -> TrainResult:
    """Train :func:`build_model` on ``data`` (a :class:`cyclr.data.Dataset`) with SGD whose LR
    for update ``k`` is ``policy(k)``; evaluate validation accuracy after each epoch and test
    accuracy at the end.

    Train loss / accuracy are averages over the epoch's batches as they were trained (what
    Keras's ``fit`` logs). ``on_epoch`` is called with each epoch's :class:`EpochLog`.
    """
    dev = resolve_device(device)
    with _threads(threads if dev.type == "cpu" else None):
        x, y, x_val, y_val, x_test, y_test = _tensors(data, dev)
        model = build_model(x.shape[1], seed).to(dev)
        optimizer = torch.optim.SGD(model.parameters(), lr=policy(0))
        scheduler = Scheduler(optimizer, policy)
        shuffle = torch.Generator().manual_seed(seed)
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
                logits = model(xb).squeeze(1)
                loss = F.binary_cross_entropy_with_logits(logits, yb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                lr = optimizer.param_groups[0]["lr"]
                optimizer.step()
                scheduler.step()
                loss_sum += loss.detach() * len(idx)
                correct += ((logits.detach() > 0) == (yb > 0.5)).sum()
            model.eval()
            log = EpochLog(epoch=epoch, lr=float(lr), train_loss=loss_sum.item() / n,
                           train_accuracy=correct.item() / n,
                           val_accuracy=_accuracy(model, x_val, y_val),
                           elapsed_s=time.perf_counter() - start)
            history.append(log)
            if on_epoch is not None:
                on_epoch(log)
        wall = time.perf_counter() - start
        return TrainResult(history=history, test_accuracy=_accuracy(model, x_test, y_test),
                           device=describe_device(dev), wall_s=wall)
