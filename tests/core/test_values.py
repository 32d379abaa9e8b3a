"""Golden vectors (PyTorch's own scheduler tests, the papers) and slow reference oracles."""

import math

import numpy as np
import pytest

from cyclr import policy


def smith_2017(k, base_lr, max_lr, step_size, mode="triangular", gamma=1.0):
    """Smith 2017 (arXiv:1506.01186), section 3.1, transcribed literally."""
    cycle = math.floor(1 + k / (2 * step_size))
    x = abs(k / step_size - 2 * cycle + 1)
    scale = {"triangular": 1.0, "triangular2": 1 / 2 ** (cycle - 1), "exp_range": gamma**k}[mode]
    return base_lr + (max_lr - base_lr) * max(0.0, 1 - x) * scale


def sgdr_stepwise(n, max_lr, period, mult, min_lr):
    """SGDR (arXiv:1608.03983) by counting: T_cur restarts at T_i, which grows by T_mult."""
    out, t, length = [], 0, period
    for _ in range(n):
        out.append(min_lr + (max_lr - min_lr) * (1 + math.cos(math.pi * t / length)) / 2)
        t += 1
        if t == length:
            t, length = 0, length * mult
    return out


# --- golden vectors from PyTorch's test/optim/test_lrscheduler.py (as values) -------------------

def test_triangular_torch_golden():
    p = policy.Triangular(base_lr=1, max_lr=5, step_size=4)
    assert p(np.arange(11)).tolist() == [1, 2, 3, 4, 5, 4, 3, 2, 1, 2, 3]


def test_triangular2_torch_golden():
    p = policy.Triangular2(base_lr=1, max_lr=5, step_size=4)
    expected = [1, 2, 3, 4, 5, 4, 3, 2, 1, 1.5, 2.0, 2.5, 3.0, 2.5, 2.0, 1.5, 1,
                1.25, 1.50, 1.75, 2.00, 1.75]
    assert p(np.arange(len(expected))).tolist() == expected


def test_exp_range_torch_golden():
    p = policy.ExpRange(base_lr=1, max_lr=5, step_size=4, gamma=0.9)
    xs = [0, 0.25, 0.5, 0.75, 1, 0.75, 0.5, 0.25] * 3
    expected = [1 + 4 * x * 0.9**i for i, x in enumerate(xs)]
    np.testing.assert_allclose(p(np.arange(len(xs))), expected, rtol=1e-14)


def test_asymmetric_triangular_torch_golden():
    p = policy.Triangular(base_lr=1, max_lr=5, step_size=4, step_size_down=2)
    np.testing.assert_allclose(p(np.arange(9)), [1, 2, 3, 4, 5, 3, 1, 2, 3], rtol=1e-15)


def _anneal_cos(start, end, pct):
    return end + (start - end) / 2 * (math.cos(math.pi * pct) + 1)


def test_one_cycle_linear_torch_golden():
    p = policy.OneCycle(max_lr=25, total_steps=10, anneal="linear", final_div_factor=2)
    momentum = policy.one_cycle_momentum(10, base_momentum=1, max_momentum=22, anneal="linear")
    np.testing.assert_allclose(p(np.arange(10)), [1, 13, 25, 21.5, 18, 14.5, 11, 7.5, 4, 0.5],
                               rtol=1e-14)
    np.testing.assert_allclose(momentum(np.arange(10)), [22, 11.5, 1, 4, 7, 10, 13, 16, 19, 22],
                               rtol=1e-14)


def test_one_cycle_cos_torch_golden():
    p = policy.OneCycle(max_lr=25, total_steps=10, final_div_factor=2)
    expected = [1, 13, 25] + [_anneal_cos(25, 0.5, i / 7.0) for i in range(1, 8)]
    np.testing.assert_allclose(p(np.arange(10)), expected, rtol=1e-14)


def test_one_cycle_three_phase_torch_golden():
    p = policy.OneCycle(max_lr=25, total_steps=10, anneal="linear", div_factor=25,
                        final_div_factor=2, three_phase=True)
    expected = [1, 13, 25, 13, 1, 0.9, 0.8, 0.7, 0.6, 0.5]
    np.testing.assert_allclose(p(np.arange(10)), expected, rtol=1e-14)


# --- oracles -------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode, cls", [("triangular", policy.Triangular),
                                       ("triangular2", policy.Triangular2)])
@pytest.mark.parametrize("step_size", [1, 3, 250])
def test_cyclical_matches_smith_2017(mode, cls, step_size):
    p = cls(base_lr=0.001, max_lr=0.1, step_size=step_size)
    ks = np.arange(6 * step_size + 3)
    expected = [smith_2017(int(k), 0.001, 0.1, step_size, mode) for k in ks]
    np.testing.assert_allclose(p(ks), expected, rtol=1e-13, atol=1e-17)


def test_exp_range_matches_smith_2017():
    p = policy.ExpRange(base_lr=0.001, max_lr=0.1, step_size=50, gamma=0.999)
    ks = np.arange(1000)
    expected = [smith_2017(int(k), 0.001, 0.1, 50, "exp_range", 0.999) for k in ks]
    np.testing.assert_allclose(p(ks), expected, rtol=1e-12, atol=1e-17)


@pytest.mark.parametrize("period, mult", [(10, 1), (10, 2), (3, 3), (1, 2)])
def test_cosine_restarts_matches_sgdr_counting(period, mult):
    p = policy.CosineRestarts(max_lr=0.5, period=period, period_mult=mult, min_lr=1e-3)
    expected = sgdr_stepwise(3000, 0.5, period, mult, 1e-3)
    assert p(np.arange(3000)).tolist() == expected


def test_cosine_restarts_hits_max_exactly_at_every_restart():
    p = policy.CosineRestarts(max_lr=0.5, period=10, period_mult=2)
    restarts = [10 * (2**i - 1) for i in range(40)]  # up to ~1.1e13
    assert [p(k) for k in restarts] == [0.5] * 40
    for i, k in enumerate(restarts[1:]):  # the step before a restart ends the previous cycle
        length = 10 * 2**i
        assert p(k - 1) == 0.5 * (1 + math.cos(math.pi * (length - 1) / length)) / 2


def test_warm_restart_boundaries_exact_where_a_float_log_fails():
    """torch's closed form n = int(log(k / T0 * (mult - 1) + 1, mult)) misplaces restarts."""
    p = policy.CosineRestarts(max_lr=1.0, period=3, period_mult=3)
    wrong = []
    for i in range(1, 38):
        start = 3 * (3**i - 1) // 2
        n_float = int(math.log(start / 3 * 2 + 1, 3))
        wrong += [start] if n_float != i else []
        assert p(start) == 1.0 and p(start - 1) < 1.0
    assert wrong, "the float closed form should misplace at least one restart in this range"


def test_linear_and_warmup():
    p = policy.Linear(start_lr=0.0, end_lr=1.0, total_steps=4)
    assert p(np.arange(7)).tolist() == [0, 0.25, 0.5, 0.75, 1, 1, 1]
    w = policy.warmup(policy.Constant(0.5), steps=5, start_lr=0.0)
    assert w(np.arange(8)).tolist() == [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.5, 0.5]


def test_join_gives_each_piece_its_local_step():
    a = policy.Triangular(0.0, 1.0, 2)
    b = policy.CosineRestarts(1.0, 4)
    j = policy.Join((a, b), (6,))
    ks = np.arange(20)
    expected = [a(int(k)) if k < 6 else b(int(k) - 6) for k in ks]
    assert j(ks).tolist() == expected


def test_finite_policies_hold_their_final_value():
    p = policy.OneCycle(max_lr=0.1, total_steps=100)
    final = p(99)
    assert final == pytest.approx(0.1 / 25 / 1e4)
    assert [p(k) for k in (100, 105, 10**9, 2**63 - 1)] == [final] * 4
    lin = policy.Linear(0.1, 0.0, 10)
    assert lin(10**15) == 0.0


def test_triangular2_never_overflows():
    """torch's CyclicLR raises OverflowError at cycle 1025 (pytorch#52989)."""
    p = policy.Triangular2(base_lr=0.001, max_lr=0.1, step_size=2)
    ks = np.array([4 * 1024 + 2, 4 * 10**4 + 2, 10**18])
    assert p(ks).tolist() == [0.001, 0.001, 0.001]
    assert p(4 * 5 + 2) == pytest.approx(0.001 + 0.099 / 32)
