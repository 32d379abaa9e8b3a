"""What the Hugging Face tests share (in pytest and in the 2-process worker): the code blocks of
docs/torch.md's Hugging Face section, run as written; a tiny model and in-memory data (nothing
from the Hub); and the hyper-parameters every optimizer update applied."""

import contextlib
import re
import warnings
from pathlib import Path

import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from cyclr import policy
from cyclr_torch.scheduler import Scheduler

DOC = Path(__file__).resolve().parents[2] / "docs" / "torch.md"
SECTION = "## Hugging Face `Trainer` and `accelerate`"
ROWS = 64


def snippet(marker):
    """The one ```python block of the section that contains ``marker``."""
    text = DOC.read_text(encoding="utf-8")
    assert text.count(SECTION) == 1, SECTION
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = [b for b in re.findall(r"```python\n(.*?)```", section, re.S) if marker in b]
    assert len(blocks) == 1, f"{len(blocks)} code blocks with {marker!r} in {SECTION}"
    return blocks[0]


def run(code, **names):
    """Execute a documented block with the names its text leaves to the reader; returns them."""
    ns = {"torch": torch, "policy": policy, "Scheduler": Scheduler, **names}
    exec(compile(code, str(DOC), "exec"), ns)
    return ns


def rows():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(ROWS, 5, generator=gen)
    return x, x.sum(1, keepdim=True).sin()


class Rows(torch.utils.data.Dataset):
    """A Trainer's train_dataset: dicts of the model's forward arguments."""

    def __init__(self):
        self.x, self.y = rows()

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "labels": self.y[i]}


def loader(batch_size=4):
    """An accelerate loop's loader: batches {"x": ..., "y": ...}."""
    x, y = rows()
    return torch.utils.data.DataLoader([{"x": a, "y": b} for a, b in zip(x, y)],
                                       batch_size=batch_size)


def net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


class LossNet(torch.nn.Module):
    """What a Trainer needs from a model: forward(**batch) returns {"loss": ...}. ``crash``: raise
    at that forward call (0-based), as a killed run would stop."""

    def __init__(self, crash=None):
        super().__init__()
        self.net = net()
        self.calls, self.crash = 0, crash

    def forward(self, x, labels):
        if self.calls == self.crash:
            raise RuntimeError("simulated crash")
        self.calls += 1
        out = self.net(x)
        return {"loss": torch.nn.functional.mse_loss(out, labels), "logits": out}


@contextlib.contextmanager
def applied():
    """{optimizer: [(lr, betas[0]) of every update]}: read by a global step pre-hook, i.e. when
    the torch optimizer's step() really runs (accelerate's wrapper skips it while it
    accumulates)."""
    seen = {}

    def hook(opt, args, kwargs):
        group = opt.param_groups[0]
        seen.setdefault(opt, []).append((group["lr"], group["betas"][0]))

    handle = register_optimizer_step_pre_hook(hook)
    try:
        yield seen
    finally:
        handle.remove()


@contextlib.contextmanager
def cyclr_warnings():
    """The messages of the warnings cyclr emitted inside (the frameworks' own are not checked)."""
    found = []
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        yield found
    found.extend(str(w.message) for w in record if "cyclr" in str(w.message))


def raw(obj):
    """The torch object under accelerate's AcceleratedOptimizer / AcceleratedScheduler."""
    kind = type(obj).__name__
    return (obj.optimizer if kind == "AcceleratedOptimizer" else
            obj.scheduler if kind == "AcceleratedScheduler" else obj)
