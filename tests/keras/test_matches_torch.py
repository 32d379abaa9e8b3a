"""The differential cases of ``tests/torch/test_policy_matches_torch.py`` through ``keras.ops``
on this process's Keras backend (``test_other_backends.py`` runs the others): every policy, and
the momentum torch cycles with it, within float32 rounding of torch's own scheduler (of the core,
which equals torch to 1e-12, where torch is not installed)."""

import importlib.util

import keras
import numpy as np
import pytest

from cyclr_tf.schedule import Schedule
from tests.differential import CASES, float32_error, torch_trace
from tests.policies import FLOAT32

HAS_TORCH = importlib.util.find_spec("torch") is not None
#: Every case is evaluated on the same steps (and compared on its own first ones): one shape, so
#: eager JAX compiles each operation once, not once per case.
STEPS = np.arange(max(case.steps for case in CASES))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_keras_ops_agree_with_torch(case):
    n = case.steps
    if HAS_TORCH:
        lrs, moms = torch_trace(case)
    else:
        lrs = case.policy(STEPS[:n])
        moms = case.momentum(STEPS[:n]) if case.momentum is not None else None
    tensor = keras.ops.convert_to_tensor(STEPS, dtype="int32")
    got = keras.ops.convert_to_numpy(Schedule(case.policy)(tensor))[:n]
    assert float32_error(got, lrs) <= FLOAT32
    if case.momentum is not None:
        got = keras.ops.convert_to_numpy(Schedule(case.momentum)(tensor))[:n]
        assert float32_error(got, moms) <= FLOAT32
