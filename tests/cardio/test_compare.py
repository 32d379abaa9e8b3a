"""`cyclr compare`: a real tiny run on the synthetic data with both backends, and bad input."""

import csv
import json
import os
import subprocess
import sys

import pytest

from cyclr_cardio.cli import main
from cyclr_cardio.report import RUN_COLUMNS, SUMMARY_COLUMNS

POLICIES = ("constant", "clr", "one-cycle", "constant-grid")
GRID = (0.01, 0.3)
README = ("# title\n\nbefore\n\n<!-- cyclr compare: start -->\nold table\n"
          "<!-- cyclr compare: end -->\n\nafter\n")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One real `cyclr compare` in a fresh process: both backends, every policy, 2 epochs."""
    pytest.importorskip("torch")
    pytest.importorskip("tensorflow")
    base = tmp_path_factory.mktemp("compare")
    out = base / "out"
    (base / "README.md").write_text(README)
    env = {k: v for k, v in os.environ.items() if k != "CYCLR_CARDIO_CSV"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    cmd = [sys.executable, "-m", "cyclr_cardio", "compare", "--backends", "tf,torch", "--epochs",
           "2", "--seeds", "1", "--synthetic-rows", "1500", "--grid", ",".join(map(str, GRID)),
           "--out", str(out), "--readme", str(base / "README.md")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


def read(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_synthetic_data_is_announced(tiny_run):
    out, proc = tiny_run
    assert proc.stdout.count("SYNTHETIC DATA") == 2  # before and after the run
    assert "SYNTHETIC DATA" in (out / "report.md").read_text()


def test_runs_csv_has_one_row_per_backend_policy_seed_epoch(tiny_run):
    out, _ = tiny_run
    with open(out / "runs.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == RUN_COLUMNS
    run_id = json.loads((out / "run.json").read_text())["run"]
    assert {r["run"] for r in rows} == {run_id}  # each row names the run that wrote it
    keys = {(r["backend"], r["policy"], r["seed"], r["epoch"]) for r in rows}
    assert keys == {(b, p, "0", e) for b in ("tf", "torch") for p in POLICIES for e in "12"}
    assert len(rows) == len(keys)
    for r in rows:
        assert float(r["lr"]) > 0 and float(r["train_loss"]) > 0
        assert 0 <= float(r["train_accuracy"]) <= 1 and 0 <= float(r["val_accuracy"]) <= 1
    assert {float(r["lr"]) for r in rows if r["policy"] == "constant"} == {0.01}


def test_summary_csv_has_one_row_per_run(tiny_run):
    out, _ = tiny_run
    with open(out / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == SUMMARY_COLUMNS
    assert [r["policy"] for r in rows] == list(POLICIES) * 2
    for r in rows:
        assert 0 <= float(r["test_accuracy"]) <= 1
        assert float(r["best_val_accuracy"]) >= float(r["final_val_accuracy"])
        assert float(r["wall_s"]) > 0
        assert r["device"].startswith("cpu") or "gpu" in r["device"] or "cuda" in r["device"]
    grid = [r for r in rows if r["policy"] == "constant-grid"]
    assert all(float(r["total_epochs"]) == 2 * len(GRID) for r in grid)
    clr = [r for r in rows if r["policy"] == "clr"]
    assert all(r["bounds_source"] for r in clr)
    assert all(float(r["tuning_epochs"]) > 0 for r in clr)  # the range test is counted
    for r in clr:  # a 2-epoch run still holds five full cycles
        schedule = json.loads(r["schedule"])
        updates = 2 * -(-int(1500 * 0.97 * 0.6) // 350)
        assert abs(10 * schedule["step_size"] - updates) <= 10
    candidates = read(out / "grid.csv")[1:]
    assert len(candidates) == 2 * len(GRID)


def test_report_and_plots_exist(tiny_run):
    out, proc = tiny_run
    report = (out / "report.md").read_text()
    for needed in ("## Results", "64.7", "65.0", "HistGradientBoostingClassifier",
                   "total epochs", "## The article's claims, checked", "*trains faster*",
                   "lr_schedule.png", "val_accuracy.png", "the shaded band spans",
                   "![LR range tests](range_test.png)", "Regenerate: `cyclr compare",
                   "(on the synthetic stand-in: how it behaves, not the real data)",
                   "so the two do not compare"):
        assert needed in report
    for png in ("lr_schedule.png", "val_accuracy.png", "range_test.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "test acc %" in proc.stdout  # the summary table
    # not a terminal: one line per run, written in one piece, with the LR range it swept
    assert " 2 epochs, lr " in proc.stderr and " test 0." in proc.stderr


# ------------------------------------------------------------------------------ bad input


def fails(capsys, *args):
    code = main(["compare", *args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("cyclr: error:") and err.count("\n") == 1, err
    return err


def test_readme_block_is_the_reports_table(tiny_run):
    out, _ = tiny_run
    readme = (out.parent / "README.md").read_text()
    report = (out / "report.md").read_text()
    assert readme.startswith("# title\n\nbefore\n\n<!-- cyclr compare: start -->\n")
    assert readme.endswith("<!-- cyclr compare: end -->\n\nafter\n")
    assert "old table" not in readme and "synthetic data" in readme
    table = [line for line in readme.splitlines() if line.startswith("|")]
    assert len(table) == 2 + 2 * len(POLICIES)
    assert all(line in report for line in table)  # the same rows as the report's table
    assert f"--readme {out.parent / 'README.md'}" in readme


def test_readme_without_markers_fails_before_training(capsys, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n")
    assert "--readme" in fails(capsys, "--readme", str(readme), "--synthetic-rows", "300",
                               "--backends", "torch", "--out", str(tmp_path / "out"))
    assert readme.read_text() == "# no markers\n"
    assert not (tmp_path / "out").exists()


def test_unknown_backend(capsys):
    assert "--backends" in fails(capsys, "--backends", "jax")


def test_unknown_policy(capsys):
    assert "--policies" in fails(capsys, "--policies", "constant,warp")


def test_bad_epochs(capsys):
    assert "--epochs" in fails(capsys, "--epochs", "0")


def test_bad_grid(capsys):
    assert "--grid" in fails(capsys, "--grid", "0.1,fast")


def test_missing_data_file(capsys, tmp_path):
    assert "not found" in fails(capsys, "--data", str(tmp_path / "nope.csv"))


def test_environment_variable_is_the_fallback(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("CYCLR_CARDIO_CSV", str(tmp_path / "from-env.csv"))
    assert "from-env.csv" in fails(capsys, "--backends", "torch")


def test_malformed_data(capsys, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,age,gender\n1,2,3\n")
    assert "expected ';'-separated" in fails(capsys, "--data", str(bad), "--backends", "torch")
    bad.write_text("id;age;gender;height;weight;ap_hi;ap_lo;cholesterol;gluc;smoke;alco;active;"
                   "cardio\n0;18393;2;168;sixty;110;80;1;1;0;0;1;0\n")
    assert "line 2" in fails(capsys, "--data", str(bad), "--backends", "torch")


def test_cuda_without_a_gpu(capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert "device" in fails(capsys, "--backends", "torch", "--device", "cuda",
                             "--synthetic-rows", "300", "--out", "/nonexistent/never")


@pytest.mark.parametrize("command", [["compare"], ["range-test", "--backend", "torch"]])
def test_the_same_mistake_is_worded_the_same_way_in_every_command(capsys, command):
    assert main([*command, "--batch-size", "0"]) == 2
    assert capsys.readouterr().err == ("cyclr: error: Argument `--batch-size` must be a positive "
                                       "integer. Received: --batch-size=0\n")


def test_a_bug_during_training_shows_its_traceback(monkeypatch, tmp_path):
    """Only checking the options and reading the user's files count as usage errors: a
    ValueError deep in a run is a bug, and propagates with its traceback."""
    pytest.importorskip("torch")
    from cyclr_cardio import torch_trainer

    def broken(self, *args, **kwargs):
        raise ValueError("a bug deep in training")

    monkeypatch.setattr(torch_trainer.Trainer, "train", broken)
    with pytest.raises(ValueError, match="a bug deep in training"):
        main(["compare", "--backends", "torch", "--policies", "constant", "--epochs", "1",
              "--seeds", "1", "--synthetic-rows", "300", "--out", str(tmp_path / "out")])


def test_progress_shows_the_lr_range_of_each_epoch_not_its_last_update(capsys, monkeypatch):
    """With a cycle per epoch the last update of every epoch is a trough; the bar shows the
    whole range the epoch swept."""
    from cyclr import policy as P
    from cyclr_cardio.experiment import Progress
    from cyclr_cardio.trainer import EpochLog, TrainResult

    p = P.Triangular(base_lr=0.01, max_lr=0.5, step_size=5)  # one cycle = one 10-update epoch
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # the bar is for terminals
    bar = Progress("torch clr seed 0", 3, p, 10)
    logs = [EpochLog(e, p(10 * e - 1), 0.6, 0.7, 0.7, 0.1 * e) for e in (1, 2, 3)]
    for log in logs:
        bar(log)
    bar.close(TrainResult(logs, 0.71, "cpu", 0.3))
    err = capsys.readouterr().err
    assert "3/3, lr 0.01..0.5 loss 0.6000 val 0.7000" in err and "test 0.7100 on cpu" in err


@pytest.mark.parametrize("epochs, step, warned", [(5, 3, True), (50, 5, False)])
def test_a_step_size_longer_than_the_run_is_warned_about(capsys, tmp_path, monkeypatch, epochs,
                                                        step, warned):
    from cyclr_cardio import experiment

    monkeypatch.setattr(experiment, "run", lambda *args: 0)  # check the options, train nothing
    assert main(["compare", "--backends", "torch", "--epochs", str(epochs), "--synthetic-rows",
                 "300", "--step-size-epochs", str(step), "--out", str(tmp_path / "o")]) == 0
    assert ("will not complete a cycle" in capsys.readouterr().err) == warned


def test_backends_side_by_side_give_the_numbers_of_one_after_the_other(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("tensorflow")
    summaries = []
    for jobs in ("1", "2"):
        out = tmp_path / f"jobs{jobs}"
        env = {**os.environ, "CYCLR_CARDIO_CSV": ""}
        proc = subprocess.run([sys.executable, "-m", "cyclr_cardio", "compare", "--epochs", "2",
                               "--seeds", "1", "--synthetic-rows", "1500", "--policies",
                               "constant,clr", "--jobs", jobs, "--out", str(out)], env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        with open(out / "summary.csv", newline="") as f:
            summaries.append([{k: r[k] for k in ("backend", "policy", "test_accuracy",
                                                 "final_val_accuracy", "schedule")}
                              for r in csv.DictReader(f)])
    assert summaries[0] == summaries[1]
    assert [r["backend"] for r in summaries[0]] == ["tf", "tf", "torch", "torch"]


def test_off_a_terminal_each_run_is_one_line(capsys):
    from cyclr import policy as P
    from cyclr_cardio.experiment import Progress
    from cyclr_cardio.trainer import EpochLog, TrainResult

    p = P.Triangular(base_lr=0.01, max_lr=0.5, step_size=5)
    bar = Progress("tf clr seed 1", 2, p, 10)
    logs = [EpochLog(e, p(10 * e - 1), 0.6, 0.7, 0.7, 0.1 * e) for e in (1, 2)]
    for log in logs:
        bar(log)
    bar.close(TrainResult(logs, 0.71, "cpu", 0.2))
    assert capsys.readouterr().err.splitlines() == [
        f"{'tf clr seed 1':<38} 2 epochs, lr 0.01..0.5, loss 0.6000, val 0.7000, test 0.7100 on "
        "cpu, 0.2s"]


@pytest.mark.parametrize("clr, constant, mark", [
    (0.7341, 0.7320, "within noise (a 0.21-point difference"),
    (0.7400, 0.7320, "holds: **tf**, *ends more accurate*"),
    (0.7250, 0.7320, "does not hold: **tf**, *ends more accurate*"),
])
def test_a_difference_under_one_standard_error_is_called_noise(clr, constant, mark):
    from cyclr_cardio.report import _claim_lines

    def agg(policy, test):
        return {"backend": "tf", "policy": policy, "test_accuracy": (test, 0.0),
                "final_val_accuracy": (test, 0.0), "epochs_to_target": (5.0, 0.0),
                "reached": 3, "n": 3, "total_epochs": (50.0, 0.0)}

    lines = _claim_lines([agg("constant", constant), agg("clr", clr)], 50, noise=0.0038)
    assert any(mark in line for line in lines), lines
