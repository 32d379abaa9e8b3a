"""Long numpy previews run in cache-sized blocks (``Policy._on_numpy``): the same bits as one
pass over the whole array, for every policy type, every shape, and any int dtype; a negative
step in any block is refused as ``check.step`` refuses it."""

import numpy as np
import pytest

from cyclr import policy
from cyclr.ops import NP
from cyclr.policy import _BLOCK
from tests.policies import EVERY_TYPE

N = 3 * _BLOCK + 123  # three full blocks and a partial one


@pytest.mark.parametrize("name", list(EVERY_TYPE))
def test_blocks_give_the_bits_of_one_pass(name):
    p = EVERY_TYPE[name]
    steps = np.arange(N, dtype=np.int64) * 7 + 2**40
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        whole = np.asarray(p.formula(NP, steps), dtype=np.float64)
    assert np.array_equal(p(steps), whole)
    assert np.array_equal(p(steps.reshape(3, -1)[:, :_BLOCK]), whole.reshape(3, -1)[:, :_BLOCK])
    assert np.array_equal(p(steps[::2]), whole[::2])  # not contiguous
    assert np.array_equal(p(steps.astype(np.uint64)), whole)
    assert np.array_equal(p(list(steps[:_BLOCK + 5])), whole[:_BLOCK + 5])


@pytest.mark.parametrize("where", [0, _BLOCK - 1, 2 * _BLOCK + 5, N - 1])
def test_a_negative_step_in_any_block_is_refused(where):
    steps = np.arange(N)
    steps[where] = -3
    with pytest.raises(ValueError, match=r"Argument `step` must be a non-negative integer <= "
                                         r"9223372036854775807. Received: step=-3"):
        policy.Triangular(0.1, 1.0, 5)(steps)
