"""Hypothesis properties, per policy family and for every policy."""

import json
import math
import pickle

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from cyclr import policy
from tests import strategies as S

BIG = st.integers(min_value=0, max_value=2**62)


@given(S.any_policy, st.lists(BIG, min_size=1, max_size=20))
def test_scalar_equals_vectorized(p, ks):
    """Bit-equal but for numpy's SIMD ``pow`` (ExpRange), which may differ from libm by an ulp."""
    vectorized = p(np.array(ks, dtype=np.int64))
    scalar = np.array([p(k) for k in ks])
    if not isinstance(p, policy.ExpRange) and not (
            isinstance(p, policy.Join) and any(isinstance(q, policy.ExpRange) for q in p.policies)):
        assert vectorized.tolist() == scalar.tolist()
    np.testing.assert_array_max_ulp(vectorized, scalar, maxulp=2)


@given(S.any_policy, st.lists(BIG, min_size=1, max_size=20))
def test_values_finite_non_negative_at_any_step(p, ks):
    values = p(np.array(ks + [0, 1, 2**63 - 1], dtype=np.int64))
    assert np.all(np.isfinite(values)) and np.all(values >= 0)


@given(S.any_policy)
def test_config_round_trip_json_and_pickle(p):
    config = p.to_config()
    assert json.loads(json.dumps(config)) == config
    rebuilt = policy.from_config(json.loads(json.dumps(config)))
    assert rebuilt == p and type(rebuilt) is type(p)
    assert pickle.loads(pickle.dumps(p)) == p
    ks = np.arange(0, 10_000, 7)
    assert rebuilt(ks).tolist() == p(ks).tolist()


@given(S.cyclical(), st.integers(0, 10**6), st.integers(0, 2**40))
def test_cyclical_shape(p, k, m):
    lo, hi = sorted((p.base_lr, p.max_lr))
    period = p.period
    assert lo - 1e-12 <= p(k) <= hi + 1e-12
    # peak at step_size, trough at the start of a cycle (scaled by the cycle's amplitude)
    c = k // period
    amp = 1.0 if isinstance(p, policy.Triangular) else 2.0**-c
    assert p(c * period) == p.base_lr
    assert math.isclose(p(c * period + p.step_size), p.base_lr + (p.max_lr - p.base_lr) * amp,
                        rel_tol=1e-12, abs_tol=1e-300)
    if isinstance(p, policy.Triangular):  # periodic: whole-period shifts are bit-exact
        assert p(k + m * period) == p(k)


@given(S.cyclical(policy.Triangular2), st.integers(0, 10**5), st.integers(0, 2000))
def test_triangular2_halves_each_cycle(p, pos, c):
    pos %= p.period
    rise = p((c + 1) * p.period + pos) - p.base_lr
    scale = abs(p.max_lr - p.base_lr)
    assert math.isclose(rise, (p(c * p.period + pos) - p.base_lr) / 2, rel_tol=1e-9,
                        abs_tol=1e-12 * scale)


@given(S.cyclical(policy.Triangular), st.integers(0, 10**5))
def test_triangular_phases_are_monotone(p, c):
    up = p(np.arange(c * p.period, c * p.period + p.step_size + 1))
    down = p(np.arange(c * p.period + p.step_size, (c + 1) * p.period + 1))
    sign = 1 if p.max_lr >= p.base_lr else -1
    assert np.all(sign * np.diff(up) >= -1e-15) and np.all(sign * np.diff(down) <= 1e-15)


@given(S.exp_range(), st.integers(0, 10**4))
def test_exp_range_envelope_decays(p, c):
    peak = c * p.period + p.step_size
    expected = p.base_lr + (p.max_lr - p.base_lr) * p.gamma**peak
    assert math.isclose(p(peak), expected, rel_tol=1e-9, abs_tol=1e-12)


@given(S.cosine_restarts(), st.integers(0, 60))
def test_cosine_restarts_restart_positions(p, i):
    start = p.period * i if p.period_mult == 1 else p.period * (p.period_mult**i - 1) // (
        p.period_mult - 1)
    if start > 2**63 - 2:
        return
    assert math.isclose(p(start), p.max_lr, rel_tol=1e-15, abs_tol=1e-15 * p.min_lr)
    length = p.period * p.period_mult**i
    if 1 < length and start + length // 2 <= 2**63 - 1:
        # the middle of a cycle is the midpoint (cos(pi/2) up to rounding)
        assert math.isclose(p(start + length // 2), (p.max_lr + p.min_lr) / 2 + (
            (p.max_lr - p.min_lr) / 2 * math.cos(math.pi * (length // 2) / length)),
            rel_tol=1e-9, abs_tol=1e-12)


@given(S.cosine_restarts(), st.integers(0, 10**6), st.integers(0, 2**40))
def test_cosine_restarts_periodic_without_mult(p, k, m):
    p1 = policy.CosineRestarts(p.max_lr, p.period, 1, p.min_lr)
    assert p1(k + m * p.period) == p1(k)


@given(S.one_cycle())
def test_one_cycle_peak_ends_and_monotone_phases(p):
    t = p.total_steps
    values = p(np.arange(t + 3))
    initial = p.max_lr / p.div_factor
    assert math.isclose(values[0], initial, rel_tol=1e-12)
    assert values.max() <= p.max_lr * (1 + 1e-15)
    if (p.pct_start * t).is_integer():  # torch's peak step pct_start * T - 1 is a whole step
        assert math.isclose(values[int(p.pct_start * t) - 1], p.max_lr, rel_tol=1e-15)
    assert values[t - 1] == values[t] == values[t + 2]
    assert math.isclose(values[t - 1], initial / p.final_div_factor, rel_tol=1e-9,
                        abs_tol=1e-15 * p.max_lr)
    peak = int(np.argmax(values))
    assert np.all(np.diff(values[: peak + 1]) >= -1e-15 * p.max_lr)
    if not p.three_phase:
        assert np.all(np.diff(values[peak:]) <= 1e-15 * p.max_lr)
