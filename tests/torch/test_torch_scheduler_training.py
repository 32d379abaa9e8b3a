"""cyclr_torch.Scheduler in real training loops: the LR and momentum each optimizer update
actually uses equal the core policy exactly, and torch's own schedulers for the same settings."""

import math
import warnings

import pytest
import torch

from cyclr import policy
from cyclr_torch.scheduler import Scheduler, lightning_config
from tests.torch.torch_probe import batch, record_applied, train

STEPS = 40  # past the end of the finite policies below: they must hold their final value

POLICIES = {
    "constant": policy.Constant(0.05),
    "linear": policy.Linear(0.0, 0.1, 20),
    "triangular": policy.Triangular(base_lr=1e-3, max_lr=0.1, step_size=5),
    "triangular2": policy.Triangular2(base_lr=1e-3, max_lr=0.1, step_size=4, step_size_down=6),
    "exp_range": policy.ExpRange(base_lr=1e-3, max_lr=0.1, step_size=5, gamma=0.97),
    "one_cycle_cos": policy.OneCycle(max_lr=0.1, total_steps=30),
    "one_cycle_linear": policy.OneCycle(max_lr=0.1, total_steps=30, anneal="linear"),
    "one_cycle_3phase_cos": policy.OneCycle(max_lr=0.1, total_steps=30, three_phase=True),
    "one_cycle_3phase_linear": policy.OneCycle(max_lr=0.1, total_steps=30, pct_start=0.25,
                                               anneal="linear", three_phase=True),
    "cosine_restarts": policy.CosineRestarts(max_lr=0.1, period=3, period_mult=2, min_lr=1e-3),
    "warmup": policy.warmup(policy.Triangular2(base_lr=1e-3, max_lr=0.1, step_size=4), 6),
    "join": policy.Join([policy.Constant(0.01), policy.Linear(0.01, 0.1, 5),
                         policy.CosineRestarts(max_lr=0.1, period=7)], [4, 12]),
}
NAMES = list(POLICIES)


def three_groups_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


def param_groups(model, groups):
    if groups == 1:
        return model.parameters()
    first, _, last = model
    return [{"params": first.weight}, {"params": first.bias}, {"params": last.parameters()}]


def rotations(values, n):
    """n distinct entries of values, starting from each one in turn (distinct per group)."""
    return lambda i: [values[(i + j) % len(values)] for j in range(n)]


@pytest.mark.parametrize("groups", [1, 3])
@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
@pytest.mark.parametrize("name", NAMES)
def test_applied_lr_and_momentum_equal_the_core_at_every_update(name, opt_name, groups):
    model = three_groups_model()
    if opt_name == "SGD":
        opt = torch.optim.SGD(param_groups(model, groups), lr=1.0, momentum=0.5)
        momenta = [policy.Triangular(base_lr=0.95, max_lr=0.85, step_size=7),
                   policy.Constant(0.9), policy.one_cycle_momentum(25)]
    else:
        opt = torch.optim.Adam(param_groups(model, groups), lr=1.0, betas=(0.5, 0.98))
        momenta = [policy.one_cycle_momentum(25), policy.Constant(0.8),
                   policy.CosineRestarts(max_lr=0.95, period=6, min_lr=0.85)]
    if groups == 1:
        lr_policies, m_policies = [POLICIES[name]], momenta[:1]
        sched = Scheduler(opt, POLICIES[name], momentum=momenta[0])
    else:
        lr_policies = rotations([POLICIES[n] for n in NAMES], 3)(NAMES.index(name))
        m_policies = momenta
        sched = Scheduler(opt, lr_policies, momentum=m_policies)
    assert sched.last_epoch == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # normal use emits no warnings
        applied = train(model, opt, sched, STEPS)

    assert len(applied) == STEPS
    for k, per_group in enumerate(applied):
        for (lr, momentum, betas), p, m in zip(per_group, lr_policies, m_policies, strict=True):
            assert lr == p(k)
            if opt_name == "SGD":
                assert momentum == m(k)
            else:
                assert betas == (m(k), 0.98)  # beta2 untouched at every update
    assert sched.last_epoch == STEPS
    assert sched.get_last_lr() == [p(STEPS) for p in lr_policies]


@pytest.mark.parametrize("make_opt", [
    lambda ps: torch.optim.SGD(ps, lr=0.5),
    lambda ps: torch.optim.SGD(ps, lr=0.5, momentum=0.9, nesterov=True),
    lambda ps: torch.optim.Adam(ps, lr=0.5, betas=(0.8, 0.9)),
    lambda ps: torch.optim.AdamW(ps, lr=0.5, betas=(0.8, 0.9)),
], ids=["SGD-no-momentum", "SGD-nesterov", "Adam", "AdamW"])
def test_momentum_none_never_touches_momentum(make_opt):
    model = three_groups_model()
    opt = make_opt(model.parameters())
    before = {k: v for k, v in opt.param_groups[0].items() if k in ("momentum", "betas")}
    p = POLICIES["one_cycle_cos"]
    applied = train(model, opt, Scheduler(opt, p), 12)
    for k, ((lr, momentum, betas),) in enumerate(applied):
        assert lr == p(k)
        assert {"momentum": momentum, "betas": betas}.items() >= before.items()


@pytest.mark.parametrize(("make_opt", "key"), [
    (lambda ps: torch.optim.RMSprop(ps, lr=0.1, momentum=0.5), "momentum"),
    (lambda ps: torch.optim.AdamW(ps, lr=0.1, betas=(0.5, 0.97)), "betas"),
    (lambda ps: torch.optim.NAdam(ps, lr=0.1, betas=(0.5, 0.97)), "betas"),
    (lambda ps: torch.optim.Adamax(ps, lr=0.1, betas=(0.5, 0.97)), "betas"),
], ids=["RMSprop", "AdamW", "NAdam", "Adamax"])
def test_momentum_goes_to_momentum_or_first_beta(make_opt, key):
    model = three_groups_model()
    opt = make_opt(model.parameters())
    m = policy.Triangular(base_lr=0.95, max_lr=0.85, step_size=3)
    applied = train(model, opt, Scheduler(opt, POLICIES["triangular"], momentum=m), 10)
    for k, ((_, momentum, betas),) in enumerate(applied):
        assert (momentum if key == "momentum" else betas) == (
            m(k) if key == "momentum" else (m(k), 0.97))


def test_sgd_weights_move_by_exactly_the_policy_lr():
    """The optimizer really uses the LR: a hand-written SGD update with lr = policy(k) gives the
    same weights bit for bit."""
    model, twin = three_groups_model(), three_groups_model()
    p = POLICIES["triangular2"]
    opt = torch.optim.SGD(model.parameters(), lr=123.0)
    sched = Scheduler(opt, p)
    for k in range(STEPS):
        x, y = batch(k)
        for m in (model, twin):
            torch.nn.functional.mse_loss(m(x), y).backward()
        opt.step()
        opt.zero_grad()
        sched.step()
        with torch.no_grad():
            for w in twin.parameters():
                w.add_(w.grad, alpha=-p(k))
                w.grad = None
        assert all(torch.equal(a, b) for a, b in zip(model.parameters(), twin.parameters()))


def test_tensor_lr_is_updated_in_place():
    model = three_groups_model()
    lr = torch.tensor(0.5)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    p = POLICIES["cosine_restarts"]
    sched = Scheduler(opt, p)
    assert opt.param_groups[0]["lr"] is lr
    values = []
    for k in range(10):
        values.append(lr.item())
        (last,) = sched.get_last_lr()
        assert isinstance(last, torch.Tensor) and last is not lr and last.item() == lr.item()
        torch.nn.functional.mse_loss(model(batch(k)[0]), batch(k)[1]).backward()
        opt.step()
        opt.zero_grad()
        sched.step()
    assert opt.param_groups[0]["lr"] is lr
    assert values == [torch.tensor(p(k)).item() for k in range(10)]


# --- the same numbers as torch's own schedulers ------------------------------------------------

def close(a, b):
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)


def traces_agree(ours, theirs, key):
    assert len(ours) == len(theirs) > 0
    for (a,), (b,) in zip(ours, theirs):
        assert close(a[0], b[0])
        assert (a[1], a[2]) != (None, None)
        if key == "momentum":
            assert close(a[1], b[1])
        else:
            assert close(a[2][0], b[2][0]) and a[2][1] == b[2][1]


def twin_runs(make_opt, make_torch, make_cyclr, steps):
    runs = []
    for make in (make_torch, make_cyclr):
        model = three_groups_model()
        opt = make_opt(model.parameters())
        runs.append(train(model, opt, make(opt), steps))
    return runs


@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
def test_equals_torch_cyclic_lr_with_momentum_cycling(mode, opt_name):
    lo, hi, up, down, gamma, m_lo, m_hi = 1e-3, 0.1, 5, 3, 0.98, 0.8, 0.9
    cls = {"triangular": policy.Triangular, "triangular2": policy.Triangular2,
           "exp_range": policy.ExpRange}[mode]
    extra = {"gamma": gamma} if mode == "exp_range" else {}

    def make_opt(ps):
        if opt_name == "SGD":
            return torch.optim.SGD(ps, lr=hi, momentum=m_hi)
        return torch.optim.Adam(ps, lr=hi, betas=(m_hi, 0.99))

    theirs, ours = twin_runs(
        make_opt,
        lambda opt: torch.optim.lr_scheduler.CyclicLR(
            opt, base_lr=lo, max_lr=hi, step_size_up=up, step_size_down=down, mode=mode,
            gamma=gamma, base_momentum=m_lo, max_momentum=m_hi),
        lambda opt: Scheduler(
            opt, cls(base_lr=lo, max_lr=hi, step_size=up, step_size_down=down, **extra),
            momentum=cls(base_lr=m_hi, max_lr=m_lo, step_size=up, step_size_down=down, **extra)),
        STEPS)
    traces_agree(ours, theirs, "momentum" if opt_name == "SGD" else "betas")


@pytest.mark.parametrize("anneal", ["cos", "linear"])
@pytest.mark.parametrize("three_phase", [False, True])
def test_equals_torch_one_cycle_lr_with_momentum_cycling(anneal, three_phase):
    total, kw = 37, {"pct_start": 0.25, "div_factor": 10.0, "final_div_factor": 100.0}
    theirs, ours = twin_runs(
        lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
        lambda opt: torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=0.1, total_steps=total, anneal_strategy=anneal, three_phase=three_phase,
            base_momentum=0.8, max_momentum=0.95, **kw),
        lambda opt: Scheduler(
            opt, policy.OneCycle(max_lr=0.1, total_steps=total, anneal=anneal,
                                 three_phase=three_phase, **kw),
            momentum=policy.one_cycle_momentum(total, base_momentum=0.8, max_momentum=0.95,
                                               pct_start=0.25, anneal=anneal,
                                               three_phase=three_phase)),
        total)  # torch raises one step later; cyclr would hold the final value
    traces_agree(ours, theirs, "momentum")


@pytest.mark.parametrize(("period", "mult"), [(5, 1), (3, 2), (2, 3)])
def test_equals_torch_cosine_annealing_warm_restarts(period, mult):
    theirs, ours = twin_runs(
        lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
        lambda opt: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
            opt, T_0=period, T_mult=mult, eta_min=1e-3),
        lambda opt: Scheduler(opt, policy.CosineRestarts(max_lr=0.1, period=period,
                                                         period_mult=mult, min_lr=1e-3)),
        STEPS)
    traces_agree(ours, theirs, "momentum")


def test_stepping_past_the_end_holds_the_final_value():
    total = 12
    p = policy.OneCycle(max_lr=0.1, total_steps=total)
    model = three_groups_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = Scheduler(opt, p, momentum=policy.one_cycle_momentum(total))
    applied = train(model, opt, sched, total + 5)  # no "Tried to step N times"
    assert [a[0][0] for a in applied[total - 1:]] == [p(total - 1)] * 6
    assert [a[0][1] for a in applied[total - 1:]] == [0.95] * 6
    assert opt.param_groups[0]["lr"] == p(total - 1) == sched.get_last_lr()[0]
    # torch's OneCycleLR, same settings, raises at that point
    opt = torch.optim.SGD(three_groups_model().parameters(), lr=0.1, momentum=0.9)
    theirs = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=total)
    with pytest.raises(ValueError, match="Tried to step"):
        for _ in range(total + 5):
            opt.step()
            theirs.step()


# --- mixed precision: a GradScaler that skips updates -------------------------------------------

def scaled_loop(model, opt, scaler, sched, steps, skip, step_only_when_applied=False):
    """A GradScaler loop whose loss is infinite at the updates in ``skip`` (so the scaler skips
    optimizer.step() there). Returns (last_epoch, lr) of every applied update and the weights
    before/after each skipped one."""
    applied, frozen = [], []
    opt.register_step_pre_hook(
        lambda o, a, kw: applied.append((sched.last_epoch, o.param_groups[0]["lr"])))
    for k in range(steps):
        x, y = batch(k)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = torch.nn.functional.mse_loss(model(x).float(), y)
        if k in skip:
            loss = loss * math.inf
        before = [w.detach().clone() for w in model.parameters()]
        scale = scaler.get_scale()
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        opt.zero_grad()
        if k in skip:
            frozen.append(all(torch.equal(a, b) for a, b in zip(before, model.parameters())))
        if not step_only_when_applied or scaler.get_scale() >= scale:
            sched.step()
    return applied, frozen


def test_grad_scaler_skipped_updates_no_spurious_warning():
    p, steps, skip = POLICIES["triangular"], 15, {0, 6}
    model = three_groups_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = Scheduler(opt, p, momentum=policy.Triangular(base_lr=0.95, max_lr=0.85, step_size=5))
    scaler = torch.amp.GradScaler("cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        applied, frozen = scaled_loop(model, opt, scaler, sched, steps, skip)
    assert frozen == [True, True]  # the scaler really skipped those updates
    # the policy follows the loop: skipped iterations use up their step
    assert applied == [(k, p(k)) for k in range(steps) if k not in skip]
    assert sched.last_epoch == steps

    # the same loop with torch's own scheduler: its order check misfires on the skipped update
    model = three_groups_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    theirs = torch.optim.lr_scheduler.CyclicLR(opt, base_lr=1e-3, max_lr=0.1, step_size_up=5)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        scaled_loop(model, opt, torch.amp.GradScaler("cpu"), theirs, steps, skip)


def test_grad_scaler_stepping_only_applied_updates():
    """The documented recipe: step the scheduler only when the scale did not drop, and the
    policy counts applied updates only."""
    p, steps, skip = POLICIES["one_cycle_cos"], 15, {0, 6, 7}
    model = three_groups_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = Scheduler(opt, p)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        applied, frozen = scaled_loop(model, opt, torch.amp.GradScaler("cpu"), sched, steps,
                                      skip, step_only_when_applied=True)
    assert frozen == [True] * 3
    assert applied == [(k, p(k)) for k in range(steps - len(skip))]


# --- Lightning: the helper steps per update -----------------------------------------------------

def lightning_like_fit(config, epochs, batches):
    """How Lightning drives an ``lr_scheduler`` config: after every ``frequency`` optimizer
    updates when ``interval == "step"``, else after every ``frequency`` epochs."""
    sched = config["scheduler"]
    opt, model = sched.optimizer, lightning_like_fit.model
    applied = record_applied(opt)
    for epoch in range(epochs):
        for b in range(batches):
            x, y = batch(epoch * batches + b)
            torch.nn.functional.mse_loss(model(x), y).backward()
            opt.step()
            opt.zero_grad()
            updates = epoch * batches + b + 1
            if config["interval"] == "step" and updates % config["frequency"] == 0:
                sched.step()
        if config["interval"] == "epoch" and (epoch + 1) % config["frequency"] == 0:
            sched.step()
    return [a[0][0] for a in applied]


@pytest.mark.parametrize("interval", ["step", "epoch"])
def test_lightning_config_gives_one_lr_per_update(interval):
    epochs, batches = 3, 7
    p = policy.OneCycle(max_lr=0.1, total_steps=epochs * batches)
    lightning_like_fit.model = model = three_groups_model()
    sched = Scheduler(torch.optim.SGD(model.parameters(), lr=0.1), p)
    config = lightning_config(sched)
    assert config == {"scheduler": sched, "interval": "step", "frequency": 1}
    if interval == "epoch":  # what Lightning's default would do: warned about, once
        config = {**config, "interval": "epoch"}
        with pytest.warns(UserWarning, match="after 7 optimizer updates") as record:
            lrs = lightning_like_fit(config, epochs, batches)
        assert len(record) == 1
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            lrs = lightning_like_fit(config, epochs, batches)
    if interval == "step":
        assert lrs == [p(k) for k in range(epochs * batches)]
        assert len(set(lrs)) == epochs * batches
    else:
        assert len(set(lrs)) == epochs  # flattened: one LR per epoch
