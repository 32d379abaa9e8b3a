"""A cyclr policy as a native ``torch.optim.lr_scheduler.LRScheduler``.

The LR for optimizer update ``k`` is ``policy(k)``, in closed form: after construction the
optimizer holds ``policy(0)`` and ``last_epoch == 0``; each ``step()`` (called after
``optimizer.step()``) moves to the next update. Nothing is computed recursively from the previous
LR, so a scheduler is fully described by ``last_epoch`` and its policies: that is what
``state_dict()`` holds (ints, strings and JSON policy configs; ``torch.load(weights_only=True)``
reads it), and what ``load_state_dict()`` writes back into the optimizer at once.

>>> import torch
>>> from cyclr import policy
>>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0, momentum=0.9)
>>> sched = Scheduler(opt, policy.Triangular(base_lr=0.1, max_lr=0.5, step_size=2),
...                   momentum=policy.Triangular(base_lr=0.95, max_lr=0.85, step_size=2))
>>> [round(g, 4) for g in (opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"])]
[0.1, 0.95]
>>> sched.step(); sched.get_last_lr()
[0.30000000000000004]
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import warnings
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from cyclr import validate as check
from cyclr.policy import Policy, from_config

__all__ = ["Scheduler", "lightning_config"]

_STATE_KEYS = ("last_epoch", "policy", "momentum", "added")
_ADDED_KEYS = ("group", "lr", "step")

#: ``torch.compile`` must not trace the scheduler, as it does not trace torch's own (dynamo skips
#: torch/optim/lr_scheduler.py by file name): a traced ``step()`` guards on ``last_epoch`` and
#: recompiles the whole training step at every update. ``torch._disable_dynamo`` is
#: ``torch.compiler.disable`` that imports ``torch._dynamo`` at the first call rather than at
#: import time (torch uses it on ``Optimizer.zero_grad``, ``add_param_group``, ...).
_eager = getattr(torch, "_disable_dynamo", None) or torch.compiler.disable


_TORCH = os.path.dirname(torch.__file__)


def _warn(message: str) -> None:
    """A ``UserWarning`` pointing at the caller's line: past this file and torch's frames (the
    wrappers of torch.compile's disable, whose number depends on the torch version, or a
    ``ChainedScheduler`` calling ``step()``)."""
    frame, level = sys._getframe(1), 2  # stacklevel 2 is the caller of _warn
    while frame is not None and (frame.f_code.co_filename == __file__
                                 or frame.f_code.co_filename.startswith(_TORCH)):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, UserWarning, stacklevel=level)


class _Updates:
    """Counts an optimizer's updates (a step post-hook, one per optimizer, shared by its
    schedulers), so that ``step()`` can tell how many updates ran since its last call."""

    __slots__ = ("count", "__weakref__")

    def __init__(self) -> None:
        self.count = 0

    @_eager  # an int bumped inside a compiled optimizer step would be guarded on, too
    def __call__(self, optimizer: Optimizer, args: Any, kwargs: Any) -> None:
        self.count += 1


_UPDATES: weakref.WeakKeyDictionary[Optimizer, _Updates] = weakref.WeakKeyDictionary()


def _updates(optimizer: Optimizer) -> _Updates:
    counter = _UPDATES.get(optimizer)
    if counter is None:
        counter = _UPDATES[optimizer] = _Updates()
        optimizer.register_step_post_hook(counter)
    return counter


@contextlib.contextmanager
def _uncounted(optimizer: Optimizer) -> Iterator[None]:
    """Updates made inside (a range test's) are not counted as training updates."""
    counter = _UPDATES.get(optimizer)
    before = None if counter is None else counter.count
    try:
        yield
    finally:
        if counter is not None:
            counter.count = before


def _policies(name: str, value: Any, n_groups: int) -> tuple[Policy, ...]:
    """One policy for every param group, or one per group (length checked)."""
    if isinstance(value, Policy):
        return (value,)
    if isinstance(value, (str, bytes, dict)) or not isinstance(value, Sequence):
        check.fail(name, "a cyclr policy or a sequence of them (one per param group)", value,
                   TypeError)
    if not all(isinstance(p, Policy) for p in value):
        check.fail(name, "a cyclr policy or a sequence of them (one per param group)", value,
                   TypeError)
    if len(value) != n_groups:
        check.fail(name, f"a policy, or a sequence with one policy per param group "
                   f"({n_groups})", value)
    return tuple(value)


def _momentum_keys(groups: list[dict], optimizer: Optimizer, momentum: Any) -> tuple[str, ...]:
    """Where each group keeps its momentum: ``betas`` (its first entry) or ``momentum``."""
    keys = []
    for group in groups:
        if "betas" in group:
            keys.append("betas")
        elif "momentum" in group:
            keys.append("momentum")
        else:
            check.fail("momentum", f"None for {type(optimizer).__name__}, which has neither "
                       "'momentum' nor 'betas' in its param groups", momentum)
    return tuple(keys)


def _momentum_key(group: dict) -> str | None:
    return "betas" if "betas" in group else "momentum" if "momentum" in group else None


def _evaluate(policies: tuple[Policy, ...], k: int, n_groups: int) -> list[float]:
    """Each group's value at update ``k`` (one evaluation when all groups share a policy)."""
    if len(policies) == 1:
        return [policies[0](k)] * n_groups
    return [p(k) for p in policies]


def _number(value: Any) -> float:
    return float(value.item() if isinstance(value, Tensor) else value)


def _changed(now: Any, written: float | None) -> bool:
    """Whether a hyperparameter differs from what was written (unknown: not changed)."""
    now = _readable(now)
    return now is not None and written is not None and now != written


def _readable(value: Any) -> float | None:
    """A hyperparameter's value as a float where reading it is cheap: not for a tensor on an
    accelerator (``.item()`` would wait for the device at every update)."""
    if isinstance(value, Tensor):
        return value.item() if value.device.type == "cpu" else None
    return value


def _added(entries: Any) -> list[tuple[float, int]]:
    """A state dict's ``added`` entries as ``(lr, step)``, checked: dicts with consecutive
    group numbers from 1 or more."""
    requirement = ("a list of {'group': int, 'lr': float, 'step': int} dicts with consecutive "
                   "group numbers (the param groups added after the scheduler was built)")
    if not isinstance(entries, (list, tuple)):
        check.fail("added", requirement, entries, TypeError)
    out = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or set(entry) != set(_ADDED_KEYS):
            check.fail("added", requirement, entries,
                       ValueError if isinstance(entry, dict) else TypeError)
        group = check.integer("added", entry["group"], 1, requirement)
        if i and group != out[0][0] + i:
            check.fail("added", requirement, entries)
        out.append((group, check.non_negative("added", entry["lr"]),
                    check.integer("added", entry["step"], 0, "entries whose step is a "
                                  "non-negative integer")))
    return [(lr, step) for _, lr, step in out]


class Scheduler(LRScheduler):
    """Set each param group's LR (and optionally momentum) to ``policy(k)`` at update ``k``.

    After construction ``last_epoch == 0`` and the optimizer holds ``policy(0)``; each
    ``step()``, called after ``optimizer.step()``, moves to the next update:

        param_group["lr"] = policy(last_epoch)     # after every step()

    Args:
        optimizer: the wrapped ``torch.optim.Optimizer``.
        policy: a :class:`cyclr.policy.Policy` for every param group, or a sequence with one
            policy per group. Its step is the optimizer update (not the epoch).
        momentum: ``None`` (default: momentum is never touched), or a policy (or one per group)
            for ``momentum`` (SGD, RMSprop) or ``betas[0]`` (Adam, AdamW, NAdam, ...);
            ``betas[1:]`` are left as they are. Momentum usually cycles against the LR
            (Smith 2018, arXiv:1803.09820): ``policy.Triangular(base_lr=0.95, max_lr=0.85, ...)``
            or :func:`cyclr.policy.one_cycle_momentum`.
        last_epoch: as in torch: ``-1`` for a fresh start, else the index of the last update
            already done (``0 <= last_epoch < 2**63 - 1``), so the scheduler starts at update
            ``last_epoch + 1``. Resuming from a checkpoint is better done with
            :meth:`load_state_dict`.

    Returns:
        An ``LRScheduler``; ``state_dict()`` holds plain ints, strings and JSON policy configs,
        so ``torch.load(weights_only=True)`` reads a checkpoint holding it.

    Raises:
        TypeError: ``optimizer`` is not an optimizer; ``policy`` or ``momentum`` is not a policy
            or a sequence of them; ``last_epoch`` is not an integer.
        ValueError: the wrong number of policies for the param groups; ``momentum`` for an
            optimizer with neither ``momentum`` nor ``betas``; ``last_epoch`` below -1 or at
            ``2**63 - 1`` or above. Nothing is changed in the optimizer when it raises.

    Param groups added later (``optimizer.add_param_group()``, as gradual unfreezing and
    Lightning's ``BackboneFinetuning`` do mid-training) follow the shape of the first group's
    policy, scaled to the LR they were added with: a group found at ``step()`` with LR ``a``
    while ``last_epoch == j`` gets ``a * policy(k) / policy(j)`` at update ``k`` (held at ``a``
    if ``policy(j)`` is 0). Their momentum (when cycled) follows the first group's momentum
    policy unscaled, since a scaled momentum could reach 1. The rule and what it was measured
    from are part of ``state_dict()``, so a resumed run continues exactly.

    Stepping past the end of a finite policy holds its final value; it never raises. Unlike
    torch's schedulers, construction needs no ``'initial_lr'`` in the param groups and adds none,
    ``get_lr()`` is pure, and ``step()`` never warns about the call order (that warning misfires
    when a ``GradScaler`` skips an update). ``step()`` warns once, instead, when it can see
    that the schedule is not what runs: when it is called after several optimizer updates
    (stepped per epoch: in Lightning use :func:`lightning_config`), and when something else
    changed an LR or momentum it set (``ReduceLROnPlateau``, ``ChainedScheduler`` with another
    scheduler, a callback): that change held for one update only. ``torch.compile`` does not
    trace the scheduler's methods (as torch's own schedulers), so compiling a training step that
    calls ``step()`` does not recompile at each update.
    """

    @_eager
    def __init__(self, optimizer: Optimizer, policy: Policy | Sequence[Policy],
                 momentum: Policy | Sequence[Policy] | None = None, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            check.fail("optimizer", "a torch.optim.Optimizer", optimizer, TypeError)
        # the scheduler starts at update last_epoch + 1, which must be a step (<= MAX_STEP)
        last_epoch = check.integer("last_epoch", last_epoch, -1, "-1 (a fresh start) or the "
                                   f"index of the last update done (an integer from 0 to "
                                   f"{check.MAX_STEP - 1})", maximum=check.MAX_STEP - 1)
        self.optimizer = optimizer
        self._configure(policy, momentum)  # validates everything before the optimizer is touched
        self._warned: set[str] = set()
        self._updates = _updates(optimizer)
        self._seen = self._updates.count
        self.last_epoch = last_epoch
        self._write(last_epoch + 1)

    def _configure(self, policy: Any, momentum: Any, added: Any = None) -> None:
        """Validate, then precompute what each update needs; changes nothing on error.
        ``added``: a state dict's entries for param groups added after construction."""
        groups = self.optimizer.param_groups
        rules = [] if added is None else _added(added)
        n_groups = added[0]["group"] if rules else len(groups)  # the groups built with
        if n_groups > len(groups):
            check.fail("state_dict", f"a state for at least the {n_groups} param groups the "
                       "scheduler was built with", f"a state for {n_groups} param groups and "
                       f"an optimizer with {len(groups)}")
        policies = _policies("policy", policy, n_groups)
        momenta = None if momentum is None else _policies("momentum", momentum, n_groups)
        keys = None if momentum is None else _momentum_keys(groups[:n_groups], self.optimizer,
                                                            momentum)
        self.policy = policy if isinstance(policy, Policy) else policies
        self.momentum = momentum if momentum is None or isinstance(momentum, Policy) else momenta
        self._n_groups = n_groups
        self._lr_policies = policies
        self._momentum_policies = momenta
        # where each group keeps its momentum; groups added later are looked up when written
        self._mkeys: list[str | None] = [] if keys is None else list(keys)
        self._added: list[tuple[float, int, float | None]] = []
        for lr, step in rules:
            self._add_rule(lr, step)
        self._written_lr: list[float | None] = []
        self._written_momentum: list[float | None] = []

    def _add_rule(self, lr: float, step: int) -> None:
        """A group added with LR ``lr`` at update ``step`` follows ``lr * ref(k) / ref(step)``
        (``ref``: the first group's policy), or keeps ``lr`` where that ratio is no number."""
        ref = self._lr_policies[0](step)
        scale = lr / ref if ref > 0 else math.nan
        self._added.append((lr, step, scale if math.isfinite(scale) else None))

    def _adopt(self, groups: list[dict]) -> None:
        """Give the param groups added since the last update their rule."""
        for group in groups[self._n_groups + len(self._added):]:
            self._add_rule(_number(group["lr"]), self.last_epoch)

    def _values(self, k: int, groups: list[dict]) -> tuple[list[float], list[float] | None]:
        """Update ``k``'s LR and momentum for the known groups (all of them after _adopt)."""
        n = self._n_groups
        lrs = _evaluate(self._lr_policies, k, n)
        momenta = (None if self._momentum_policies is None
                   else _evaluate(self._momentum_policies, k, n))
        if not self._added:
            return lrs, momenta
        extra = min(len(groups) - n, len(self._added))
        if extra > 0:
            ref = lrs[0]
            lrs = lrs + [lr if scale is None else ref * scale
                         for lr, _, scale in self._added[:extra]]
            if momenta is not None:
                momenta = momenta + [momenta[0]] * extra
        return lrs, momenta

    def _write(self, k: int) -> None:
        """Put update ``k``'s LR (and momentum) into the param groups."""
        groups = self.optimizer.param_groups  # looked up each time: load_state_dict replaces them
        if len(groups) > self._n_groups + len(self._added):
            self._adopt(groups)
        lrs, momenta = self._values(k, groups)
        written = lrs
        for i, (group, lr) in enumerate(zip(groups, lrs)):
            old = group["lr"]
            if isinstance(old, Tensor):
                old.fill_(lr)
                if written is lrs:
                    written = list(lrs)
                written[i] = _readable(old)  # what a later check compares with
            else:
                group["lr"] = lr
        self._written_lr = written
        if momenta is not None:
            self._write_momentum(groups, momenta)
        self.last_epoch = k
        # as torch: tensor LRs are reported as copies, so callers cannot alias the optimizer's
        self._last_lr = (lrs[:len(groups)] if written is lrs else
                         [g["lr"].clone() if isinstance(g["lr"], Tensor) else g["lr"]
                          for g in groups])

    def _write_momentum(self, groups: list[dict], momenta: list[float]) -> None:
        keys = self._mkeys  # where each known group keeps its momentum (added ones: found here)
        if len(keys) < len(momenta):
            keys.extend(_momentum_key(g) for g in groups[len(keys):len(momenta)])
        written = momenta
        for i, (group, key, m) in enumerate(zip(groups, keys, momenta)):
            if key == "betas":
                old = group["betas"]
                if not isinstance(old[0], Tensor):
                    group["betas"] = (m, *old[1:])
                    continue
                old[0].fill_(m)
                value = _readable(old[0])
            elif key is not None:
                old = group[key]
                if not isinstance(old, Tensor):
                    group[key] = m
                    continue
                old.fill_(m)
                value = _readable(old)
            else:  # an added group without momentum
                value = None
            if written is momenta:
                written = list(momenta)
            written[i] = value  # what a later check compares with
        self._written_momentum = written

    def _check_outside(self) -> None:
        """Warn once if the schedule is not what runs: step() called after several updates, or
        an LR / momentum this scheduler set changed by something else since."""
        count = self._updates.count
        updates = count - self._seen
        self._seen = count
        if updates > 1 and "rate" not in self._warned:
            self._warned.add("rate")
            _warn(
                f"cyclr_torch.Scheduler.step() was called after {updates} optimizer updates "
                "since its previous call: the policy's step is the optimizer update, so it runs "
                f"{updates} times slower than planned. Call step() after every "
                "optimizer.step(); in Lightning, return "
                "{'optimizer': opt, 'lr_scheduler': cyclr_torch.lightning_config(sched)} from "
                "configure_optimizers (its default interval='epoch' steps once per epoch).")
        if "outside" in self._warned:
            return
        groups = self.optimizer.param_groups
        written = self._written_lr
        if [g["lr"] for g in groups[:len(written)]] != written:  # exact for floats: fast path
            for i, (group, value) in enumerate(zip(groups, written)):
                if _changed(group["lr"], value):
                    return self._warn_outside(i, "lr", group["lr"], value)
        written = self._written_momentum
        if not written:
            return
        now = [g[k][0] if k == "betas" else g[k] if k is not None else None
               for g, k in zip(groups, self._mkeys)]
        if now != written[:len(now)]:
            for i, (value, key, current) in enumerate(zip(written, self._mkeys, now)):
                if key is not None and _changed(current, value):
                    return self._warn_outside(i, "betas[0]" if key == "betas" else key,
                                              current, value)

    def _warn_outside(self, i: int, name: str, now: Any, value: float) -> None:
        self._warned.add("outside")
        _warn(f"param group {i}'s {name} is {_readable(now)!r}, not the {value!r} that "
              f"cyclr_torch.Scheduler set for update {self.last_epoch}: something else changed "
              "it (ReduceLROnPlateau, another scheduler in a ChainedScheduler, a callback, ...). "
              "The scheduler sets every update's value from its policy and overwrites that "
              "change now: it lasted one update at most. Compose policies instead (policy.Join, "
              "policy.warmup); see 'What composes' in docs/torch.md.")

    @_eager
    def step(self, epoch: int | None = None) -> None:
        """Move to the next update (call it after ``optimizer.step()``). ``epoch``, deprecated in
        torch, jumps to update ``epoch`` instead; the closed form makes that exact."""
        if epoch is None:
            self._check_outside()
            self._write(self.last_epoch + 1)
        else:
            k = check.integer("epoch", epoch, 0, "a non-negative integer")
            self._seen = self._updates.count  # a jump: what ran before it does not count
            self._write(k)

    def _update_lr(self, epoch: int | None = None) -> None:
        """What torch's ``SequentialLR`` calls at its milestones (``_update_lr(0)``): the same
        as :meth:`step`, so a cyclr scheduler after a milestone starts at its update 0."""
        self.step(epoch)

    @_eager
    def get_lr(self) -> list[float]:
        """The LR of each param group at update ``last_epoch``: pure, no side effects (a group
        added since the last ``step()`` reports its own LR, which its rule starts from)."""
        groups = self.optimizer.param_groups
        lrs, _ = self._values(self.last_epoch, groups)
        return lrs[:len(groups)] + [_number(g["lr"]) for g in groups[len(lrs):]]

    @_eager
    def state_dict(self) -> dict[str, Any]:
        """``{"last_epoch": int, "policy": config(s), "momentum": config(s) or None, "added":
        [{"group": int, "lr": float, "step": int}, ...]}``: JSON values only, so
        ``torch.load(..., weights_only=True)`` and ``json`` both read it. ``added`` lists the
        param groups added after construction with the LR and update their rule is measured
        from."""
        n = self._n_groups
        return {"last_epoch": self.last_epoch, "policy": _configs(self.policy),
                "momentum": _configs(self.momentum),
                "added": [{"group": n + i, "lr": lr, "step": step}
                          for i, (lr, step, _) in enumerate(self._added)]}

    @_eager
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore ``last_epoch``, the policies and the rules of added param groups (as torch's
        schedulers restore all their settings), and write that update's LR and momentum into
        the optimizer now: it does not matter whether the optimizer's state is loaded before or
        after. Nothing changes if the state is invalid. A state without ``added`` (saved
        before cyclr knew about added groups) loads as one with none."""
        keys = set(_STATE_KEYS)
        if not isinstance(state_dict, dict) or set(state_dict) not in (keys, keys - {"added"}):
            check.fail("state_dict", f"a cyclr_torch.Scheduler state dict with keys "
                       f"{list(_STATE_KEYS)}", state_dict,
                       ValueError if isinstance(state_dict, dict) else TypeError)
        last_epoch = check.integer("last_epoch", state_dict["last_epoch"], 0,
                                   "a non-negative integer")
        self._configure(_policies_from(state_dict["policy"]),
                        _policies_from(state_dict["momentum"]), state_dict.get("added", []))
        self._seen = self._updates.count
        self.last_epoch = last_epoch
        self._write(last_epoch)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_updates"]  # a hook on this optimizer; re-registered on the copy's
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._updates = _updates(self.optimizer)
        self._seen = self._updates.count


def _configs(value: Any) -> Any:
    if value is None or isinstance(value, Policy):
        return None if value is None else value.to_config()
    return [p.to_config() for p in value]


def _policies_from(configs: Any) -> Any:
    if isinstance(configs, dict):
        return from_config(configs)
    if isinstance(configs, (list, tuple)):
        return [from_config(c) for c in configs]
    return configs  # None, or something _configure rejects with the right name


def lightning_config(scheduler: LRScheduler) -> dict[str, Any]:
    """The ``lr_scheduler`` entry for a Lightning ``configure_optimizers``, stepped after every
    optimizer update (Lightning's default ``"interval": "epoch"`` would flatten a cyclical policy
    into one value per epoch)::

        def configure_optimizers(self):
            opt = torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9)
            sched = Scheduler(opt, policy.OneCycle(max_lr=0.1, total_steps=n_updates))
            return {"optimizer": opt, "lr_scheduler": lightning_config(sched)}

    Args:
        scheduler: a torch ``LRScheduler`` whose step is the optimizer update (a
            :class:`Scheduler`).

    Returns:
        ``{"scheduler": scheduler, "interval": "step", "frequency": 1}``.

    Raises:
        TypeError: ``scheduler`` is not an ``LRScheduler``.
    """
    if not isinstance(scheduler, LRScheduler):
        check.fail("scheduler", "a torch LRScheduler (e.g. cyclr_torch.Scheduler)", scheduler,
                   TypeError)
    return {"scheduler": scheduler, "interval": "step", "frequency": 1}
