"""The public surface of the core: the operation-namespace protocol, signatures, docstrings."""

import dataclasses
import inspect
import math

import numpy as np
import pytest

from cyclr import ops, policy

# --- the Ops protocol ---------------------------------------------------------------------------


@pytest.mark.parametrize("namespace", [ops.PY, ops.NP], ids=["PY", "NP"])
def test_namespaces_satisfy_the_ops_protocol(namespace):
    assert isinstance(namespace, ops.Ops)
    members = {name for name, value in vars(ops.Ops).items()
               if not name.startswith("_") and callable(value)}
    assert members == set(ops.OPERATIONS) == set(vars(namespace))


def test_an_object_without_the_operations_is_not_a_namespace():
    assert not isinstance(object(), ops.Ops)


def test_py_and_np_compute_the_same_operations():
    table = (0, 3, 10, 2**63 - 1)
    k = [0, 2, 3, 9, 10, 2**63 - 1]
    for step in k:
        s = np.array([step], dtype=np.int64)
        assert ops.NP.count_le(table, s).tolist() == [ops.PY.count_le(table, step)]
    assert ops.NP.take((1.5, 2.5), np.array([1])).tolist() == [ops.PY.take((1.5, 2.5), 1)]
    for base, x in ((2.0, -1100.0), (2.0, -3.0), (0.5, 7.0), (0.999, 1e6), (1e-300, 2.0)):
        assert math.isclose(float(ops.NP.power(base, np.array(x))), ops.PY.power(base, x),
                            rel_tol=1e-15, abs_tol=0)
    assert ops.NP.where(np.array([True, False]), 1.0, 2.0).tolist() == [
        ops.PY.where(True, 1.0, 2.0), ops.PY.where(False, 1.0, 2.0)]
    assert float(ops.NP.float(np.array(2**63 - 1))) == ops.PY.float(2**63 - 1)


# --- signatures ---------------------------------------------------------------------------------

def test_exp_range_has_a_real_dataclass_signature():
    """gamma is required (no fake default) and keeps its place after step_size, so positional,
    keyword and config construction all mean the same policy."""
    gamma = {f.name: f for f in dataclasses.fields(policy.ExpRange)}["gamma"]
    assert gamma.default is dataclasses.MISSING
    assert list(inspect.signature(policy.ExpRange).parameters) == [
        "base_lr", "max_lr", "step_size", "gamma", "step_size_down"]
    # the dataclass's generated __init__, not one written in policy.py
    assert policy.ExpRange.__init__.__code__.co_filename != policy.__file__
    by_keyword = policy.ExpRange(base_lr=0.1, max_lr=1.0, step_size=5, gamma=0.9)
    assert policy.ExpRange(0.1, 1.0, 5, 0.9) == by_keyword
    assert policy.ExpRange(0.1, 1.0, 5, 0.9, 3) == policy.ExpRange(
        0.1, 1.0, 5, gamma=0.9, step_size_down=3)
    with pytest.raises(TypeError, match="gamma"):
        policy.ExpRange(0.1, 1.0, 5)  # type: ignore[call-arg]


def test_config_keys_are_the_constructor_keywords():
    for cls in (policy.Constant, policy.Linear, policy.Triangular, policy.Triangular2,
                policy.ExpRange, policy.OneCycle, policy.CosineRestarts, policy.Join):
        assert list(inspect.signature(cls).parameters) == [
            f.name for f in dataclasses.fields(cls)]


# --- docstrings ---------------------------------------------------------------------------------

PUBLIC = [policy.Constant, policy.Linear, policy.Triangular, policy.Triangular2,
          policy.ExpRange, policy.OneCycle, policy.CosineRestarts, policy.Join, policy.warmup,
          policy.one_cycle_momentum, policy.from_config]


@pytest.mark.parametrize("obj", PUBLIC, ids=lambda o: o.__name__)
def test_public_docstrings_have_args_returns_raises(obj):
    doc = inspect.getdoc(obj)
    for section in ("Args:", "Returns:", "Raises:"):
        assert section in doc, (obj.__name__, section)
    if isinstance(obj, type):
        assert "__doc__" in vars(obj)  # written in the class body, seen by IDEs
        assert "optimizer updates" in doc or obj is policy.Constant


@pytest.mark.parametrize("obj", PUBLIC[:8] + [policy.warmup, policy.one_cycle_momentum],
                         ids=lambda o: o.__name__)
def test_policy_docstrings_cite_their_source(obj):
    doc = inspect.getdoc(obj)
    assert "arXiv:" in doc or "optax" in doc or obj is policy.Constant
