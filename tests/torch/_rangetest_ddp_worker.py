"""cyclr_torch.range_test under DistributedDataParallel on 2 CPU processes (gloo, 127.0.0.1), for
test_rangetest_torch_processes.py (run as a script, not a test).

    python _rangetest_ddp_worker.py OUTDIR PORT

Both ranks run every scenario of SCENARIOS in turn, in one process group (a scenario that raises
on purpose must leave the group usable for the next one), and each writes OUTDIR/rank{r}.pt:
per scenario, the result or the exception, and the model / optimizer / RNG state before and
after the test. Each rank feeds its own half of the same global batches (global_batches()).
"""

import os
import sys
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from cyclr.rangetest import Sweep
from cyclr_torch.rangetest import range_test
from tests.torch.test_rangetest_torch import everything, loss_fn, make_data, train

WORLD = 2
#: The sweep of the main scenario, shared with the single-process run of the test.
SWEEP = Sweep(start_lr=1e-3, end_lr=3.0, num_steps=30)
GLOBAL_BATCH = 32


def global_batches(n=8):
    """``n`` global batches of GLOBAL_BATCH rows: what a single process trains on."""
    x, y = make_data(n * GLOBAL_BATCH, seed=5)
    return [(x[i:i + GLOBAL_BATCH], y[i:i + GLOBAL_BATCH])
            for i in range(0, len(x), GLOBAL_BATCH)]


def shard(batches, rank, world=WORLD):
    """Rank ``rank``'s rows of every global batch (what a DistributedSampler would give)."""
    size = GLOBAL_BATCH // world
    return [(x[rank * size:(rank + 1) * size], y[rank * size:(rank + 1) * size])
            for x, y in batches]


def mlp(seed=0):
    """No batch norm and no dropout: one process over the global batch computes the same."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))


def rich_model(seed=0):
    """Batch norm (buffers, broadcast by DDP), dropout (random state), two param groups with
    momentum state after two DDP updates."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.BatchNorm1d(16),
                                torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(16, 1))
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    first = list(model[0].parameters()) + list(model[1].parameters())
    optimizer = torch.optim.SGD([{"params": first}, {"params": model[4].parameters(),
                                                     "lr": 0.02}], lr=0.05, momentum=0.9)
    return ddp, optimizer


def plain_setup():
    ddp = torch.nn.parallel.DistributedDataParallel(mlp())
    return ddp, torch.optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9)


def on_rank(rank, at, action):
    """A loss function that runs ``action(loss)`` on rank ``rank`` at its update ``at``."""
    calls = []

    def loss(logits, target):
        calls.append(1)
        value = loss_fn(logits, target)
        return action(value) if dist.get_rank() == rank and len(calls) == at + 1 else value
    return loss


def boom(value):
    raise ValueError("loss exploded on purpose")


def scenario_main(rank, batches):
    ddp, opt = plain_setup()
    return ddp, opt, dict(loss_fn=loss_fn, batches=batches, sweep=SWEEP)


def scenario_restore(rank, batches):
    ddp, opt = rich_model()
    train(ddp, opt, batches[:2])
    ddp.module[3].eval()               # a submodule in eval mode stays in it
    torch.manual_seed(100 + rank)      # each rank its own random state, restored
    return ddp, opt, dict(loss_fn=loss_fn, batches=batches,
                          sweep=Sweep(start_lr=1e-3, end_lr=1.0, num_steps=12))


def scenario_diverge(rank, batches):
    ddp, opt = plain_setup()
    return ddp, opt, dict(loss_fn=loss_fn, batches=batches,
                          sweep=Sweep(start_lr=1e-2, end_lr=1e5, num_steps=40, smooth=0.5,
                                      diverge=1.5))


def scenario_nan_on_rank1(rank, batches):
    ddp, opt = plain_setup()
    nan = on_rank(1, 6, lambda v: v * float("nan"))
    return ddp, opt, dict(loss_fn=nan, batches=batches, sweep=SWEEP)


def scenario_raise_on_rank1(rank, batches):
    ddp, opt = rich_model()  # after DDP's buffer broadcast in the forward pass
    return ddp, opt, dict(loss_fn=on_rank(1, 5, boom), batches=batches, sweep=SWEEP)


def scenario_batch_fails_on_rank1(rank, batches):
    """Batch norm: DDP broadcasts its buffers at the start of every forward pass, a collective
    that a rank whose data loading failed must not leave the other rank waiting in."""
    ddp, opt = rich_model()

    def loader():
        for k, batch in enumerate(batches):
            if rank == 1 and k == 5:
                raise OSError("data loading failed on purpose")
            yield batch
    return ddp, opt, dict(loss_fn=loss_fn, batches=loader(), sweep=SWEEP)


def failing_step(rank, at):
    """An optimizer step pre-hook that raises on rank ``rank`` at its update ``at``."""
    calls = []

    def hook(optimizer, args, kwargs):
        calls.append(1)
        if dist.get_rank() == rank and len(calls) == at + 1:
            raise RuntimeError("optimizer step failed on purpose")
    return hook


def scenario_step_fails_on_rank0(rank, batches):
    ddp, opt = plain_setup()
    opt.register_step_pre_hook(failing_step(0, 4))
    return ddp, opt, dict(loss_fn=loss_fn, batches=batches, sweep=SWEEP)


def scenario_last_step_fails_on_rank0(rank, batches):
    ddp, opt = plain_setup()
    opt.register_step_pre_hook(failing_step(0, SWEEP.num_steps - 1))
    return ddp, opt, dict(loss_fn=loss_fn, batches=batches, sweep=SWEEP)


def scenario_sweeps_differ(rank, batches):
    ddp, opt = plain_setup()
    sweep = SWEEP if rank == 0 else Sweep(SWEEP.start_lr, SWEEP.end_lr, SWEEP.num_steps + 1)
    return ddp, opt, dict(loss_fn=loss_fn, batches=batches, sweep=sweep)


def scenario_empty_batches_on_rank0(rank, batches):
    ddp, opt = plain_setup()
    return ddp, opt, dict(loss_fn=loss_fn, batches=[] if rank == 0 else batches, sweep=SWEEP)


SCENARIOS = {name[len("scenario_"):]: fn for name, fn in globals().items()
             if name.startswith("scenario_")}


def record(result):
    return {"lrs": result.lrs.tolist(), "losses": result.losses.tolist(),
            "smoothed": result.smoothed.tolist(), "stop_reason": result.stop_reason,
            "suggestion": [result.suggestion.base_lr, result.suggestion.max_lr,
                           result.suggestion.status]}


def run(rank, outdir, port):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    # a bug that leaves a rank waiting fails in 60 s instead of gloo's default 30 minutes
    dist.init_process_group("gloo", rank=rank, world_size=WORLD, timeout=timedelta(seconds=60))
    try:
        batches = shard(global_batches(), rank)
        out = {}
        for name, setup in SCENARIOS.items():
            print(f"rank {rank}: {name}", flush=True)
            ddp, opt, kwargs = setup(rank, batches)
            before = everything(ddp, opt)
            entry = {}
            try:
                entry["result"] = record(range_test(ddp, opt, **kwargs))
            except Exception as error:
                entry["error"] = [type(error).__name__, str(error)]
            entry["before"], entry["after"] = before, everything(ddp, opt)
            if name == "restore":  # training afterwards equals training an untested twin
                twin, twin_opt = rich_model()
                train(twin, twin_opt, batches[:2])
                twin.module[3].eval()
                torch.manual_seed(100 + rank)
                for model, optimizer in ((ddp, opt), (twin, twin_opt)):
                    state = torch.random.get_rng_state()
                    train(model, optimizer, batches[2:5])
                    torch.random.set_rng_state(state)
                entry["trained"] = [everything(m, o) for m, o in ((ddp, opt), (twin, twin_opt))]
            out[name] = entry
            del ddp
        torch.save(out, outdir / f"rank{rank}.pt")
        dist.barrier()
    finally:
        dist.destroy_process_group()
    # Gloo's worker threads can still be tearing down when the interpreter finalizes (see
    # _scheduler_ddp_worker.py): the results are on disk, skip finalization.
    os._exit(0)


def main():
    outdir, port = Path(sys.argv[1]), int(sys.argv[2])
    mp.spawn(run, args=(outdir, port), nprocs=WORLD)


if __name__ == "__main__":
    main()
