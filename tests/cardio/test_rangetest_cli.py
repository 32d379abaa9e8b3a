"""``cyclr range-test``: real runs on both backends (embedded data and the real cardio data) that
write the figure and print a policy line to paste; bad arguments -> one line, exit 2."""

import os
import re
import subprocess
import sys

import pytest
from matplotlib import image

from cyclr import policy
from cyclr_cardio.cli import main

LINE = re.compile(r"^policy\.Triangular2\(base_lr=([^,]+), max_lr=([^,]+), step_size=(\d+)\)",
                  re.MULTILINE)
BACKENDS = [pytest.param("torch", marks=pytest.mark.torch),
            pytest.param("tf", marks=pytest.mark.tf)]


def need(backend):
    pytest.importorskip("torch" if backend == "torch" else "tensorflow")


def run_cli(capsys, *argv):
    code = main(["range-test", *argv])
    return code, capsys.readouterr()


def pasted_policy(out):
    """The printed policy line, run as the user would paste it."""
    match = LINE.search(out)
    assert match, out
    return eval(match.group(0).split("  #")[0], {"policy": policy})


@pytest.mark.parametrize("backend", BACKENDS)
def test_embedded_data(backend, tmp_path, capsys, monkeypatch):
    need(backend)
    monkeypatch.delenv("CYCLR_CARDIO_CSV", raising=False)
    out = tmp_path / "range.png"
    code, captured = run_cli(capsys, "--backend", backend, "--num-steps", "80", "-o", str(out))
    assert code == 0, captured
    assert "on synthetic" in captured.out and f"wrote {out}" in captured.out
    assert "SYNTHETIC DATA" in captured.out
    p = pasted_policy(captured.out)
    assert 1e-4 <= p.base_lr < p.max_lr <= 10.0
    from cyclr_cardio.data import load_dataset

    rows = len(load_dataset().y_train)
    assert p.step_size == 5 * -(-rows // 350)                   # 5 epochs of the training rows
    assert image.imread(out).shape[:2] == (540, 960)


@pytest.mark.parametrize("backend", BACKENDS)
def test_real_cardio_data(backend, cardio_csv, tmp_path, capsys):
    need(backend)
    out = tmp_path / "range.png"
    code, captured = run_cli(capsys, "--backend", backend, "--data", str(cardio_csv), "-o",
                             str(out))
    assert code == 0, captured
    assert str(cardio_csv) in captured.out and "200 updates" in captured.out
    p = pasted_policy(captured.out)
    assert 1e-4 <= p.base_lr < p.max_lr <= 10.0
    assert out.is_file()


@pytest.mark.parametrize("backend", BACKENDS)
def test_other_methods_and_a_linear_sweep(backend, tmp_path, capsys, monkeypatch):
    need(backend)
    monkeypatch.delenv("CYCLR_CARDIO_CSV", raising=False)
    out = tmp_path / "range.png"
    code, captured = run_cli(capsys, "--backend", backend, "--num-steps", "40", "--mode",
                             "linear", "--start-lr", "0.001", "--end-lr", "2", "--method",
                             "steepest", "--smooth", "0.5", "--batch-size", "128", "-o", str(out))
    assert code in (0, 1), captured                           # 1: the curve gave no answer
    assert "linear 0.001 .. 2 over 40 updates" in captured.out
    if code == 0:
        p = pasted_policy(captured.out)
        assert 0.001 <= p.base_lr < p.max_lr <= 2.0 and "(steepest)" in captured.out
    else:
        assert "no suggestion (steepest:" in captured.out
    assert out.is_file()


@pytest.mark.parametrize("argv, message", [
    ([], "the following arguments are required: --backend"),
    (["--backend", "jax"],
     "Argument `--backend` must be one of tf, torch. Received: --backend=jax"),
    (["--backend", "torch", "--start-lr", "1", "--end-lr", "0.5"], "Argument `--start-lr` must"),
    (["--backend", "torch", "--start-lr", "0"], "Argument `--start-lr` must"),
    (["--backend", "tf", "--num-steps", "4"], "Argument `--num-steps` must"),
    (["--backend", "tf", "--num-steps", "ten"],
     "Argument `--num-steps` must be a positive integer. Received: --num-steps=ten"),
    (["--backend", "torch", "--smooth", "1.5"], "Argument `--smooth` must"),
    (["--backend", "torch", "--diverge", "0.5"], "Argument `--diverge` must"),
    (["--backend", "torch", "--method", "guess"], "Received: --method=guess"),
    (["--backend", "torch", "--batch-size", "0"],
     "Argument `--batch-size` must be a positive integer. Received: --batch-size=0"),
    (["--backend", "torch", "--data", "{tmp}/absent.csv"], "not found"),
    (["--backend", "torch", "-o", "{tmp}/missing/range.png"], "does not exist"),
    (["--backend", "torch", "-o", "{tmp}/range.svg"], "a .png file path"),
])
def test_bad_arguments_give_one_line_and_exit_2(tmp_path, capsys, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(["range-test", *argv]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("cyclr: error: ") and message in lines[0]
    assert captured.out == "" and not list(tmp_path.iterdir())


def test_the_installed_command_line_rejects_bad_input_before_loading_a_framework():
    bad = subprocess.run([sys.executable, "-m", "cyclr_cardio", "range-test", "--backend", "tf",
                          "--end-lr", "-1"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.splitlines() == [
        "cyclr: error: Argument `--end-lr` must be a finite number > 0. Received: --end-lr=-1"]


@pytest.mark.parametrize("verbose", [False, True])
def test_framework_start_up_lines_show_only_when_asked(tmp_path, verbose):
    env = {k: v for k, v in os.environ.items() if k not in ("CYCLR_CARDIO_CSV",
                                                            "TF_CPP_MIN_LOG_LEVEL")}
    proc = subprocess.run([sys.executable, "-m", "cyclr_cardio", "range-test", "--backend", "tf",
                           "--num-steps", "10", "-o", str(tmp_path / "r.png"),
                           *(["--verbose"] if verbose else [])],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr  # 1: no suggestion from 10 updates
    native = [line for line in proc.stderr.splitlines()
              if "oneDNN" in line or "cuInit" in line or "absl" in line or "cuda" in line]
    assert bool(native) == verbose, proc.stderr
