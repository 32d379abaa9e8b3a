"""Learning-rate policies as exact, pure functions of the optimizer step.

Step ``k`` is the k-th optimizer update, counted from 0; the LR used for update ``k`` is
``policy(k)``. Values equal PyTorch's schedulers for the same arguments (``CyclicLR``,
``OneCycleLR``, ``CosineAnnealingWarmRestarts`` stepped once per update).

Every policy is a frozen dataclass of numbers and strings (no callables: configs are JSON and
pickling is safe) with one formula, ``formula(ops, step)``, written against the array namespace
``ops`` (see :mod:`cyclr.ops`). The formula does integer arithmetic on the integer step first
(cycle index and position by floor division and modulo) and converts only the small remainder to
float, so ``p(k + m * period) == p(k)`` bit for bit at any step, and exponents are clamped so
that values underflow to 0 instead of overflowing. A finite policy holds its final value after its
end: it never raises mid-training and never extrapolates.

>>> from cyclr import policy
>>> p = policy.Triangular(base_lr=0.001, max_lr=0.1, step_size=4)
>>> [round(p(k), 6) for k in range(9)]
[0.001, 0.02575, 0.0505, 0.07525, 0.1, 0.07525, 0.0505, 0.02575, 0.001]
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from cyclr import validate as check
from cyclr.ops import NP, PY

__all__ = [
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

_REGISTRY: dict[str, type[Policy]] = {}


class Policy:
    """Base class: a learning rate as a pure function of the integer step.

    Subclasses are frozen dataclasses whose field names are their config keys, and implement
    :meth:`formula`.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):
            _REGISTRY[cls.__name__] = cls

    def __call__(self, step: Any) -> Any:
        """``policy(k)``: a Python int gives a float, an integer array a float64 array."""
        if type(step) is int and 0 <= step <= check.MAX_STEP:  # the per-update fast path
            return self.formula(PY, step)
        k = check.step(step)
        if isinstance(k, np.ndarray):
            return np.asarray(self.formula(NP, k), dtype=np.float64)
        return self.formula(PY, k)

    def formula(self, ops: Any, step: Any) -> Any:
        """The value at ``step`` (already validated), computed with the namespace ``ops``."""
        raise NotImplementedError

    def to_config(self) -> dict[str, Any]:
        """JSON-native config: ``{"type": class name, field: value, ...}``."""
        config: dict[str, Any] = {"type": type(self).__name__}
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, field.name)
            if isinstance(value, tuple):
                value = [v.to_config() if isinstance(v, Policy) else v for v in value]
            config[field.name] = value
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Policy:
        """Rebuild a policy from :meth:`to_config`'s output (nested configs too)."""
        return from_config(config)


def from_config(config: Any) -> Policy:
    """Rebuild any policy from its config; raises for unknown or malformed configs."""
    if isinstance(config, Policy):
        return config
    if not isinstance(config, dict):
        check.fail("config", "a policy config dict", config, TypeError)
    kind = config.get("type")
    if kind not in _REGISTRY:
        check.fail("config", "a config whose 'type' is one of " + ", ".join(sorted(_REGISTRY)),
                   config)
    cls = _REGISTRY[kind]
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs = {k: v for k, v in config.items() if k != "type"}
    unknown = sorted(set(kwargs) - names)
    if unknown:
        check.fail("config", f"a {kind} config without unknown keys {unknown}", config)
    try:
        return cls(**kwargs)
    except TypeError as err:
        if "missing" in str(err):
            check.fail("config", f"a complete {kind} config ({err})", config)
        raise


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True)
class Constant(Policy):
    """``lr(k) = lr``."""

    lr: float

    def __post_init__(self) -> None:
        _set(self, "lr", check.non_negative("lr", self.lr))

    def formula(self, ops, step):
        return ops.float(step * 0) + self.lr


@dataclass(frozen=True)
class Linear(Policy):
    """Linear ramp from ``start_lr`` to ``end_lr`` over ``total_steps`` updates, then held
    (optax ``linear_schedule``): ``lr(k) = start + (end - start) * min(k, T) / T``.

    Used as the warmup piece of a :class:`Join` (see :func:`warmup`)."""

    start_lr: float
    end_lr: float
    total_steps: int

    def __post_init__(self) -> None:
        _set(self, "start_lr", check.non_negative("start_lr", self.start_lr))
        _set(self, "end_lr", check.non_negative("end_lr", self.end_lr))
        _set(self, "total_steps", check.positive_int("total_steps", self.total_steps))

    def formula(self, ops, step):
        x = ops.float(ops.minimum(step, self.total_steps))
        return self.start_lr + (self.end_lr - self.start_lr) * (x / self.total_steps)


@dataclass(frozen=True)
class _Cyclical(Policy):
    """Smith's cyclical learning rate (Smith 2017, "Cyclical Learning Rates for Training Neural
    Networks", arXiv:1506.01186), as ``torch.optim.lr_scheduler.CyclicLR``.

    With ``T = step_size + step_size_down``, cycle ``c = k // T`` and position ``p = k % T``:

        scale(k) = min(p / step_size, (T - p) / step_size_down)      # 0 -> 1 -> 0
        lr(k)    = base_lr + (max_lr - base_lr) * scale(k) * amplitude(k)

    ``base_lr > max_lr`` gives an inverted cycle (how momentum cycles against the LR).
    """

    base_lr: float
    max_lr: float
    step_size: int
    step_size_down: int | None = None

    def __post_init__(self) -> None:
        _set(self, "base_lr", check.non_negative("base_lr", self.base_lr))
        _set(self, "max_lr", check.non_negative("max_lr", self.max_lr))
        _set(self, "step_size", check.positive_int("step_size", self.step_size))
        if self.step_size_down is not None:
            _set(self, "step_size_down", check.positive_int("step_size_down", self.step_size_down))

    @property
    def period(self) -> int:
        """Steps in one cycle: ``step_size + step_size_down``."""
        return self.step_size + (self.step_size_down or self.step_size)

    def formula(self, ops, step):
        period = self.period
        cycle = step // period
        x = ops.float(step - cycle * period)
        scale = ops.minimum(x / self.step_size, (period - x) / (period - self.step_size))
        amplitude = self.amplitude(ops, step, cycle)
        return self.base_lr + (self.max_lr - self.base_lr) * scale * amplitude

    def amplitude(self, ops, step, cycle):
        raise NotImplementedError


@dataclass(frozen=True)
class Triangular(_Cyclical):
    __doc__ = _Cyclical.__doc__ + "\n    ``triangular``: ``amplitude(k) = 1``.\n"

    def amplitude(self, ops, step, cycle):
        return 1.0


@dataclass(frozen=True)
class Triangular2(_Cyclical):
    __doc__ = _Cyclical.__doc__ + (
        "\n    ``triangular2``: ``amplitude(k) = 2 ** -c``, halved each cycle; the exponent is"
        "\n    clamped, so it underflows to 0 (torch raises OverflowError at cycle 1025).\n")

    def amplitude(self, ops, step, cycle):
        return ops.power(2.0, -ops.float(ops.minimum(cycle, 1100)))


@dataclass(frozen=True)
class ExpRange(_Cyclical):
    __doc__ = _Cyclical.__doc__ + (
        "\n    ``exp_range``: ``amplitude(k) = gamma ** k`` on the global step ``k``, as torch"
        "\n    does; it underflows to 0 at large steps. ``gamma`` in (0, 1].\n")

    gamma: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        gamma = check.real("gamma", self.gamma, "a number in (0, 1]")
        if not 0.0 < gamma <= 1.0:
            check.fail("gamma", "a number in (0, 1]", self.gamma)
        _set(self, "gamma", gamma)

    def __init__(self, base_lr, max_lr, step_size, gamma, step_size_down=None):
        _set(self, "base_lr", base_lr)
        _set(self, "max_lr", max_lr)
        _set(self, "step_size", step_size)
        _set(self, "step_size_down", step_size_down)
        _set(self, "gamma", gamma)
        self.__post_init__()

    def amplitude(self, ops, step, cycle):
        return ops.power(self.gamma, ops.float(step))


def _anneal(ops, kind: str, start: float, end: float, pct):
    """Anneal from ``start`` (pct 0) to ``end`` (pct 1), written as torch's OneCycleLR does."""
    if kind == "cos":
        return end + (start - end) / 2.0 * (ops.cos(math.pi * pct) + 1)
    return (end - start) * pct + start


@dataclass(frozen=True)
class OneCycle(Policy):
    """The 1cycle policy (Smith & Topin 2018, "Super-Convergence", arXiv:1708.07120), exactly as
    ``torch.optim.lr_scheduler.OneCycleLR``.

    From ``initial = max_lr / div_factor`` up to ``max_lr`` until step ``pct_start * T - 1``, then
    down to ``min = initial / final_div_factor`` at step ``T - 1`` (``T = total_steps``), annealing
    by ``"cos"`` (``end + (start - end) * (1 + cos(pi * pct)) / 2``) or ``"linear"``.
    ``three_phase=True`` goes back to ``initial`` at ``2 * pct_start * T - 2`` before the final
    annihilation. The final value is reached at ``T - 1`` (PyTorch's convention; optax reaches it
    at ``T``, fastai never does) and held afterwards instead of raising. ``div_factor < 1`` gives
    an inverted cycle: see :func:`one_cycle_momentum`.
    """

    max_lr: float
    total_steps: int
    pct_start: float = 0.3
    anneal: str = "cos"
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    three_phase: bool = False

    def __post_init__(self) -> None:
        _set(self, "max_lr", check.non_negative("max_lr", self.max_lr))
        _set(self, "total_steps", check.positive_int("total_steps", self.total_steps))
        pct = check.real("pct_start", self.pct_start, "a number in (0, 1)")
        if not 0.0 < pct < 1.0:
            check.fail("pct_start", "a number in (0, 1)", self.pct_start)
        _set(self, "pct_start", pct)
        check.choice("anneal", self.anneal, ("cos", "linear"))
        _set(self, "div_factor", check.positive("div_factor", self.div_factor))
        _set(self, "final_div_factor", check.positive("final_div_factor", self.final_div_factor))
        if not isinstance(self.three_phase, (bool, np.bool_)):
            check.fail("three_phase", "a bool", self.three_phase, TypeError)
        _set(self, "three_phase", bool(self.three_phase))
        start = 0.0
        for i, (end, _, _) in enumerate(self.phases):
            if not end > start:
                check.fail("pct_start", f"a fraction that leaves phase {i + 1} of "
                           f"total_steps={self.total_steps} at least one step", self.pct_start)
            start = end

    @cached_property
    def phases(self) -> tuple[tuple[float, float, float], ...]:
        """``(end_step, start_value, end_value)`` per phase, with torch's float end steps."""
        initial = self.max_lr / self.div_factor
        final = initial / self.final_div_factor
        up = float(self.pct_start * self.total_steps) - 1
        last = float(self.total_steps - 1)
        if self.three_phase:
            down = float(2 * self.pct_start * self.total_steps) - 2
            return ((up, initial, self.max_lr), (down, self.max_lr, initial),
                    (last, initial, final))
        return ((up, initial, self.max_lr), (last, self.max_lr, final))

    def formula(self, ops, step):
        k = ops.minimum(step, self.total_steps - 1)
        x = ops.float(k)
        pieces, start = [], 0.0
        for end, lo, hi in self.phases:
            pieces.append((math.floor(end), _anneal(ops, self.anneal, lo, hi,
                                                     (x - start) / (end - start))))
            start = end
        value = pieces[-1][1]
        # step k is in a phase ending at float step e when k <= e, i.e. k <= floor(e): exact
        for last_step, piece in reversed(pieces[:-1]):
            value = ops.where(k <= last_step, piece, value)
        return value


def one_cycle_momentum(total_steps: int, base_momentum: float = 0.85, max_momentum: float = 0.95,
                       pct_start: float = 0.3, anneal: str = "cos",
                       three_phase: bool = False) -> OneCycle:
    """The momentum cycle OneCycleLR applies with ``cycle_momentum=True``: from ``max_momentum``
    down to ``base_momentum`` while the LR rises, back up while it falls (an inverted
    :class:`OneCycle`)."""
    base = check.non_negative("base_momentum", base_momentum)
    top = check.positive("max_momentum", max_momentum)
    if base <= 0:
        check.fail("base_momentum", "a number > 0", base_momentum)
    return OneCycle(max_lr=base, total_steps=total_steps, pct_start=pct_start, anneal=anneal,
                    div_factor=base / top, final_div_factor=1.0, three_phase=three_phase)


@dataclass(frozen=True)
class CosineRestarts(Policy):
    """Cosine annealing with warm restarts (SGDR: Loshchilov & Hutter 2017, arXiv:1608.03983), as
    ``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(T_0=period, T_mult=period_mult,
    eta_min=min_lr)`` stepped once per update.

    Cycle ``i`` lasts ``period * period_mult**i`` steps; with ``t`` the steps since the last
    restart and ``T_i`` the current cycle's length:

        lr(k) = min_lr + (max_lr - min_lr) * (1 + cos(pi * t / T_i)) / 2

    The cycle is found by exact integer search over the restart positions (a float log and floor
    lands in the wrong cycle at large steps), so restarts happen exactly on time.
    """

    max_lr: float
    period: int
    period_mult: int = 1
    min_lr: float = 0.0

    def __post_init__(self) -> None:
        _set(self, "max_lr", check.non_negative("max_lr", self.max_lr))
        _set(self, "period", check.positive_int("period", self.period))
        _set(self, "period_mult", check.positive_int("period_mult", self.period_mult))
        _set(self, "min_lr", check.non_negative("min_lr", self.min_lr))

    @cached_property
    def restarts(self) -> tuple[tuple[int, ...], tuple[float, ...]]:
        """Restart steps ``S_i`` (all that fit in int64) and cycle lengths ``T_i`` as floats."""
        starts, lengths, start, length = [], [], 0, self.period
        while start <= check.MAX_STEP:
            starts.append(start)
            lengths.append(float(length))
            start, length = start + length, length * self.period_mult
        return tuple(starts), tuple(lengths)

    def formula(self, ops, step):
        if self.period_mult == 1:
            t, length = step % self.period, float(self.period)
        else:
            starts, lengths = self.restarts
            cycle = ops.count_le(starts, step) - 1
            t, length = step - ops.take(starts, cycle), ops.take(lengths, cycle)
        cosine = 1 + ops.cos(math.pi * ops.float(t) / length)
        return self.min_lr + (self.max_lr - self.min_lr) * cosine / 2


@dataclass(frozen=True)
class Join(Policy):
    """A sequence of policies with step boundaries (optax ``join_schedules``): policy ``i`` runs
    from ``boundaries[i-1]`` (0 for the first) up to ``boundaries[i]``, seeing its local step
    ``k - boundaries[i-1]``. Warmup is built this way: see :func:`warmup`."""

    policies: tuple[Policy, ...]
    boundaries: tuple[int, ...]

    def __post_init__(self) -> None:
        if isinstance(self.policies, (str, bytes, dict)) or not isinstance(self.policies, Sequence):
            check.fail("policies", "a sequence of policies", self.policies, TypeError)
        policies = []
        for p in self.policies:
            if not isinstance(p, (Policy, dict)):
                check.fail("policies", "a sequence of cyclr policies or policy configs",
                           self.policies, TypeError)
            policies.append(from_config(p))
        if isinstance(self.boundaries, (str, bytes)) or not isinstance(self.boundaries, Sequence):
            check.fail("boundaries", "a sequence of step numbers", self.boundaries, TypeError)
        bounds = tuple(check.positive_int("boundaries", b) for b in self.boundaries)
        if not policies or len(bounds) != len(policies) - 1:
            check.fail("boundaries", f"one fewer than the policies ({len(policies)})",
                       self.boundaries)
        if any(b >= c for b, c in zip(bounds, bounds[1:])):
            check.fail("boundaries", "strictly increasing", self.boundaries)
        _set(self, "policies", tuple(policies))
        _set(self, "boundaries", bounds)

    def formula(self, ops, step):
        value = self.policies[0].formula(ops, step)
        for start, p in zip(self.boundaries, self.policies[1:]):
            local = p.formula(ops, ops.maximum(step - start, 0))
            value = ops.where(step >= start, local, value)
        return value


def warmup(policy: Policy, steps: int, start_lr: float = 0.0) -> Join:
    """``policy`` preceded by ``steps`` updates of linear warmup from ``start_lr`` to
    ``policy(0)``; the wrapped policy then starts at its own step 0."""
    if not isinstance(policy, Policy):
        check.fail("policy", "a cyclr policy", policy, TypeError)
    steps = check.positive_int("steps", steps)
    return Join((Linear(start_lr, policy(0), steps), policy), (steps,))
