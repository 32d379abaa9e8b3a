"""``cyclr.ops.ArrayOps``, the namespace of every array-API library (and of Keras), checked here
with numpy's own array API namespace (``array_api_compat.numpy``), so the core's tests need no
framework: every policy type in int32 and float32 within float32 rounding of the float64
values, integer tables cut at int32's end, Python integers beyond int32 clipped, ``take`` on
indices of any shape."""

import numpy as np
import pytest

from cyclr import ops, policy
from tests.policies import EVERY_TYPE, FLOAT32, max_error

compat = pytest.importorskip("array_api_compat.numpy",
                             reason="array-api-compat is a core dependency: reinstall cyclr")

INT32 = ops.ArrayOps(compat, np.int32, np.float32)
INT64 = ops.ArrayOps(compat, np.int64, np.float64, cache_tables=True)


def test_it_satisfies_the_ops_protocol_as_a_namespace():
    namespace = INT32.as_namespace()
    assert isinstance(INT32, ops.Ops) and isinstance(namespace, ops.Ops)
    assert set(vars(namespace)) == set(ops.OPERATIONS)


@pytest.mark.parametrize("name", list(EVERY_TYPE))
def test_every_policy_in_int32_and_float32(name):
    p = EVERY_TYPE[name]
    steps = np.arange(300, dtype=np.int32)
    value = p.formula(INT32, steps)
    assert value.dtype == np.float32 and value.shape == steps.shape
    assert max_error(p, steps, value) <= FLOAT32
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        assert np.allclose(p.formula(INT64, steps.astype(np.int64)), p(steps), rtol=1e-15,
                           atol=0)


def test_tables_are_cut_at_the_end_of_the_step_dtype():
    p = policy.CosineRestarts(0.1, period=1, period_mult=2)
    starts, _ = p.restarts
    assert len(starts) == 64 and len(INT32.table(starts)) == 32  # 2**k - 1 up to 2**31 - 1
    top = np.array([2**31 - 2, 2**31 - 1], dtype=np.int32)
    assert max_error(p, top, p.formula(INT32, top)) <= FLOAT32


def test_python_integers_beyond_the_step_dtype_are_clipped_in_minimum_and_maximum():
    k = np.array([0, 5, 2**31 - 1], dtype=np.int32)
    assert INT32.minimum(k, 10**12).tolist() == k.tolist()
    assert INT32.maximum(k - 3, 0).tolist() == [0, 2, 2**31 - 4]
    assert INT32.minimum(k, 4).dtype == np.int32


def test_take_and_count_le_on_any_shape():
    table = (0, 3, 10)
    k = np.array([[0, 2], [3, 11]], dtype=np.int32)
    assert INT32.count_le(table, k).tolist() == [[1, 1], [2, 3]]
    assert INT32.take((1.5, 2.5, 3.5), INT32.count_le(table, k) - 1).tolist() == [
        [1.5, 1.5], [2.5, 3.5]]
    assert float(INT32.take((1.5, 2.5), np.asarray(1, dtype=np.int32))) == 2.5


def test_kept_tables_are_made_once():
    first = INT64.table((0, 7, 21))
    assert INT64.table((0, 7, 21)) is first
    assert INT32.table((0, 7, 21)) is not INT32.table((0, 7, 21))
