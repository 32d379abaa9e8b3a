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

from collections.abc import Sequence
from typing import Any

from torch import Tensor
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from cyclr import validate as check
from cyclr.policy import Policy, from_config

__all__ = ["Scheduler", "lightning_config"]

_STATE_KEYS = ("last_epoch", "policy", "momentum")


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


def _momentum_keys(optimizer: Optimizer, momentum: Any) -> tuple[str, ...]:
    """Where each group keeps its momentum: ``betas`` (its first entry) or ``momentum``."""
    keys = []
    for group in optimizer.param_groups:
        if "betas" in group:
            keys.append("betas")
        elif "momentum" in group:
            keys.append("momentum")
        else:
            check.fail("momentum", f"None for {type(optimizer).__name__}, which has neither "
                       "'momentum' nor 'betas' in its param groups", momentum)
    return tuple(keys)


def _evaluate(policies: tuple[Policy, ...], k: int, n_groups: int) -> list[float]:
    """Each group's value at update ``k`` (one evaluation when all groups share a policy)."""
    if len(policies) == 1:
        return [policies[0](k)] * n_groups
    return [p(k) for p in policies]


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

    Stepping past the end of a finite policy holds its final value; it never raises. Unlike
    torch's schedulers, construction needs no ``'initial_lr'`` in the param groups and adds none,
    ``get_lr()`` is pure, and ``step()`` never warns about the call order (that warning misfires
    when a ``GradScaler`` skips an update). Param groups added after construction are not
    supported: ``step()`` raises; build the scheduler after ``add_param_group()``.
    """

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
        self._write(last_epoch + 1)

    def _configure(self, policy: Any, momentum: Any) -> None:
        """Validate, then precompute what each update needs; changes nothing on error."""
        n_groups = len(self.optimizer.param_groups)
        policies = _policies("policy", policy, n_groups)
        momenta = None if momentum is None else _policies("momentum", momentum, n_groups)
        keys = None if momentum is None else _momentum_keys(self.optimizer, momentum)
        self.policy = policy if isinstance(policy, Policy) else policies
        self.momentum = momentum if momentum is None or isinstance(momentum, Policy) else momenta
        self._n_groups = n_groups
        self._lr_policies = policies
        self._momentum_policies = momenta
        self._momentum_keys = keys

    def _write(self, k: int) -> None:
        """Put update ``k``'s LR (and momentum) into the param groups."""
        groups = self.optimizer.param_groups  # looked up each time: load_state_dict replaces them
        n_groups = self._n_groups
        if len(groups) != n_groups:
            raise ValueError(f"The optimizer has {len(groups)} param groups, but this scheduler "
                             f"was built for {n_groups}: build it after add_param_group().")
        lrs = _evaluate(self._lr_policies, k, n_groups)
        last = lrs
        for group, lr in zip(groups, lrs):
            old = group["lr"]
            if isinstance(old, Tensor):
                old.fill_(lr)
                last = None
            else:
                group["lr"] = lr
        if self._momentum_policies is not None:
            momenta = _evaluate(self._momentum_policies, k, n_groups)
            for group, key, m in zip(groups, self._momentum_keys, momenta):
                old = group[key]
                if key == "betas":
                    if isinstance(old[0], Tensor):
                        old[0].fill_(m)
                    else:
                        group["betas"] = (m, *old[1:])
                elif isinstance(old, Tensor):
                    old.fill_(m)
                else:
                    group[key] = m
        self.last_epoch = k
        # as torch: tensor LRs are reported as copies, so callers cannot alias the optimizer's
        self._last_lr = last or [g["lr"].clone() if isinstance(g["lr"], Tensor) else g["lr"]
                                 for g in groups]

    def step(self, epoch: int | None = None) -> None:
        """Move to the next update (call it after ``optimizer.step()``). ``epoch``, deprecated in
        torch, jumps to update ``epoch`` instead; the closed form makes that exact."""
        if epoch is None:
            self._write(self.last_epoch + 1)
        else:
            self._write(check.integer("epoch", epoch, 0, "a non-negative integer"))

    def get_lr(self) -> list[float]:
        """The LR of each param group at update ``last_epoch``: pure, no side effects."""
        return _evaluate(self._lr_policies, self.last_epoch, self._n_groups)

    def state_dict(self) -> dict[str, Any]:
        """``{"last_epoch": int, "policy": config(s), "momentum": config(s) or None}``: JSON
        values only, so ``torch.load(..., weights_only=True)`` and ``json`` both read it."""
        return {"last_epoch": self.last_epoch, "policy": _configs(self.policy),
                "momentum": _configs(self.momentum)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore ``last_epoch`` and the policies (as torch's schedulers restore all their
        settings), and write that update's LR and momentum into the optimizer now: it does not
        matter whether the optimizer's state is loaded before or after. Nothing changes if the
        state is invalid."""
        if not isinstance(state_dict, dict) or set(state_dict) != set(_STATE_KEYS):
            check.fail("state_dict", f"a cyclr_torch.Scheduler state dict with keys "
                       f"{list(_STATE_KEYS)}", state_dict,
                       ValueError if isinstance(state_dict, dict) else TypeError)
        last_epoch = check.integer("last_epoch", state_dict["last_epoch"], 0,
                                   "a non-negative integer")
        self._configure(_policies_from(state_dict["policy"]),
                        _policies_from(state_dict["momentum"]))
        self._write(last_epoch)


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
