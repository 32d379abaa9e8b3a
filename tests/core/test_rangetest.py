"""The range-test analysis: the LR sweep, smoothing, the stopping rule and every suggestion method,
on synthetic curves with known answers, against straightforward reference implementations."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cyclr import policy
from cyclr.rangetest import METHODS, STATUSES, RangeTestResult, Suggestion, Sweep, smooth_losses
from cyclr.rangetest import suggest as suggest_bounds

# ---------------------------------------------------------------- reference implementations


def ref_smooth(losses, beta):
    """The textbook bias-corrected EMA: a = beta a + (1 - beta) x; s = a / (1 - beta^(i+1))."""
    avg, out = 0.0, []
    for i, x in enumerate(losses):
        avg = beta * avg + (1 - beta) * x
        out.append(avg / (1 - beta ** (i + 1)))
    return np.array(out)


def ref_centred(lrs, beta):
    """Where each smoothed loss belongs: the same EMA of log(lr)."""
    centred = np.exp(ref_smooth(np.log(lrs), beta))
    centred[0] = lrs[0]
    return np.clip(centred, lrs[0], lrs[-1])


def ref_warmup(beta):
    """Index of the first smoothed value whose EMA weight reaches half its limit."""
    return next(i for i in range(10_000) if sum(beta**j for j in range(i + 1)) >= 0.5 / (1 - beta))


def ref_suggest(lrs, losses, method):
    """Each method written out with plain loops, for a curve of finite losses that falls."""
    lrs, y = list(map(float, lrs)), list(map(float, losses))
    n = len(y)
    m = min(range(n), key=lambda i: (y[i], i))          # first minimum
    t = min(range(m + 1), key=lambda i: (-y[i], i))     # first maximum before it
    drop = y[t] - y[m]
    if method == "smith":
        base_i = next(i for i in range(t, m + 1) if y[i] <= y[t] - 0.1 * drop)
        max_i = next(i for i in range(t, m + 1) if y[i] <= y[m] + 0.1 * drop)
        return lrs[min(base_i, max_i - 1)], lrs[max_i]
    if method == "steepest":
        best, bounds = -math.inf, None
        for i in range(m):
            j = next((k for k in range(n) if lrs[k] >= 4 * lrs[i]), n)
            j = min(j, m)
            if y[i] - y[j] > best:
                best, bounds = y[i] - y[j], (lrs[i], lrs[j])
        return bounds
    if method == "valley":  # fastai's code, transcribed
        lds, max_start, max_end = [1] * n, 0, 0
        for i in range(1, n):
            for j in range(0, i):
                if y[i] < y[j] and lds[i] < lds[j] + 1:
                    lds[i] = lds[j] + 1
                if lds[max_end] < lds[i]:
                    max_end = i
                    max_start = max_end - lds[max_end]
        sections = (max_end - max_start) / 3
        top = lrs[max(max_start + int(sections) + int(sections / 2), 0)]
        return max(top / 4, lrs[0]), top
    if method == "minimum":
        return max(lrs[m] / 40, lrs[0]), lrs[m] / 10
    raise AssertionError(method)


# ---------------------------------------------------------------- synthetic curves

LRS = np.geomspace(1e-6, 10.0, 141)      # 20 points per decade
CENTER, WIDTH = -3.0, 0.25               # the loss falls around lr = 1e-3, over ~1 decade


def valley(lrs):
    """1 -> 0.5 along a logistic in log10(lr), then a rising tail from lr ~ 0.1."""
    x = np.log10(lrs)
    return 1.0 - 0.5 / (1.0 + np.exp(-(x - CENTER) / WIDTH)) + 0.5 * (lrs / 0.3) ** 2


def noisy_valley(lrs, seed=0):
    return valley(lrs) + np.random.default_rng(seed).normal(0.0, 0.03, len(lrs))


def diverging(lrs):
    return valley(lrs) + 50.0 * (lrs / 3.0) ** 3


def near(lr, log10_value, decades):
    return abs(math.log10(lr) - log10_value) <= decades


def assert_ordered_inside(s, lrs):
    assert s.status == "ok", s
    assert lrs[0] <= s.base_lr < s.max_lr <= lrs[-1], s


CURVES = {
    "clean valley": (LRS, valley(LRS), 0.0),
    "noisy valley": (LRS, noisy_valley(LRS), 0.9),
    "diverging tail": (LRS, diverging(LRS), 0.0),
    "linear sweep": (np.linspace(1e-4, 0.05, 120), valley(np.linspace(1e-4, 0.05, 120)), 0.0),
}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("curve", CURVES)
def test_every_method_equals_the_reference(curve, method):
    lrs, losses, beta = CURVES[curve]
    s = suggest_bounds(lrs, losses, method, smooth=beta)
    if beta:
        skip = ref_warmup(beta)
        lrs, losses = ref_centred(lrs, beta)[skip:], ref_smooth(losses, beta)[skip:]
    assert (s.base_lr, s.max_lr) == pytest.approx(ref_suggest(lrs, losses, method), rel=1e-12)
    assert s.method == method
    assert_ordered_inside(s, lrs)


def test_smith_on_a_clean_valley_finds_the_10_and_90_percent_points():
    # the logistic has done 10% of its drop at CENTER - WIDTH ln 9 and 90% at CENTER + WIDTH ln 9
    s = suggest_bounds(LRS, valley(LRS), "smith")
    assert near(s.base_lr, CENTER - WIDTH * math.log(9), 0.05 + 0.001)
    assert near(s.max_lr, CENTER + WIDTH * math.log(9), 0.05 + 0.001)


def test_steepest_on_a_clean_valley_is_the_factor_4_window_around_its_centre():
    # the logistic falls the most over a window of log10(4) decades centred on CENTER
    s = suggest_bounds(LRS, valley(LRS), "steepest")
    assert near(s.base_lr, CENTER - math.log10(4) / 2, 0.05 + 0.001)
    assert near(s.max_lr, CENTER + math.log10(4) / 2, 0.05 + 0.001)
    assert 4 <= s.max_lr / s.base_lr < 4 * 10**0.05


def test_minimum_is_a_decade_below_the_minimum_and_valley_lies_on_the_descent():
    fine = np.geomspace(1e-6, 10.0, 200_001)
    x_min = math.log10(fine[np.argmin(valley(fine))])
    s = suggest_bounds(LRS, valley(LRS), "minimum")
    assert near(s.max_lr, x_min - 1, 0.05 + 0.001)
    assert s.base_lr == pytest.approx(s.max_lr / 4)
    v = suggest_bounds(LRS, valley(LRS), "valley")
    assert math.log10(v.max_lr) < x_min      # the middle of the run from the first point down
    assert v.base_lr == pytest.approx(v.max_lr / 4)


@pytest.mark.parametrize("method", ["smith", "steepest", "minimum"])
def test_noise_moves_no_suggestion_by_more_than_half_a_decade(method):
    clean = suggest_bounds(LRS, valley(LRS), method)
    for seed in range(5):
        noisy = suggest_bounds(LRS, noisy_valley(LRS, seed), method, smooth=0.9)
        assert_ordered_inside(noisy, LRS)
        assert near(noisy.base_lr, math.log10(clean.base_lr), 0.5), (seed, noisy, clean)
        assert near(noisy.max_lr, math.log10(clean.max_lr), 0.5), (seed, noisy, clean)


def test_valley_on_a_noisy_curve_lies_on_the_descent():
    # (on the clean curve, whose plateau decreases strictly, fastai's longest decreasing run
    # starts at the first point, and valley lands on the plateau: see the test above it)
    fine = np.geomspace(1e-6, 10.0, 200_001)
    x_min = math.log10(fine[np.argmin(valley(fine))])
    for seed in range(5):
        s = suggest_bounds(LRS, noisy_valley(LRS, seed), "valley", smooth=0.9)
        assert CENTER - 0.5 < math.log10(s.max_lr) < x_min, (seed, s)


@pytest.mark.parametrize("method", METHODS)
def test_a_diverging_tail_does_not_move_the_suggestion(method):
    assert suggest_bounds(LRS, diverging(LRS), method) == suggest_bounds(LRS, valley(LRS), method)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_tail_is_cut_off(method, bad):
    losses = valley(LRS)
    losses[120:] = bad
    losses[125] = 0.1  # finite values after the first non-finite one are ignored too
    assert suggest_bounds(LRS, losses, method) == suggest_bounds(LRS[:120], losses[:120], method)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("losses, status", [
    (np.full(50, 0.6931), "flat"),
    (0.6931 + 1e-5 * np.random.default_rng(1).normal(size=50), "flat"),
    (np.full(50, -2.0), "flat"),
    (np.full(50, 0.0), "flat"),
    (np.full(50, math.nan), "no_finite_loss"),
    (np.r_[math.inf, np.ones(49)], "no_finite_loss"),
    (np.array([1.0, 0.5, 0.2, 0.1]), "too_few_points"),
    (np.r_[1.0, 0.5, 0.2, 0.1, math.nan, np.zeros(45)], "too_few_points"),
    (np.array([]), "too_few_points"),
    (np.linspace(1.0, 3.0, 50), "no_descent"),
    (np.r_[np.linspace(3.0, 2.99, 25), np.linspace(2.99, 5.0, 25)], "no_descent"),
])
def test_curves_without_an_answer_say_why(losses, status, method):
    s = suggest_bounds(np.geomspace(1e-5, 1.0, len(losses)) if len(losses) else [], losses,
                       method)
    assert s.status == status and s.status in STATUSES
    assert s.base_lr is None and s.max_lr is None and s.detail
    with pytest.raises(ValueError, match=status):
        s.bounds()


def test_rules_below_the_swept_range_say_so():
    lrs = np.geomspace(1e-3, 1.0, 40)   # the minimum is at lr = 3.5e-3, less than a decade in
    losses = np.r_[np.linspace(1.0, 0.5, 8), np.linspace(0.6, 3.0, 32)]
    assert suggest_bounds(lrs, losses, "minimum").status == "below_range"
    assert suggest_bounds(lrs, losses, "smith").status == "ok"
    falls_at_once = np.r_[1.0, np.linspace(0.5, 3.0, 39)]   # the valley starts at the first LR
    assert suggest_bounds(lrs, falls_at_once, "valley").status == "below_range"


def test_negative_losses_work():
    losses = valley(LRS) - 5.0        # from -4 down to -4.5 and up
    for method in METHODS:
        s = suggest_bounds(LRS, losses, method)
        assert (s.base_lr, s.max_lr) == pytest.approx(ref_suggest(LRS, losses, method))
    r = Sweep(1e-6, 10.0, 141, smooth=0.0, diverge=2.0).run(lambda lr: -2.0 + 5 * (lr > 0.01))
    # best = -2, threshold = -2 + (2 - 1) * |-2| = 0: the first loss of +3 stops the test
    assert r.stop_reason == "diverged" and r.lrs[-1] > 0.01 >= r.lrs[-2]


def test_the_hand_off_to_a_policy():
    s = suggest_bounds(LRS, valley(LRS))
    p = policy.Triangular2(**s.bounds(), step_size=100)
    assert (p(0), p(100)) == (s.base_lr, pytest.approx(s.max_lr))


@given(st.lists(st.floats(-1e6, 1e6) | st.just(math.nan), min_size=0, max_size=40),
       st.sampled_from(METHODS), st.sampled_from([0.0, 0.5, 0.95]))
def test_any_curve_gives_bounds_inside_the_range_or_a_status(losses, method, beta):
    lrs = np.geomspace(1e-4, 1.0, len(losses)) if losses else np.array([])
    s = suggest_bounds(lrs, losses, method, smooth=beta)
    assert s.status in STATUSES
    if s.ok:
        assert_ordered_inside(s, lrs)
        assert math.isfinite(s.base_lr) and math.isfinite(s.max_lr)
    else:
        assert s.base_lr is None and s.max_lr is None


# ---------------------------------------------------------------- smoothing


@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9, 0.98])
def test_smoothing_is_the_bias_corrected_ema(beta):
    raw = noisy_valley(LRS)
    smoothed = smooth_losses(raw, beta)
    assert smoothed[0] == raw[0]
    np.testing.assert_allclose(smoothed, ref_smooth(raw, beta), rtol=1e-12)
    if beta == 0.0:
        np.testing.assert_array_equal(smoothed, raw)


@given(st.floats(-1e12, 1e12), st.floats(0.0, 0.999), st.integers(1, 300))
def test_a_constant_curve_stays_exactly_constant(value, beta, n):
    np.testing.assert_array_equal(smooth_losses(np.full(n, value), beta), np.full(n, value))


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=60), st.floats(0.0, 0.999))
def test_each_smoothed_value_lies_between_the_losses_so_far(losses, beta):
    smoothed = smooth_losses(losses, beta)
    for i, value in enumerate(smoothed):
        lo, hi = min(losses[: i + 1]), max(losses[: i + 1])
        slack = 1e-12 * max(abs(lo), abs(hi))
        assert lo - slack <= value <= hi + slack


def test_non_finite_losses_are_left_out_of_the_average():
    smoothed = smooth_losses([1.0, math.nan, 3.0, math.inf], 0.5)
    np.testing.assert_array_equal(np.isnan(smoothed), [False, True, False, True])
    assert smoothed[2] == pytest.approx(ref_smooth([1.0, 3.0], 0.5)[1])


# ---------------------------------------------------------------- the sweep and its loop


@pytest.mark.parametrize("mode", ["exp", "linear"])
@pytest.mark.parametrize("start, end, n", [(1e-7, 10.0, 100), (0.001, 0.3, 7), (1e-5, 1e-4, 5)])
def test_the_sweep_goes_from_start_lr_to_exactly_end_lr(mode, start, end, n):
    lrs = Sweep(start, end, n, mode).lrs
    assert len(lrs) == n and lrs[0] == start and lrs[-1] == end
    steps = np.diff(np.log(lrs)) if mode == "exp" else np.diff(lrs)
    np.testing.assert_allclose(steps, steps[0], rtol=1e-9)


def run_curve(curve, sweep):
    """Sweep over a synthetic curve: the 'training step' returns curve(lr) and logs its calls."""
    calls = []

    def train_step(lr):
        calls.append(lr)
        return float(curve(np.array([lr]))[0])

    return sweep.run(train_step), calls


def ref_stop(losses, beta, diverge):
    """Index of the step that stops the test, and why (straightforward loop)."""
    s = ref_smooth(losses, beta)
    for i, x in enumerate(losses):
        if not math.isfinite(x):
            return i, "non-finite loss"
        if s[i] > min(s[: i + 1]) * diverge:
            return i, "diverged"
    return len(losses) - 1, "completed"


@pytest.mark.parametrize("beta, diverge", [(0.0, 4.0), (0.9, 4.0), (0.9, 1.5), (0.98, 10.0)])
def test_the_loop_stops_when_the_smoothed_loss_diverges(beta, diverge):
    sweep = Sweep(1e-6, 10.0, 141, smooth=beta, diverge=diverge)
    result, calls = run_curve(diverging, sweep)
    stop, reason = ref_stop(diverging(LRS), beta, diverge)
    assert (len(result.lrs) - 1, result.stop_reason) == (stop, reason) == (stop, "diverged")
    assert result.stopped_early and calls == result.lrs.tolist() == LRS[: stop + 1].tolist()
    np.testing.assert_array_equal(result.losses, diverging(result.lrs))   # the raw curve is kept
    np.testing.assert_allclose(result.smoothed, ref_smooth(result.losses, beta), rtol=1e-12)
    np.testing.assert_allclose(result.smoothed_lrs, ref_centred(result.lrs, beta), rtol=1e-12)
    assert result.suggestion == suggest_bounds(result.lrs, result.losses, "smith", smooth=beta)
    assert_ordered_inside(result.suggestion, result.lrs)


def test_the_loop_stops_at_the_first_non_finite_loss():
    def curve(lrs):
        return np.where(lrs > 0.05, math.nan, valley(lrs))

    result, calls = run_curve(curve, Sweep(1e-6, 10.0, 141, smooth=0.5))
    assert result.stop_reason == "non-finite loss" and result.stopped_early
    assert math.isnan(result.losses[-1]) and math.isnan(result.smoothed[-1])
    assert np.isfinite(result.losses[:-1]).all() and result.lrs[-2] <= 0.05 < result.lrs[-1]
    assert math.isnan(result.smoothed_lrs[-1]) and np.isfinite(result.smoothed_lrs[:-1]).all()
    assert result.suggestion == suggest_bounds(result.lrs[:-1], result.losses[:-1], smooth=0.5)
    assert_ordered_inside(result.suggestion, result.lrs)


def test_a_completed_sweep_and_other_methods():
    result, calls = run_curve(valley, Sweep(1e-6, 0.05, 60, smooth=0.0, method="steepest"))
    assert isinstance(result, RangeTestResult)
    assert result.stop_reason == "completed" and not result.stopped_early and len(calls) == 60
    assert result.suggestion.method == "steepest"
    for method in METHODS:
        assert result.suggest(method) == suggest_bounds(result.lrs, result.losses, method)


def test_an_answerless_run_is_explicit():
    result, _ = run_curve(lambda lrs: np.full(len(lrs), math.nan), Sweep(1e-5, 1.0, 20))
    assert len(result.lrs) == 1 and result.stopped_early
    assert result.suggestion == Suggestion(None, None, "smith", "no_finite_loss",
                                           result.suggestion.detail)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("kwargs, name, error", [
    ({"start_lr": 1.0, "end_lr": 1.0}, "start_lr", ValueError),
    ({"start_lr": 2.0, "end_lr": 1.0}, "start_lr", ValueError),
    ({"start_lr": 0.0}, "start_lr", ValueError),
    ({"start_lr": -1e-3}, "start_lr", ValueError),
    ({"end_lr": -1.0}, "end_lr", ValueError),
    ({"end_lr": math.inf}, "end_lr", ValueError),
    ({"start_lr": "1e-5"}, "start_lr", TypeError),
    ({"num_steps": 4}, "num_steps", ValueError),
    ({"num_steps": 0}, "num_steps", ValueError),
    ({"num_steps": 10.5}, "num_steps", ValueError),
    ({"mode": "log"}, "mode", ValueError),
    ({"smooth": 1.0}, "smooth", ValueError),
    ({"smooth": -0.1}, "smooth", ValueError),
    ({"diverge": 1.0}, "diverge", ValueError),
    ({"method": "fastai"}, "method", ValueError),
])
def test_bad_sweep_arguments_name_the_argument(kwargs, name, error):
    with pytest.raises(error, match=rf"Argument `{name}` must be .*Received: {name}="):
        Sweep(**kwargs)


@pytest.mark.parametrize("lrs, losses, name", [
    ([1e-3, 1e-2, 1e-1], [1.0, 0.5], "lrs"),
    ([1e-3, 1e-3, 1e-1], [1.0, 0.5, 0.2], "lrs"),
    ([1e-1, 1e-2, 1e-3], [1.0, 0.5, 0.2], "lrs"),
    ([0.0, 1e-2, 1e-1], [1.0, 0.5, 0.2], "lrs"),
    ([1e-3, math.nan, 1e-1], [1.0, 0.5, 0.2], "lrs"),
    ([[1e-3, 1e-2]], [[1.0, 0.5]], "losses"),
    ([1e-3, 1e-2], ["a", "b"], "losses"),
])
def test_bad_suggest_arguments_name_the_argument(lrs, losses, name):
    with pytest.raises((ValueError, TypeError), match=rf"Argument `{name}` must be"):
        suggest_bounds(lrs, losses)


def test_bad_method_names_the_argument():
    with pytest.raises(ValueError, match="Argument `method` must be one of 'smith'"):
        suggest_bounds(LRS, valley(LRS), "steep")
