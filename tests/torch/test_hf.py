"""cyclr_torch.Scheduler under Hugging Face's ``transformers.Trainer`` and ``accelerate`` (CPU, a
tiny model, in-memory data, nothing from the Hub): the code blocks of docs/torch.md's section run
as written, the LR and betas[0] of every optimizer update, which update the Trainer logs,
gradient accumulation, resuming after a crash, and what accelerate's prepared scheduler does on
one process and on 2 (gloo)."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cyclr import policy
from cyclr_torch import Scheduler
from tests.torch.hf_probe import (
    ROWS,
    LossNet,
    Rows,
    applied,
    cyclr_warnings,
    loader,
    net,
    raw,
    run,
    snippet,
)

# transformers 4.x loads its TensorFlow half when TensorFlow is installed and refuses Keras 3
# (cyclr's tf extra) without tf-keras: USE_TF=0 lets its Trainer import (5.x has no such half)
os.environ.setdefault("USE_TF", "0")
transformers = pytest.importorskip("transformers", reason="transformers is not installed (the "
                                                          "integrations dependency group has it)")
accelerate = pytest.importorskip("accelerate", reason="accelerate is not installed (the "
                                                      "integrations dependency group has it)")
Trainer, TrainingArguments = transformers.Trainer, transformers.TrainingArguments
AcceleratorState, GradientState = accelerate.state.AcceleratorState, accelerate.state.GradientState

TRAINER = "trainer = Trainer("
RECIPE = "model, opt, loader = accelerator.prepare(model, opt, loader)"
PREPARED = "step_scheduler_with_optimizer=False"
WORKER = Path(__file__).parent / "_hf_worker.py"
UPDATES = ROWS // 4 // 2       # accelerate blocks: batches of 4, 2 micro-batches per update


@pytest.fixture(autouse=True)
def fresh(tmp_path, monkeypatch):
    """Each test in its own folder ("out" is relative), on the CPU, with accelerate's process-wide
    state (a singleton) built anew."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ACCELERATE_USE_CPU", "yes")
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    yield
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


def one_trainer(n, crash=None, resume=False):
    """The documented Trainer block: (what every update applied, the logs, the names it set)."""
    with applied() as seen, cyclr_warnings() as warned:
        try:
            ns = run(snippet(TRAINER), n=n, model=LossNet(crash), train=Rows(), resume=resume)
        finally:
            assert warned == []
    (trace,) = seen.values()           # one optimizer stepped
    return trace, ns


def test_trainer_block_every_update_uses_the_policy_and_logs_the_update_just_done():
    n = 40
    trace, ns = one_trainer(n)
    p, m = ns["sched"].policy, ns["sched"].momentum
    assert ns["args"].gradient_accumulation_steps == 2 and ns["trainer"].state.global_step == n
    assert trace == [(p(k), m(k)) for k in range(n)]
    logs = [(e["step"], e["learning_rate"]) for e in ns["trainer"].state.log_history
            if "learning_rate" in e]
    assert [s for s, _ in logs] == [10, 20, 30, 40]
    assert logs == [(s, p(s - 1)) for s, _ in logs]       # the LR update s - 1 used
    assert all(lr != p(s) for s, lr in logs[:-1])         # not the next one's (held at the end)
    assert sorted(p.name for p in Path("out").glob("checkpoint-*")) == [f"checkpoint-{s}"
                                                             for s in (10, 20, 30, 40)]


# 16 batches of 4 per epoch; with 3 per update, an epoch is 5 updates of 3 and 1 of 1 (the Trainer
# ends an accumulation at the epoch's end): 12 updates are 32 forward calls
@pytest.mark.parametrize("accumulation, calls", [(1, 12), (3, 32)])
def test_trainer_steps_once_per_optimizer_update(accumulation, calls):
    n = 12
    model = LossNet()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    p, m = policy.Triangular2(base_lr=1e-4, max_lr=1e-2, step_size=3), policy.Constant(0.9)
    sched = Scheduler(opt, p, momentum=m)
    args = TrainingArguments("out", max_steps=n, per_device_train_batch_size=4,
                             gradient_accumulation_steps=accumulation, logging_steps=1,
                             save_strategy="no", use_cpu=True, disable_tqdm=True,
                             report_to="none")
    trainer = Trainer(model=model, args=args, train_dataset=Rows(), optimizers=(opt, sched))
    with applied() as seen, cyclr_warnings() as warned:
        trainer.train()
    assert warned == []
    assert model.calls == calls and trainer.state.global_step == n
    assert seen[opt] == [(p(k), 0.9) for k in range(n)]
    logs = [(e["step"], e["learning_rate"]) for e in trainer.state.log_history
            if "learning_rate" in e]
    assert logs == [(s, p(s - 1)) for s in range(1, n + 1)]


def test_trainer_resumes_after_a_crash_with_the_same_lrs_and_weights(tmp_path, monkeypatch):
    n = 40
    (tmp_path / "whole").mkdir()
    (tmp_path / "crashed").mkdir()
    monkeypatch.chdir(tmp_path / "whole")
    whole, ns_whole = one_trainer(n)

    monkeypatch.chdir(tmp_path / "crashed")
    with pytest.raises(RuntimeError, match="simulated crash"):
        one_trainer(n, crash=2 * 25 + 1)   # in update 26 (index 25); checkpoint-20 is the last
    assert sorted(p.name for p in Path("out").glob("checkpoint-*")) == ["checkpoint-10",
                                                                        "checkpoint-20"]
    state = torch.load("out/checkpoint-20/scheduler.pt", weights_only=True)
    assert state["last_epoch"] == 20 and state["added"] == []

    AcceleratorState._reset_state(reset_partial_state=True)
    resumed, ns = one_trainer(n, resume=True)
    assert resumed == whole[20:]
    assert ns["sched"].last_epoch == n
    for a, b in zip(ns_whole["model"].parameters(), ns["model"].parameters()):
        assert torch.equal(a, b)


def one_accelerate(code, model=None, **names):
    with applied() as seen, cyclr_warnings() as warned:
        ns = run(code, n=UPDATES, model=model or net(), loader=loader(),
                 loss_fn=torch.nn.functional.mse_loss, **names)
    assert warned == []
    (trace,) = seen.values()
    return [lr for lr, _ in trace], ns


def test_accelerate_recipe_block_steps_once_per_update():
    lrs, ns = one_accelerate(snippet(RECIPE))
    sched = ns["sched"]
    assert isinstance(sched, Scheduler) and ns["accelerator"].num_processes == 1
    assert ns["accelerator"].gradient_accumulation_steps == 2
    assert lrs == [sched.policy(k) for k in range(UPDATES)]
    assert sched.last_epoch == UPDATES


def test_accelerate_prepared_block_steps_once_per_update_and_round_trips_save_state(tmp_path):
    lrs, ns = one_accelerate(snippet(PREPARED))
    sched = raw(ns["sched"])
    assert type(ns["sched"]).__name__ == "AcceleratedScheduler"
    assert lrs == [sched.policy(k) for k in range(UPDATES)]
    assert sched.last_epoch == UPDATES

    ns["accelerator"].save_state(tmp_path / "state")
    AcceleratorState._reset_state(reset_partial_state=True)   # as in a new process
    GradientState._reset_state()
    accelerator = accelerate.Accelerator(gradient_accumulation_steps=2,
                                         step_scheduler_with_optimizer=False)
    model = net()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    fresh = Scheduler(opt, policy.OneCycle(max_lr=1e-3, total_steps=UPDATES))
    assert fresh.last_epoch == 0
    model, opt, fresh = accelerator.prepare(model, opt, fresh)
    with cyclr_warnings() as warned:
        accelerator.load_state(tmp_path / "state")
    assert warned == []
    assert raw(fresh).last_epoch == UPDATES
    assert raw(opt).param_groups[0]["lr"] == sched.policy(UPDATES) != sched.policy(0)
    for a, b in zip(ns["model"].parameters(), model.parameters()):
        assert torch.equal(a, b)


# the prepared scheduler, stepped in the loop (every_batch: at every micro-batch, inside
# accumulate, as accelerate's own examples do; else on sync_gradients, as the blocks do)
PREPARED_LOOP = """
accelerator = Accelerator(gradient_accumulation_steps=2, **options)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
sched = Scheduler(opt, policy.OneCycle(max_lr=1e-3, total_steps=n))
model, opt, loader, sched = accelerator.prepare(model, opt, loader, sched)
for batch in loader:
    with accelerator.accumulate(model):
        accelerator.backward(loss_fn(model(batch["x"]), batch["y"]))
        opt.step()
        if every_batch:
            sched.step()
        opt.zero_grad()
    if not every_batch and accelerator.sync_gradients:
        sched.step()
"""


@pytest.mark.parametrize("every_batch", [True, False], ids=["every-micro-batch", "on-sync"])
def test_accelerate_default_prepared_scheduler_on_one_process_steps_once_per_update(every_batch):
    lrs, ns = one_accelerate(PREPARED_LOOP, Accelerator=accelerate.Accelerator,
                             every_batch=every_batch, options={})
    sched = raw(ns["sched"])
    assert ns["accelerator"].num_processes == 1
    assert lrs == [sched.policy(k) for k in range(UPDATES)]
    assert sched.last_epoch == UPDATES


def test_accelerate_without_stepping_with_the_optimizer_every_micro_batch_is_a_step():
    """step_scheduler_with_optimizer=False passes every step() through: stepped at each of the 2
    micro-batches of an update, the policy runs 2 times faster (and one ahead)."""
    lrs, ns = one_accelerate(PREPARED_LOOP, Accelerator=accelerate.Accelerator, every_batch=True,
                             options={"step_scheduler_with_optimizer": False})
    sched = raw(ns["sched"])
    assert lrs == [sched.policy(2 * k + 1) for k in range(UPDATES)]
    assert sched.last_epoch == 2 * UPDATES


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes(tmp_path):
    """2 CPU processes (gloo): the Trainer and both accelerate blocks give update k policy(k) on
    each process; accelerate's default prepared scheduler gives it policy(2 k)."""
    code = {"trainer": snippet(TRAINER), "recipe": snippet(RECIPE),
            "prepared": snippet(PREPARED), "default": PREPARED_LOOP}
    (tmp_path / "code.json").write_text(json.dumps(code))
    result = subprocess.run([sys.executable, str(WORKER), str(tmp_path), str(free_port())],
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    trainer_n = 12
    p = policy.OneCycle(max_lr=1e-3, total_steps=trainer_n)
    m = policy.one_cycle_momentum(trainer_n)
    q = policy.OneCycle(max_lr=1e-3, total_steps=UPDATES)   # the worker: batches of 2
    for rank in ranks:
        assert rank["trainer_world_size"] == rank["num_processes"] == 2
        assert rank["warned"] == []
        assert rank["trainer"] == [[p(k), m(k)] for k in range(trainer_n)]
        assert rank["recipe"] == [q(k) for k in range(UPDATES)]
        assert rank["prepared"] == [q(k) for k in range(UPDATES)]
        assert rank["default"] == [q(2 * k) for k in range(UPDATES)]
