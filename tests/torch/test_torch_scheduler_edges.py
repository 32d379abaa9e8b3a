"""cyclr_torch.Scheduler at the edges of issue 11: param groups added mid-training (gradual
unfreezing), torch.compile over a whole training step, and what does and does not compose
with other LR writers (ReduceLROnPlateau, ChainedScheduler, SequentialLR, per-epoch stepping),
warned about where it can be seen."""

import collections
import copy
import dataclasses
import pickle
import warnings

import pytest
import torch

from cyclr import policy
from cyclr.rangetest import Sweep
from cyclr_torch import range_test
from cyclr_torch.rangetest import _moved
from cyclr_torch.scheduler import Scheduler
from tests.torch.torch_probe import batch, record_applied, saved

COS = policy.CosineRestarts(max_lr=0.1, period=4)
MOM = policy.Triangular(base_lr=0.95, max_lr=0.85, step_size=3)


def model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


def update(m, opt, sched, k):
    x, y = batch(k)
    torch.nn.functional.mse_loss(m(x), y).backward()
    opt.step()
    opt.zero_grad()
    sched.step()


@pytest.fixture
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# --- param groups added during training -------------------------------------------------------

def test_the_issue_case_a_group_added_after_construction_is_scheduled(no_warnings):
    """Scheduler(opt, CosineRestarts(max_lr=0.1, period=4)), then add_param_group(), then step():
    it used to raise "The optimizer has 2 param groups, but this scheduler was built for 1"."""
    m = model()
    opt = torch.optim.SGD(m[2].parameters(), lr=0.1)
    sched = Scheduler(opt, COS)
    opt.add_param_group({"params": m[0].parameters()})   # the optimizer's default lr, 0.1
    sched.step()
    assert sched.get_last_lr() == [COS(1), 0.1 * COS(1) / COS(0)]


def test_an_added_group_follows_the_shape_scaled_to_the_lr_it_was_added_with(no_warnings):
    m = model()
    opt = torch.optim.SGD(m[2].parameters(), lr=1.0, momentum=0.9)
    sched = Scheduler(opt, COS, momentum=MOM)
    applied = record_applied(opt)
    for k in range(12):
        if k == 5:   # gradual unfreezing: the backbone joins at a tenth of the head's LR
            opt.add_param_group({"params": m[0].parameters(), "lr": 0.1 * COS(5),
                                 "momentum": 0.5})
        update(m, opt, sched, k)
    head = [a[0][:2] for a in applied]
    assert head == [(COS(k), MOM(k)) for k in range(12)]
    backbone = [a[1][:2] for a in applied[5:]]
    assert backbone[0] == (0.1 * COS(5), 0.5)           # as it was added
    for k, (lr, momentum) in zip(range(6, 12), backbone[1:]):
        assert lr == pytest.approx(0.1 * COS(k), rel=1e-15)   # the head's shape, a tenth
        assert momentum == MOM(k)                         # momentum: the policy, unscaled
    assert sched.get_last_lr() == [g["lr"] for g in opt.param_groups] == sched.get_lr()


def test_several_groups_added_at_different_updates_and_a_sequence_of_policies(no_warnings):
    m = model()
    first = policy.OneCycle(max_lr=0.2, total_steps=15)
    opt = torch.optim.Adam([{"params": m[2].weight}, {"params": m[2].bias}], lr=1.0)
    sched = Scheduler(opt, [first, policy.Constant(0.3)])
    applied = record_applied(opt)
    added = {3: 0.01, 7: 0.002}
    for k in range(15):
        if k in added:
            opt.add_param_group({"params": [m[0].weight, m[0].bias][list(added).index(k)],
                                 "lr": added[k]})
        update(m, opt, sched, k)
    for j, (at, lr) in enumerate(added.items(), start=2):
        lrs = [a[j][0] for a in applied[at:]]
        assert lrs[0] == lr
        # the first group's policy gives the shape
        assert lrs[1:] == pytest.approx([lr * first(k) / first(at) for k in range(at + 1, 15)],
                                        rel=1e-14)
    assert [a[1][0] for a in applied] == [0.3] * 15


def test_an_added_group_where_the_policy_is_zero_keeps_its_lr(no_warnings):
    m = model()
    p = policy.Triangular(base_lr=0.0, max_lr=0.1, step_size=2)      # 0 at updates 0, 4, 8
    opt = torch.optim.SGD(m[2].parameters(), lr=1.0)
    sched = Scheduler(opt, p)
    opt.add_param_group({"params": m[0].parameters(), "lr": 0.05})   # added at update 0
    applied = record_applied(opt)
    for k in range(6):
        update(m, opt, sched, k)
    assert [a[1][0] for a in applied] == [0.05] * 6
    assert sched.state_dict()["added"] == [{"group": 1, "lr": 0.05, "step": 0}]


def test_a_tensor_lr_in_an_added_group_is_filled_in_place(no_warnings):
    m = model()
    opt = torch.optim.SGD(m[2].parameters(), lr=torch.tensor(0.1))
    sched = Scheduler(opt, COS)
    lr = torch.tensor(0.05)
    opt.add_param_group({"params": m[0].parameters(), "lr": lr})
    for k in range(5):
        update(m, opt, sched, k)
    assert opt.param_groups[1]["lr"] is lr
    assert lr.item() == torch.tensor(0.05 * COS(5) / COS(0)).item()


def test_a_state_with_added_groups_loads_weights_only_and_resumes_exactly():
    n, more = 7, 9

    def build():
        m = model()
        opt = torch.optim.SGD(m[2].parameters(), lr=1.0, momentum=0.9)
        return m, opt

    def unfreeze(m, opt, lr):
        opt.add_param_group({"params": m[0].parameters(), "lr": lr, "momentum": 0.9})

    m, opt = build()
    sched = Scheduler(opt, COS, momentum=MOM)
    for k in range(n):
        if k == 3:
            unfreeze(m, opt, 0.02)
        update(m, opt, sched, k)
    checkpoint = saved({"model": m.state_dict(), "optimizer": opt.state_dict(),
                        "scheduler": sched.state_dict()})            # weights_only=True
    assert checkpoint["scheduler"]["added"] == [{"group": 1, "lr": 0.02, "step": 3}]
    expected = record_applied(opt)
    for k in range(n, n + more):
        update(m, opt, sched, k)

    for order in ("add, opt, sched", "sched, add, opt", "built with both"):
        ckpt = copy.deepcopy(checkpoint)  # optimizer.load_state_dict shares its tensors
        m2, opt2 = build()
        m2.load_state_dict(ckpt["model"])
        if order == "built with both":     # the resumed code builds the groups up front
            unfreeze(m2, opt2, 0.02)
        sched2 = Scheduler(opt2, policy.Constant(0.5), momentum=MOM)
        if order == "sched, add, opt":
            sched2.load_state_dict(ckpt["scheduler"])
        if order != "built with both":
            unfreeze(m2, opt2, 0.02)
        opt2.load_state_dict(ckpt["optimizer"])
        if order != "sched, add, opt":
            sched2.load_state_dict(ckpt["scheduler"])
        assert sched2.state_dict() == ckpt["scheduler"], order
        applied = record_applied(opt2)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for k in range(n, n + more):
                update(m2, opt2, sched2, k)
        assert applied == expected, order
        assert all(torch.equal(a, b) for a, b in zip(m.parameters(), m2.parameters())), order


def test_a_state_saved_before_added_groups_existed_still_loads():
    opt = torch.optim.SGD(model().parameters(), lr=1.0)
    sched = Scheduler(opt, COS)
    old = {"last_epoch": 6, "policy": COS.to_config(), "momentum": None}
    sched.load_state_dict(old)
    assert sched.last_epoch == 6 and opt.param_groups[0]["lr"] == COS(6)
    assert sched.state_dict() == {**old, "added": []}


@pytest.mark.parametrize(("added", "error"), [
    ([{"group": 1, "lr": 0.1}], ValueError),
    ([{"group": 0, "lr": 0.1, "step": 3}], ValueError),
    ([{"group": 1, "lr": -0.1, "step": 3}], ValueError),
    ([{"group": 1, "lr": 0.1, "step": 3}, {"group": 3, "lr": 0.1, "step": 3}], ValueError),
    ([{"group": 1, "lr": 0.1, "step": 1.5}], ValueError),
    ({"group": 1, "lr": 0.1, "step": 3}, TypeError),
    ([(1, 0.1, 3)], TypeError),
])
def test_bad_added_entries_are_refused_by_name_and_change_nothing(added, error):
    m = model()
    opt = torch.optim.SGD([{"params": m[2].parameters()}, {"params": m[0].parameters()}], lr=1.0)
    sched = Scheduler(opt, COS)
    sched.step()
    state = sched.state_dict()
    before = copy.deepcopy([g["lr"] for g in opt.param_groups])
    with pytest.raises(error, match=r"^Argument `added` must be .* Received: added="):
        sched.load_state_dict({**state, "added": added})
    assert sched.state_dict() == state and [g["lr"] for g in opt.param_groups] == before


def test_a_state_for_more_groups_than_the_optimizer_has_is_refused():
    opt = torch.optim.SGD(model().parameters(), lr=1.0)
    sched = Scheduler(opt, COS)
    state = {"last_epoch": 3, "policy": COS.to_config(), "momentum": None,
             "added": [{"group": 2, "lr": 0.1, "step": 1}]}
    with pytest.raises(ValueError, match="^Argument `state_dict` must be a state for at least "
                                         "the 2 param groups"):
        sched.load_state_dict(state)
    assert sched.last_epoch == 0


def test_pickled_with_added_groups_it_continues_and_still_counts_updates():
    m = model()
    opt = torch.optim.SGD(m[2].parameters(), lr=1.0)
    sched = Scheduler(opt, COS)
    opt.add_param_group({"params": m[0].parameters(), "lr": 0.01})
    sched.step()
    for clone in (pickle.loads(pickle.dumps(sched)), copy.deepcopy(sched)):
        assert clone.state_dict() == sched.state_dict()
        clone.step()
        assert [g["lr"] for g in clone.optimizer.param_groups] == [COS(2), 0.01 * COS(2) / COS(0)]
        clone.optimizer.step()
        clone.optimizer.step()
        with pytest.warns(UserWarning, match="after 2 optimizer updates"):
            clone.step()


# --- torch.compile over a whole training step ---------------------------------------------------

def compiled_training(make_scheduler, steps, make_optimizer=None):
    """Compile train_step (forward, backward, optimizer.step, scheduler.step) with a backend that
    counts the graphs it is given; returns the count after each update and the LRs applied."""
    torch._dynamo.reset()
    torch.manual_seed(0)
    net = torch.nn.Linear(5, 1)
    opt = (make_optimizer or (lambda p: torch.optim.SGD(p, lr=torch.tensor(0.01),
                                                        momentum=0.9)))(net.parameters())
    sched = make_scheduler(opt)
    graphs = []

    def backend(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    @torch.compile(backend=backend)
    def train_step(x, y):
        loss = torch.nn.functional.mse_loss(net(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        sched.step()
        return loss

    counts, lrs = [], []
    for k in range(steps):
        lrs.append(float(opt.param_groups[0]["lr"]))
        train_step(*batch(k))
        counts.append(len(graphs))
    return counts, lrs, opt


@pytest.mark.filterwarnings("ignore::DeprecationWarning")   # torch's own, from inside dynamo
def test_compiling_the_whole_training_step_does_not_recompile_at_each_update():
    """It used to recompile at every update on the guard `sched.last_epoch == k` (12 steps:
    11 graphs and the recompile limit). Now as torch's own CyclicLR in the same function."""
    p = policy.Triangular(base_lr=0.01, max_lr=0.1, step_size=3)
    ours, lrs, _ = compiled_training(lambda opt: Scheduler(opt, p), 12)
    theirs, _, _ = compiled_training(lambda opt: torch.optim.lr_scheduler.CyclicLR(
        opt, base_lr=0.01, max_lr=0.1, step_size_up=3, cycle_momentum=False), 12)
    assert ours[-1] <= theirs[-1]
    assert ours[2] == ours[-1]              # nothing compiled after the first updates
    assert lrs == [torch.tensor(p(k)).item() for k in range(12)]     # and the LR still moves


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_compiled_with_cycled_momentum_in_tensor_betas():
    p, m = policy.OneCycle(max_lr=0.01, total_steps=12), policy.one_cycle_momentum(12)

    def adam(params):
        return torch.optim.Adam(params, lr=torch.tensor(0.01),
                                betas=(torch.tensor(0.9), torch.tensor(0.999)))

    counts, lrs, opt = compiled_training(lambda opt: Scheduler(opt, p, momentum=m), 12, adam)
    assert counts[2] == counts[-1]
    assert lrs == [torch.tensor(p(k)).item() for k in range(12)]
    assert opt.param_groups[0]["betas"][0].item() == torch.tensor(m(12)).item()


# --- what composes and what does not --------------------------------------------------------------

def sgd():
    return torch.optim.SGD(model().parameters(), lr=0.1, momentum=0.9)


TRI = policy.Triangular(base_lr=0.01, max_lr=0.05, step_size=2)


def run(opt, step, n=8, between=None):
    lrs = []
    for k in range(n):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if between is not None:
            between(k)
        step()
    return lrs


def test_reduce_lr_on_plateau_beside_it_is_overwritten_and_warned_about():
    opt = sgd()
    sched = Scheduler(opt, TRI)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.1)
    plateau.step(1.0)

    def epoch_end(k):        # Lightning's order: the scheduler stepped, then validation
        sched.step()
        if k == 3:
            plateau.step(2.0)   # no improvement: cut the LR by 10

    lrs = []
    with pytest.warns(UserWarning, match=r"param group 0's lr is 0\.001, not the 0\.01 that "
                                         r"cyclr_torch.Scheduler set for update 4") as record:
        lrs = run(opt, lambda: None, between=epoch_end)
    assert lrs[4] == pytest.approx(TRI(4) / 10)             # the cut lasted one update
    assert lrs[5:] == [TRI(k) for k in range(5, 8)]         # then the policy again
    assert len(record) == 1 and record[0].filename == __file__


def test_the_documented_plateau_recipe_scales_the_cycle_in_phase_and_saves():
    """docs/torch.md, 'What composes': on a plateau, a new scheduler of the scaled policy."""
    opt = sgd()
    sched = Scheduler(opt, TRI, momentum=MOM)
    lrs = []
    for k in range(9):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
        if k == 3:  # a plateau after update 3: from update 4 on, a tenth
            sched = Scheduler(opt, policy.scaled(sched.policy, sched.last_epoch, 0.1),
                              momentum=sched.momentum, last_epoch=sched.last_epoch - 1)
    assert lrs[:4] == [TRI(k) for k in range(4)]
    assert lrs[4:] == pytest.approx([0.1 * TRI(k) for k in range(4, 9)], rel=1e-12)
    assert opt.param_groups[0]["momentum"] == MOM(9)
    resumed = Scheduler(sgd(), TRI, momentum=MOM)
    resumed.load_state_dict(saved(sched.state_dict()))
    assert resumed.policy == policy.Scaled(TRI, (4,), (0.1,)) and resumed.last_epoch == 9


@pytest.mark.parametrize("order", ["cyclr first", "exponential first"])
def test_chained_scheduler_with_exponential_lr_is_warned_about(order):
    opt = sgd()
    pair = [Scheduler(opt, TRI), torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)]
    if order == "exponential first":
        pair.reverse()
    chained = torch.optim.lr_scheduler.ChainedScheduler(pair)
    with pytest.warns(UserWarning, match="something else changed it") as record:
        lrs = run(opt, chained.step)
    assert len(record) == 1 and record[0].filename == __file__
    # it never compounds: the product of the two is never applied beyond one factor
    expected = ([TRI(0)] + [TRI(k) * 0.5 for k in range(1, 8)] if order == "cyclr first"
                else [TRI(k) for k in range(8)])
    assert lrs == pytest.approx(expected)


def test_sequential_lr_with_cyclr_after_a_milestone_composes(no_warnings):
    opt = sgd()
    warm = torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=3)
    sequential = torch.optim.lr_scheduler.SequentialLR(opt, [warm, Scheduler(opt, TRI)], [3])
    lrs = run(opt, sequential.step, n=10)
    assert lrs[3:] == [TRI(k) for k in range(7)]     # the policy starts at its update 0


def test_stepping_once_per_epoch_is_warned_about_once():
    opt = sgd()
    sched = Scheduler(opt, TRI)
    with pytest.warns(UserWarning, match=r"step\(\) was called after 5 optimizer updates since "
                                         r"its previous call") as record:
        for _ in range(3):            # 3 epochs of 5 updates, stepped per epoch
            for _ in range(5):
                opt.step()
            sched.step()
    assert len(record) == 1 and record[0].filename == __file__
    assert "lightning_config" in str(record[0].message)


def test_stepping_per_update_with_skipped_updates_and_a_range_test_is_silent(no_warnings):
    m = model()
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    sched = Scheduler(opt, TRI)
    for k in range(4):
        update(m, opt, sched, k)
    sched.step()       # an update a GradScaler skipped: no optimizer.step() in between
    range_test(m, opt, torch.nn.functional.mse_loss, [batch(k) for k in range(4)],
               Sweep(1e-4, 1.0, 10))          # 10 optimizer updates that are not training
    for k in range(4):
        update(m, opt, sched, k)
    assert sched.last_epoch == 9
    sched.step(20)     # a jump (SequentialLR's milestones) is deliberate: no checks
    assert sched.last_epoch == 20


# --- the range test moves nested batches to the model's device --------------------------------

@dataclasses.dataclass
class Pair:
    first: torch.Tensor
    second: list


Point = collections.namedtuple("Point", "x y")


def test_every_tensor_of_a_nested_batch_is_moved():
    t = torch.ones(2)
    nested = {"pair": (t, [t, {"deep": t}]), "named": Point(t, 3), "data": Pair(t, [t, "s"]),
              "ordered": collections.OrderedDict(a=t), "counts": collections.defaultdict(int, a=t),
              "number": 1.5}
    moved = _moved(nested, torch.device("meta"))
    tensors = []

    def walk(v):
        if isinstance(v, torch.Tensor):
            tensors.append(v)
        elif isinstance(v, dict):
            [walk(w) for w in v.values()]
        elif isinstance(v, (list, tuple)):
            [walk(w) for w in v]
        elif isinstance(v, Pair):
            walk(v.first)
            walk(v.second)

    walk(moved)
    assert len(tensors) == 8 and all(v.device.type == "meta" for v in tensors)
    assert type(moved["pair"]) is tuple and type(moved["pair"][1]) is list
    assert type(moved["named"]) is Point and moved["named"].y == 3
    assert type(moved["data"]) is Pair and moved["data"].second[1] == "s"
    assert type(moved["ordered"]) is collections.OrderedDict
    assert type(moved["counts"]) is dict          # a mapping it cannot rebuild: a plain dict
    assert moved["number"] == 1.5 and t.device.type == "cpu"


class TwoInputs(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = torch.nn.Linear(3, 4), torch.nn.Linear(3, 4)
        self.out = torch.nn.Linear(4, 1)

    def forward(self, x):
        a, b = (x["a"], x["b"]) if isinstance(x, dict) else x
        return self.out(torch.tanh(self.a(a) + self.b(b)))


@pytest.mark.parametrize("form", ["tuple", "dict"])
def test_the_range_test_takes_nested_batches(form):
    g = torch.Generator().manual_seed(0)
    data = []
    for _ in range(8):
        a, b = torch.randn(16, 3, generator=g), torch.randn(16, 3, generator=g)
        data.append(((a, b) if form == "tuple" else {"a": a, "b": b}, (a - b).sum(1, True)))
    torch.manual_seed(0)
    net = TwoInputs()
    result = range_test(net, torch.optim.SGD(net.parameters(), lr=0.1),
                        torch.nn.functional.mse_loss, data, Sweep(1e-3, 1.0, 12))
    assert result.stop_reason == "completed" and len(set(result.losses.tolist())) == 12
