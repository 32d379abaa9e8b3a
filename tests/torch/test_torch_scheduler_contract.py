"""cyclr_torch.Scheduler's contract: construction, bad input, state_dict / load_state_dict in
every order, torch.load(weights_only=True), pickling, last_epoch as torch means it."""

import copy
import json
import pickle
import warnings

import pytest
import torch

from cyclr import policy
from cyclr_torch.scheduler import Scheduler, lightning_config
from tests.torch.torch_probe import saved

TRI2 = policy.Triangular2(base_lr=1e-3, max_lr=0.1, step_size=4, step_size_down=6)
MOM = policy.Triangular2(base_lr=0.95, max_lr=0.85, step_size=4, step_size_down=6)


def model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 1))


def three_groups(m):
    return [{"params": m[0].weight}, {"params": m[0].bias, "lr": 7.0},
            {"params": m[2].parameters()}]


def sgd(m, groups=1):
    return torch.optim.SGD(m.parameters() if groups == 1 else three_groups(m), lr=1.0,
                           momentum=0.5)


def fit(m, opt, sched, start, steps):
    """Train; return the (lr, momentum) every update applied, read when optimizer.step() runs."""
    applied = []
    hook = opt.register_step_pre_hook(lambda o, a, kw: applied.append(
        [(g["lr"], g.get("momentum")) for g in o.param_groups]))
    for k in range(start, start + steps):
        gen = torch.Generator().manual_seed(k)
        x = torch.randn(8, 4, generator=gen)
        torch.nn.functional.mse_loss(m(x), x.sum(1, keepdim=True).cos()).backward()
        opt.step()
        opt.zero_grad()
        sched.step()
    hook.remove()
    return applied


def groups_snapshot(opt):
    return copy.deepcopy([{k: v for k, v in g.items() if k != "params"}
                          for g in opt.param_groups])


# --- construction -----------------------------------------------------------------------------

def test_construction_applies_update_zero():
    opt = sgd(model())
    sched = Scheduler(opt, TRI2, momentum=MOM)
    assert isinstance(sched, torch.optim.lr_scheduler.LRScheduler)
    assert sched.last_epoch == 0
    assert opt.param_groups[0]["lr"] == TRI2(0) and opt.param_groups[0]["momentum"] == MOM(0)
    assert sched.get_last_lr() == [TRI2(0)]
    assert "initial_lr" not in opt.param_groups[0]  # construction adds nothing else


def test_one_policy_per_group():
    opt = sgd(model(), groups=3)
    ps = [TRI2, policy.Constant(0.3), policy.OneCycle(max_lr=0.2, total_steps=9)]
    ms = [MOM, policy.Constant(0.7), policy.one_cycle_momentum(9)]
    sched = Scheduler(opt, ps, momentum=ms)
    for k in range(12):
        assert [g["lr"] for g in opt.param_groups] == [p(k) for p in ps] == sched.get_last_lr()
        assert [g["momentum"] for g in opt.param_groups] == [m(k) for m in ms]
        sched.step()


def test_get_lr_is_pure_and_silent():
    opt = sgd(model())
    sched = Scheduler(opt, TRI2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's schedulers warn here
        for _ in range(3):
            assert sched.get_lr() == [TRI2(0)]
    assert sched.last_epoch == 0 and opt.param_groups[0]["lr"] == TRI2(0)


def test_step_with_epoch_jumps_exactly():
    opt = sgd(model())
    sched = Scheduler(opt, TRI2)
    sched.step(10**9 + 3)
    assert sched.last_epoch == 10**9 + 3 and opt.param_groups[0]["lr"] == TRI2(10**9 + 3)
    sched.step()
    assert opt.param_groups[0]["lr"] == TRI2(10**9 + 4)
    with pytest.raises(ValueError, match="`epoch`"):
        sched.step(2.5)
    assert sched.last_epoch == 10**9 + 4


@pytest.mark.parametrize("n", [0, 5, 23])
def test_last_epoch_means_what_it_means_in_torch(n):
    """``last_epoch=n``: n updates done, the scheduler starts at update n + 1 -- the same place
    as torch's CyclicLR(last_epoch=n); and no 'initial_lr' KeyError."""
    opt = sgd(model())
    sched = Scheduler(opt, TRI2, momentum=MOM, last_epoch=n)
    assert sched.last_epoch == n + 1
    assert opt.param_groups[0]["lr"] == TRI2(n + 1)
    assert opt.param_groups[0]["momentum"] == MOM(n + 1)

    theirs_opt = sgd(model())
    theirs_opt.param_groups[0]["initial_lr"] = 1e-3  # torch needs it, cyclr does not
    theirs = torch.optim.lr_scheduler.CyclicLR(
        theirs_opt, base_lr=1e-3, max_lr=0.1, step_size_up=4, step_size_down=6,
        mode="triangular2", base_momentum=0.85, max_momentum=0.95, last_epoch=n)
    assert theirs.last_epoch == sched.last_epoch
    assert theirs_opt.param_groups[0]["lr"] == pytest.approx(TRI2(n + 1), rel=1e-12)
    assert theirs_opt.param_groups[0]["momentum"] == pytest.approx(MOM(n + 1), rel=1e-12)


# --- bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "error", "name"), [
    ({"policy": "triangular"}, TypeError, "policy"),
    ({"policy": 0.1}, TypeError, "policy"),
    ({"policy": TRI2.to_config()}, TypeError, "policy"),
    ({"policy": lambda k: 0.1}, TypeError, "policy"),
    ({"policy": [TRI2, "x", TRI2]}, TypeError, "policy"),
    ({"policy": [TRI2, TRI2]}, ValueError, "policy"),
    ({"policy": []}, ValueError, "policy"),
    ({"policy": TRI2, "momentum": 0.9}, TypeError, "momentum"),
    ({"policy": TRI2, "momentum": [MOM]}, ValueError, "momentum"),
    ({"policy": TRI2, "last_epoch": -2}, ValueError, "last_epoch"),
    ({"policy": TRI2, "last_epoch": 1.5}, ValueError, "last_epoch"),
    ({"policy": TRI2, "last_epoch": "3"}, TypeError, "last_epoch"),
    ({"policy": TRI2, "momentum": MOM, "last_epoch": -7}, ValueError, "last_epoch"),
])
def test_bad_input_raises_and_leaves_the_optimizer_alone(kwargs, error, name):
    opt = sgd(model(), groups=3)
    before = groups_snapshot(opt)
    with pytest.raises(error, match=f"Argument `{name}` must be"):
        Scheduler(opt, **kwargs)
    assert groups_snapshot(opt) == before


def test_not_an_optimizer():
    with pytest.raises(TypeError, match="Argument `optimizer` must be a torch.optim.Optimizer"):
        Scheduler(model().parameters(), TRI2)


def test_momentum_on_an_optimizer_without_momentum():
    opt = torch.optim.Adagrad(model().parameters(), lr=0.5)
    before = groups_snapshot(opt)
    with pytest.raises(ValueError, match="Argument `momentum` must be None for Adagrad"):
        Scheduler(opt, TRI2, momentum=MOM)
    assert groups_snapshot(opt) == before  # the LR was not half-applied either
    Scheduler(opt, TRI2)  # without momentum it is fine
    assert opt.param_groups[0]["lr"] == TRI2(0)


def test_load_state_dict_needs_a_dict():
    sched = Scheduler(sgd(model()), TRI2)
    with pytest.raises(TypeError, match="Argument `state_dict` must be"):
        sched.load_state_dict([("last_epoch", 3)])


def test_lightning_config_needs_a_scheduler():
    with pytest.raises(TypeError, match="Argument `scheduler` must be"):
        lightning_config(TRI2)


# --- state: save, load, resume ----------------------------------------------------------------



def test_state_dict_is_plain_data():
    opt = sgd(model(), groups=3)
    ps = [TRI2, policy.warmup(policy.CosineRestarts(max_lr=0.1, period=5, period_mult=2), 3),
          policy.Constant(0.2)]
    sched = Scheduler(opt, ps, momentum=MOM)
    for _ in range(7):
        sched.step()
    state = sched.state_dict()
    assert state == {"last_epoch": 7, "policy": [p.to_config() for p in ps],
                     "momentum": MOM.to_config(), "added": []}
    assert json.loads(json.dumps(state)) == state
    assert saved(state) == state
    assert pickle.loads(pickle.dumps(state)) == state
    for p in ps + [MOM]:
        assert pickle.loads(pickle.dumps(p)) == p


def test_the_scheduler_pickles_with_its_optimizer():
    """torch's CyclicLR cannot (a WeakMethod in its state); nothing here holds a callable."""
    opt = sgd(model())
    sched = Scheduler(opt, TRI2, momentum=MOM)
    sched.step()
    clone = pickle.loads(pickle.dumps(sched))
    clone.step()
    sched.step()
    assert clone.optimizer is not opt
    assert clone.optimizer.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == TRI2(2)
    assert clone.optimizer.param_groups[0]["momentum"] == MOM(2)


ORDERS = {
    # optimizer state loaded before the scheduler exists
    "opt-load, new-sched, sched-load": ("opt", "new", "sched"),
    # scheduler built first (it overwrites the LR), optimizer state loaded afterwards
    "new-sched, opt-load, sched-load": ("new", "opt", "sched"),
    "new-sched, sched-load, opt-load": ("new", "sched", "opt"),
}


@pytest.mark.parametrize("groups", [1, 3])
@pytest.mark.parametrize("order", list(ORDERS))
def test_resume_in_any_order_continues_exactly(order, groups):
    n, more = 13, 20
    ps = TRI2 if groups == 1 else [TRI2, policy.OneCycle(max_lr=0.3, total_steps=25),
                                   policy.CosineRestarts(max_lr=0.2, period=3, period_mult=2)]
    ms = MOM if groups == 1 else [MOM, policy.Constant(0.6), policy.one_cycle_momentum(25)]

    m = model()
    opt = sgd(m, groups)
    sched = Scheduler(opt, ps, momentum=ms)
    fit(m, opt, sched, 0, n)
    checkpoint = saved({"model": m.state_dict(), "optimizer": opt.state_dict(),
                        "scheduler": sched.state_dict()})
    expected = fit(m, opt, sched, n, more)  # the uninterrupted run

    m2 = model()
    m2.load_state_dict(checkpoint["model"])
    opt2 = sgd(m2, groups)
    for action in ORDERS[order]:
        if action == "opt":
            opt2.load_state_dict(checkpoint["optimizer"])
        elif action == "new":
            sched2 = Scheduler(opt2, ps, momentum=ms)
        else:
            sched2.load_state_dict(checkpoint["scheduler"])
    assert sched2.last_epoch == n
    assert [g["lr"] for g in opt2.param_groups] == sched2.get_last_lr() == sched2.get_lr()
    assert fit(m2, opt2, sched2, n, more) == expected
    assert all(torch.equal(a, b) for a, b in zip(m.parameters(), m2.parameters()))


def test_load_state_dict_restores_the_saved_policy():
    """As torch's schedulers restore all their settings, the checkpoint's policy wins over the
    one given at construction."""
    opt = sgd(model())
    source = Scheduler(opt, TRI2)
    for _ in range(5):
        source.step()
    target = Scheduler(sgd(model()), policy.Constant(0.5))
    target.load_state_dict(source.state_dict())
    assert target.policy == TRI2 and target.momentum is None
    assert target.optimizer.param_groups[0]["lr"] == TRI2(5)


def test_resume_with_a_new_policy_through_last_epoch():
    """The documented way to resume with a different schedule: last_epoch = saved - 1."""
    m = model()
    opt = sgd(m)
    sched = Scheduler(opt, TRI2, momentum=MOM)
    fit(m, opt, sched, 0, 9)
    state = sched.state_dict()
    new = policy.CosineRestarts(max_lr=0.2, period=4)
    resumed = Scheduler(sgd(model()), new, last_epoch=state["last_epoch"] - 1)
    assert resumed.last_epoch == 9 and resumed.optimizer.param_groups[0]["lr"] == new(9)


@pytest.mark.parametrize(("change", "error", "name"), [
    (lambda s: s.pop("momentum"), ValueError, "state_dict"),
    (lambda s: s.update(extra=1), ValueError, "state_dict"),
    (lambda s: s.update(last_epoch=-1), ValueError, "last_epoch"),
    (lambda s: s.update(policy={"type": "Nope"}), ValueError, "config"),
    (lambda s: s.update(policy={**TRI2.to_config(), "step_size": 0}), ValueError, "step_size"),
    (lambda s: s.update(policy=[TRI2.to_config()] * 2), ValueError, "policy"),
    (lambda s: s.update(policy=0.1), TypeError, "policy"),
    (lambda s: s.update(momentum=MOM.to_config()), ValueError, "momentum"),
])
def test_bad_state_changes_nothing(change, error, name):
    opt = torch.optim.Adagrad(model().parameters(), lr=0.5)  # no momentum: last case fails
    sched = Scheduler(opt, policy.OneCycle(max_lr=0.1, total_steps=20))
    for _ in range(3):
        sched.step()
    state, before = sched.state_dict(), groups_snapshot(opt)
    bad = copy.deepcopy(state)
    change(bad)
    with pytest.raises(error, match=f"`{name}`"):
        sched.load_state_dict(bad)
    assert sched.state_dict() == state and groups_snapshot(opt) == before
    sched.step()
    assert sched.last_epoch == 4 and opt.param_groups[0]["lr"] == sched.policy(4)


def test_beta_tensors_are_updated_in_place_and_beta2_kept():
    m = model()
    beta1, beta2 = torch.tensor(0.9), torch.tensor(0.999)
    opt = torch.optim.Adam(m.parameters(), lr=0.1, betas=(beta1, beta2))
    sched = Scheduler(opt, TRI2, momentum=MOM)
    for k in range(6):
        b1, b2 = opt.param_groups[0]["betas"]
        assert b1 is beta1 and b2 is beta2
        assert b1.item() == torch.tensor(MOM(k)).item() and b2.item() == torch.tensor(0.999).item()
        fit(m, opt, sched, k, 1)
