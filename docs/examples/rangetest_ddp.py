"""The LR range test on two processes with DistributedDataParallel (docs/rangetest.md).

    torchrun --nproc_per_node 2 docs/examples/rangetest_ddp.py

Each rank trains on its own shard (DistributedSampler) of global batches of 2 x 64 rows; every
rank prints the same result. On GPUs it uses NCCL and one GPU per rank, otherwise gloo on CPUs.
"""

import hashlib
import os
import sys

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from cyclr.rangetest import Sweep
from cyclr_torch import range_test


def main():
    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")  # reads torchrun's RANK, WORLD_SIZE, ...
    device = torch.device("cuda", int(os.environ["LOCAL_RANK"])) if cuda else torch.device("cpu")
    torch.set_num_threads(1)

    g = torch.Generator().manual_seed(0)  # the same data set on every rank
    x = torch.randn(4096, 20, generator=g)
    y = (x @ torch.randn(20, generator=g) > 0).long()
    data = TensorDataset(x, y)
    loader = DataLoader(data, batch_size=64, sampler=DistributedSampler(data, seed=0))

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 2)).to(device)
    ddp = DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)

    result = range_test(ddp, optimizer, nn.functional.cross_entropy, loader,
                        Sweep(start_lr=1e-4, end_lr=10.0, num_steps=100))

    s = result.suggestion
    curve = hashlib.sha256(result.losses.tobytes()).hexdigest()[:16]
    line = (f"rank {dist.get_rank()} of {dist.get_world_size()}: {result.stop_reason} after "
            f"{len(result.lrs)} updates, losses sha256 {curve}, "
            f"base_lr={s.base_lr:.4g} max_lr={s.max_lr:.4g}\n")
    sys.stdout.write(line)  # one write: the ranks' lines do not interleave
    sys.stdout.flush()
    del ddp
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
