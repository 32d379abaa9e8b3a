"""Policies are immutable data: configs, equality, pickling, nesting."""

import dataclasses
import json
import pickle

import numpy as np
import pytest

from cyclr import policy
from tests import strategies as S

EXAMPLES = [
    policy.Constant(0.01),
    policy.Linear(0.0, 0.1, 50),
    policy.Triangular(0.001, 0.1, 200),
    policy.Triangular2(0.1, 0.001, 200, step_size_down=100),
    policy.ExpRange(0.001, 0.1, 200, 0.999),
    policy.OneCycle(0.1, 1000, pct_start=0.25, anneal="linear", three_phase=True),
    policy.CosineRestarts(0.1, 100, period_mult=2, min_lr=1e-5),
    policy.warmup(policy.Triangular2(0.001, 0.1, 200), 50),
    policy.Join((policy.warmup(policy.Constant(0.1), 5), policy.OneCycle(0.1, 100)), (20,)),
]


@pytest.mark.parametrize("p", EXAMPLES, ids=lambda p: type(p).__name__)
def test_config_is_json_and_rebuilds_equal(p):
    text = json.dumps(p.to_config())
    rebuilt = policy.from_config(json.loads(text))
    assert rebuilt == p and hash(rebuilt) == hash(p)
    assert type(p).from_config(json.loads(text)) == p
    ks = np.arange(3000)
    assert rebuilt(ks).tolist() == p(ks).tolist()


@pytest.mark.parametrize("p", EXAMPLES, ids=lambda p: type(p).__name__)
def test_config_keys_are_the_attributes(p):
    config = p.to_config()
    assert config["type"] == type(p).__name__
    assert set(config) - {"type"} == {f.name for f in dataclasses.fields(p)}
    for key, value in config.items():
        if key not in ("type", "policies", "boundaries"):
            assert getattr(p, key) == value


@pytest.mark.parametrize("p", EXAMPLES, ids=lambda p: type(p).__name__)
def test_policies_are_frozen_and_pickle(p):
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.max_lr = 1.0  # type: ignore[misc]
    clone = pickle.loads(pickle.dumps(p))
    assert clone == p and clone(12345) == p(12345)


def test_no_callables_anywhere_in_state():
    def walk(value):
        if isinstance(value, dict):
            for v in value.values():
                yield from walk(v)
        elif isinstance(value, list):
            for v in value:
                yield from walk(v)
        else:
            yield value

    for p in EXAMPLES:
        assert all(isinstance(v, (int, float, str, bool, type(None)))
                   for v in walk(p.to_config()))


def test_inverted_cycles_are_allowed():
    momentum = policy.Triangular(base_lr=0.95, max_lr=0.85, step_size=10)
    assert momentum(0) == 0.95 and momentum(10) == pytest.approx(0.85)


# --- fields are plain Python types (issue 12.9) ------------------------------------------------

NUMPY_TWINS = {
    float: [np.float64, np.float32, np.float16, np.longdouble],
    int: [np.int64, np.int32, np.uint16, np.uint64, np.int8],
    str: [np.str_],
    bool: [np.bool_],
}


@pytest.mark.parametrize("cls", [c for c in S.VALID if c not in (policy.Join, policy.Scaled)],
                         ids=lambda c: c.__name__)
@pytest.mark.parametrize("twin", range(5))
def test_numpy_scalars_become_plain_python_fields(cls, twin):
    kwargs = {}
    for name, value in S.VALID[cls].items():
        twins = NUMPY_TWINS.get(type(value), [])
        kwargs[name] = twins[twin % len(twins)](value) if twins else value
    p = cls(**kwargs)
    for field in dataclasses.fields(p):
        value = getattr(p, field.name)
        assert type(value) in (int, float, str, bool, type(None)), (field.name, type(value))
    config = json.loads(json.dumps(p.to_config()))
    assert config == p.to_config() and policy.from_config(config) == p


def test_one_cycle_anneal_from_numpy_is_a_plain_str():
    p = policy.OneCycle(0.1, 100, anneal=np.str_("linear"), three_phase=np.bool_(True))
    assert type(p.anneal) is str and type(p.three_phase) is bool
    assert pickle.dumps(p.to_config()) == pickle.dumps(policy.OneCycle(
        0.1, 100, anneal="linear", three_phase=True).to_config())


def test_str_subclasses_become_the_option_itself():
    class Name(str):
        pass

    assert type(policy.OneCycle(0.1, 100, anneal=Name("cos")).anneal) is str


def test_join_holds_plain_ints_and_policies():
    p = policy.Join([{"type": "Constant", "lr": np.float32(0.5)}, policy.Constant(0.1)],
                    np.array([7], dtype=np.uint32))
    assert type(p.boundaries) is tuple and type(p.boundaries[0]) is int
    assert type(p.policies[0].lr) is float


def test_a_subclass_with_a_non_plain_field_is_refused():
    @dataclasses.dataclass(frozen=True)
    class Listy(policy.Policy):
        values: list

        @property
        def levels(self):
            return ()

    try:
        with pytest.raises(TypeError, match="Argument `values` must be a plain Python"):
            Listy([0.1])
    finally:
        policy._REGISTRY.pop("Listy")


# --- from_config on a class builds that class (issue 9) ----------------------------------------

def test_from_config_on_a_class_builds_only_that_class():
    config = policy.OneCycle(0.1, 100).to_config()
    for cls in (policy.Triangular, policy.Constant, policy.Join):
        with pytest.raises(ValueError, match=rf"Argument `config` must be a {cls.__name__} "
                           "policy config"):
            cls.from_config(config)
    with pytest.raises(ValueError, match="Argument `config` must be a Triangular policy"):
        policy.Triangular.from_config(policy.Triangular2(0.1, 1.0, 5).to_config())
    with pytest.raises(ValueError, match="Argument `config` must be a Triangular policy"):
        policy.Triangular.from_config(policy.Triangular2(0.1, 1.0, 5))
    assert policy.OneCycle.from_config(config) == policy.OneCycle(0.1, 100)
    assert policy.Policy.from_config(config) == policy.from_config(config)
    assert type(policy.Policy.from_config(config)) is policy.OneCycle


def test_missing_fields_come_from_the_dataclass_fields():
    with pytest.raises(ValueError, match=r"a complete ExpRange config \(missing \['gamma'\]\)"):
        policy.from_config({"type": "ExpRange", "base_lr": 0.1, "max_lr": 1.0, "step_size": 5})
    with pytest.raises(ValueError, match=r"missing \['max_lr', 'total_steps'\]"):
        policy.from_config({"type": "OneCycle", "pct_start": 0.4})
    # a constructor's own TypeError is never mistaken for a missing field, nor swallowed
    with pytest.raises(TypeError, match="Argument `step_size` must be a positive integer"):
        policy.from_config({"type": "Triangular", "base_lr": 0.1, "max_lr": 1.0,
                            "step_size": "missing"})
