"""cyclr_torch.Scheduler under hostile input: last_epoch at the int64 edge, checkpoints of
policies built from numpy values, messages that show the value received."""

import inspect

import numpy as np
import pytest
import torch

from cyclr import policy
from cyclr_torch.scheduler import Scheduler, lightning_config
from tests import strategies as S
from tests.torch.torch_probe import saved

MAX = 2**63 - 1
TRI = policy.Triangular(0.001, 0.1, step_size=4)


def sgd(groups=1):
    torch.manual_seed(0)
    layer = torch.nn.Linear(3, 2)
    params = [{"params": [layer.weight]}, {"params": [layer.bias]}][:groups] if groups > 1 else (
        layer.parameters())
    return torch.optim.SGD(params, lr=1.0, momentum=0.5)




# --- last_epoch at the int64 edge (issue 12.8) ----------------------------------------------------

@pytest.mark.parametrize("last_epoch, error", [
    (MAX, ValueError), (2**63, ValueError), (10**400, ValueError), (-2, ValueError),
    (2.0**63, ValueError), (np.uint64(MAX), ValueError), (True, TypeError), (None, TypeError),
])
def test_last_epoch_beyond_the_last_step_names_last_epoch(last_epoch, error):
    opt = sgd()
    with pytest.raises(error, match=r"^Argument `last_epoch` must be .*Received: last_epoch="):
        Scheduler(opt, TRI, last_epoch=last_epoch)
    assert opt.param_groups[0]["lr"] == 1.0


def test_the_last_step_is_reachable_and_stepping_beyond_it_changes_nothing():
    opt = sgd()
    sched = Scheduler(opt, TRI, last_epoch=np.int64(MAX - 1))
    assert sched.last_epoch == MAX and type(sched.last_epoch) is int
    assert opt.param_groups[0]["lr"] == TRI(MAX) == sched.get_last_lr()[0]
    assert saved(sched.state_dict())["last_epoch"] == MAX
    with pytest.raises(ValueError, match="Argument `step` must be"):
        sched.step()
    assert sched.last_epoch == MAX and opt.param_groups[0]["lr"] == TRI(MAX)


# --- checkpoints of policies built from numpy values (issue 12.9) ---------------------------------

def numpy_twin(value):
    if isinstance(value, bool):
        return np.bool_(value)
    if isinstance(value, int):
        return np.int64(value)
    if isinstance(value, float):
        return np.float32(value)
    if isinstance(value, str):
        return np.str_(value)
    return value


@pytest.mark.parametrize("cls", list(S.VALID), ids=lambda c: c.__name__)
def test_state_dict_of_numpy_built_policies_loads_with_weights_only(cls):
    kwargs = {name: numpy_twin(value) for name, value in S.VALID[cls].items()}
    if cls is policy.Join:
        kwargs["boundaries"] = np.array([10], dtype=np.int32)
    p = cls(**kwargs)
    momentum = policy.one_cycle_momentum(np.int64(50), np.float64(0.85), np.float32(0.95),
                                         anneal=np.str_("linear"), three_phase=np.bool_(True))
    opt = sgd()
    sched = Scheduler(opt, p, momentum=momentum)
    sched.step()
    state = saved(sched.state_dict())  # raised UnpicklingError with a numpy str inside
    assert state == sched.state_dict()
    fresh = Scheduler(sgd(), policy.Constant(0.5))
    fresh.load_state_dict(state)
    assert fresh.policy == p and fresh.momentum == momentum
    assert fresh.optimizer.param_groups[0]["lr"] == p(1)


# --- messages show the value received -------------------------------------------------------------

def test_policy_count_is_said_once():
    with pytest.raises(ValueError) as info:
        Scheduler(sgd(groups=2), [TRI, TRI, TRI])
    message = str(info.value)
    assert message.startswith("Argument `policy` must be a policy, or a sequence with one "
                              "policy per param group (2). Received: policy=[Triangular(")
    assert "3" not in message.split("Received:")[0]


@pytest.mark.parametrize("call, name", [
    (lambda: Scheduler(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU()), TRI),
     "optimizer"),
    (lambda: Scheduler(sgd(), sgd()), "policy"),
    (lambda: lightning_config(sgd()), "scheduler"),
])
def test_big_objects_are_shown_short_on_one_line(call, name):
    with pytest.raises(TypeError) as info:
        call()
    message = str(info.value)
    assert f"Received: {name}=<" in message and "\n" not in message and len(message) < 300


@pytest.mark.parametrize("obj", [Scheduler, lightning_config], ids=lambda o: o.__name__)
def test_public_docstrings_have_args_returns_raises(obj):
    doc = inspect.getdoc(obj)
    assert all(section in doc for section in ("Args:", "Returns:", "Raises:")), obj
