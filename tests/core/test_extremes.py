"""The whole valid space: every policy that constructs gives finite values within its bounds, at
every step up to 2**63 - 1, from numpy and from Python; the int64 edges of every integer a
formula computes with."""

import json
import math
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cyclr import policy
from tests import strategies as S

MAX = 2**63 - 1


def assert_within_bounds(p, values):
    lo, hi = p.bounds
    values = np.asarray(values, dtype=np.float64)
    assert np.all(np.isfinite(values)), (p, values)
    tol = 8 * sys.float_info.epsilon * max(abs(lo), abs(hi)) + 1e-320  # a Python float
    assert np.all(values >= lo - tol) and np.all(values <= hi + tol), (p, lo, hi, values)


def assert_close(p, vectorized, scalar):
    """numpy and Python agree to 1e-13 of the policy's scale. (numpy's SIMD pow may differ from
    libm by an ulp, which ``base + (max - base) * gamma**k`` can magnify relative to a small
    value; everything else is bit-equal.)"""
    scale = max(abs(v) for v in p.bounds)
    np.testing.assert_allclose(vectorized, scalar, rtol=0, atol=1e-13 * scale + 1e-320)


@given(st.data())
def test_every_valid_policy_is_finite_and_bounded_in_numpy_and_python(data):
    p = data.draw(S.extreme_policies(), label="policy")
    ks = data.draw(S.steps_for(p), label="steps")
    vectorized = p(np.array(ks, dtype=np.int64))
    assert_within_bounds(p, vectorized)
    scalar = [p(k) for k in ks]
    assert all(type(v) is float for v in scalar)
    assert_within_bounds(p, scalar)
    assert_close(p, vectorized, scalar)


@given(S.extreme_policies())
def test_levels_bound_the_policy_name_its_fields_and_configs_round_trip(p):
    lo, hi = p.bounds
    assert lo <= hi and p.peak == hi and math.isfinite(hi)
    config = json.loads(json.dumps(p.to_config()))
    assert policy.from_config(config) == p
    for level in p.levels:
        node = config
        for part in level.field.split("."):  # "policies[1].max_lr"
            name, _, index = part.partition("[")
            node = node[name] if not index else node[name][int(index[:-1])]
        assert node == level.received


@pytest.mark.parametrize("p", S.INT64_EDGES, ids=lambda p: type(p).__name__)
def test_int64_edges_are_valid_and_exact(p):
    ks = S.EDGE_STEPS
    vectorized = p(np.array(ks, dtype=np.int64))
    assert_within_bounds(p, vectorized)
    assert_close(p, vectorized, [p(k) for k in ks])


def test_int64_edges_where_the_formula_switches():
    assert policy.CosineRestarts(1.0, 1, period_mult=2)(MAX) == 1.0  # a restart, exactly
    join = policy.Join((policy.Constant(0.1), policy.Constant(0.2)), (MAX,))
    assert join(np.array([MAX - 1, MAX])).tolist() == [0.1, 0.2]
    tri = policy.Triangular(0.0, 1.0, MAX // 2)
    assert tri(MAX // 2) == 1.0 and tri(np.array([MAX // 2])).tolist() == [1.0]


@pytest.mark.parametrize("make", [
    lambda: policy.CosineRestarts(np.finfo(float).max, 10),
    lambda: policy.CosineRestarts(np.finfo(float).max, 10, period_mult=3, min_lr=1.0),
    lambda: policy.Triangular(np.finfo(float).max, 0.0, 3),
    lambda: policy.OneCycle(np.finfo(float).max, 10, div_factor=1.0, final_div_factor=1.0),
    lambda: policy.OneCycle(1.0, 10, div_factor=5e-324 * 2**60),  # initial 2.4e305
])
def test_largest_floats_stay_finite(make):
    """CosineRestarts halves the cosine before multiplying: ``(max - min) * cos`` would overflow
    (the bits are the same as torch's ``(max - min) * cos / 2`` for every ordinary value)."""
    p = make()
    assert_within_bounds(p, p(np.arange(25)))
