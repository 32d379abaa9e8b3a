"""DistributedDataParallel on 2 CPU processes (gloo, 127.0.0.1), for the DDP test (run as a
script, not a test).

    python _scheduler_ddp_worker.py OUTDIR PORT POLICY_JSON MOMENTUM_JSON STEPS

Each rank trains the same tiny model on its own shard of data with a cyclr_torch.Scheduler and
writes OUTDIR/rank{r}.json: the (lr, momentum) every update applied and the final weights.
"""

import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from cyclr import policy
from cyclr_torch.scheduler import Scheduler

WORLD = 2


def run(rank, outdir, port, lr_config, momentum_config, steps):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        ddp = torch.nn.parallel.DistributedDataParallel(model)
        opt = torch.optim.SGD(ddp.parameters(), lr=1.0, momentum=0.5)
        sched = Scheduler(opt, policy.from_config(lr_config),
                          momentum=policy.from_config(momentum_config))
        applied = []
        opt.register_step_pre_hook(lambda o, a, kw: applied.append(
            (o.param_groups[0]["lr"], o.param_groups[0]["momentum"])))
        for k in range(steps):
            gen = torch.Generator().manual_seed(100 * k + rank)  # each rank its own shard
            x = torch.randn(16, 6, generator=gen)
            loss = torch.nn.functional.mse_loss(ddp(x), x.sum(1, keepdim=True).sin())
            loss.backward()  # gradients are averaged over the ranks here
            opt.step()
            opt.zero_grad()
            sched.step()
        weights = [w.detach().flatten().tolist() for w in model.parameters()]
        (outdir / f"rank{rank}.json").write_text(json.dumps(
            {"applied": applied, "last_epoch": sched.last_epoch, "weights": weights}))
        del ddp  # the reducer holds the process group: release it before the group goes
        dist.barrier()  # nobody tears gloo down while the other rank still talks to it
    finally:
        dist.destroy_process_group()
    # Gloo's worker threads can still be tearing down when the interpreter finalizes, which
    # aborts the process now and then ("terminate called without an active exception", about 1
    # run in 20 here; see pytorch#179291). The results are on disk: skip finalization.
    os._exit(0)


def main():
    outdir, port = Path(sys.argv[1]), int(sys.argv[2])
    lr_config, momentum_config = json.loads(sys.argv[3]), json.loads(sys.argv[4])
    steps = int(sys.argv[5])
    mp.spawn(run, args=(outdir, port, lr_config, momentum_config, steps), nprocs=WORLD)


if __name__ == "__main__":
    main()
