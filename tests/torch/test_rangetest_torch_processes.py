"""cyclr_torch.range_test under DistributedDataParallel: 2 processes (gloo on 127.0.0.1) spawned
from the test, no torchrun. Both ranks return the same curve and suggestion, equal to one process
over the same global batches; a NaN or an exception on one rank stops or raises on both; each
rank's model, optimizer and random state are restored bit for bit."""

import math
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cyclr.rangetest import METHODS
from cyclr_torch.rangetest import range_test
from tests.torch._rangetest_ddp_worker import SCENARIOS, SWEEP, global_batches, mlp
from tests.torch.test_rangetest_torch import assert_identical, loss_fn

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
WORKER = HERE / "_rangetest_ddp_worker.py"
TIMEOUT = 120  # seconds; the whole run takes a few


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_worker(outdir):
    """Run the worker in its own session, so that a hang kills the spawned ranks too."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    proc = subprocess.Popen([sys.executable, str(WORKER), str(outdir), str(free_port())],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": path},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"the ranks did not finish in {TIMEOUT} s (a deadlock?):\n{out}\n{err[-3000:]}")
    assert proc.returncode == 0, f"{out}\n{err[-3000:]}"


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("ddp")
    run_worker(outdir)
    return [torch.load(outdir / f"rank{r}.pt", weights_only=True) for r in range(2)]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_rank_is_restored_bit_for_bit(ranks, scenario):
    for rank in ranks:
        run = rank[scenario]
        assert_identical(run["before"], run["after"])


def test_the_process_group_survives_every_scenario(ranks):
    assert all(rank.keys() == SCENARIOS.keys() for rank in ranks)


def same_curve(a, b):
    """Bit for bit, NaN included."""
    assert a.keys() == b.keys()
    for key in a:
        if key in ("losses", "smoothed"):
            np.testing.assert_array_equal(a[key], b[key], err_msg=key, strict=True)
        else:
            assert a[key] == b[key], key


def test_both_ranks_return_the_same_curve_and_suggestion(ranks):
    first, second = (rank["main"]["result"] for rank in ranks)
    same_curve(first, second)
    assert first["stop_reason"] == "completed" and first["suggestion"][2] == "ok"
    np.testing.assert_array_equal(first["lrs"], SWEEP.lrs)


def test_the_curve_equals_one_process_over_the_global_batches(ranks):
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    single = range_test(model, optimizer, loss_fn, global_batches(), SWEEP)
    ddp = ranks[0]["main"]["result"]
    np.testing.assert_array_equal(ddp["lrs"], single.lrs)
    # the mean of two half-batch means vs the global mean, and DDP's averaged gradients: float32
    # summation noise, compounded over 30 updates
    np.testing.assert_allclose(ddp["losses"], single.losses, rtol=1e-5)
    np.testing.assert_allclose(ddp["smoothed"], single.smoothed, rtol=1e-5)
    assert ddp["stop_reason"] == single.stop_reason
    assert ddp["suggestion"] == [single.suggestion.base_lr, single.suggestion.max_lr,
                                 single.suggestion.status]
    for method in METHODS:  # not the default method alone
        assert single.suggest(method).ok


def test_a_diverging_test_stops_every_rank_at_the_same_update(ranks):
    first, second = (rank["diverge"]["result"] for rank in ranks)
    same_curve(first, second)
    assert first["stop_reason"] in ("diverged", "non-finite loss")
    assert len(first["lrs"]) < 40


def test_a_nan_on_one_rank_stops_every_rank_at_that_update(ranks):
    first, second = (rank["nan_on_rank1"]["result"] for rank in ranks)
    same_curve(first, second)
    assert first["stop_reason"] == "non-finite loss"
    assert len(first["lrs"]) == 7 and math.isnan(first["losses"][-1])
    main = ranks[0]["main"]["result"]
    assert first["losses"][:6] == main["losses"][:6]   # the same run up to the NaN


def test_an_exception_on_one_rank_makes_every_rank_raise(ranks):
    assert ranks[1]["raise_on_rank1"]["error"] == ["ValueError", "loss exploded on purpose"]
    kind, message = ranks[0]["raise_on_rank1"]["error"]
    assert kind == "RuntimeError"
    assert "stopped at update 5: rank 1 raised an exception" in message


def test_a_failing_optimizer_step_on_one_rank_makes_every_rank_raise(ranks):
    for scenario, where in (("step_fails_on_rank0", "at update 5"),
                            ("last_step_fails_on_rank0", "after the last update")):
        assert ranks[0][scenario]["error"] == ["RuntimeError", "optimizer step failed on purpose"]
        kind, message = ranks[1][scenario]["error"]
        assert kind == "RuntimeError" and f"stopped {where}: rank 0 raised" in message


def test_ranks_with_different_sweeps_refuse_before_training(ranks):
    for rank in ranks:
        kind, message = rank["sweeps_differ"]["error"]
        assert kind == "ValueError"
        assert message.startswith("Argument `sweep` must be the same on every rank")


def test_a_bad_argument_on_one_rank_makes_every_rank_raise_before_training(ranks):
    kind, message = ranks[0]["empty_batches_on_rank0"]["error"]
    assert kind == "ValueError" and message.startswith("Argument `batches` must be a non-empty")
    kind, message = ranks[1]["empty_batches_on_rank0"]["error"]
    assert kind == "RuntimeError" and "stopped before training: rank 0 raised" in message


def test_training_after_the_test_equals_training_an_untested_twin(ranks):
    for rank in ranks:
        tested, twin = rank["restore"]["trained"]
        del tested["param ids"], twin["param ids"]
        assert_identical(twin, tested)


EXAMPLE = ROOT / "docs" / "examples" / "rangetest_ddp.py"


def test_the_docs_two_process_example_prints_the_same_on_both_ranks():
    """docs/examples/rangetest_ddp.py on 2 processes with the variables torchrun would set."""
    path = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p)
    common = {**os.environ, "PYTHONPATH": path, "MASTER_ADDR": "127.0.0.1",
              "MASTER_PORT": str(free_port()), "WORLD_SIZE": "2", "CUDA_VISIBLE_DEVICES": ""}
    procs = [subprocess.Popen([sys.executable, str(EXAMPLE)], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              start_new_session=True,
                              env={**common, "RANK": str(r), "LOCAL_RANK": str(r)})
             for r in range(2)]
    outputs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=TIMEOUT)
            # gloo's threads sometimes abort the interpreter's exit after the script has
            # finished (pytorch#179291, see _scheduler_ddp_worker.py): the output is complete
            torn_down = (proc.returncode == -signal.SIGABRT
                         and "terminate called without an active exception" in err)
            assert proc.returncode == 0 or torn_down, err[-3000:]
            outputs.append(out.strip())
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    assert outputs[0].startswith("rank 0 of 2: ") and outputs[1].startswith("rank 1 of 2: ")
    assert outputs[0][len("rank 0"):] == outputs[1][len("rank 1"):]   # the same curve and bounds
    # docs/rangetest.md shows this output; numbers may differ on other CPUs, the words may not
    docs = (ROOT / "docs" / "rangetest.md").read_text()
    shown = [line for line in docs.splitlines() if line.startswith("rank 0 of 2: ")]
    assert [re.sub(r"[0-9a-f]{16}|[\d.e+-]+", "#", line) for line in shown] == [
        re.sub(r"[0-9a-f]{16}|[\d.e+-]+", "#", outputs[0])]


def test_a_failing_batch_on_one_rank_makes_every_rank_raise(ranks):
    assert ranks[1]["batch_fails_on_rank1"]["error"] == ["OSError",
                                                         "data loading failed on purpose"]
    kind, message = ranks[0]["batch_fails_on_rank1"]["error"]
    assert kind == "RuntimeError" and "rank 1 raised an exception" in message
