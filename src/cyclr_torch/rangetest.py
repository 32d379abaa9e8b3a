"""The LR range test for PyTorch: one training step per LR, everything else in
:class:`cyclr.rangetest.Sweep`; the model and optimizer are restored bit for bit afterwards."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch

from cyclr import validate as check
from cyclr.rangetest import RangeTestResult, Sweep

__all__ = ["range_test"]


def range_test(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               loss_fn: Callable[[Any, Any], torch.Tensor], batches: Iterable,
               sweep: Sweep | None = None) -> RangeTestResult:
    """Smith's LR range test: ``sweep.num_steps`` updates of ``optimizer`` on ``model`` while
    the LR rises from ``sweep.start_lr`` to ``sweep.end_lr``, every param group at the same LR.

    Args:
        model: the model to test; its state is restored afterwards.
        optimizer: the optimizer over ``model``'s parameters (its LR is overridden per step).
        loss_fn: ``loss_fn(model(x), y)`` -> a scalar loss tensor.
        batches: ``(x, y)`` pairs, cycled (see below).
        sweep: the sweep, its smoothing, stopping rule and suggestion method
            (:class:`cyclr.rangetest.Sweep`; default ``Sweep()``: 100 updates from 1e-7 to 10).

    Returns:
        A :class:`cyclr.rangetest.RangeTestResult`: LRs, raw and smoothed losses, suggestion.

    Raises:
        TypeError: ``model``, ``optimizer``, ``loss_fn``, ``batches`` or ``sweep`` of the wrong
            type. ValueError: ``batches`` is empty.

    ``batches`` is an iterable of ``(x, y)`` pairs, cycled: a collection (a list, a
    ``DataLoader``) is iterated again when it runs out, a one-shot iterator is replayed. Tensors
    are moved to the model's device. Each step computes ``loss_fn(model(x), y)``, records it and
    applies one ``optimizer.step()``; the model is in training mode meanwhile.

    Afterwards, also when the test diverges or ``loss_fn`` raises, everything is as it was, bit
    for bit: parameters and their gradients, buffers and every submodule's train/eval mode (of
    ``model``, and of ``loss_fn`` if it is a module), any other parameter the optimizer updates,
    the optimizer state (momentum buffers, Adam moments, step counts), every param group's
    hyperparameters (``lr`` included), and the global torch random state (so a test before
    training does not change the training run). Closure-based optimizers (LBFGS) are not
    supported.
    """
    sweep = Sweep() if sweep is None else sweep
    if not isinstance(sweep, Sweep):
        check.fail("sweep", "a cyclr.rangetest.Sweep", sweep, TypeError)
    if not isinstance(model, torch.nn.Module):
        check.fail("model", "a torch.nn.Module", model, TypeError)
    if not isinstance(optimizer, torch.optim.Optimizer):
        check.fail("optimizer", "a torch.optim.Optimizer", optimizer, TypeError)
    if not callable(loss_fn):
        check.fail("loss_fn", "a callable loss_fn(output, target)", loss_fn, TypeError)
    stream = _cycled(batches)
    first = next(stream)  # raises for an empty source before anything is touched
    stream = itertools.chain([first], stream)
    device = next(itertools.chain(model.parameters(), model.buffers()),
                  torch.empty(0)).device

    def train_step(lr: float) -> float:
        x, y = _to(next(stream), device)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    modules = [m for m in (model, loss_fn) if isinstance(m, torch.nn.Module)]
    saved = _snapshot(modules, optimizer)
    devices = sorted({p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"})
    try:
        with torch.random.fork_rng(devices=devices):
            model.train()
            return sweep.run(train_step)
    finally:
        _restore(modules, optimizer, saved)


def _cycled(batches: Iterable) -> Iterator:
    """``batches`` forever; ``ValueError`` naming the argument if it yields nothing."""
    if isinstance(batches, (str, bytes)) or not isinstance(batches, Iterable):
        check.fail("batches", "an iterable of (x, y) batches", batches, TypeError)
    source = itertools.cycle(batches) if isinstance(batches, Iterator) else None
    while True:
        empty = True
        for batch in (source if source is not None else batches):
            empty = False
            yield batch
        if empty:
            check.fail("batches", "a non-empty iterable of (x, y) batches", batches)


def _to(batch: Any, device: torch.device) -> tuple[Any, Any]:
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        check.fail("batches", "an iterable of (x, y) pairs", batch, TypeError)
    return tuple(v.to(device) if isinstance(v, torch.Tensor) else v for v in batch)


def _snapshot(modules: list[torch.nn.Module], optimizer: torch.optim.Optimizer
              ) -> dict[str, Any]:
    owned = {id(p) for m in modules for p in m.parameters()}
    others = [p for g in optimizer.param_groups for p in g["params"] if id(p) not in owned]
    return {
        "modules": [{
            "params": {k: (v.detach().clone(), _clone(v.grad)) for k, v in m.named_parameters()},
            "buffers": {k: v.clone() for k, v in m.named_buffers()},
            "modes": [sub.training for sub in m.modules()],
        } for m in modules],
        "others": [(p, p.detach().clone(), _clone(p.grad)) for p in others],
        "state": {p: copy.deepcopy(s) for p, s in optimizer.state.items()},
        "groups": [copy.deepcopy({k: v for k, v in g.items() if k != "params"})
                   for g in optimizer.param_groups],
    }


def _clone(tensor: torch.Tensor | None) -> torch.Tensor | None:
    return None if tensor is None else tensor.detach().clone()


def _restore(modules: list[torch.nn.Module], optimizer: torch.optim.Optimizer,
             saved: dict[str, Any]) -> None:
    """Put back what :func:`_snapshot` saved, in place: references to the parameters, buffers
    and optimizer stay valid."""
    with torch.no_grad():
        for module, kept in zip(modules, saved["modules"]):
            for name, (value, grad) in kept["params"].items():
                param = module.get_parameter(name)
                param.copy_(value)
                param.grad = grad
            for name, value in kept["buffers"].items():
                module.get_buffer(name).copy_(value)
            for sub, training in zip(module.modules(), kept["modes"]):
                sub.training = training
        for param, value, grad in saved["others"]:
            param.copy_(value)
            param.grad = grad
    optimizer.state.clear()
    optimizer.state.update(saved["state"])
    for group, hyper in zip(optimizer.param_groups, saved["groups"]):
        for key in [k for k in group if k != "params" and k not in hyper]:
            del group[key]
        group.update(hyper)
