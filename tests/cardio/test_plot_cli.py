"""``cyclr plot``: real runs writing PNGs for every policy; bad arguments: one line, exit 2."""

import json
import subprocess
import sys

import numpy as np
import pytest
from matplotlib import image

from cyclr import policy
from cyclr_cardio.cli import main
from cyclr_cardio.plot_cli import POLICIES, default_steps


def configs(out):
    """The configs printed on stdout, rebuilt as policies."""
    return [policy.from_config(json.loads(line.split(": ", 1)[1]))
            for line in out.splitlines() if line.startswith(("policy config", "momentum config"))]


def assert_png(path, rows):
    pixels = image.imread(path)
    assert pixels.shape[:2] == (rows, 960)            # 8 x 4.5 (or 6.5) inches at 120 dpi
    assert pixels[..., :3].std() > 0.05               # something was drawn


CASES = [
    (["triangular", "--base-lr", "0.001", "--max-lr", "0.1", "--step-size", "50"],
     policy.Triangular(0.001, 0.1, 50), 300),
    (["triangular2", "--base-lr", "0.001", "--max-lr", "0.1", "--step-size", "50",
      "--step-size-down", "30"], policy.Triangular2(0.001, 0.1, 50, 30), 240),
    (["exp-range", "--base-lr", "0.001", "--max-lr", "0.1", "--step-size", "50", "--gamma",
      "0.99"], policy.ExpRange(0.001, 0.1, 50, 0.99), 300),
    (["one-cycle", "--max-lr", "0.1", "--total-steps", "400", "--pct-start", "0.25", "--anneal",
      "linear", "--div-factor", "10", "--final-div-factor", "100", "--three-phase"],
     policy.OneCycle(0.1, 400, 0.25, "linear", 10.0, 100.0, True), 400),
    (["cosine-restarts", "--max-lr", "0.1", "--period", "20", "--period-mult", "2", "--min-lr",
      "0.001"], policy.CosineRestarts(0.1, 20, 2, 0.001), 140),
    (["constant", "--lr", "0.01"], policy.Constant(0.01), 1000),
]


@pytest.mark.parametrize("argv, expected, steps", CASES, ids=[c[0][0] for c in CASES])
def test_every_policy_with_all_its_arguments(tmp_path, capsys, argv, expected, steps):
    out = tmp_path / "lr.png"
    assert main(["plot", *argv, "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert configs(printed) == [expected]
    assert f"{steps} updates" in printed and default_steps(expected) == steps
    assert_png(out, 540)
    assert sorted(POLICIES) == sorted(c[0][0] for c in CASES)   # every policy is covered


def test_a_scaled_config_is_drawn_past_its_last_reduction(tmp_path, capsys):
    scaled = policy.Scaled(policy.Triangular(0.001, 0.1, 50), (120, 400), (0.5, 0.5))
    config = tmp_path / "scaled.json"
    config.write_text(json.dumps(scaled.to_config()))
    out = tmp_path / "lr.png"
    assert main(["plot", "--config", str(config), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert configs(printed) == [scaled] and "800 updates" in printed
    assert default_steps(policy.Scaled(policy.Triangular(0.001, 0.1, 50))) == 300
    assert_png(out, 540)


def test_steps_and_momentum(tmp_path, capsys):
    out = tmp_path / "lr.png"
    assert main(["plot", "one-cycle", "--max-lr", "0.2", "--steps", "500", "--momentum", "0.85",
                 "0.95", "-o", str(out), "--title", "1cycle"]) == 0
    lr, momentum = configs(capsys.readouterr().out)
    assert lr == policy.OneCycle(0.2, 500)                     # total_steps defaults to --steps
    assert momentum == policy.one_cycle_momentum(500, 0.85, 0.95)
    assert_png(out, 780)
    assert main(["plot", "triangular2", "--base-lr", "0.01", "--max-lr", "0.1", "--step-size",
                 "10", "--steps", "45", "--momentum", "0.8", "0.9", "-o", str(out)]) == 0
    lr, momentum = configs(capsys.readouterr().out)
    np.testing.assert_allclose(momentum(np.arange(45)) - 0.8,
                               (0.1 - lr(np.arange(45))) / 0.09 * 0.1, atol=1e-12)


def test_config_files(tmp_path, capsys):
    p = policy.warmup(policy.Triangular2(0.001, 0.1, 100), 50)
    plain, both = tmp_path / "p.json", tmp_path / "both.json"
    plain.write_text(json.dumps(p.to_config()))
    m = policy.Triangular2(0.95, 0.85, 100)
    both.write_text(json.dumps({"policy": p.to_config(), "momentum": m.to_config()}))
    out = tmp_path / "lr.png"
    assert main(["plot", "--config", str(plain), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert configs(printed) == [p] and "650 updates" in printed
    assert_png(out, 540)
    assert main(["plot", "--config", str(both), "--steps", "300", "-o", str(out)]) == 0
    assert configs(capsys.readouterr().out) == [p, m]
    assert_png(out, 780)


@pytest.mark.parametrize("argv, message", [
    (["plot"], "give a POLICY"),
    (["plot", "linear"], "Argument `POLICY` must be one of triangular, triangular2, exp-range, "
                        "one-cycle, cosine-restarts, constant. Received: POLICY=linear"),
    (["plot", "triangular", "--base-lr", "0.1"], "triangular needs --max-lr, --step-size"),
    (["plot", "exp-range", "--base-lr", "0.1", "--max-lr", "1", "--step-size", "5"],
     "needs --gamma"),
    (["plot", "constant", "--lr", "0.1", "--gamma", "0.5"], "--gamma does not apply to constant"),
    (["plot", "constant", "--lr", "abc"],
     "Argument `--lr` must be a finite number. Received: --lr=abc"),
    (["plot", "triangular", "--base-lr", "-1", "--max-lr", "1", "--step-size", "5"],
     "Argument `--base-lr` must be a finite number >= 0. Received: --base-lr=-1.0"),
    (["plot", "one-cycle", "--max-lr", "0.1", "--total-steps", "100", "--pct-start", "1.5"],
     "Argument `--pct-start` must be"),
    (["plot", "constant", "--lr", "0.1", "--steps", "0"],
     "Argument `--steps` must be a positive integer. Received: --steps=0"),
    (["plot", "constant", "--lr", "0.1", "--momentum", "0.8", "0.9"], "--momentum cycles"),
    (["plot", "constant", "--lr", "0.1", "-o", "{tmp}/missing/lr.png"], "does not exist"),
    (["plot", "constant", "--lr", "0.1", "-o", "{tmp}/lr.jpg"], "a .png file path"),
    (["plot", "--config", "{tmp}/absent.json"], "No such file"),
    (["plot", "--config", "{tmp}/bad.json"], "not valid JSON"),
    (["plot", "--config", "{tmp}/unknown.json"], "'type' is one of"),
    (["plot", "constant", "--config", "{tmp}/unknown.json"], "not both"),
])
def test_bad_arguments_give_one_line_and_exit_2(tmp_path, capsys, argv, message):
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "unknown.json").write_text('{"type": "Sawtooth", "lr": 1}')
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("cyclr: error: ") and message in lines[0]
    assert not list(tmp_path.glob("*.png"))


def test_the_installed_command_line(tmp_path):
    out = tmp_path / "lr.png"
    ok = subprocess.run([sys.executable, "-m", "cyclr_cardio", "plot", "triangular2", "--base-lr",
                         "0.001", "--max-lr", "0.1", "--step-size", "20", "-o", str(out)],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stderr == "" and out.is_file()
    bad = subprocess.run([sys.executable, "-m", "cyclr_cardio", "plot", "triangular2", "--max-lr",
                          "x"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1 and bad.stdout == ""


# ------------------------------------------------------------------ cyclr.plot itself


def test_range_test_figures_for_every_way_a_test_ends(tmp_path):
    import math

    from cyclr.plot import plot_range_test
    from cyclr.rangetest import Sweep

    def valley(lr):
        return 1.0 - 0.5 / (1.0 + (1e-3 / lr) ** 2)

    runs = {
        "completed": Sweep(1e-6, 1.0, 60).run(valley),
        "diverged": Sweep(1e-6, 10.0, 80).run(lambda lr: valley(lr) + (lr / 0.01) ** 2),
        "nan": Sweep(1e-6, 10.0, 80).run(lambda lr: math.nan if lr > 0.05 else valley(lr)),
        "flat": Sweep(1e-6, 10.0, 30).run(lambda lr: 0.69),
    }
    assert [r.stop_reason for r in runs.values()] == ["completed", "diverged", "non-finite loss",
                                                     "completed"]
    assert not runs["flat"].suggestion.ok
    for name, result in runs.items():
        path = plot_range_test(result, tmp_path / f"{name}.png")
        assert path == tmp_path / f"{name}.png"
        assert_png(path, 540)


def test_plot_functions_check_their_arguments(tmp_path):
    from cyclr.plot import plot_range_test, plot_schedule

    p = policy.Constant(0.1)
    with pytest.raises(TypeError, match="Argument `result` must be"):
        plot_range_test({"lrs": [1, 2]}, tmp_path / "x.png")
    with pytest.raises(TypeError, match="Argument `policy` must be"):
        plot_schedule(lambda k: 0.1, 10, tmp_path / "x.png")
    with pytest.raises(TypeError, match="Argument `momentum` must be"):
        plot_schedule(p, 10, tmp_path / "x.png", momentum=0.9)
    with pytest.raises(ValueError, match="Argument `steps` must be"):
        plot_schedule(p, 0, tmp_path / "x.png")
    with pytest.raises(ValueError, match="Argument `path` must be a .png"):
        plot_schedule(p, 10, tmp_path / "x.pdf")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        plot_schedule(p, 10, tmp_path / "missing" / "x.png")
    assert not list(tmp_path.iterdir())


def test_without_matplotlib_the_error_says_how_to_install_it(tmp_path):
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "from cyclr import policy\n"
            "from cyclr.plot import plot_schedule\n"
            f"plot_schedule(policy.Constant(0.1), 10, {str(tmp_path / 'x.png')!r})\n")
    direct = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert direct.returncode == 1
    assert "ModuleNotFoundError: cyclr.plot needs matplotlib: pip install 'cyclr[plot]'" in (
        direct.stderr)
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "from cyclr_cardio.cli import main\n"
            f"sys.exit(main(['plot', 'constant', '--lr', '0.1', '-o', "
            f"{str(tmp_path / 'x.png')!r}]))\n")
    cli = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert cli.returncode == 2 and cli.stderr.splitlines() == [
        "cyclr: error: cyclr plot needs matplotlib: pip install 'cyclr[plot]' (or \".[plot]\" "
        "from a clone)"]
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("argv", [
    ["triangular2", "--base-lr", "0.001", "--max-lr", "0.1", "--step-size", "500", "--steps",
     "1000000000000"],
    ["cosine-restarts", "--max-lr", "0.1", "--period", "1000000000000000"],  # default steps
    ["constant", "--lr", "0.1", "--steps", str(2**63 - 1)],
])
def test_any_number_of_steps_draws_a_bounded_sample(tmp_path, capsys, argv):
    out = tmp_path / "lr.png"
    assert main(["plot", *argv, "-o", str(out)]) == 0
    assert "(1,000,000 evenly spaced drawn)" in capsys.readouterr().out
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_sampled_steps_are_exact_integers_with_both_ends():
    from cyclr.plot import MAX_POINTS, sampled_steps

    assert sampled_steps(5).tolist() == [0, 1, 2, 3, 4]
    k = sampled_steps(2**63 - 1)  # steps 0 .. 2**63 - 2
    assert k.dtype == np.int64 and len(k) <= MAX_POINTS
    assert k[0] == 0 and k[-1] == 2**63 - 2
    assert (np.diff(k) > 0).all()


def test_a_config_nested_too_deep_is_one_line(tmp_path, capsys):
    config = {"type": "Constant", "lr": 0.1}
    for _ in range(400):
        config = {"type": "Join", "policies": [config, {"type": "Constant", "lr": 0.1}],
                  "boundaries": [10]}
    path = tmp_path / "deep.json"
    path.write_text(json.dumps(config))
    assert main(["plot", "--config", str(path), "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "nested at most" in err[0], err
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("command", ["compare", "range-test", "plot"])
def test_help_shows_every_default_and_the_version_is_one_line(capsys, command):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: " in text
    if command == "compare":
        assert "(default: results/compare)" in text and "(default: 350)" in text
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("cyclr ")
