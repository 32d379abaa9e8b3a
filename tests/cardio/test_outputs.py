"""`cyclr compare`'s output folder holds one complete run, whatever happens: a kill at any
moment, a write that fails, a smaller run after a larger one, and paths it must refuse."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cyclr_cardio.cli import main
from cyclr_cardio.outputs import MANIFEST, RunFolder, manifest_problems

TINY = ["--backends", "torch", "--epochs", "2", "--seeds", "1", "--synthetic-rows", "1500"]


def compare(out, *args, max_file_bytes=None):
    """`cyclr compare` in a fresh process (the torch backend only: fast, no TensorFlow), with
    every file it writes limited to ``max_file_bytes`` if given (as a full disk would)."""
    env = {**os.environ, "CYCLR_CARDIO_CSV": ""}
    limit = ("" if max_file_bytes is None else
             f"import resource; resource.setrlimit(resource.RLIMIT_FSIZE, "
             f"({max_file_bytes}, {max_file_bytes})); ")
    code = f"{limit}import sys, runpy; runpy.run_module('cyclr_cardio', run_name='__main__')"
    return subprocess.Popen([sys.executable, "-c", code, "compare", *TINY, *args, "--out",
                             str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def finished(proc, timeout=300):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def run_id(folder: Path) -> str:
    return json.loads((folder / MANIFEST).read_text())["run"]


def staging(folder: Path) -> list[Path]:
    return list(folder.parent.glob(f".{folder.name}.staging-*"))


@pytest.fixture(scope="module")
def previous(tmp_path_factory):
    """A complete earlier run, with every policy (so grid.csv and range_test.png exist)."""
    out = tmp_path_factory.mktemp("previous") / "results"
    code, stdout, stderr = finished(compare(out, "--grid", "0.01,0.1"))
    assert code == 0, stderr[-2000:]
    assert manifest_problems(out) == []
    return out


def copy_of(previous: Path, tmp_path: Path) -> Path:
    import shutil

    out = tmp_path / "results"
    shutil.copytree(previous, out)
    return out


def test_a_run_records_itself_in_every_output(previous):
    manifest = json.loads((previous / MANIFEST).read_text())
    assert set(manifest["files"]) == {"runs.csv", "summary.csv", "grid.csv", "report.md",
                                      "lr_schedule.png", "val_accuracy.png", "range_test.png"}
    assert manifest["command"].startswith("cyclr compare --backends torch")
    assert manifest["cyclr"] and manifest["started"] <= manifest["finished"]
    assert manifest["run"] in (previous / "report.md").read_text()
    assert (previous / "runs.csv").read_text().count(manifest["run"]) > 1
    png = (previous / "lr_schedule.png").read_bytes()
    assert b"Description" in png and manifest["run"].encode() in png


def test_a_smaller_run_leaves_nothing_of_a_larger_one(previous, tmp_path):
    out = copy_of(previous, tmp_path)
    code, _, stderr = finished(compare(out, "--policies", "constant"))
    assert code == 0, stderr[-2000:]
    assert manifest_problems(out) == [] and run_id(out) != run_id(previous)
    assert sorted(p.name for p in out.iterdir()) == [
        "lr_schedule.png", "report.md", MANIFEST, "runs.csv", "summary.csv", "val_accuracy.png"]
    assert not staging(out)


@pytest.mark.parametrize("moment", ["training", "first file staged", "report staged"])
def test_a_kill_at_any_moment_leaves_one_complete_run(previous, tmp_path, moment):
    out = copy_of(previous, tmp_path)
    before = run_id(out)
    proc = compare(out)
    deadline = time.monotonic() + 240
    while proc.poll() is None and time.monotonic() < deadline:
        staged = [f.name for s in staging(out) for f in s.iterdir()]
        if ((moment == "training" and staging(out)) or
                (moment == "first file staged" and staged) or
                (moment == "report staged" and "report.md" in staged)):
            if moment == "training":
                time.sleep(0.5)
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.001)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, f"the run ended before the {moment} kill"
    assert manifest_problems(out) == [], manifest_problems(out)
    assert run_id(out) == before  # the kill came before the swap: the previous run, whole
    # the next run clears what the killed one left beside the folder
    code, _, stderr = finished(compare(out, "--policies", "constant"))
    assert code == 0, stderr[-2000:]
    assert manifest_problems(out) == [] and run_id(out) != before and not staging(out)


def test_a_failing_write_keeps_the_previous_run(previous, tmp_path):
    """A write that fails (here the file-size limit, as a full disk would) ends in one line and
    exit 2; the previous run stays whole and nothing is left half-written."""
    out = copy_of(previous, tmp_path)
    before = run_id(out)
    code, _, stderr = finished(compare(out, max_file_bytes=20_000))  # PNGs are larger
    assert code == 2, stderr[-2000:]
    error = [line for line in stderr.splitlines() if line.startswith("cyclr: error:")]
    assert len(error) == 1 and "could not write the results" in error[0], stderr[-2000:]
    assert "Traceback" not in stderr
    assert manifest_problems(out) == [] and run_id(out) == before and not staging(out)


def one_line_error(capsys, *argv):
    assert main(["compare", *TINY, *argv]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("cyclr: error: "), captured.err
    return lines[0]


def test_bad_output_paths_are_refused_before_training(capsys, tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("mine")
    assert "Received: --out=" in one_line_error(capsys, "--out", str(a_file))
    assert "must be a folder path cyclr can write" in one_line_error(
        capsys, "--out", str(a_file / "under-a-file"))
    assert "must be a folder path cyclr can write" in one_line_error(
        capsys, "--out", "/proc/cyclr-cannot-write-here/out")
    mine = tmp_path / "my-folder"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    assert "holds other files" in one_line_error(capsys, "--out", str(mine))
    assert (mine / "thesis.tex").read_text() == "precious" and a_file.read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "my-folder"]


def test_run_folder_commits_into_a_new_place_and_discards_cleanly(tmp_path):
    folder = RunFolder(tmp_path / "new" / "out", "cyclr compare --test")
    folder.path("a.txt").write_text("a")
    folder.commit()
    assert manifest_problems(tmp_path / "new" / "out") == []
    folder.discard()
    again = RunFolder(tmp_path / "new" / "out", "cyclr compare --test")
    again.path("b.txt").write_text("b")
    again.discard()  # given up: the previous run stays
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["out"]
    assert (tmp_path / "new" / "out" / "a.txt").is_file()


def test_a_folder_of_an_older_run_without_run_json_may_be_replaced(tmp_path):
    older = tmp_path / "results"
    older.mkdir()
    for name in ("runs.csv", "summary.csv", "report.md", "lr_schedule.png"):
        (older / name).write_text("an older run")
    folder = RunFolder(older, "cyclr compare --test")
    folder.path("report.md").write_text("new")
    folder.commit()
    assert sorted(p.name for p in older.iterdir()) == ["report.md", MANIFEST]
