"""cyclr_torch.Scheduler under a real ``lightning.Trainer`` (CPU, a tiny model, a few epochs):
the LR and momentum of every optimizer update, gradient accumulation, resuming from a
checkpoint (torch.load(weights_only=True) inside Lightning), the per-epoch trap of returning
``[opt], [sched]`` (warned about), and fine-tuning callbacks that add param groups mid-fit."""

import contextlib
import warnings

import pytest
import torch

from cyclr import policy
from cyclr_torch import Scheduler, lightning_config
from tests.torch.torch_probe import record_applied

pl = pytest.importorskip("lightning.pytorch", reason="Lightning is not installed (the integrations "
                                                     "dependency group has it)")
from lightning.pytorch.callbacks import BackboneFinetuning, BaseFinetuning  # noqa: E402

ROWS, BATCH = 64, 8          # 8 batches per epoch

# Lightning's own hints about this setup (few loader workers; torch 2.13's pytree deprecation
# inside Lightning 2.6): not what these tests check
pytestmark = [pytest.mark.filterwarnings("ignore:.*does not have many workers"),
              pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning")]


def loader():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(ROWS, 5, generator=g)
    data = torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True).sin())
    return torch.utils.data.DataLoader(data, batch_size=BATCH)


class Net(pl.LightningModule):
    """``configure``: "helper" returns lightning_config(sched); "lists" returns [opt], [sched]
    (Lightning then steps it once per epoch). ``total``: the policy's length in updates (None:
    the trainer's estimated_stepping_batches)."""

    def __init__(self, configure="helper", total=None):
        super().__init__()
        torch.manual_seed(0)
        self.backbone = torch.nn.Linear(5, 8)
        self.head = torch.nn.Linear(8, 1)
        self.configure, self.total = configure, total
        self.applied = []

    def forward(self, x):
        return self.head(torch.tanh(self.backbone(x)))

    def training_step(self, batch, index):
        x, y = batch
        return torch.nn.functional.mse_loss(self(x), y)

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]   # fine-tuning freezes some
        opt = torch.optim.SGD(params, lr=0.1, momentum=0.9)
        n = self.total or self.trainer.estimated_stepping_batches
        self.policies = (policy.OneCycle(max_lr=0.1, total_steps=n),
                         policy.one_cycle_momentum(n))
        sched = Scheduler(opt, self.policies[0], momentum=self.policies[1])
        self.applied = record_applied(opt)   # (lr, momentum, betas) per group, per update
        if self.configure == "lists":
            return [opt], [sched]
        return {"optimizer": opt, "lr_scheduler": lightning_config(sched)}


def trainer(epochs, tmp_path=None, **kwargs):
    return pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False,
                      enable_checkpointing=tmp_path is not None, default_root_dir=tmp_path,
                      enable_progress_bar=False, enable_model_summary=False,
                      num_sanity_val_steps=0, **kwargs)


@contextlib.contextmanager
def silent_cyclr():
    """No warning from cyclr (Lightning's own hints are not what these tests check)."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        yield
    assert not [str(w.message) for w in record if "cyclr" in str(w.message)]


def fit(net, epochs, tmp_path=None, ckpt_path=None, **kwargs):
    with silent_cyclr():
        trainer(epochs, tmp_path, **kwargs).fit(net, loader(), ckpt_path=ckpt_path)
    return net


def test_every_update_uses_the_policy_lr_and_momentum():
    net = fit(Net(), 3)
    p, m = net.policies
    assert p.total_steps == 3 * 8
    assert [a[0][:2] for a in net.applied] == [(p(k), m(k)) for k in range(24)]


def test_accumulated_gradients_count_optimizer_updates():
    net = fit(Net(), 4, accumulate_grad_batches=2)
    p, m = net.policies
    assert p.total_steps == 4 * 8 // 2                     # Lightning's estimate agrees
    assert [a[0][:2] for a in net.applied] == [(p(k), m(k)) for k in range(16)]


def test_returning_lists_steps_per_epoch_and_is_warned_about():
    net = Net("lists")
    with pytest.warns(UserWarning, match=r"step\(\) was called after 8 optimizer updates .*"
                                         r"lightning_config") as record:
        trainer(3).fit(net, loader())
    assert sum("optimizer updates since" in str(w.message) for w in record) == 1
    lrs = [a[0][0] for a in net.applied]
    assert len(set(lrs)) == 3                    # what Lightning does: one LR per epoch


def test_resuming_from_a_checkpoint_continues_exactly(tmp_path):
    total = 4 * 8
    full = fit(Net(total=total), 4)
    first = fit(Net(total=total), 2, tmp_path=tmp_path)
    (ckpt,) = (tmp_path / "checkpoints").glob("*.ckpt")
    state = torch.load(ckpt, weights_only=True)["lr_schedulers"][0]
    assert state["last_epoch"] == 16 and state["added"] == []
    resumed = fit(Net(total=total), 4, tmp_path, ckpt)
    assert first.applied + resumed.applied == full.applied
    for a, b in zip(full.parameters(), resumed.parameters()):
        assert torch.equal(a, b)


class Unfreeze(BaseFinetuning):
    """Gradual unfreezing as Lightning's docs show it: the backbone joins at ``epoch`` with the
    LR Lightning gives it (the first group's LR / 10)."""

    def __init__(self, epoch=1):
        super().__init__()
        self.epoch = epoch

    def freeze_before_training(self, pl_module):
        self.freeze(pl_module.backbone)

    def finetune_function(self, pl_module, current_epoch, optimizer):
        if current_epoch == self.epoch:
            self.unfreeze_and_add_param_group(pl_module.backbone, optimizer)
        elif current_epoch > self.epoch:
            # resumed after unfreezing: Lightning 2.6 restores the param group but its setup()
            # froze the backbone again (requires_grad=False), so it would stop training
            self.make_trainable(pl_module.backbone)


def test_a_group_added_by_a_finetuning_callback_follows_the_scaled_policy():
    net = fit(Net(total=24), 3, callbacks=[Unfreeze(1)])
    p, m = net.policies
    assert [a[0][:2] for a in net.applied] == [(p(k), m(k)) for k in range(24)]
    backbone = [a[1] for a in net.applied[8:]]
    added = p(8) / 10                 # Lightning: param_groups[0]["lr"] / initial_denom_lr
    assert backbone[0][0] == pytest.approx(added, rel=1e-15)
    assert [b[0] for b in backbone[1:]] == pytest.approx(
        [added * p(k) / p(8) for k in range(9, 24)], rel=1e-14)
    assert [b[1] for b in backbone[1:]] == [m(k) for k in range(9, 24)]


def test_resuming_after_a_group_was_added_continues_exactly(tmp_path):
    full = fit(Net(total=32), 4, callbacks=[Unfreeze(1)])
    first = fit(Net(total=32), 2, tmp_path, callbacks=[Unfreeze(1)])
    (ckpt,) = (tmp_path / "checkpoints").glob("*.ckpt")
    state = torch.load(ckpt, weights_only=True)["lr_schedulers"][0]
    assert state["added"] == [{"group": 1, "lr": pytest.approx(full.policies[0](8) / 10),
                               "step": 8}]
    resumed = fit(Net(total=32), 4, tmp_path, ckpt, callbacks=[Unfreeze(1)])
    assert first.applied + resumed.applied == full.applied
    for a, b in zip(full.parameters(), resumed.parameters()):
        assert torch.equal(a, b)


def test_backbone_finetuning_no_longer_stops_training():
    """It used to raise "The optimizer has 2 param groups, but this scheduler was built for 1"
    at the first update after unfreezing. BackboneFinetuning also writes the backbone's LR at
    every later epoch start: that write lasts one update, and the scheduler says so once."""
    net = Net(total=32)
    callback = BackboneFinetuning(unfreeze_backbone_at_epoch=1)
    with pytest.warns(UserWarning, match="param group 1's lr is .* something else changed it"):
        trainer(4, callbacks=[callback]).fit(net, loader())
    p, _ = net.policies
    assert len(net.applied) == 32 and len(net.applied[-1]) == 2
    assert [a[0][0] for a in net.applied] == [p(k) for k in range(32)]
    backbone = [a[1][0] for a in net.applied[8:]]
    added = p(8) * 0.1                    # backbone_initial_ratio_lr
    assert backbone[0] == pytest.approx(added, rel=1e-15)
    assert backbone[1:8] == pytest.approx([added * p(k) / p(8) for k in range(9, 16)],
                                          rel=1e-14)
