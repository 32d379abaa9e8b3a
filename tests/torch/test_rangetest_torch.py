"""The PyTorch range test on real tiny models: the sweep applied, the suggestions, and the model,
optimizer and random state left exactly as found (completed, diverged, or the loss raising)."""


import numpy as np
import pytest
import torch

from cyclr import policy
from cyclr.rangetest import Sweep
from cyclr_torch.rangetest import range_test

OPTIMIZERS = {
    "sgd": lambda p: torch.optim.SGD(p, lr=0.05),
    "sgd-nesterov": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True,
                                              weight_decay=1e-4),
    "adam-amsgrad": lambda p: torch.optim.Adam(p, lr=1e-3, amsgrad=True),
    "adamw": lambda p: torch.optim.AdamW(p, lr=1e-3),
    "rmsprop": lambda p: torch.optim.RMSprop(p, lr=1e-3, momentum=0.5, centered=True),
}


def make_data(n=256, features=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)
    y = (x @ torch.randn(features, generator=g) > 0).float()
    return x, y


def batches_of(x, y, size=32):
    return [(x[i:i + size], y[i:i + size]) for i in range(0, len(x), size)]


def loss_fn(logits, target):
    return torch.nn.functional.binary_cross_entropy_with_logits(logits.squeeze(1), target)


def make_setup(opt="sgd-nesterov", seed=0, pretrain=3):
    """A model with buffers (batch norm) and randomness (dropout), its optimizer with two param
    groups, trained a few steps so that it has state, gradients and a scheduler's initial_lr."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.BatchNorm1d(16),
                                torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(16, 1))
    first, last = list(model[0].parameters()) + list(model[1].parameters()), model[4].parameters()
    optimizer = OPTIMIZERS[opt]([{"params": first}, {"params": last}])
    optimizer.param_groups[1]["lr"] *= 0.5
    torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: 1.0)  # adds initial_lr to the groups
    x, y = make_data()
    train(model, optimizer, batches_of(x, y)[:pretrain])
    return model, optimizer, batches_of(x, y)


def train(model, optimizer, batches):
    model.train()
    for x, y in batches:
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()


def everything(model, optimizer):
    """Every value the range test could touch, copied."""
    def copy(v):
        return v.detach().clone() if isinstance(v, torch.Tensor) else v

    return {
        "params": {k: copy(v) for k, v in model.named_parameters()},
        "grads": {k: copy(v.grad) for k, v in model.named_parameters()},
        "buffers": {k: copy(v) for k, v in model.named_buffers()},
        "modes": [m.training for m in model.modules()],
        "state": [{k: copy(v) for k, v in optimizer.state.get(p, {}).items()}
                  for g in optimizer.param_groups for p in g["params"]],
        "groups": [{k: copy(v) for k, v in g.items() if k != "params"}
                   for g in optimizer.param_groups],
        "param ids": [[id(p) for p in g["params"]] for g in optimizer.param_groups],
        "rng": torch.random.get_rng_state(),
    }


def assert_identical(a, b, path="state"):
    assert type(a) is type(b), path
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            assert_identical(a[key], b[key], f"{path}[{key!r}]")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_identical(x, y, f"{path}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape, path
        assert torch.equal(a, b), path          # bit for bit (no NaNs in these states)
    else:
        assert a == b, path


@pytest.mark.parametrize("opt", OPTIMIZERS)
def test_completed_test_restores_everything_bit_for_bit(opt):
    model, optimizer, batches = make_setup(opt)
    model[3].eval()                                   # a submodule in eval mode stays in it
    before = everything(model, optimizer)
    weights = []

    def recording(logits, target):
        weights.append(model[0].weight.detach().clone())
        return loss_fn(logits, target)

    result = range_test(model, optimizer, recording, batches,
                        sweep=Sweep(start_lr=1e-5, end_lr=0.1, num_steps=20))
    assert result.stop_reason == "completed" and len(result.lrs) == 20
    assert not torch.equal(weights[0], weights[-1])   # the test did train the model
    assert_identical(before, everything(model, optimizer))


def test_a_diverging_test_restores_everything_and_stops_early():
    model, optimizer, batches = make_setup("sgd-nesterov")
    before = everything(model, optimizer)
    result = range_test(model, optimizer, loss_fn, batches,
                        sweep=Sweep(start_lr=1e-3, end_lr=1e6, num_steps=60, smooth=0.5))
    assert result.stopped_early and result.stop_reason in ("diverged", "non-finite loss")
    assert_identical(before, everything(model, optimizer))


@pytest.mark.parametrize("opt", ["sgd-nesterov", "adam-amsgrad"])
def test_a_raising_loss_function_restores_everything_and_propagates(opt):
    model, optimizer, batches = make_setup(opt)
    before = everything(model, optimizer)
    calls = []

    def flaky(logits, target):
        calls.append(1)
        if len(calls) == 7:
            raise RuntimeError("loss exploded on purpose")
        return loss_fn(logits, target)

    with pytest.raises(RuntimeError, match="on purpose"):
        range_test(model, optimizer, flaky, batches,
                   sweep=Sweep(start_lr=1e-4, end_lr=1.0, num_steps=20))
    assert len(calls) == 7
    assert_identical(before, everything(model, optimizer))


class ScaledLoss(torch.nn.Module):
    """A loss with its own learnable parameter and a buffer counting its calls."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(1.0))
        self.register_buffer("calls", torch.zeros((), dtype=torch.int64))

    def forward(self, logits, target):
        self.calls += 1
        return loss_fn(logits * self.scale, target)


def test_a_loss_module_and_parameters_outside_the_model_are_restored_too():
    model, _, batches = make_setup("sgd")
    loss, loose = ScaledLoss(), torch.nn.Parameter(torch.ones(3))
    optimizer = torch.optim.SGD([{"params": model.parameters()},
                                 {"params": [loss.scale, loose], "lr": 0.1}], momentum=0.9)

    def loss_with_loose(logits, target):  # a plain function: only the optimizer knows `loose`
        return loss_fn(logits * loss.scale, target) + (loose**2).sum()

    train(model, optimizer, batches[:2])   # the model's loss only: loose has no grad yet
    for fn in (loss, loss_with_loose):
        before = everything(model, optimizer)
        before_loss = [loss.scale.detach().clone(), loss.calls.clone(), loose.detach().clone(),
                       loose.grad]
        range_test(model, optimizer, fn, batches,
                   sweep=Sweep(start_lr=1e-3, end_lr=1.0, num_steps=10))
        assert loss.calls.item() == 0 and loose.grad is None
        assert_identical(before, everything(model, optimizer))
        assert_identical(before_loss, [loss.scale.detach(), loss.calls, loose.detach(),
                                       loose.grad])


@pytest.mark.parametrize("opt", ["sgd-nesterov", "adamw"])
def test_training_after_the_test_equals_training_without_it(opt):
    tested, tested_opt, batches = make_setup(opt)
    untouched, untouched_opt, _ = make_setup(opt)
    range_test(tested, tested_opt, loss_fn, batches,
               sweep=Sweep(start_lr=1e-4, end_lr=10.0, num_steps=30))
    torch.manual_seed(123)
    train(tested, tested_opt, batches)
    torch.manual_seed(123)
    train(untouched, untouched_opt, batches)
    expected, got = everything(untouched, untouched_opt), everything(tested, tested_opt)
    del expected["param ids"], got["param ids"]      # two models: only the ids differ
    assert_identical(expected, got)


@pytest.mark.parametrize("mode", ["exp", "linear"])
def test_each_update_runs_at_the_swept_lr_in_every_group(mode):
    model, optimizer, batches = make_setup("sgd")
    seen = []

    def recording(logits, target):
        seen.append([g["lr"] for g in optimizer.param_groups])
        return loss_fn(logits, target)

    result = range_test(model, optimizer, recording, batches,
                        sweep=Sweep(start_lr=1e-4, end_lr=0.5, num_steps=12, mode=mode, smooth=0.0))
    expected = Sweep(1e-4, 0.5, 12, mode).lrs
    assert seen == [[lr, lr] for lr in expected] and seen[-1] == [0.5, 0.5]
    np.testing.assert_array_equal(result.lrs, expected)


def test_the_recorded_losses_are_the_losses_computed():
    model, optimizer, batches = make_setup("sgd")
    computed = []

    def recording(logits, target):
        loss = loss_fn(logits, target)
        computed.append(loss.item())
        return loss

    result = range_test(model, optimizer, recording, batches,
                        sweep=Sweep(start_lr=1e-4, end_lr=0.5, num_steps=10))
    assert result.losses.tolist() == computed


def test_batches_are_cycled_from_collections_iterators_and_dataloaders():
    x, y = make_data(64)
    model, optimizer, _ = make_setup("sgd")
    seen = []

    def recording(logits, target):
        seen.append(target.clone())
        return loss_fn(logits, target)

    pairs = batches_of(x, y, 16)                       # 4 batches, cycled over 10 steps
    range_test(model, optimizer, recording, iter(pairs),
               sweep=Sweep(start_lr=1e-4, end_lr=0.1, num_steps=10))
    assert all(torch.equal(seen[i], pairs[i % 4][1]) for i in range(10))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    result = range_test(model, optimizer, loss_fn, loader,
                        sweep=Sweep(start_lr=1e-4, end_lr=0.1, num_steps=10))
    assert len(result.lrs) == 10


def test_suggestions_are_ordered_and_inside_the_swept_range():
    x, y = make_data(2048, seed=3)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    result = range_test(model, optimizer, loss_fn, batches_of(x, y, 64),
                        sweep=Sweep(start_lr=1e-4, end_lr=100.0, num_steps=80))
    for method in ("smith", "steepest", "valley", "minimum"):
        s = result.suggest(method)
        assert s.ok, s
        assert 1e-4 <= s.base_lr < s.max_lr <= result.lrs[-1], s
    assert result.suggestion == result.suggest("smith")
    policy.Triangular2(**result.suggestion.bounds(), step_size=100)   # the direct hand-off


@pytest.mark.parametrize("kwargs, name", [
    ({"batches": []}, "batches"),
    ({"batches": iter([])}, "batches"),
    ({"batches": (b for b in [])}, "batches"),
])
def test_bad_arguments_raise_value_error_and_touch_nothing(kwargs, name):
    model, optimizer, batches = make_setup("sgd-nesterov")
    before = everything(model, optimizer)
    args = {"batches": batches, **kwargs}
    with pytest.raises(ValueError, match=rf"Argument `{name}` must be"):
        range_test(model, optimizer, loss_fn, **args)
    assert_identical(before, everything(model, optimizer))


@pytest.mark.parametrize("kwargs, name", [
    ({"model": "net"}, "model"), ({"optimizer": None}, "optimizer"),
    ({"loss_fn": 3}, "loss_fn"), ({"batches": 5}, "batches"),
    ({"sweep": {"start_lr": 1e-4}}, "sweep"), ({"batches": [(1, 2, 3)]}, "batches"),
])
def test_wrong_types_raise_type_error(kwargs, name):
    model, optimizer, batches = make_setup("sgd")
    args = {"model": model, "optimizer": optimizer, "loss_fn": loss_fn, "batches": batches,
            **kwargs}
    with pytest.raises(TypeError, match=rf"Argument `{name}` must be"):
        range_test(**args)


def test_process_group_false_or_none_runs_alone_without_torch_distributed():
    model, optimizer, batches = make_setup("sgd")
    sweep = Sweep(start_lr=1e-4, end_lr=0.1, num_steps=8)
    alone = range_test(model, optimizer, loss_fn, batches, sweep, process_group=False)
    default = range_test(model, optimizer, loss_fn, batches, sweep)
    np.testing.assert_array_equal(alone.losses, default.losses)


def test_a_process_group_needs_torch_distributed():
    model, optimizer, batches = make_setup("sgd")
    with pytest.raises(TypeError, match="Argument `process_group` must be a torch.distributed"):
        range_test(model, optimizer, loss_fn, batches, process_group="gloo")
    if torch.distributed.is_available() and not torch.distributed.is_initialized():
        # a ProcessGroup object outside any initialised job
        group = torch.distributed.ProcessGroup(torch.distributed.HashStore(), 0, 1)
        with pytest.raises(ValueError, match="Argument `process_group` must be None or False "
                           "while torch.distributed is not initialised"):
            range_test(model, optimizer, loss_fn, batches, process_group=group)
