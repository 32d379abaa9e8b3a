"""What the torch tests share: a deterministic batch stream, the hyper-parameters each
optimizer update really reads, a plain training loop, and a checkpoint round trip."""

import io

import torch


def batch(k, n=16):
    gen = torch.Generator().manual_seed(k)
    x = torch.randn(n, 5, generator=gen)
    return x, x.sum(1, keepdim=True).sin()


def record_applied(optimizer):
    """What every optimizer update really reads: (lr, momentum, betas) per group, taken by a
    step pre-hook, i.e. at the moment optimizer.step() runs."""
    applied = []

    def hook(opt, args, kwargs):
        applied.append([(g["lr"], g.get("momentum"), g.get("betas")) for g in opt.param_groups])

    optimizer.register_step_pre_hook(hook)
    return applied


def train(model, optimizer, scheduler, steps, start=0):
    """A plain training loop; returns the applied hyper-parameters of each update."""
    applied = record_applied(optimizer)
    for k in range(start, start + steps):
        x, y = batch(k)
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        scheduler.step()
    return applied


def saved(obj):
    """torch.save + torch.load(weights_only=True), as a checkpoint does."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)
