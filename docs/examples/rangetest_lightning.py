"""The LR range test inside a Lightning DDP run (docs/rangetest.md): a callback runs it in its
``setup`` hook, where every rank exists and the process group is up but Lightning has not wrapped
the model yet, and hands the bounds to ``configure_optimizers``.

    python docs/examples/rangetest_lightning.py      # 2 CPU processes; or under torchrun

Checked with Lightning 2.6.6 on 2 CPU processes (gloo); not part of the test suite.
"""

import sys

import lightning as L
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from cyclr import policy
from cyclr.rangetest import Sweep
from cyclr_torch import Scheduler, lightning_config, range_test


class Classifier(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 2))
        self.bounds = None  # set by RangeTest before configure_optimizers runs

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.cross_entropy(self(x), y)

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9)
        if self.bounds is None:  # the range test's own optimizer
            return optimizer
        steps = self.trainer.estimated_stepping_batches  # optimizer updates in the whole fit
        lr = policy.Triangular2(**self.bounds, step_size=max(steps // 4, 1))  # two cycles
        return {"optimizer": optimizer, "lr_scheduler": lightning_config(Scheduler(optimizer, lr))}


class RangeTest(L.Callback):
    """Runs the range test on every rank before Lightning wraps the model in its own DDP."""

    def __init__(self, sweep, data, batch_size):
        self.sweep, self.data, self.batch_size, self.result = sweep, data, batch_size, None

    def setup(self, trainer, pl_module, stage):
        if stage != "fit":
            return
        pl_module.to(trainer.strategy.root_device)
        data, model, sampler = self.data, pl_module, None
        if dist.is_available() and dist.is_initialized():  # a DDP just for the test
            device = trainer.strategy.root_device
            model = DistributedDataParallel(
                pl_module, device_ids=[device.index] if device.type == "cuda" else None)
            sampler = DistributedSampler(data, seed=0)
        loader = DataLoader(data, batch_size=self.batch_size, sampler=sampler,
                            shuffle=sampler is None)
        self.result = range_test(model, pl_module.configure_optimizers(),
                                 nn.functional.cross_entropy, loader, self.sweep)
        pl_module.bounds = self.result.suggestion.bounds()
        del model  # removes the test's DDP hooks; Lightning wraps the model next


def main():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4096, 20, generator=g)
    y = (x @ torch.randn(20, generator=g) > 0).long()
    data = TensorDataset(x, y)
    train = DataLoader(data, batch_size=64, shuffle=True)  # Lightning adds a DistributedSampler

    torch.manual_seed(0)
    module = Classifier()
    test = RangeTest(Sweep(start_lr=1e-4, end_lr=10.0, num_steps=100), data, batch_size=64)
    trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp", max_epochs=2,
                        callbacks=[test], enable_progress_bar=False, enable_model_summary=False,
                        logger=False, enable_checkpointing=False)
    trainer.fit(module, train)
    r, s = test.result, test.result.suggestion
    sys.stdout.write(f"rank {trainer.global_rank}: range test {r.stop_reason} after "
                     f"{len(r.lrs)} updates, base_lr={s.base_lr:.4g} max_lr={s.max_lr:.4g}; "
                     f"trained {trainer.global_step} updates, final lr "
                     f"{trainer.optimizers[0].param_groups[0]['lr']:.4g}\n")


if __name__ == "__main__":
    main()
