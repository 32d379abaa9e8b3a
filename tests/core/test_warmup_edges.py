"""Warmup's edges (issue 11): zero steps is the plain policy, the default first LR moves the
weights, and a one-cycle too short for any pct_start names total_steps."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cyclr import policy

MAIN = [
    policy.OneCycle(max_lr=0.1, total_steps=20),
    policy.CosineRestarts(max_lr=0.1, period=50),
    policy.Triangular2(base_lr=1e-3, max_lr=0.1, step_size=4),
    policy.Join((policy.Constant(0.2), policy.Constant(0.1)), (3,)),
]


@pytest.mark.parametrize("main", MAIN, ids=lambda p: type(p).__name__)
def test_zero_warmup_steps_is_the_plain_policy(main):
    plain = policy.warmup(main, 0)
    assert plain is main
    assert policy.warmup(main, 0, start_lr=0.0) is main
    ks = np.arange(60)
    np.testing.assert_array_equal(plain(ks), main(ks))


def test_a_sweep_over_warmup_lengths_includes_zero():
    main = policy.OneCycle(max_lr=0.1, total_steps=20)
    for steps in range(4):
        w = policy.warmup(main, steps)
        assert [w(k) for k in range(steps, steps + 20)] == [main(k) for k in range(20)]


def test_default_first_lr_is_above_zero_evenly_spaced_up_to_the_policy():
    main = policy.CosineRestarts(max_lr=0.1, period=50)
    w = policy.warmup(main, 5)
    expected = [0.1 * (k + 1) / 6 for k in range(5)]
    np.testing.assert_allclose(w(np.arange(5)), expected, rtol=1e-15)
    assert w(0) > 0.0 and w(5) == main(0) and w(6) == main(1)
    assert w.policies[0] == policy.Linear(0.1 / 6, 0.1, 5)     # plain data: config, pickling


@given(st.integers(min_value=1, max_value=10**6),
       st.floats(min_value=1e-8, max_value=10.0, allow_nan=False))
def test_every_warmup_update_is_positive_and_rising_by_default(steps, lr):
    w = policy.warmup(policy.Constant(lr), steps)
    ks = np.unique(np.linspace(0, steps, 50).astype(np.int64))
    values = w(ks)
    assert (values > 0).all() and (np.diff(values) >= 0).all()
    assert math.isclose(w(0), lr / (steps + 1)) and w(steps) == lr


def test_an_explicit_start_lr_still_ramps_from_it():
    w = policy.warmup(policy.Constant(0.5), 5, start_lr=0.0)
    assert w(np.arange(7)).tolist() == [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.5]


@pytest.mark.parametrize("bad, error", [(-1, ValueError), (2.5, ValueError), ("5", TypeError),
                                        (True, TypeError), (None, TypeError)])
def test_bad_warmup_steps_name_steps(bad, error):
    with pytest.raises(error, match=rf"Argument `steps` must be a non-negative integer. "
                                    rf"Received: steps={bad!r}"):
        policy.warmup(policy.Constant(0.1), bad)


@pytest.mark.parametrize("three_phase", [False, True])
@pytest.mark.parametrize("total", [1, 0])
def test_one_cycle_too_short_for_any_pct_start_names_total_steps(total, three_phase):
    with pytest.raises(ValueError, match=rf"Argument `total_steps` must be an integer >= 2 .*"
                                         rf"Received: total_steps={total}$"):
        policy.OneCycle(max_lr=0.1, total_steps=total, three_phase=three_phase)
    with pytest.raises(ValueError, match="Argument `total_steps`"):
        policy.one_cycle_momentum(total, three_phase=three_phase)


@pytest.mark.parametrize("three_phase, pct", [(False, 0.6), (True, 0.6)])
def test_two_steps_is_the_shortest_one_cycle(three_phase, pct):
    p = policy.OneCycle(max_lr=0.1, total_steps=2, pct_start=pct, three_phase=three_phase)
    assert p(0) == pytest.approx(0.1 / 25) and p(1) == pytest.approx(0.1 / 25 / 1e4)
    # there a pct_start that leaves a phase empty is still blamed on pct_start
    with pytest.raises(ValueError, match="Argument `pct_start`"):
        policy.OneCycle(max_lr=0.1, total_steps=2, pct_start=0.3, three_phase=three_phase)
