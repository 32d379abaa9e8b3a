"""The LR range test for PyTorch: one training step per LR, everything else in
:class:`cyclr.rangetest.Sweep`; the model and optimizer are restored bit for bit afterwards.

Under ``torch.distributed`` (a model wrapped in ``DistributedDataParallel``, or any initialised
process group) every rank runs the test on its own shard and :class:`_Ranks` makes the ranks
agree: one all-reduce per update carries the rank's loss and an error flag, so every rank sees
the mean loss, stops at the same update and returns the same curve, and a rank that raises makes
every rank raise instead of leaving the others waiting in a collective.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

import torch
import torch.distributed as dist

from cyclr import validate as check
from cyclr.rangetest import METHODS, RangeTestResult, Sweep, cycled
from cyclr_torch.scheduler import _uncounted

__all__ = ["range_test"]


def range_test(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               loss_fn: Callable[[Any, Any], torch.Tensor], batches: Iterable,
               sweep: Sweep | None = None, *,
               process_group: Any | Literal[False] | None = None) -> RangeTestResult:
    """Smith's LR range test: ``sweep.num_steps`` updates of ``optimizer`` on ``model`` while
    the LR rises from ``sweep.start_lr`` to ``sweep.end_lr``, every param group at the same LR.

    Args:
        model: the model to test, or its ``DistributedDataParallel`` wrapper; its state is
            restored afterwards.
        optimizer: the optimizer over ``model``'s parameters (its LR is overridden per step).
        loss_fn: ``loss_fn(model(x), y)`` -> a scalar loss tensor.
        batches: ``(x, y)`` pairs, cycled (see below); with several ranks, this rank's shard.
        sweep: the sweep, its smoothing, stopping rule and suggestion method
            (:class:`cyclr.rangetest.Sweep`; default ``Sweep()``: 100 updates from 1e-7 to 10).
        process_group: the ranks that run the test together (see below). ``None`` (default):
            the process group of a ``DistributedDataParallel`` ``model``, else the default group
            if ``torch.distributed`` is initialised, else this process alone. A
            ``torch.distributed.ProcessGroup``: that group. ``False``: this process alone, even
            in an initialised job (a plain model tested on one rank only).

    Returns:
        A :class:`cyclr.rangetest.RangeTestResult`: LRs, raw and smoothed losses, suggestion;
        with several ranks, the same on every rank.

    Raises:
        TypeError: ``model``, ``optimizer``, ``loss_fn``, ``batches``, ``sweep`` or
            ``process_group`` of the wrong type. ValueError: ``batches`` is empty, ``sweep``
            differs between the ranks, or a ``process_group`` is given while
            ``torch.distributed`` is not initialised. RuntimeError: another rank raised (this
            rank raises too, naming it).

    ``batches`` is an iterable of ``(x, y)`` pairs, cycled: a collection (a list, a
    ``DataLoader``) is iterated again when it runs out, a one-shot iterator is replayed. Tensors
    anywhere in ``x`` and ``y`` (nested tuples, lists, dicts, named tuples, dataclasses:
    ``((x1, x2), y)``, ``({"ids": ids, "mask": mask}, y)``) are moved to the model's device, and
    ``x`` is passed to ``model`` as it is, one argument (a model taking several inputs unpacks
    the tuple or dict in its ``forward``, or is wrapped in a module that does). Each step
    computes ``loss_fn(model(x), y)``, records it and applies one ``optimizer.step()``; the
    model is in training mode meanwhile.

    Afterwards, also when the test diverges or ``loss_fn`` raises, everything is as it was, bit
    for bit: parameters and their gradients, buffers and every submodule's train/eval mode (of
    ``model``, and of ``loss_fn`` if it is a module), any other parameter the optimizer updates,
    the optimizer state (momentum buffers, Adam moments, step counts), every param group's
    hyperparameters (``lr`` included), and the global torch random state (so a test before
    training does not change the training run). Closure-based optimizers (LBFGS) are not
    supported.

    Several ranks (``DistributedDataParallel`` under ``torchrun``, Lightning, ...): call
    ``range_test`` on every rank of the group with the same ``sweep``, each rank feeding its own
    shard. Before training, one all-reduce checks that every rank has valid arguments and the
    same sweep. Each update then computes the rank's loss, fetches the next update's batch,
    all-reduces ``[loss, one error flag per rank]`` (float64; on the CPU for gloo, on the
    model's device for NCCL), and only then runs ``backward`` (where DDP averages the
    gradients) and ``optimizer.step()``. The loss
    recorded is the mean of the ranks' losses (with equal shards and a mean-reduced loss, the
    loss of the global batch), so smoothing, stopping and the suggestion are the same on every
    rank; a NaN on one rank makes the mean NaN and stops every rank at that update. An
    exception in a rank's forward pass, ``loss_fn`` or the loading of its next batch is
    re-raised on that rank and becomes a ``RuntimeError`` naming it on the others, at the same
    update (before DDP's next forward pass, which broadcasts buffers); an exception in
    ``backward`` or ``optimizer.step()`` outside DDP's gradient all-reduce is reported the same
    way at the next exchange (the next update's, or one after the last update). What cannot be
    reported: an exception inside DDP's gradient all-reduce in ``backward`` leaves the other
    ranks waiting there until the process group's timeout, as in any DDP training. Each rank
    restores its own state. The LRs swept are LRs for the global batch (the sum of the ranks'
    batches): scale them yourself if you train with another global batch size.
    """
    ranks = _Ranks.of(model, process_group)
    try:
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
        device = _device(model)
        ahead = [] if ranks is None else [_to(first, device)]  # see distributed_step
    except Exception as error:
        if ranks is not None:  # tell the other ranks, which are waiting in agree_on
            ranks.agree_on(None, error)
        raise
    if ranks is None:
        stream = itertools.chain([first], stream)
    else:
        ranks.agree_on(sweep, None)

    def train_step(lr: float) -> float:
        x, y = _to(next(stream), device)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    pending: list[Exception] = []  # this rank's exception in backward / step, not yet told
    updates = itertools.count()

    def distributed_step(lr: float) -> float:
        # The next update's batch is fetched before this update's exchange: a rank whose data
        # loading fails says so here, instead of skipping the collectives that DDP's forward
        # pass makes (the buffer broadcast) while the other ranks wait in them.
        k = next(updates)
        error, value, where = (pending or [None])[0], math.nan, f"at update {k}"
        try:
            x, y = ahead.pop()
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            value = float(loss.detach())
            if k + 1 < sweep.num_steps:
                ahead.append(_to(next(stream), device))
        except Exception as raised:
            error = error or raised
        (total,) = ranks.exchange([value], error, where)  # raises on every rank if one failed
        try:
            loss.backward()
            optimizer.step()
        except Exception as raised:  # told to the other ranks at the next exchange
            pending.append(raised)
        return total / ranks.size

    modules = [m for m in (model, loss_fn) if isinstance(m, torch.nn.Module)]
    saved = _snapshot(modules, optimizer)
    devices = sorted({p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"})
    try:
        with torch.random.fork_rng(devices=devices), _uncounted(optimizer):
            model.train()
            if ranks is None:
                return sweep.run(train_step)
            result = sweep.run(distributed_step)
            ranks.exchange([], (pending or [None])[0], "after the last update")
            return result
    finally:
        _restore(modules, optimizer, saved)


def _device(model: torch.nn.Module) -> torch.device:
    return next(itertools.chain(model.parameters(), model.buffers()), torch.empty(0)).device


class _Ranks:
    """The ranks of one distributed range test, and the exchange they make once per update.

    :meth:`exchange` all-reduces a float64 tensor ``[values..., flags...]`` with one flag per
    rank, set by a rank that raised; every rank gets the same result and, if any flag is set,
    every rank raises: the rank that failed its own exception, the others a ``RuntimeError``
    naming it.
    """

    def __init__(self, group: Any, device: torch.device) -> None:
        self.group, self.device = group, device
        self.size = dist.get_world_size(group)
        self.rank = dist.get_rank(group)
        self.global_ranks = dist.get_process_group_ranks(group)

    @classmethod
    def of(cls, model: Any, process_group: Any) -> _Ranks | None:
        """The ranks ``process_group`` names (see :func:`range_test`), or ``None`` for this
        process alone (also for a group of one)."""
        if process_group is False:
            return None
        if not dist.is_available():
            if process_group is None:
                return None
            check.fail("process_group", "None or False (this PyTorch has no torch.distributed)",
                       process_group, TypeError)
        if process_group is not None and not isinstance(process_group, dist.ProcessGroup):
            check.fail("process_group", "a torch.distributed.ProcessGroup, None or False",
                       process_group, TypeError)
        if not dist.is_initialized():
            if process_group is None:
                return None
            check.fail("process_group", "None or False while torch.distributed is not "
                       "initialised (call torch.distributed.init_process_group first)",
                       process_group)
        group = process_group
        if group is None:
            ddp = isinstance(model, torch.nn.parallel.DistributedDataParallel)
            group = model.process_group if ddp else dist.group.WORLD
        if dist.get_world_size(group) == 1:
            return None
        # gloo (and any backend that lists "cpu") reduces CPU tensors, NCCL device tensors only
        if "cpu" in dist.get_backend_config(group):
            device = torch.device("cpu")
        elif isinstance(model, torch.nn.Module) and next(model.parameters(), None) is not None:
            device = _device(model)
        else:
            device = torch.device("cuda", torch.cuda.current_device())
        return cls(group, device)

    def exchange(self, values: Sequence[float], error: Exception | None, where: str,
                 op: str = "sum") -> list[float]:
        """All-reduce ``values`` (by ``op``, ``"sum"`` or ``"max"``) with this rank's error
        flag; raise on every rank if any rank set it."""
        flags = [0.0] * self.size
        flags[self.rank] = 0.0 if error is None else 1.0
        tensor = torch.tensor([*values, *flags], dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM,
                        group=self.group)
        out = tensor.tolist()
        failed = [self.global_ranks[i] for i, f in enumerate(out[len(values):]) if f > 0]
        if failed:
            if error is not None:
                raise error
            many = len(failed) > 1
            raise RuntimeError(
                f"The range test stopped {where}: rank{'s' * many} "
                f"{', '.join(map(str, failed))} raised an exception (see "
                f"{'their' if many else 'its'} traceback). Every rank raises so that none waits "
                "for the others; this rank's model and optimizer are as they were before the "
                "test.")
        return out[: len(values)]

    def agree_on(self, sweep: Sweep | None, error: Exception | None) -> None:
        """Before training: every rank's arguments were valid (``error`` is this rank's, with
        ``sweep`` then ``None``) and every rank has the same ``sweep``: one all-reduce by MAX of
        its numbers and their negations gives their largest and smallest values over the ranks
        at once."""
        key = [0.0] * 7 if sweep is None else [
            sweep.start_lr, sweep.end_lr, float(sweep.num_steps), float(sweep.mode == "exp"),
            sweep.smooth, sweep.diverge, float(METHODS.index(sweep.method))]
        top = self.exchange([*key, *(-v for v in key)], error, "before training", op="max")
        largest, smallest = top[: len(key)], [-v for v in top[len(key):]]
        if largest != smallest:
            check.fail("sweep", "the same on every rank (every rank must run the same updates)",
                       sweep)


def _cycled(batches: Iterable) -> Iterator:
    """``batches`` forever; ``ValueError`` naming the argument if it yields nothing."""
    if isinstance(batches, (str, bytes)) or not isinstance(batches, Iterable):
        check.fail("batches", "an iterable of (x, y) batches", batches, TypeError)
    yield from cycled(batches)
    check.fail("batches", "a non-empty iterable of (x, y) batches", batches)


def _to(batch: Any, device: torch.device) -> tuple[Any, Any]:
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        check.fail("batches", "an iterable of (x, y) pairs", batch, TypeError)
    return _moved(batch[0], device), _moved(batch[1], device)


def _moved(value: Any, device: torch.device) -> Any:
    """``value`` with every tensor in it on ``device``, through tuples, lists, named tuples,
    dicts (and other mappings) and dataclasses, nested to any depth; other leaves as they are."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: _moved(getattr(value, f.name), device)
                                             for f in dataclasses.fields(value) if f.init})
    if isinstance(value, Mapping):
        items = {k: _moved(v, device) for k, v in value.items()}
        try:
            return items if type(value) is dict else type(value)(items)
        except TypeError:  # a mapping that cannot be rebuilt from a dict (defaultdict, ...)
            return items
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a named tuple
        return type(value)(*(_moved(v, device) for v in value))
    if isinstance(value, (tuple, list)):
        return type(value)(_moved(v, device) for v in value)
    return value


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
