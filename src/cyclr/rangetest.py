"""The learning-rate range test (Smith 2017, "Cyclical Learning Rates for Training Neural Networks",
arXiv:1506.01186, section 3.3): train briefly while the LR rises, record the loss, and read the
bounds of a cyclical policy off the range where the loss falls.

This module holds everything except the training step, written once for both adapters:

- :class:`Sweep`: the LRs swept (``exp`` or ``linear`` from ``start_lr``, reaching ``end_lr``
  exactly on the last step) and the loop that calls a ``train_step(lr) -> loss`` function,
  smooths the losses and stops on divergence or a non-finite loss. ``cyclr_torch.rangetest`` and
  ``cyclr_tf.rangetest`` only supply the training step and restore the model afterwards.
- :func:`suggest`: bounds from any recorded curve, by one of the documented :data:`METHODS`.
- :func:`smooth_losses`: the bias-corrected exponential moving average, and :func:`smooth_lrs`:
  where each smoothed value belongs on the LR axis.

>>> import numpy as np
>>> lrs = np.geomspace(1e-4, 1.0, 41)
>>> losses = 1.0 - 0.5 / (1.0 + (1e-2 / lrs) ** 2) + (lrs / 0.5) ** 4   # falls around 1e-2
>>> s = suggest(lrs, losses)
>>> s.status, round(s.base_lr, 4), round(s.max_lr, 4)
('ok', 0.004, 0.0316)
>>> from cyclr import policy
>>> policy.Triangular2(**s.bounds(), step_size=500)                  # doctest: +ELLIPSIS
Triangular2(base_lr=0.00398..., max_lr=0.0316..., step_size=500, step_size_down=None)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from cyclr import validate as check

__all__ = ["METHODS", "STATUSES", "Sweep", "RangeTestResult", "Suggestion", "cycled", "suggest",
           "smooth_losses", "smooth_lrs", "warmup_points"]

#: Suggestion methods; see :func:`suggest`.
METHODS = ("smith", "steepest", "valley", "minimum")
#: ``Suggestion.status`` values: only ``"ok"`` carries bounds.
STATUSES = ("ok", "no_finite_loss", "too_few_points", "flat", "no_descent", "below_range")
#: Fewest finite points a curve needs for a suggestion (and the fewest steps a sweep may have).
MIN_POINTS = 5
#: A curve whose total drop is below this fraction of its loss level gives no suggestion.
FLAT_RTOL = 0.01
#: Smith's method: base_lr where this fraction of the drop is done, max_lr where all but it is.
SMITH_FRACTION = 0.1
#: Smith's rule of thumb, base = max / 4: for the rules that give one LR (``valley``, ``minimum``)
#: and the width of the ``steepest`` window.
BASE_DIVISOR = 4.0


@dataclass(frozen=True)
class Suggestion:
    """Bounds for a cyclical policy read off a range-test curve.

    ``base_lr`` and ``max_lr`` are floats when ``status == "ok"``, and ``None`` otherwise, with
    ``detail`` saying why (one of :data:`STATUSES`): a curve that gives no answer never yields a
    NaN. ``bounds()`` is the hand-off: ``policy.Triangular2(**s.bounds(), step_size=...)``.
    """

    base_lr: float | None
    max_lr: float | None
    method: str
    status: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def bounds(self) -> dict[str, float]:
        """``{"base_lr": ..., "max_lr": ...}``; raises ``ValueError`` when there is no answer."""
        if not self.ok:
            raise ValueError(f"The range test gave no {self.method!r} suggestion "
                             f"(status {self.status!r}): {self.detail}")
        return {"base_lr": self.base_lr, "max_lr": self.max_lr}


def _no_answer(method: str, status: str, detail: str) -> Suggestion:
    return Suggestion(None, None, method, status, detail)


class _EMA:
    """Bias-corrected exponential moving average, updated one value at a time.

    With ``beta`` the smoothing factor, the textbook form is ``a_i = beta * a_{i-1} +
    (1 - beta) * x_i`` and ``s_i = a_i / (1 - beta ** (i + 1))``. That is the weighted mean of
    ``x_0..x_i`` with weights ``beta ** (i - j)``, computed here as a running mean
    ``s_i = s_{i-1} + (x_i - s_{i-1}) / w_i`` with ``w_i = beta * w_{i-1} + 1``: so ``s_0 == x_0``
    and a constant input stays exactly constant.
    """

    def __init__(self, beta: float) -> None:
        self.beta, self.weight, self.value = beta, 0.0, 0.0

    def update(self, x: float) -> float:
        self.weight = self.beta * self.weight + 1.0
        if self.weight == 1.0:  # the first value, or no smoothing: exactly x
            self.value = x
        else:
            self.value += (x - self.value) / self.weight
        return self.value


def _beta(smooth: object) -> float:
    beta = check.real("smooth", smooth, "a number in [0, 1)")
    if not 0.0 <= beta < 1.0:
        check.fail("smooth", "a number in [0, 1)", smooth)
    return beta


def cycled(source: Iterable) -> Iterator:
    """The items of ``source`` over and over, as a range test needs batches: a collection (a
    list, a ``DataLoader``) is iterated again when it runs out, a one-shot iterator is replayed
    from what it yielded. Ends, without raising, only when a pass yields nothing (the adapters
    then say which argument was empty)."""
    replay = itertools.cycle(source) if isinstance(source, Iterator) else None
    while True:
        empty = True
        for item in (replay if replay is not None else source):
            empty = False
            yield item
        if empty:
            return


def smooth_losses(losses, smooth: float) -> np.ndarray:
    """The bias-corrected exponential moving average of ``losses`` with factor ``smooth`` (0: no
    smoothing); see :class:`_EMA`. Non-finite losses give NaN there and are left out of the
    average.

    Args:
        losses: the recorded losses, one per step (a 1-D sequence of numbers).
        smooth: the EMA factor, in [0, 1).

    Returns:
        A float64 array of the same length.

    Raises:
        TypeError / ValueError: ``losses`` not a 1-D sequence of numbers, ``smooth`` outside
            [0, 1).
    """
    return _ema(_loss_array(losses), _beta(smooth))


def smooth_lrs(lrs, smooth: float) -> np.ndarray:
    """Where each smoothed loss belongs on the LR axis: the same weighted mean, taken of
    ``log(lr)``. A smoothed loss averages the losses of the last ``~smooth / (1 - smooth)``
    steps; plotted at the current LR it would lag behind the raw curve (by 0.7 decades at 100
    steps over 8 decades with ``smooth=0.9``) and push every suggestion to higher LRs. Averaging
    both coordinates with the same weights removes that lag: a loss linear in ``log(lr)`` stays
    exactly on its line.

    Args:
        lrs: the swept LRs, positive and strictly increasing (1-D).
        smooth: the EMA factor the losses were smoothed with, in [0, 1).

    Returns:
        A float64 array of the same length, within ``[lrs[0], max(lrs)]``.

    Raises:
        TypeError / ValueError: ``lrs`` not positive and increasing, ``smooth`` outside [0, 1).
    """
    lrs = _lr_array(lrs)
    if len(lrs) == 0:
        return lrs
    centred = np.exp(_ema(np.log(lrs), _beta(smooth)))
    centred[0] = lrs[0]
    return np.clip(centred, lrs[0], lrs.max())


def warmup_points(smooth: float) -> int:
    """How many smoothed values come from too few losses to be trusted: the first ``W`` whose
    EMA weight ``1 + smooth + ... + smooth ** i`` is below half its limit ``1 / (1 - smooth)``
    (6 for ``smooth=0.9``). Bias correction makes them unbiased but as noisy as the raw losses
    they average; :func:`suggest` leaves them out (fastai skips the first 10% of points for the
    same reason)."""
    beta = _beta(smooth)
    return 0 if beta == 0 else max(math.ceil(math.log(0.5) / math.log(beta)) - 1, 0)


def _ema(values: np.ndarray, beta: float) -> np.ndarray:
    ema, out = _EMA(beta), np.full(values.shape, np.nan)
    for i, x in enumerate(values.tolist()):
        if math.isfinite(x):
            out[i] = ema.update(x)
    return out


def _loss_array(losses) -> np.ndarray:
    try:
        values = np.asarray(losses, dtype=np.float64)
    except (TypeError, ValueError):
        check.fail("losses", "a 1-D sequence of numbers", losses, TypeError)
    if values.ndim != 1:
        check.fail("losses", "a 1-D sequence of numbers", losses)
    return values


def _lr_array(lrs, n: int | None = None) -> np.ndarray:
    try:
        values = np.array(lrs, dtype=np.float64)
    except (TypeError, ValueError):
        check.fail("lrs", "a 1-D sequence of numbers", lrs, TypeError)
    if n is None and values.ndim != 1:
        check.fail("lrs", "a 1-D sequence of numbers", lrs)
    if values.ndim != 1 or len(values) != (len(values) if n is None else n):
        check.fail("lrs", f"a 1-D sequence as long as `losses` ({n})", lrs)
    if not (np.isfinite(values).all() and (values > 0).all()):
        check.fail("lrs", "finite and > 0", lrs)
    if (np.diff(values) <= 0).any():
        check.fail("lrs", "strictly increasing", lrs)
    return values


def suggest(lrs, losses, method: str = "smith", *, smooth: float = 0.0) -> Suggestion:
    """Suggest ``base_lr`` and ``max_lr`` from a recorded range-test curve.

    ``lrs`` must be positive and strictly increasing. The curve is cut at its first non-finite
    loss (after a NaN or inf the model is broken), smoothed if ``smooth > 0`` (raw mini-batch
    losses need it: a range test passes its own ``smooth``), and analysed on a log-LR axis. A
    smoothed curve is placed at :func:`smooth_lrs`, so smoothing does not shift the answer, and
    its first :func:`warmup_points` values are left out. With ``m`` the index of the
    minimum and ``t`` that of the highest point before it, ``drop = loss[t] - loss[m]``:

    ``"smith"`` (Smith 2017, section 3.3: base where the loss starts to fall, max where it stops
        falling): ``base_lr`` is the first LR after ``t`` where 10% of the drop is done,
        ``max_lr`` the first where 90% is done (:data:`SMITH_FRACTION`); always at least one
        recorded point apart.
    ``"steepest"``: the steepest descent on log-LR, measured over the width the bounds will
        have: of all windows from a recorded LR to the first one at least 4 times larger
        (:data:`BASE_DIVISOR`; or to the minimum, if that comes first), the one over which the
        loss falls the most; ``base_lr`` and ``max_lr`` are its ends. (pytorch-lr-finder suggests
        the steepest slope between neighbouring points, which on a real, noisy curve is mostly
        noise.)
    ``"valley"`` (fastai ``valley``): the longest decreasing subsequence of the losses, ending
        at ``e`` with length ``L``; with ``s = e - L`` and ``d = (e - s) / 3``,
        ``max_lr = lrs[max(s + int(d) + int(d / 2), 0)]``, about the middle of the valley, the
        LR fastai passes as ``lr_max``; ``base_lr = max_lr / 4`` (Smith's rule of thumb,
        :data:`BASE_DIVISOR`), no lower than the first LR.
    ``"minimum"`` (fastai ``minimum``): ``max_lr = lrs[m] / 10``, one decade below the loss
        minimum; ``base_lr = max_lr / 4``, no lower than the first LR.

    Curves that give no answer return ``status`` (see :data:`STATUSES`) other than ``"ok"``,
    ``None`` bounds and a ``detail``: ``"no_finite_loss"``, ``"too_few_points"`` (fewer than
    :data:`MIN_POINTS` finite points after the warm-up), ``"flat"`` (the whole curve spans less
    than 1% of its level, :data:`FLAT_RTOL`), ``"no_descent"`` (it rises instead of falling by
    1%), and
    ``"below_range"`` (the rule's ``max_lr`` is at or below the first LR swept: sweep from a
    lower ``start_lr``).

    Args:
        lrs: the LRs of the recorded steps, positive and strictly increasing.
        losses: the loss at each of them (raw mini-batch losses, or already smoothed).
        method: one of :data:`METHODS`.
        smooth: the EMA factor to smooth ``losses`` with first, in [0, 1) (0: as given).

    Returns:
        A :class:`Suggestion`: ``base_lr`` and ``max_lr`` with ``status == "ok"``, or ``None``
        bounds with the reason.

    Raises:
        TypeError / ValueError: ``lrs`` and ``losses`` of different lengths or not numbers,
            ``lrs`` not positive and increasing, an unknown ``method``, ``smooth`` outside
            [0, 1).
    """
    values = _loss_array(losses)
    x = _lr_array(lrs, len(values))
    method = check.choice("method", method, METHODS)
    beta = _beta(smooth)

    bad = np.flatnonzero(~np.isfinite(values))
    n = int(bad[0]) if len(bad) else len(values)
    if n == 0 and len(values):
        return _no_answer(method, "no_finite_loss", "the first loss recorded is not finite")
    skip = warmup_points(beta)
    if n - skip < MIN_POINTS:
        return _no_answer(method, "too_few_points", f"{n} finite loss(es) before the end or the "
                          f"first non-finite loss, {skip} of them in the smoothing's warm-up; a "
                          f"suggestion needs at least {MIN_POINTS} after it")
    lr, y = x[:n], values[:n]
    if beta > 0:
        lr, y = smooth_lrs(lr, beta)[skip:], _ema(y, beta)[skip:]

    m = int(np.argmin(y))
    t = int(np.argmax(y[: m + 1]))
    top, bottom = float(y[t]), float(y[m])
    if np.ptp(y) <= FLAT_RTOL * max(abs(float(y.max())), abs(float(y.min()))):
        return _no_answer(method, "flat", f"the loss stays within {FLAT_RTOL:.0%} of its level "
                          "over the whole sweep: widen the LR range or check the training step")
    if top - bottom <= FLAT_RTOL * max(abs(top), abs(bottom)):
        return _no_answer(method, "no_descent", "the loss never falls by 1% of its level: "
                          "sweep from a lower start_lr")

    if method == "smith":
        base_i, max_i = _smith(y, t, m)
        return _ok(method, lr[base_i], lr[max_i], lr, m)
    if method == "steepest":
        base_i, max_i = _steepest(lr, y, m)
        return _ok(method, lr[base_i], lr[max_i], lr, m)
    top_lr = lr[_valley(y)] if method == "valley" else lr[m] / 10.0
    if top_lr <= lr[0]:
        return _no_answer(method, "below_range", f"the {method} rule gives max_lr={top_lr:.3g}, "
                          f"at or below the first LR swept ({lr[0]:.3g}): sweep from a lower "
                          "start_lr")
    return _ok(method, max(top_lr / BASE_DIVISOR, float(lr[0])), top_lr, lr, m)


def _ok(method: str, base_lr, max_lr, lr: np.ndarray, m: int) -> Suggestion:
    detail = ""
    if m == len(lr) - 1:
        detail = "the loss was still falling at the last LR swept: a higher end_lr may help"
    return Suggestion(float(base_lr), float(max_lr), method, "ok", detail)


def _smith(y: np.ndarray, t: int, m: int) -> tuple[int, int]:
    """First indices after ``t`` with 10% and with 90% of the drop ``y[t] - y[m]`` done."""
    top, bottom = y[t], y[m]
    drop = top - bottom
    window = y[t : m + 1]
    base_i = t + int(np.argmax(window <= top - SMITH_FRACTION * drop))
    max_i = t + int(np.argmax(window <= bottom + SMITH_FRACTION * drop))
    return min(base_i, max_i - 1), max_i


def _steepest(lr: np.ndarray, y: np.ndarray, m: int) -> tuple[int, int]:
    """The window ``[i, j]`` up to the minimum ``m``, ``j`` the first point at or beyond
    ``BASE_DIVISOR * lr[i]`` (or ``m``), over which the loss falls the most."""
    ends = np.minimum(np.searchsorted(lr, BASE_DIVISOR * lr[:m], side="left"), m)
    i = int(np.argmax(y[:m] - y[ends]))
    return i, int(ends[i])


def _valley(y: np.ndarray) -> int:
    """fastai's ``valley`` index: about the middle of the longest decreasing subsequence."""
    n = len(y)
    lds = np.ones(n, dtype=np.int64)  # length of the longest decreasing subsequence ending at i
    for i in range(1, n):
        longer = lds[:i][y[:i] > y[i]]
        if len(longer):
            lds[i] = longer.max() + 1
    end = int(np.argmax(lds))
    start = end - int(lds[end])
    sections = (end - start) / 3
    return max(start + int(sections) + int(sections / 2), 0)


@dataclass(frozen=True)
class Sweep:
    """One range test's plan: the LRs swept and how the recorded loss is watched.

    ``num_steps`` LRs from ``start_lr`` to ``end_lr`` (exactly, on the last step), spaced
    evenly in log-LR (``mode="exp"``, the usual choice: every decade gets the same number of
    steps) or in LR (``"linear"``, Smith's original). :meth:`run` calls ``train_step(lr)`` once
    per LR; it must run one optimizer update at that LR and return the mini-batch loss computed
    before the update. The losses are smoothed with a bias-corrected EMA of factor ``smooth``
    (:func:`smooth_losses`); the test stops when the smoothed loss exceeds ``diverge`` times the
    best so far, measured relative to ``|best|`` (``loss > best + (diverge - 1) * |best|``, so
    negative losses work too), or at the first NaN / inf loss. ``method`` picks the suggestion
    (:func:`suggest`). Arguments are checked on construction, before any model is touched.

    Args:
        start_lr, end_lr: the first and last LR, ``0 < start_lr < end_lr``.
        num_steps: optimizer updates in the sweep (at least :data:`MIN_POINTS`).
        mode: ``"exp"`` or ``"linear"`` spacing.
        smooth: the EMA factor of the smoothed loss, in [0, 1).
        diverge: stop when the smoothed loss exceeds this many times its best, > 1.
        method: the suggestion rule, one of :data:`METHODS`.

    Returns:
        The plan; :meth:`run` carries it out and returns a :class:`RangeTestResult`.

    Raises:
        TypeError / ValueError: an argument of the wrong type or value, named.
    """

    start_lr: float = 1e-7
    end_lr: float = 10.0
    num_steps: int = 100
    mode: str = "exp"
    smooth: float = 0.9
    diverge: float = 4.0
    method: str = "smith"

    def __post_init__(self) -> None:
        object.__setattr__(self, "start_lr", check.positive("start_lr", self.start_lr))
        object.__setattr__(self, "end_lr", check.positive("end_lr", self.end_lr))
        if self.start_lr >= self.end_lr:
            check.fail("start_lr", f"smaller than end_lr={self.end_lr!r}", self.start_lr)
        steps = check.integer("num_steps", self.num_steps, MIN_POINTS,
                              f"an integer >= {MIN_POINTS}")
        object.__setattr__(self, "num_steps", steps)
        check.choice("mode", self.mode, ("exp", "linear"))
        object.__setattr__(self, "smooth", _beta(self.smooth))
        diverge = check.real("diverge", self.diverge, "a finite number > 1")
        if diverge <= 1.0:
            check.fail("diverge", "a finite number > 1", self.diverge)
        object.__setattr__(self, "diverge", diverge)
        check.choice("method", self.method, METHODS)

    @property
    def lrs(self) -> np.ndarray:
        """The ``num_steps`` LRs, from ``start_lr`` to exactly ``end_lr``."""
        space = np.geomspace if self.mode == "exp" else np.linspace
        lrs = space(self.start_lr, self.end_lr, self.num_steps)
        lrs[0], lrs[-1] = self.start_lr, self.end_lr
        return lrs

    def run(self, train_step: Callable[[float], float]) -> RangeTestResult:
        """Sweep: one ``train_step(lr)`` per LR, until the end, divergence or a non-finite loss."""
        ema, best = _EMA(self.smooth), math.inf
        lrs: list[float] = []
        losses: list[float] = []
        smoothed: list[float] = []
        reason = "completed"
        for lr in self.lrs.tolist():
            loss = float(train_step(lr))
            lrs.append(lr)
            losses.append(loss)
            if not math.isfinite(loss):
                smoothed.append(math.nan)
                reason = "non-finite loss"
                break
            value = ema.update(loss)
            smoothed.append(value)
            best = min(best, value)
            if value > best + (self.diverge - 1.0) * abs(best):
                reason = "diverged"
                break
        lr_arr, loss_arr = np.array(lrs), np.array(losses)
        centred = smooth_lrs(lr_arr, self.smooth)
        centred[~np.isfinite(loss_arr)] = np.nan
        return RangeTestResult(
            lrs=lr_arr, losses=loss_arr, smoothed=np.array(smoothed), smoothed_lrs=centred,
            suggestion=suggest(lr_arr, loss_arr, self.method, smooth=self.smooth),
            stopped_early=len(lrs) < self.num_steps, stop_reason=reason, sweep=self)


@dataclass(frozen=True, eq=False)
class RangeTestResult:
    """What a range test recorded.

    ``lrs``: the LRs of the updates run (a prefix of ``sweep.lrs``); ``losses``: the raw
    mini-batch losses (the last may be NaN / inf, which stopped the test); ``smoothed``: their
    bias-corrected EMA (NaN where the loss was not finite), the curve the stopping rule
    watches; ``smoothed_lrs``: where each smoothed value belongs on the LR axis
    (:func:`smooth_lrs`: plot ``smoothed`` against these); ``suggestion``: the bounds by
    ``sweep.method``, from the raw losses smoothed the same way (:meth:`suggest` gives the
    others); ``stopped_early``: the test ended
    before its last step; ``stop_reason``: ``"completed"``, ``"diverged"`` or
    ``"non-finite loss"``; ``sweep``: the :class:`Sweep` that ran.
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    smoothed_lrs: np.ndarray
    suggestion: Suggestion
    stopped_early: bool
    stop_reason: str = "completed"
    sweep: Sweep = field(default_factory=Sweep)

    def suggest(self, method: str = "smith") -> Suggestion:
        """The suggestion by another method, from the same curve."""
        return suggest(self.lrs, self.losses, method, smooth=self.sweep.smooth)
