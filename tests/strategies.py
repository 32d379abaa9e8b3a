"""Hypothesis strategies for valid policies, shared by the test modules."""

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
