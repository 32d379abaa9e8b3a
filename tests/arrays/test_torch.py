"""``policy(step)`` on torch tensors: a float32 tensor (torch's default float dtype) on the
step's device, computed with int64 steps, traceable by ``torch.compile`` in one graph; an
optimizer with a tensor learning rate (``fused=True``, ``capturable=True``) driven by it without
recompiling and, on CUDA, without a device-to-host sync."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch)")

from cyclr import policy  # noqa: E402
from tests.policies import EVERY_TYPE, FLOAT32, max_error  # noqa: E402

STEPS = np.arange(300)
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")


@pytest.mark.parametrize("name", list(EVERY_TYPE))
def test_tensors_in_float32_within_rounding_of_the_core(name):
    p = EVERY_TYPE[name]
    out = p(torch.arange(300))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    assert out.shape == (300,) and out.device.type == "cpu"
    assert max_error(p, STEPS, out.numpy()) <= FLOAT32
    scalar = p(torch.tensor(37))
    assert scalar.shape == () and float(scalar) == pytest.approx(p(37), rel=1e-6)


@pytest.mark.parametrize("name", list(EVERY_TYPE))
def test_every_array_made_lives_on_the_steps_device(name):
    """On the meta device an array made elsewhere (a table on the CPU) would raise."""
    out = EVERY_TYPE[name](torch.arange(10, device="meta"))
    assert out.device.type == "meta" and out.dtype == torch.float32 and out.shape == (10,)


def test_the_default_float_dtype_is_followed():
    p = EVERY_TYPE["exp_range"]
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        out = p(torch.arange(300))
    finally:
        torch.set_default_dtype(before)
    assert out.dtype == torch.float64
    assert max_error(p, STEPS, out.numpy()) <= 1e-14


@pytest.mark.parametrize("dtype", [torch.int8, torch.int16, torch.int32, torch.int64])
def test_every_signed_integer_dtype_is_a_step_computed_in_int64(dtype):
    p = policy.CosineRestarts(0.1, period=1000, period_mult=2, min_lr=1e-3)
    top = torch.iinfo(dtype).max
    steps = np.array([0, 1, 100, top // 3, top - 1, top])
    got = p(torch.tensor(steps, dtype=dtype))
    assert max_error(p, steps, got.numpy()) <= FLOAT32
    huge = np.array([2**62 + 12345, 10**15, 2**63 - 1])  # int64: exact, as in numpy
    assert max_error(p, huge, p(torch.tensor(huge)).numpy()) <= FLOAT32


def test_negative_steps_are_clamped_to_zero():
    assert EVERY_TYPE["linear"](torch.tensor([-5, 0])).tolist() == [0.0, 0.0]


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.bool])
def test_unsigned_float_and_bool_tensors_are_refused_by_dtype(dtype):
    with pytest.raises(TypeError, match=r"Argument `step` must be a non-negative integer, or an "
                                        r"array of a signed integer dtype"):
        EVERY_TYPE["triangular"](torch.tensor([1, 2]).to(dtype))


def test_tables_are_made_once_per_device():
    """Restart tables are kept after the first call: no host-to-device copy per update."""
    import array_api_compat.torch as xp

    p = policy.CosineRestarts(0.1, period=5, period_mult=3)
    p(torch.tensor(0))
    made = []
    original = xp.asarray
    xp.asarray = lambda *a, **k: made.append(a) or original(*a, **k)
    try:
        for k in range(50):
            p(torch.tensor(k))
    finally:
        xp.asarray = original
    assert made == []


def compiled_counts(fn, steps):
    """Call ``torch.compile(fn, fullgraph=True)`` (the ``aot_eager`` backend: dynamo and AOT
    autograd trace as for inductor, without generating code) on each step tensor; return the
    results and dynamo's count of graphs."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    compiled = torch.compile(fn, fullgraph=True, backend="aot_eager")
    out = [compiled(s) for s in steps]
    return out, counters["stats"]["unique_graphs"]


@pytest.mark.parametrize("name", ["triangular2", "exp_range", "one_cycle_3phase",
                                  "cosine_restarts_mult", "join"])
def test_torch_compile_traces_it_in_one_graph_for_every_step(name):
    p = EVERY_TYPE[name]
    out, graphs = compiled_counts(p, [torch.tensor(k) for k in range(60)])
    assert graphs == 1
    assert max_error(p, range(60), [float(v) for v in out]) <= FLOAT32


def drive(optimizer_class, device, steps=30, compile_lr=False, **options):
    """Train ``w`` with gradient 1 and a tensor LR set from ``policy(step)`` before each update,
    the step a tensor on ``device``; return the policy and the change of ``w[0]`` at each update
    (a tensor on ``device``: reading it is left to the caller)."""
    p = EVERY_TYPE["cosine_restarts_mult"]
    w = torch.nn.Parameter(torch.zeros(4, device=device))
    lr = torch.tensor(0.0, device=device)
    optimizer = optimizer_class([w], lr=lr, **options)
    step = torch.zeros((), dtype=torch.int64, device=device)

    def set_lr(step):
        lr.copy_(p(step))

    if compile_lr:
        set_lr = torch.compile(set_lr, fullgraph=True, backend="aot_eager")
    applied = []
    for _ in range(steps):
        set_lr(step)
        w.grad = torch.ones_like(w)
        before = w.detach().clone()
        optimizer.step()
        applied.append(before - w.detach())
        step += 1
    return p, torch.stack(applied)[:, 0]


@pytest.mark.parametrize("optimizer_class", [torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW])
def test_a_fused_optimizer_with_a_tensor_lr_follows_the_policy(optimizer_class):
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    decay = {"weight_decay": 0.0} if optimizer_class is torch.optim.AdamW else {}
    p, applied = drive(optimizer_class, "cpu", fused=True, compile_lr=True, **decay)
    assert counters["stats"]["unique_graphs"] == 1  # no recompile as the step moves
    # gradient 1: SGD moves by lr, Adam(W) by lr / (1 + eps)
    assert max_error(p, range(30), applied.numpy()) <= 1e-6


@CUDA
@pytest.mark.parametrize("options", [{"capturable": True}, {"fused": True}],
                         ids=["capturable", "fused"])
def test_on_cuda_driving_a_tensor_lr_never_waits_for_the_device(options):
    p = EVERY_TYPE["cosine_restarts_mult"]
    warm = torch.zeros((), dtype=torch.int64, device="cuda")
    p(warm)  # the restart table is copied to the device once, here
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")  # any device-to-host sync raises
    try:
        _, applied = drive(torch.optim.Adam, "cuda", **options)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert max_error(p, range(30), applied.cpu().numpy()) <= 1e-6


@CUDA
@pytest.mark.parametrize("name", list(EVERY_TYPE))
def test_on_cuda_tensors_stay_on_the_device(name):
    p = EVERY_TYPE[name]
    out = p(torch.arange(300, device="cuda"))
    assert out.device.type == "cuda" and out.dtype == torch.float32
    assert max_error(p, STEPS, out.cpu().numpy()) <= FLOAT32


def test_a_float_table_and_an_int_table_of_equal_values_are_kept_apart():
    """The tables cache is keyed by value: (1.0, 16777217.0) == (1, 16777217) in Python, and the
    float32 table of one policy once served as another's int64 boundaries (rounded to 2**24)."""
    factors = policy.Scaled(policy.Constant(1e-9), (5, 6), (16777217.0, 2.0))
    boundaries = policy.Scaled(policy.Constant(0.1), (1, 16777217, 33554434), (0.5, 0.5, 0.5))
    factors(torch.arange(3))  # caches the float table (1.0, 16777217.0, 33554434.0)
    step = torch.tensor([16777216, 16777217])
    assert boundaries(step).tolist() == pytest.approx([boundaries(16777216),
                                                       boundaries(16777217)], rel=1e-6)
