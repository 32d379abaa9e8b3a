"""Learning-rate policies as exact, pure functions of the optimizer step.

Step ``k`` is the k-th optimizer update, counted from 0; the LR used for update ``k`` is
``policy(k)``. Values equal PyTorch's schedulers for the same arguments (``CyclicLR``,
``OneCycleLR``, ``CosineAnnealingWarmRestarts`` stepped once per update).

Every policy is a frozen dataclass of plain Python numbers and strings (no callables, no numpy
scalars: configs are JSON, pickling is safe, ``torch.load(weights_only=True)`` reads them) with
one formula, ``formula(ops, step)``, written against the array namespace ``ops`` (see
:mod:`cyclr.ops`). The formula does integer arithmetic on the integer step first (cycle index and
position by floor division and modulo) and converts only the small remainder to float, so
``p(k + m * period) == p(k)`` bit for bit at any step, and exponents are clamped so that values
underflow to 0 instead of overflowing. A finite policy holds its final value after its end: it
never raises mid-training and never extrapolates.

Construction validates every field (``TypeError`` / ``ValueError`` naming it), and also what the
fields imply: the integers a formula computes with (a period, a restart table, a boundary) fit in
int64 up to step ``2**63 - 1``, and every value the policy takes (its :attr:`Policy.levels`) is a
finite float64. A policy that constructs gives finite values within :attr:`Policy.bounds` at
every step from 0 to ``2**63 - 1``.

>>> from cyclr import policy
>>> p = policy.Triangular(base_lr=0.001, max_lr=0.1, step_size=4)
>>> [round(p(k), 6) for k in range(9)]
[0.001, 0.02575, 0.0505, 0.07525, 0.1, 0.07525, 0.0505, 0.02575, 0.001]
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple, TypeVar

import numpy as np

from cyclr import validate as check
from cyclr.ops import NP, PY, for_array, is_array

__all__ = [
    "Policy",
    "Level",
    "Constant",
    "Linear",
    "Triangular",
    "Triangular2",
    "ExpRange",
    "OneCycle",
    "CosineRestarts",
    "Join",
    "Scaled",
    "warmup",
    "scaled",
    "FLOAT32_FACTORS",
    "one_cycle_momentum",
    "from_config",
    "MAX_NESTING",
]

#: How many :class:`Join` or :class:`Scaled` may nest inside one another (a Join of plain policies
#: is 1 deep). Far
#: beyond any real schedule, far below Python's recursion limit (formulas, configs and equality
#: recurse once per level).
MAX_NESTING = 32

#: Steps per block when a policy runs on a long numpy array (see ``Policy._on_numpy``): 16,384
#: int64 or float64 values are 128 KiB, so the dozen temporaries of a formula stay in L2 cache.
_BLOCK = 16_384
#: float64 values (4 MiB) allocated and freed before the blocks (see ``Policy._on_numpy``).
_PRIMER = 2**19

#: The range of every factor a :class:`Scaled` policy multiplies by: float32's normal numbers,
#: so that the factors are the same nonzero, finite numbers where they are float32 (Keras, torch
#: and JAX arrays) as in float64.
FLOAT32_FACTORS = (2.0**-126, 2.0**127)

_REGISTRY: dict[str, type[Policy]] = {}

P = TypeVar("P", bound="Policy")


class Level(NamedTuple):
    """A value a policy's formula starts from, reaches or moves towards, and the field that sets
    it. Every value of the policy lies between the smallest and the largest of its levels."""

    field: str
    """The config key responsible (``"policies[1].max_lr"`` inside a :class:`Join`)."""
    received: Any
    """That field's value."""
    value: float
    """The level: the field itself (an LR), or derived from it (``max_lr / div_factor``)."""
    meaning: str
    """How the field sets the level, for messages (``"max_lr / div_factor (the initial LR)"``)."""


_NOT_PLAIN = object()


def _plain(value: Any) -> Any:
    """``value`` as a plain Python scalar: numpy scalars and subclasses of bool, int, float and
    str are converted; ``None``, tuples (a Join's fields) and policies (a Scaled's) stay;
    anything else is ``_NOT_PLAIN``."""
    if isinstance(value, Policy):
        return value
    if type(value) in (int, float, bool, str, tuple) or value is None:
        return value
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, str):
        return str.__str__(value)
    return _NOT_PLAIN


class Policy:
    """Base class: a learning rate as a pure function of the integer optimizer step.

    Subclasses are frozen dataclasses whose field names are their config keys; they implement
    :meth:`formula` and :attr:`levels`, and check their fields in ``_validate``. Construction then
    converts every field to a plain Python type and refuses a policy whose levels are not finite.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):
            _REGISTRY[cls.__name__] = cls

    def __post_init__(self) -> None:
        self._validate()
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, field.name)
            plain = _plain(value)
            if plain is _NOT_PLAIN:
                check.fail(field.name, "a plain Python int, float, bool or str", value, TypeError)
            if plain is not value:
                _set(self, field.name, plain)
        for level in self.levels:
            if not math.isfinite(level.value):
                check.fail(level.field, f"such that {level.meaning} is a finite number (it is "
                           f"{level.value!r})", level.received)

    def _validate(self) -> None:
        """Check and normalize the fields (``_set``); raise naming the field."""

    def __call__(self, step: Any) -> Any:
        """The learning rate for optimizer update ``step``.

        Args:
            step: the update index, counted from 0: a Python or numpy integer (or a whole
                float), or an array (or nested list) of them, each ``<= 2**63 - 1``; or an array
                of another library that follows the Python array API standard (``jax.Array``,
                ``torch.Tensor``, ...) of a signed integer dtype, also a traced one (under
                ``jax.jit``, ``torch.compile``): its values are not checked, a negative one is
                clamped to step 0 (see :func:`cyclr.ops.for_array`).

        Returns:
            A Python float for a Python or numpy scalar step; a float64 numpy array of
            ``step``'s shape for a numpy array or a list; for another library's array, an array
            of that library, of ``step``'s shape, on its device, in its default float dtype
            (float32 on torch and on JAX without ``jax_enable_x64``; docs/arrays.md).

        Raises:
            TypeError: ``step`` is not an integer or an integer array (a bool, a string,
                ``None``, a complex or object array; an unsigned, float or bool array of another
                library); an int32 JAX array for a policy whose integers do not fit in int32.
            ValueError: a step is negative, fractional, not finite, above ``2**63 - 1``, or the
                list is ragged.
        """
        if type(step) is int and 0 <= step <= check.MAX_STEP:  # the per-update fast path
            return self.formula(PY, step)
        if is_array(step):
            return self._on_array(step)
        if type(step) is np.ndarray and step.dtype == np.int64 and step.size > _BLOCK:
            # a long int64 preview: its one check (no negative step) is made block by block,
            # on values already in cache, instead of in a pass of its own
            with np.errstate(over="ignore", invalid="ignore", under="ignore"):
                return self._on_numpy(step, check_blocks=True)
        k = check.step(step)
        if isinstance(k, np.ndarray):
            # the formula is branch-free: ops.where also computes the pieces a step is not in,
            # where extreme (valid) settings may overflow; the value selected is finite
            with np.errstate(over="ignore", invalid="ignore", under="ignore"):
                return self._on_numpy(k)
        return self.formula(PY, k)

    def _on_numpy(self, k: np.ndarray, check_blocks: bool = False) -> np.ndarray:
        """The formula on an int64 array, in blocks of :data:`_BLOCK` steps: the temporaries of
        one block stay in the CPU's cache, which makes a long preview about three times faster
        than one pass over the whole array. Elementwise, so the values are the same bits. With
        ``check_blocks``, each block is checked for negative steps first (``check.step``'s one
        check for int64 arrays)."""
        if k.size <= _BLOCK:
            return np.asarray(self.formula(NP, k), dtype=np.float64)
        # glibc gives freed memory above its trim threshold back to the system at once, so
        # each block's temporaries would be page-faulted afresh (2-3x slower, depending on
        # what the process allocated before). Freeing one buffer of a few MiB raises that
        # threshold, as glibc documents (M_MMAP_THRESHOLD's dynamic adjustment) and as any
        # program that frees such a buffer does; the blocks then reuse the same memory.
        np.empty(_PRIMER)
        out = np.empty(k.shape, dtype=np.float64)
        flat_k, flat_out = k.reshape(-1), out.reshape(-1)
        for start in range(0, k.size, _BLOCK):
            block = flat_k[start:start + _BLOCK]
            if check_blocks and block.min() < 0:
                check.step(block)  # raises, naming the step as check.step does
            flat_out[start:start + _BLOCK] = self.formula(NP, block)
        return out

    def _on_array(self, step: Any) -> Any:
        """The formula on an array of an array-API library (JAX, torch, ...), in that library, on
        the step's device, traceable (see :func:`cyclr.ops.for_array`)."""
        ops, k = for_array(step)
        try:
            value = self.formula(ops, k)
        except OverflowError:  # JAX refuses Python ints beyond its int32 steps
            check.fail("step", f"an array of a 64-bit integer dtype for this policy, whose "
                       f"integers (periods, boundaries, step counts) do not all fit in "
                       f"{ops.int_dtype} (on JAX, enable jax_enable_x64)", step, TypeError)
        return value if value.dtype == ops.float_dtype else ops.float(value)

    def formula(self, ops: Any, step: Any) -> Any:
        """The value at ``step`` (already validated: ``0 <= step <= 2**63 - 1``), computed with
        the namespace ``ops`` (:class:`cyclr.ops.Ops`)."""
        raise NotImplementedError

    @property
    def levels(self) -> tuple[Level, ...]:
        """The values the formula moves between, each with the field that sets it: every value
        of the policy lies between the smallest and the largest. Construction refuses a policy
        with a non-finite level; the Keras adapter one with a level beyond float32."""
        raise NotImplementedError(f"{type(self).__name__} must define `levels` (see "
                                  "cyclr.policy.Policy.levels) as well as `formula`")

    @property
    def bounds(self) -> tuple[float, float]:
        """``(lowest, highest)``: every value of the policy lies in this interval (up to float
        rounding); the ends are the smallest and the largest :attr:`levels`."""
        values = [level.value for level in self.levels]
        return min(values), max(values)

    @property
    def peak(self) -> float:
        """The largest value the policy can take (``bounds[1]``)."""
        return self.bounds[1]

    @property
    def nesting(self) -> int:
        """How many :class:`Join` or :class:`Scaled` levels this policy holds: 0 for a plain
        policy."""
        return 0

    def to_config(self) -> dict[str, Any]:
        """JSON-native config: ``{"type": class name, field: value, ...}`` (a Join's policies as
        their configs); :func:`from_config` rebuilds an equal policy."""
        config: dict[str, Any] = {"type": type(self).__name__}
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, field.name)
            if isinstance(value, tuple):
                value = [v.to_config() if isinstance(v, Policy) else v for v in value]
            elif isinstance(value, Policy):
                value = value.to_config()
            config[field.name] = value
        return config

    @classmethod
    def from_config(cls: type[P], config: dict[str, Any]) -> P:
        """Rebuild a policy of this class from :meth:`to_config`'s output.

        Args:
            config: a config dict whose ``"type"`` names this class (or a subclass).

        Returns:
            The policy, an instance of ``cls``.

        Raises:
            TypeError: ``config`` is not a dict.
            ValueError: the config describes another class (``Triangular.from_config`` of a
                OneCycle config), an unknown type, unknown or missing keys; and what the
                constructor raises for bad values, naming the field.
        """
        return _build(config, cls)


def from_config(config: Any) -> Policy:
    """Rebuild any policy from its config (:meth:`Policy.to_config`), nested configs too.

    Args:
        config: ``{"type": "Triangular", "base_lr": ..., ...}``; a policy is returned as is.

    Returns:
        The policy the config describes.

    Raises:
        TypeError: ``config`` is neither a dict nor a policy.
        ValueError: an unknown ``"type"``, unknown or missing keys, Joins nested more than
            :data:`MAX_NESTING` deep; and what the constructor raises for bad values, naming
            the field.
    """
    return _build(config, Policy)


def _nesting_exceeds(config: dict[str, Any]) -> bool:
    """Whether a config nests Joins and Scaleds more than :data:`MAX_NESTING` deep: an iterative
    walk (no recursion, each dict revisited only deeper), so self-referencing configs end too."""
    deepest: dict[int, int] = {}
    stack: list[tuple[Any, int]] = [(config, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Policy):
            if depth + node.nesting > MAX_NESTING:
                return True
            continue
        kind = node.get("type") if isinstance(node, dict) else None
        if kind not in ("Join", "Scaled"):
            continue
        children = node.get("policies") if kind == "Join" else [node.get("policy")]
        if not isinstance(children, (list, tuple)):
            continue
        depth += 1
        if depth > MAX_NESTING:
            return True
        if deepest.get(id(node), -1) < depth:
            deepest[id(node)] = depth
            stack.extend((child, depth) for child in children)
    return False


def _build(config: Any, expected: type[P]) -> P:
    """``config`` (a policy, or its config) as an instance of ``expected``, or an error."""
    wanted = "policy" if expected is Policy else f"{expected.__name__} policy"
    if isinstance(config, Policy):
        if not isinstance(config, expected):
            check.fail("config", f"a {wanted} or its config", config)
        return config
    if not isinstance(config, dict):
        check.fail("config", f"a {wanted} config dict", config, TypeError)
    kind = config.get("type")
    cls = _REGISTRY.get(kind) if isinstance(kind, str) else None
    if cls is None:
        check.fail("config", "a config whose 'type' is one of " + ", ".join(sorted(_REGISTRY)),
                   config)
    if not issubclass(cls, expected):
        check.fail("config", f"a {wanted} config (cyclr.policy.from_config builds any policy)",
                   config)
    if _nesting_exceeds(config):
        check.fail("config", f"a config with Joins and Scaleds nested at most {MAX_NESTING} deep",
                   config)
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    names = {f.name for f in fields}
    unknown = sorted((k for k in config if k != "type" and k not in names), key=repr)
    if unknown:
        check.fail("config", f"a {kind} config without unknown keys {unknown}", config)
    missing = [f.name for f in fields if f.init and f.name not in config
               and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        check.fail("config", f"a complete {kind} config (missing {missing})", config)
    return cls(**{k: v for k, v in config.items() if k != "type"})


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


def _level(policy: Policy, name: str) -> Level:
    """The level a field that is itself a value (an LR) sets."""
    value = getattr(policy, name)
    return Level(name, value, value, name)


@dataclass(frozen=True)
class Constant(Policy):
    """A constant learning rate: ``lr(k) = lr``.

    Args:
        lr: the learning rate, a finite number ``>= 0``.

    Returns:
        A policy: ``p(k) == lr`` at every step (a float, or a float64 array shaped like ``k``).

    Raises:
        TypeError: ``lr`` is not a real number (a bool, a string, ``None``).
        ValueError: ``lr`` is negative, NaN, infinite, or an integer too large for a float.
    """

    lr: float

    def _validate(self) -> None:
        _set(self, "lr", check.non_negative("lr", self.lr))

    @property
    def levels(self) -> tuple[Level, ...]:
        return (_level(self, "lr"),)

    def formula(self, ops, step):
        # step * 0: a zero of the step's own kind (a Python int, or an integer array / tensor of
        # the step's shape), so the constant broadcasts to the step like every other policy
        return ops.float(step * 0) + self.lr


@dataclass(frozen=True)
class Linear(Policy):
    """A linear ramp, then held (optax ``linear_schedule``):

        lr(k) = start_lr + (end_lr - start_lr) * min(k, total_steps) / total_steps

    Used as the warmup piece of a :class:`Join` (see :func:`warmup`).

    Args:
        start_lr: the value at step 0, a finite number ``>= 0``.
        end_lr: the value from step ``total_steps`` on, a finite number ``>= 0``.
        total_steps: length of the ramp, in optimizer updates (a positive integer).

    Returns:
        A policy: ``p(k)`` as above.

    Raises:
        TypeError: a field of the wrong type (a bool, a string, ``None``).
        ValueError: a negative or non-finite LR; ``total_steps`` not a positive integer
            ``<= 2**63 - 1``.
    """

    start_lr: float
    end_lr: float
    total_steps: int

    def _validate(self) -> None:
        _set(self, "start_lr", check.non_negative("start_lr", self.start_lr))
        _set(self, "end_lr", check.non_negative("end_lr", self.end_lr))
        _set(self, "total_steps", check.positive_int("total_steps", self.total_steps))

    @property
    def levels(self) -> tuple[Level, ...]:
        return (_level(self, "start_lr"), _level(self, "end_lr"))

    def formula(self, ops, step):
        x = ops.float(ops.minimum(step, self.total_steps))
        return self.start_lr + (self.end_lr - self.start_lr) * (x / self.total_steps)


#: Triangular2 halves its amplitude each cycle: ``2.0 ** -c``. From c = 1075 on that is 0.0 in
#: float64 (the smallest subnormal is 2**-1074) and in float32, so the cycle index is clamped
#: here: the power never sees a huge exponent, and every later cycle is exactly 0 as well.
_LAST_HALVING = 1100


@dataclass(frozen=True)
class _Cyclical(Policy):
    """Smith's cyclical learning rate (arXiv:1506.01186), as ``torch.optim.lr_scheduler.CyclicLR``:
    the shared formula of :class:`Triangular`, :class:`Triangular2` and :class:`ExpRange`, which
    differ in ``amplitude`` (and declare ``step_size_down`` after their own fields)."""

    base_lr: float
    max_lr: float
    step_size: int

    def _validate(self) -> None:
        _set(self, "base_lr", check.non_negative("base_lr", self.base_lr))
        _set(self, "max_lr", check.non_negative("max_lr", self.max_lr))
        _set(self, "step_size", check.positive_int("step_size", self.step_size))
        down = self.step_size_down  # type: ignore[attr-defined]
        if down is not None:
            _set(self, "step_size_down", check.positive_int("step_size_down", down))
        # the one int64 check: the period is the largest integer the formula computes with
        if self.period > check.MAX_STEP:
            if down is None:
                check.fail("step_size", f"at most {check.MAX_STEP // 2} without step_size_down "
                           "(the period, 2 * step_size, must fit in int64)", self.step_size)
            check.fail("step_size_down", f"at most {check.MAX_STEP - self.step_size} (the "
                       "period, step_size + step_size_down, must fit in int64)", down)

    @property
    def period(self) -> int:
        """Steps in one cycle: ``step_size + step_size_down``."""
        return self.step_size + (self.step_size_down or self.step_size)  # type: ignore[attr-defined]

    @property
    def levels(self) -> tuple[Level, ...]:
        return (_level(self, "base_lr"), _level(self, "max_lr"))

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
    """Smith's ``triangular`` cyclical learning rate (Smith 2017, "Cyclical Learning Rates for
    Training Neural Networks", arXiv:1506.01186), as ``torch.optim.lr_scheduler.CyclicLR``.

    With period ``T = step_size + step_size_down``, cycle ``c = k // T`` and position
    ``p = k % T`` (integer arithmetic, exact at any step):

        scale(k) = min(p / step_size, (T - p) / step_size_down)       # 0 -> 1 -> 0
        lr(k)    = base_lr + (max_lr - base_lr) * scale(k)

    Args:
        base_lr: the value at the start of each cycle, a finite number ``>= 0``.
        max_lr: the value at the peak, a finite number ``>= 0``; ``base_lr > max_lr`` gives an
            inverted cycle (how momentum cycles against the LR).
        step_size: optimizer updates from the start of a cycle to its peak.
        step_size_down: optimizer updates from the peak back down (default: ``step_size``).

    Returns:
        A policy: ``p(k)`` as above, periodic with period ``T``.

    Raises:
        TypeError: a field of the wrong type (a bool, a string, ``None`` for a required field).
        ValueError: a negative or non-finite LR; a step count that is not a positive integer;
            a period ``T`` above ``2**63 - 1`` (named by the step count that makes it so).
    """

    step_size_down: int | None = None

    def amplitude(self, ops, step, cycle):
        return 1.0


@dataclass(frozen=True)
class Triangular2(_Cyclical):
    """Smith's ``triangular2`` cyclical learning rate (Smith 2017, arXiv:1506.01186): the
    triangle of :class:`Triangular` with its amplitude halved each cycle,

        lr(k) = base_lr + (max_lr - base_lr) * scale(k) * 2 ** -c

    with ``scale`` and ``c`` as in :class:`Triangular`. The exponent is clamped, so the amplitude
    underflows to exactly 0 after cycle 1074 (``torch.optim.lr_scheduler.CyclicLR`` raises
    ``OverflowError`` at cycle 1025).

    Args:
        base_lr: the value at the start of each cycle, a finite number ``>= 0``.
        max_lr: the peak of the first cycle, a finite number ``>= 0``.
        step_size: optimizer updates from the start of a cycle to its peak.
        step_size_down: optimizer updates from the peak back down (default: ``step_size``).

    Returns:
        A policy: ``p(k)`` as above.

    Raises:
        TypeError: a field of the wrong type.
        ValueError: a negative or non-finite LR; a step count that is not a positive integer;
            a period above ``2**63 - 1``.
    """

    step_size_down: int | None = None

    def amplitude(self, ops, step, cycle):
        return ops.power(2.0, -ops.float(ops.minimum(cycle, _LAST_HALVING)))


@dataclass(frozen=True)
class ExpRange(_Cyclical):
    """Smith's ``exp_range`` cyclical learning rate (Smith 2017, arXiv:1506.01186): the triangle
    of :class:`Triangular` under an exponentially decaying envelope on the global step ``k``, as
    ``torch.optim.lr_scheduler.CyclicLR(mode="exp_range")``:

        lr(k) = base_lr + (max_lr - base_lr) * scale(k) * gamma ** k

    with ``scale`` as in :class:`Triangular`. The envelope underflows to 0 at large steps.

    Args:
        base_lr: the value at the start of each cycle, a finite number ``>= 0``.
        max_lr: the peak of the envelope at step 0, a finite number ``>= 0``.
        step_size: optimizer updates from the start of a cycle to its peak.
        gamma: the envelope's factor per optimizer update, in ``(0, 1]``. Required (torch's
            default of 1.0 is :class:`Triangular`); positional after ``step_size``, keyword
            ``gamma=`` works too.
        step_size_down: optimizer updates from the peak back down (default: ``step_size``).

    Returns:
        A policy: ``p(k)`` as above.

    Raises:
        TypeError: a field of the wrong type; ``gamma`` missing.
        ValueError: a negative or non-finite LR; ``gamma`` outside ``(0, 1]``; a step count
            that is not a positive integer; a period above ``2**63 - 1``.
    """

    gamma: float
    step_size_down: int | None = None

    def _validate(self) -> None:
        super()._validate()
        gamma = check.real("gamma", self.gamma, "a number in (0, 1]")
        if not 0.0 < gamma <= 1.0:
            check.fail("gamma", "a number in (0, 1]", self.gamma)
        _set(self, "gamma", gamma)

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

    With ``T = total_steps``, ``initial = max_lr / div_factor`` and
    ``final = initial / final_div_factor``: up from ``initial`` to ``max_lr`` until step
    ``pct_start * T - 1``, then down to ``final`` at step ``T - 1``, each phase annealed by

        cos:    lr = end + (start - end) * (1 + cos(pi * pct)) / 2
        linear: lr = start + (end - start) * pct

    (``pct``: the fraction of the phase done). ``three_phase=True`` goes back down to
    ``initial`` at step ``2 * pct_start * T - 2`` before annealing to ``final``. The final value
    is reached at ``T - 1`` (PyTorch's convention; optax reaches it at ``T``, fastai never does)
    and held afterwards instead of raising. ``div_factor < 1`` gives an inverted cycle: see
    :func:`one_cycle_momentum`.

    Args:
        max_lr: the peak, a finite number ``>= 0``.
        total_steps: the length of the cycle ``T``, in optimizer updates (at least 2).
        pct_start: the rising phase's share, a fraction of ``total_steps`` in ``(0, 1)`` that
            leaves every phase at least one step.
        anneal: ``"cos"`` or ``"linear"``.
        div_factor: ``initial = max_lr / div_factor``, a finite number ``> 0``.
        final_div_factor: ``final = initial / final_div_factor``, a finite number ``> 0``.
        three_phase: whether to go back down to ``initial`` before the final annealing.

    Returns:
        A policy: ``p(k)`` as above; ``p(k) == final`` for ``k >= T - 1``.

    Raises:
        TypeError: a field of the wrong type (``anneal`` not a string, ``three_phase`` not a
            bool, ...).
        ValueError: a negative or non-finite number; ``total_steps`` below 2; ``pct_start``
            outside ``(0, 1)`` or leaving a phase empty; ``anneal`` not ``"cos"``/``"linear"``;
            a ``div_factor`` or ``final_div_factor`` so small that ``initial`` or ``final`` is
            not finite.
    """

    max_lr: float
    total_steps: int
    pct_start: float = 0.3
    anneal: str = "cos"
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    three_phase: bool = False

    def _validate(self) -> None:
        _set(self, "max_lr", check.non_negative("max_lr", self.max_lr))
        # below 2 steps no pct_start leaves each phase a step: blame total_steps, not pct_start
        _set(self, "total_steps", check.integer(
            "total_steps", self.total_steps, 2, "an integer >= 2 (with fewer updates no "
            "pct_start leaves each phase a step)"))
        pct = check.real("pct_start", self.pct_start, "a number in (0, 1)")
        if not 0.0 < pct < 1.0:
            check.fail("pct_start", "a number in (0, 1)", self.pct_start)
        _set(self, "pct_start", pct)
        _set(self, "anneal", check.choice("anneal", self.anneal, ("cos", "linear")))
        _set(self, "div_factor", check.positive("div_factor", self.div_factor))
        _set(self, "final_div_factor", check.positive("final_div_factor", self.final_div_factor))
        _set(self, "three_phase", check.boolean("three_phase", self.three_phase))
        # (this also makes self.phases now, ready for a tracer: see CosineRestarts._validate)
        # phases must run forwards; since each ends before the last, at float(T - 1) <= 2**63,
        # their end steps (compared with the step in the formula) also fit in int64
        start = 0.0
        for i, (end, _, _) in enumerate(self.phases):
            if not end > start:
                check.fail("pct_start", f"a fraction that leaves phase {i + 1} of "
                           f"total_steps={self.total_steps} at least one step", self.pct_start)
            start = end

    @property
    def levels(self) -> tuple[Level, ...]:
        initial = self.max_lr / self.div_factor
        return (_level(self, "max_lr"),
                Level("div_factor", self.div_factor, initial,
                      "max_lr / div_factor (the initial LR)"),
                Level("final_div_factor", self.final_div_factor, initial / self.final_div_factor,
                      "max_lr / div_factor / final_div_factor (the final LR)"))

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
    """The momentum cycle of ``OneCycleLR(cycle_momentum=True)`` (Smith 2018, "A disciplined
    approach to neural network hyper-parameters", arXiv:1803.09820): an inverted
    :class:`OneCycle`, from ``max_momentum`` down to ``base_momentum`` while the LR rises and
    back up while it falls,

        OneCycle(max_lr=base_momentum, div_factor=base_momentum / max_momentum,
                 final_div_factor=1)

    Args:
        total_steps: the cycle's length, in optimizer updates (as the LR's :class:`OneCycle`).
        base_momentum: the momentum at the LR's peak, a finite number ``> 0``.
        max_momentum: the momentum at the start and the end, a finite number ``> 0``.
        pct_start: the rising phase's share, a fraction of ``total_steps`` in ``(0, 1)``.
        anneal: ``"cos"`` or ``"linear"``.
        three_phase: as :class:`OneCycle`'s.

    Returns:
        The :class:`OneCycle` policy of the momentum (``policy(k)`` is the momentum of update k).

    Raises:
        TypeError: an argument of the wrong type.
        ValueError: a momentum that is not a finite number ``> 0``, or two momenta whose ratio
            does not fit in a float; and :class:`OneCycle`'s errors for the other arguments.
    """
    base = check.positive("base_momentum", base_momentum)
    top = check.positive("max_momentum", max_momentum)
    ratio = base / top
    if not (ratio > 0 and math.isfinite(ratio) and math.isfinite(base / ratio)):
        check.fail("max_momentum", f"within a float's range of base_momentum={base!r} "
                   f"(base_momentum / max_momentum is {ratio!r})", max_momentum)
    return OneCycle(max_lr=base, total_steps=total_steps, pct_start=pct_start, anneal=anneal,
                    div_factor=ratio, final_div_factor=1.0, three_phase=three_phase)


@dataclass(frozen=True)
class CosineRestarts(Policy):
    """Cosine annealing with warm restarts (SGDR: Loshchilov & Hutter 2017, arXiv:1608.03983), as
    ``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(T_0=period, T_mult=period_mult,
    eta_min=min_lr)`` stepped once per update.

    Cycle ``i`` lasts ``T_i = period * period_mult**i`` steps; with ``t`` the steps since the
    last restart:

        lr(k) = min_lr + (max_lr - min_lr) * (1 + cos(pi * t / T_i)) / 2

    The cycle is found by exact integer search over the restart steps (a float log and floor
    lands in the wrong cycle at large steps), so restarts happen exactly on time.

    Args:
        max_lr: the value at each restart, a finite number ``>= 0``.
        period: the first cycle's length ``T_0``, in optimizer updates.
        period_mult: each cycle is this many times longer than the one before (an integer
            ``>= 1``).
        min_lr: the value the cosine anneals to, a finite number ``>= 0``.

    Returns:
        A policy: ``p(k)`` as above.

    Raises:
        TypeError: a field of the wrong type.
        ValueError: a negative or non-finite LR; ``period`` or ``period_mult`` not a positive
            integer ``<= 2**63 - 1``.
    """

    max_lr: float
    period: int
    period_mult: int = 1
    min_lr: float = 0.0

    def _validate(self) -> None:
        _set(self, "max_lr", check.non_negative("max_lr", self.max_lr))
        _set(self, "period", check.positive_int("period", self.period))
        _set(self, "period_mult", check.positive_int("period_mult", self.period_mult))
        _set(self, "min_lr", check.non_negative("min_lr", self.min_lr))
        if self.period_mult > 1:
            # made now, not at the first call: a tracer must find it ready (torch.compile cannot
            # trace the lock functools.cached_property takes before Python 3.12)
            self.restarts  # noqa: B018

    @property
    def levels(self) -> tuple[Level, ...]:
        return (_level(self, "max_lr"), _level(self, "min_lr"))

    @cached_property
    def restarts(self) -> tuple[tuple[int, ...], tuple[float, ...]]:
        """Restart steps ``S_i`` and cycle lengths ``T_i`` (as floats). The int64 check is here:
        the table holds only the restarts a step up to ``2**63 - 1`` reaches."""
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
        half_cosine = (1 + ops.cos(math.pi * ops.float(t) / length)) / 2
        # (max - min) * (c / 2), not torch's ((max - min) * c) / 2: the same bits (halving is
        # exact), but no overflow to inf when max_lr is near the float's largest value
        return self.min_lr + (self.max_lr - self.min_lr) * half_cosine


@dataclass(frozen=True)
class Join(Policy):
    """A sequence of policies with step boundaries (optax ``join_schedules``):

        lr(k) = policies[i](k - boundaries[i - 1])   for boundaries[i - 1] <= k < boundaries[i]

    (with ``boundaries[-1] = 0`` for the first policy and no upper end for the last): each policy
    sees its local step. Warmup is built this way: see :func:`warmup`.

    Args:
        policies: a non-empty sequence of policies (or their configs), Joins nested at most
            :data:`MAX_NESTING` deep.
        boundaries: strictly increasing positive step numbers (optimizer updates), one fewer
            than the policies.

    Returns:
        A policy: ``p(k)`` as above.

    Raises:
        TypeError: ``policies`` is not a sequence of policies or configs; ``boundaries`` is not
            a sequence of integers.
        ValueError: no policies, nesting too deep, the wrong number of boundaries, boundaries
            not strictly increasing or not positive integers ``<= 2**63 - 1``.
    """

    policies: tuple[Policy, ...]
    boundaries: tuple[int, ...]

    def _validate(self) -> None:
        if isinstance(self.policies, (str, bytes, dict)) or not isinstance(self.policies, Sequence):
            check.fail("policies", "a sequence of policies", self.policies, TypeError)
        if not all(isinstance(p, (Policy, dict)) for p in self.policies):
            check.fail("policies", "a sequence of cyclr policies or policy configs",
                       self.policies, TypeError)
        if not self.policies:
            check.fail("policies", "a non-empty sequence of policies", self.policies)
        policies = tuple(from_config(p) for p in self.policies)
        if 1 + max(p.nesting for p in policies) > MAX_NESTING:
            check.fail("policies", f"policies with Joins nested at most {MAX_NESTING - 1} deep "
                       f"(a Join may nest {MAX_NESTING} deep)", self.policies)
        bounds = _boundaries(self.boundaries, 1, "positive integers")
        if len(bounds) != len(policies) - 1:
            check.fail("boundaries", f"one fewer than the policies ({len(policies)})",
                       self.boundaries)
        _set(self, "policies", policies)
        _set(self, "boundaries", bounds)

    @cached_property
    def nesting(self) -> int:  # type: ignore[override]
        return 1 + max(p.nesting for p in self.policies)

    @property
    def levels(self) -> tuple[Level, ...]:
        return tuple(level._replace(field=f"policies[{i}].{level.field}")
                     for i, p in enumerate(self.policies) for level in p.levels)

    def formula(self, ops, step):
        value = self.policies[0].formula(ops, step)
        for start, p in zip(self.boundaries, self.policies[1:]):
            local = p.formula(ops, ops.maximum(step - start, 0))
            value = ops.where(step >= start, local, value)
        return value


def _is_sequence(value: Any) -> bool:
    """A list, tuple or other sequence, or a 1-D numpy array; not a string."""
    if isinstance(value, np.ndarray):
        return value.ndim == 1
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _boundaries(value: Any, minimum: int, requirement: str) -> tuple[int, ...]:
    """``boundaries`` of a :class:`Join` or :class:`Scaled`: strictly increasing integers from
    ``minimum`` to ``2**63 - 1``, as a tuple."""
    if not _is_sequence(value):
        check.fail("boundaries", "a sequence of step numbers", value, TypeError)
    bounds = tuple(check.integer("boundaries", b, minimum, requirement) for b in value)
    if any(b >= c for b, c in zip(bounds, bounds[1:])):
        check.fail("boundaries", "strictly increasing", value)
    return bounds


def _in_float32(factors: Any) -> bool:
    """Whether every factor is within :data:`FLOAT32_FACTORS`."""
    low, high = FLOAT32_FACTORS
    return all(low <= f <= high for f in factors)


@dataclass(frozen=True)
class Scaled(Policy):
    """``policy`` multiplied by ``scales[i]`` from update ``boundaries[i]`` on, cumulatively
    (optax ``piecewise_constant_schedule``'s ``boundaries_and_scales``, torch ``MultiStepLR``):

        lr(k) = policy(k) * scales[0] * ... * scales[i]   for boundaries[i] <= k < boundaries[i+1]

    and ``policy(k)`` before ``boundaries[0]``. Unlike :class:`Join`, ``policy`` keeps the global
    step: a cycle goes on in phase, scaled. A reduction on a plateau (``cyclr_tf``'s
    ``ReduceLROnPlateau``) is one more boundary and scale: see :func:`scaled`.

    Args:
        policy: the policy to scale (or its config).
        boundaries: strictly increasing step numbers (optimizer updates, ``>= 0``).
        scales: one finite factor ``> 0`` per boundary.

    Returns:
        A policy: ``p(k)`` as above (the values of ``policy`` when there are no boundaries).

    Raises:
        TypeError: ``policy`` is not a policy or config; ``boundaries`` or ``scales`` is not a
            sequence of numbers.
        ValueError: boundaries not strictly increasing non-negative integers ``<= 2**63 - 1``;
            a scale not finite and ``> 0``; not one scale per boundary; a product of scales
            outside :data:`FLOAT32_FACTORS`, or a scaled value that is not a finite float
            (naming ``scales``); nesting too deep.
    """

    policy: Policy
    boundaries: tuple[int, ...] = ()
    scales: tuple[float, ...] = ()

    def _validate(self) -> None:
        if not isinstance(self.policy, (Policy, dict)):
            check.fail("policy", "a cyclr policy or its config", self.policy, TypeError)
        inner = from_config(self.policy)
        if 1 + inner.nesting > MAX_NESTING:
            check.fail("policy", f"a policy with Joins and Scaleds nested at most "
                       f"{MAX_NESTING - 1} deep", self.policy)
        bounds = _boundaries(self.boundaries, 0, "non-negative integers")
        scales = self.scales
        if not _is_sequence(scales):
            check.fail("scales", "a sequence of numbers", scales, TypeError)
        factors = tuple(check.positive("scales", f) for f in scales)
        if len(factors) != len(bounds):
            check.fail("scales", f"one per boundary ({len(bounds)})", scales)
        _set(self, "policy", inner)
        _set(self, "boundaries", bounds)
        _set(self, "scales", factors)
        if not _in_float32(self.products):  # made now: a tracer must find it ready
            check.fail("scales", f"such that every product scales[0] * ... * scales[i] is from "
                       f"{FLOAT32_FACTORS[0]:.3g} to {FLOAT32_FACTORS[1]:.3g} (float32's normal "
                       "range, where Keras, torch and JAX hold the factors)", scales)

    @cached_property
    def products(self) -> tuple[float, ...]:
        """The factor in force after 0, 1, 2, ... boundaries: ``(1.0, s0, s0 * s1, ...)``."""
        return tuple(itertools.accumulate(self.scales, operator.mul, initial=1.0))

    @cached_property
    def nesting(self) -> int:  # type: ignore[override]
        return 1 + self.policy.nesting

    @property
    def levels(self) -> tuple[Level, ...]:
        # the policy's extremes times the extreme factors bound every value: four levels at
        # most, however deep Scaled nest (all of them would multiply at each level)
        inner = self.policy.levels
        lo = min(inner, key=lambda level: level.value)
        hi = max(inner, key=lambda level: level.value)
        levels = [level._replace(field=f"policy.{level.field}") for level in {lo, hi}]
        least, most = min(self.products), max(self.products)
        if most > 1:
            levels.append(Level("scales", self.scales, hi.value * most,
                                f"{hi.meaning} times the largest product of scales"))
        if least < 1:
            levels.append(Level("scales", self.scales, lo.value * least,
                                f"{lo.meaning} times the smallest product of scales"))
        return tuple(levels)

    def formula(self, ops, step):
        value = self.policy.formula(ops, step)
        if not self.boundaries:
            return value
        return value * ops.take(self.products, ops.count_le(self.boundaries, step))


def scaled(policy: Policy, step: int, scale: float) -> Scaled:
    """``policy`` multiplied by ``scale`` from update ``step`` on (a reduction on a plateau).

    A :class:`Scaled` ``policy`` gets one more boundary, so reductions stay one flat level (at a
    step that is already a boundary, the two scales multiply; before a later boundary, the
    later factors are multiplied too); anything else becomes ``Scaled(policy, (step,),
    (scale,))``.

    Args:
        policy: the policy now in force.
        step: the first update the factor applies to (a non-negative integer).
        scale: the factor, a finite number ``> 0``.

    Returns:
        The :class:`Scaled` policy; equal to ``policy`` before ``step``.

    Raises:
        TypeError: ``policy`` is not a policy; ``step`` or ``scale`` of the wrong type.
        ValueError: ``step`` negative; ``scale`` not ``> 0``, or taking a product of scales
            outside :data:`FLOAT32_FACTORS`.
    """
    if not isinstance(policy, Policy):
        check.fail("policy", "a cyclr policy", policy, TypeError)
    step = check.integer("step", step, 0, "a non-negative integer")
    scale = check.positive("scale", scale)
    base, bounds, scales = policy, [], []
    if isinstance(policy, Scaled):
        base, bounds, scales = policy.policy, list(policy.boundaries), list(policy.scales)
    i = bisect.bisect_left(bounds, step)
    if i < len(bounds) and bounds[i] == step:
        scales[i] *= scale
    else:
        bounds.insert(i, step)
        scales.insert(i, scale)
    if not _in_float32(itertools.accumulate(scales, operator.mul, initial=1.0)):
        check.fail("scale", f"such that every product of the scales stays from "
                   f"{FLOAT32_FACTORS[0]:.3g} to {FLOAT32_FACTORS[1]:.3g} (float32's normal "
                   "range)", scale)
    return Scaled(base, tuple(bounds), tuple(scales))


def warmup(policy: Policy, steps: int, start_lr: float | None = None) -> Policy:
    """``policy`` after a linear warmup (Goyal et al. 2017, "Accurate, Large Minibatch SGD",
    arXiv:1706.02677): a :class:`Join` of :class:`Linear` and ``policy``,

        lr(k) = start_lr + (policy(0) - start_lr) * k / steps    for k < steps
        lr(k) = policy(k - steps)                                for k >= steps

    so the wrapped policy starts at its own step 0. By default ``start_lr = policy(0) / (steps
    + 1)``, so the warmup is ``lr(k) = policy(0) * (k + 1) / (steps + 1)``: evenly spaced, and
    every update moves the weights (update 0 at LR 0 would leave them unchanged); pass
    ``start_lr=0.0`` for a ramp from zero. ``steps=0`` is no warmup: ``policy`` itself.

    >>> w = warmup(Constant(0.6), 5)
    >>> [round(w(k), 6) for k in range(7)]
    [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.6]

    Args:
        policy: the policy to warm up into.
        steps: the warmup's length, in optimizer updates (a non-negative integer; 0 returns
            ``policy``).
        start_lr: the value at step 0, a finite number ``>= 0``; ``None`` (default):
            ``policy(0) / (steps + 1)``.

    Returns:
        The :class:`Join`, or ``policy`` itself when ``steps == 0``.

    Raises:
        TypeError: ``policy`` is not a cyclr policy; ``steps`` or ``start_lr`` of the wrong type.
        ValueError: ``steps`` not a non-negative integer; ``start_lr`` negative or not finite;
            ``policy`` already nested :data:`MAX_NESTING` deep (with ``steps > 0``).
    """
    if not isinstance(policy, Policy):
        check.fail("policy", "a cyclr policy", policy, TypeError)
    steps = check.integer("steps", steps, 0, "a non-negative integer")
    if start_lr is not None:
        start_lr = check.non_negative("start_lr", start_lr)
    if steps == 0:
        return policy
    if policy.nesting >= MAX_NESTING:
        check.fail("policy", f"a policy with Joins nested less than {MAX_NESTING} deep", policy)
    target = policy(0)
    if start_lr is None:
        start_lr = target / (steps + 1)
    return Join((Linear(start_lr, target, steps), policy), (steps,))
