"""Hypothesis strategies for valid policies, shared by the test modules."""

import math
import sys
from decimal import Decimal
from fractions import Fraction

import numpy as np
from hypothesis import reject
from hypothesis import strategies as st

from cyclr import policy

lrs = st.floats(min_value=0.0, max_value=10.0, allow_nan=False, allow_infinity=False)
positive_lrs = st.floats(min_value=1e-6, max_value=10.0)
sizes = st.integers(min_value=1, max_value=5000)
steps = st.integers(min_value=0, max_value=2**62)


@st.composite
def cyclical(draw, cls=None):
    cls = cls or draw(st.sampled_from([policy.Triangular, policy.Triangular2]))
    down = draw(st.none() | sizes)
    return cls(draw(lrs), draw(lrs), draw(sizes), step_size_down=down)


@st.composite
def exp_range(draw):
    gamma = draw(st.floats(min_value=0.5, max_value=1.0, exclude_min=True))
    return policy.ExpRange(draw(lrs), draw(lrs), draw(sizes), gamma,
                           step_size_down=draw(st.none() | sizes))


@st.composite
def one_cycle(draw):
    total = draw(st.integers(min_value=10, max_value=100_000))
    three = draw(st.booleans())
    # leave every phase at least one step: pct * total > 1 (and 2 * pct * total < total + 1)
    low = 2.0 / total
    high = 0.45 if three else 0.95
    pct = draw(st.floats(min_value=low, max_value=high))
    return policy.OneCycle(draw(positive_lrs), total, pct_start=pct,
                           anneal=draw(st.sampled_from(["cos", "linear"])),
                           div_factor=draw(st.floats(min_value=1.0, max_value=1e3)),
                           final_div_factor=draw(st.floats(min_value=1.0, max_value=1e5)),
                           three_phase=three)


@st.composite
def cosine_restarts(draw):
    return policy.CosineRestarts(draw(lrs), draw(sizes), draw(st.integers(1, 4)), draw(lrs))


constant = st.builds(policy.Constant, lrs)
linear = st.builds(policy.Linear, lrs, lrs, sizes)
simple = st.one_of(cyclical(), exp_range(), one_cycle(), cosine_restarts(), constant, linear)


@st.composite
def joined(draw):
    pieces = draw(st.lists(simple, min_size=2, max_size=4))
    gaps = draw(st.lists(sizes, min_size=len(pieces) - 1, max_size=len(pieces) - 1))
    bounds, total = [], 0
    for gap in gaps:
        total += gap
        bounds.append(total)
    return policy.Join(tuple(pieces), tuple(bounds))


any_policy = st.one_of(simple, joined())


# --- the whole valid space, extreme magnitudes included ---------------------------------------

MAX_STEP = 2**63 - 1
FLOAT_MAX = sys.float_info.max


def extreme_lrs(top=FLOAT_MAX):
    """Any valid LR up to ``top``: 0, subnormals, tiny, ordinary, huge, ``top`` itself."""
    edges = [v for v in (0.0, 5e-324, 2.2250738585072014e-308, 1e-300, 1e-45, 1e-6, 0.1, 1.0,
                         1e38, 2.0**127, 1e300, FLOAT_MAX) if v <= top]
    return st.one_of(st.sampled_from(edges + [top]), st.floats(0.0, top), lrs.filter(
        lambda v: v <= top))


#: Any valid count of updates, from 1 to 2**63 - 1, edges likely.
extreme_counts = st.one_of(st.integers(1, 5000), st.integers(1, MAX_STEP),
                           st.sampled_from([1, 2, 3, 2**31 - 1, 2**53 + 1, 2**62 - 1, 2**62,
                                            MAX_STEP - 1, MAX_STEP]))

#: Any valid positive factor (a div_factor): subnormal to the largest float.
extreme_factors = st.one_of(st.floats(1e-3, 1e3), st.floats(5e-324, FLOAT_MAX),
                            st.sampled_from([5e-324, 1e-300, 1e-6, 1.0, 25.0, 1e300, FLOAT_MAX]))


def _valid(make):
    """``make()``, or a rejected example when it raises ValueError: the draw was outside the
    valid space (a phase without steps, an initial LR beyond float64), which the bad-input tests
    cover. Whatever constructs is valid, and must behave."""
    try:
        return make()
    except ValueError:
        reject()


@st.composite
def extreme_cyclical(draw, top=FLOAT_MAX):
    cls = draw(st.sampled_from([policy.Triangular, policy.Triangular2, policy.ExpRange]))
    size = draw(extreme_counts.filter(lambda n: n < MAX_STEP))
    downs = st.integers(1, MAX_STEP - size) | st.just(MAX_STEP - size)
    # without step_size_down the period is 2 * step_size, which must fit in int64 too
    down = draw(st.none() | downs if 2 * size <= MAX_STEP else downs)
    base, peak = draw(extreme_lrs(top)), draw(extreme_lrs(top))
    if cls is policy.ExpRange:
        gamma = draw(st.floats(5e-324, 1.0) | st.sampled_from([5e-324, 1e-300, 0.5,
                                                               1 - 2**-53, 1.0]))
        return cls(base, peak, size, gamma, step_size_down=down)
    return cls(base, peak, size, step_size_down=down)


@st.composite
def extreme_one_cycle(draw, top=FLOAT_MAX):
    total = draw(extreme_counts.filter(lambda n: n >= 2))
    three = draw(st.booleans())
    high = 0.5 if three else 1.0  # beyond, phase 3 of three would run backwards
    pct = draw(st.floats(0.0, high, exclude_min=True, exclude_max=True)
               | st.sampled_from([0.3, high - 2**-53]))
    lr, div, final = draw(extreme_lrs(top)), draw(extreme_factors), draw(extreme_factors)
    anneal = draw(st.sampled_from(["cos", "linear"]))
    return _valid(lambda: policy.OneCycle(lr, total, pct, anneal, div, final, three))


@st.composite
def extreme_cosine_restarts(draw, top=FLOAT_MAX):
    mult = draw(st.integers(1, 4) | st.integers(1, MAX_STEP) | st.just(MAX_STEP))
    return policy.CosineRestarts(draw(extreme_lrs(top)), draw(extreme_counts), mult,
                                 draw(extreme_lrs(top)))


def extreme_simple(top=FLOAT_MAX):
    return st.one_of(extreme_cyclical(top), extreme_one_cycle(top), extreme_cosine_restarts(top),
                     st.builds(policy.Constant, extreme_lrs(top)),
                     st.builds(policy.Linear, extreme_lrs(top), extreme_lrs(top), extreme_counts))


@st.composite
def extreme_join(draw, top=FLOAT_MAX):
    pieces = draw(st.lists(extreme_simple(top), min_size=2, max_size=3))
    bounds = draw(st.lists(st.integers(1, MAX_STEP) | st.integers(1, 1000), min_size=len(pieces)
                           - 1, max_size=len(pieces) - 1, unique=True))
    return policy.Join(tuple(pieces), tuple(sorted(bounds)))


def extreme_policies(top=FLOAT_MAX):
    """Any valid policy whose levels are at most ``top``, from the whole space: extreme LRs and
    factors, counts up to 2**63 - 1, nested Joins."""
    simple = extreme_simple(top)
    return st.one_of(simple, extreme_join(top), st.builds(
        policy.warmup, simple, extreme_counts, extreme_lrs(top))).filter(lambda p: p.peak <= top)


#: Policies whose integers reach the int64 edge: periods, restarts, boundaries near 2**63 - 1.
INT64_EDGES = [
    policy.Triangular(0.0, 1.0, MAX_STEP // 2),  # period 2**63 - 2
    policy.Triangular2(0.0, 1.0, 2**62 - 1, step_size_down=2**62),
    policy.ExpRange(0.0, 1.0, 1, 1 - 2**-53, step_size_down=MAX_STEP - 1),
    policy.OneCycle(1.0, MAX_STEP),
    policy.OneCycle(1.0, MAX_STEP, pct_start=0.49, three_phase=True, anneal="linear"),
    policy.CosineRestarts(1.0, MAX_STEP, period_mult=MAX_STEP),
    policy.CosineRestarts(1.0, 1, period_mult=2),  # 63 restarts, the last at 2**63 - 1
    policy.CosineRestarts(1.0, 2**62, period_mult=1),
    policy.Linear(0.0, 1.0, MAX_STEP),
    policy.Join((policy.Constant(0.1), policy.Constant(0.2), policy.Constant(0.3)),
                (MAX_STEP - 1, MAX_STEP)),
    policy.warmup(policy.Triangular(0.0, 1.0, 3), MAX_STEP),
]

#: Steps to evaluate the int64 edges at.
EDGE_STEPS = [0, 1, 2, 2**62 - 1, 2**62, 2**62 + 1, MAX_STEP - 2, MAX_STEP - 1, MAX_STEP]


def steps_for(p):
    """Steps to try on ``p``: random ones over the whole range, the ends, and each of its
    boundaries, periods and restarts +-1 (where the formula switches)."""
    marks = [0, 1, 2, MAX_STEP - 1, MAX_STEP]
    for q in (p.policies if isinstance(p, policy.Join) else (p,)):
        for name in ("step_size", "total_steps", "period"):
            n = getattr(q, name, None)
            if isinstance(n, int):
                marks += [n - 1, n, n + 1, 2 * n - 1, 2 * n]
        if isinstance(q, policy.CosineRestarts) and q.period_mult > 1:
            starts = q.restarts[0]
            marks += [s + d for s in starts[:5] + starts[-3:] for d in (-1, 0, 1)]
    if isinstance(p, policy.Join):
        marks += [b + d for b in p.boundaries for d in (-1, 0, 1)]
    marks = [m for m in marks if 0 <= m <= MAX_STEP]
    return st.lists(st.integers(0, MAX_STEP) | st.integers(0, 10**6), max_size=10).map(
        lambda ks: sorted(set(ks + marks)))


# --- invalid values, per kind of field --------------------------------------------------------

#: One valid set of arguments per policy class: the bad-input tests change one field at a time.
VALID = {
    policy.Constant: {"lr": 0.1},
    policy.Linear: {"start_lr": 0.0, "end_lr": 0.1, "total_steps": 10},
    policy.Triangular: {"base_lr": 0.01, "max_lr": 0.1, "step_size": 10, "step_size_down": 5},
    policy.Triangular2: {"base_lr": 0.01, "max_lr": 0.1, "step_size": 10, "step_size_down": None},
    policy.ExpRange: {"base_lr": 0.01, "max_lr": 0.1, "step_size": 10, "gamma": 0.99,
                      "step_size_down": None},
    policy.OneCycle: {"max_lr": 0.1, "total_steps": 100, "pct_start": 0.3, "anneal": "cos",
                      "div_factor": 25.0, "final_div_factor": 1e4, "three_phase": False},
    policy.CosineRestarts: {"max_lr": 0.1, "period": 10, "period_mult": 2, "min_lr": 0.001},
    policy.Join: {"policies": (policy.Constant(0.1), policy.Constant(0.2)), "boundaries": (10,)},
    policy.Scaled: {"policy": policy.Constant(0.1), "boundaries": (10,), "scales": (0.5,)},
}

#: The kind of every field of every policy: which values are invalid for it.
KINDS = {
    "lr": "lr", "start_lr": "lr", "end_lr": "lr", "base_lr": "lr", "max_lr": "lr",
    "min_lr": "lr", "step_size": "count", "total_steps": "count", "period": "count",
    "period_mult": "count", "step_size_down": "optional_count", "gamma": "gamma",
    "pct_start": "fraction", "div_factor": "factor", "final_div_factor": "factor",
    "anneal": "anneal", "three_phase": "flag", "policies": "policies",
    "boundaries": "boundaries", "policy": "policy", "scales": "scales",
}

#: Values of a wrong type for any number field.
NOT_NUMBERS = st.sampled_from([None, "0.1", b"1", [], [0.1], {}, (1,), 1j, True, False,
                               np.bool_(True), np.array([0.1]), Decimal("0.1"), object()])
TOO_BIG = st.sampled_from([10**400, -(10**400), Fraction(10**400, 3)]) | st.integers(2**1024)
NOT_FINITE = st.sampled_from([math.nan, math.inf, -math.inf, np.float64("nan"),
                              np.float32("inf")])
NEGATIVE = st.floats(max_value=-5e-324) | st.integers(max_value=-1) | st.just(np.float32(-1))
BAD_COUNTS = st.one_of(
    st.integers(max_value=0), st.integers(min_value=2**63), st.just(np.uint64(2**63)),
    st.floats(0.0, 1e6).filter(lambda v: not v.is_integer()), st.just(np.float64(2.5)),
    st.just(2.0**63), st.just(1e300), NOT_FINITE, TOO_BIG)

_VALUE_ERRORS = {
    "lr": NEGATIVE | NOT_FINITE | TOO_BIG,
    "count": BAD_COUNTS,
    "optional_count": BAD_COUNTS,
    "gamma": st.floats(max_value=0.0) | st.floats(min_value=1.0, exclude_min=True)
    | NOT_FINITE | TOO_BIG,
    "fraction": st.floats(max_value=0.0) | st.floats(min_value=1.0) | NOT_FINITE | TOO_BIG,
    # the smallest factors make max_lr / div_factor (or its final division) overflow to inf
    "factor": st.floats(max_value=0.0) | st.sampled_from([5e-324, 1e-320]) | NOT_FINITE
    | TOO_BIG,
    "anneal": st.text(max_size=8).filter(lambda s: s not in ("cos", "linear")),
    "flag": st.nothing(),
    "policies": st.sampled_from([(), [], "nested"]),
    "boundaries": st.sampled_from([(0,), (-1,), (2**63,), (10, 20), (), (2.5,), (10**400,)]),
    # a Scaled may start at 0; a wrong count of boundaries is a wrong count of scales there
    "scaled_boundaries": st.sampled_from([(-1,), (2**63,), (2.5,), (10**400,), (12, 12)]),
    "policy": st.just("nested"),
    "scales": st.sampled_from([(0.0,), (-1.0,), (math.inf,), (math.nan,), (), (0.5, 0.5),
                               (10**400,)]),
}
_TYPE_ERRORS = {
    "optional_count": NOT_NUMBERS.filter(lambda v: v is not None),  # None: the default
    "anneal": st.sampled_from([None, 1, b"cos", ["cos"], np.float64(1.0)]),
    "flag": st.sampled_from([None, 0, 1, 1.0, "True", "yes", [True], np.int64(1)]),
    "policies": st.sampled_from([None, 0.1, "abc", b"ab", {"type": "Constant", "lr": 0.1},
                                 [0.1], [lambda k: 0.1], (policy.Constant(0.1), "x")]),
    "boundaries": st.sampled_from([None, 10, "10", b"1", {10: 1}, (None,), ("10",), (True,)]),
    "policy": st.sampled_from([None, 0.1, "abc", [policy.Constant(0.1)], lambda k: 0.1]),
    "scaled_boundaries": st.sampled_from([None, 10, "10", b"1", {10: 1}, (None,), ("10",),
                                          (True,)]),
    "scales": st.sampled_from([None, 0.5, "0.5", b"1", (None,), ("0.5",), (True,)]),
}


def _deep_join(depth):
    p = policy.Constant(0.1)
    for _ in range(depth):
        p = policy.Join((p, policy.Constant(0.2)), (5,))
    return p


@st.composite
def invalid_field(draw):
    """``(cls, kwargs, field, error)``: ``cls(**kwargs)`` must raise ``error`` naming
    ``field``; ``kwargs`` is :data:`VALID` with ``field`` made invalid."""
    cls = draw(st.sampled_from(list(VALID)))
    field = draw(st.sampled_from(sorted(VALID[cls])))
    kind = "scaled_boundaries" if (cls, field) == (policy.Scaled, "boundaries") else KINDS[field]
    wrong_type = draw(st.booleans()) if kind != "flag" else True
    if wrong_type:
        value, error = draw(_TYPE_ERRORS.get(kind, NOT_NUMBERS)), TypeError
    else:
        value, error = draw(_VALUE_ERRORS[kind]), ValueError
    if isinstance(value, str) and value == "nested":  # Joins nested one level too deep
        value = (_deep_join(policy.MAX_NESTING) if field == "policy" else
                 (_deep_join(policy.MAX_NESTING), policy.Constant(0.1)))
    return cls, {**VALID[cls], field: value}, field, error
