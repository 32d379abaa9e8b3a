"""cyclr_torch.Scheduler across processes: a run killed with SIGKILL and resumed from its last
checkpoint, and DistributedDataParallel with 2 gloo processes."""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cyclr import policy

HERE = Path(__file__).parent
RESUME_WORKER = HERE / "_scheduler_resume_worker.py"
DDP_WORKER = HERE / "_scheduler_ddp_worker.py"


def worker(script, *args, timeout=120):
    result = subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_sigkill_mid_cycle_then_resume_is_bit_identical(tmp_path):
    steps, every, kill_after = 60, 10, 37  # cycles of 16 updates: both points are mid-cycle
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    whole.mkdir()
    broken.mkdir()
    worker(RESUME_WORKER, whole, "--steps", steps, "--every", every)

    proc = subprocess.Popen([sys.executable, str(RESUME_WORKER), str(broken), "--steps",
                             str(steps), "--every", str(every), "--hang-at", str(kill_after)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == f"hanging after {kill_after}", proc.stderr.read()
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not (broken / "final.pt").exists()
    assert torch.load(broken / "checkpoint.pt", weights_only=True)["step"] == 30  # 31..37 lost

    out = worker(RESUME_WORKER, broken, "--steps", steps, "--every", every, "--resume")
    assert out.splitlines()[0] == "resumed at 30"

    expected = torch.load(whole / "final.pt", weights_only=True)
    resumed = torch.load(broken / "final.pt", weights_only=True)
    assert resumed["trace"] == expected["trace"]
    lr = policy.Triangular2(base_lr=1e-3, max_lr=0.1, step_size=8)
    momentum = policy.Triangular2(base_lr=0.95, max_lr=0.85, step_size=8)
    assert expected["trace"] == [(lr(k), momentum(k)) for k in range(steps)]
    assert expected["weights"].keys() == resumed["weights"].keys()
    for name, w in expected["weights"].items():
        assert torch.equal(w, resumed["weights"][name]), name


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_gloo_two_processes_apply_the_same_trace(tmp_path):
    steps = 25
    lr = policy.warmup(policy.OneCycle(max_lr=0.1, total_steps=15), 5)
    momentum = policy.Join([policy.Constant(0.9), policy.one_cycle_momentum(15)], [5])
    worker(DDP_WORKER, tmp_path, free_port(), json.dumps(lr.to_config()),
           json.dumps(momentum.to_config()), steps)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    expected = [[lr(k), momentum(k)] for k in range(steps)]
    for rank in ranks:
        assert rank["applied"] == expected
        assert rank["last_epoch"] == steps
    assert ranks[0]["weights"] == ranks[1]["weights"]  # DDP kept the replicas in sync
