"""Without data, README's main command trains on the synthetic stand-in: it must tell the real
file's story, or a newcomer learns the opposite of what is true. One real `cyclr compare` on
both backends with 2 seeds (every default otherwise), checked against the real file's committed
results (README's table, reports/cardio/summary.csv)."""

import csv
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ("constant", "clr", "one-cycle", "constant-grid")


def means(path: Path, column: str) -> dict[tuple[str, str], float]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    out = {}
    for backend in ("tf", "torch"):
        for policy in POLICIES:
            values = [r[column] for r in rows if (r["backend"], r["policy"]) == (backend, policy)]
            out[backend, policy] = (statistics.fmean(float(v) for v in values)
                                    if all(values) else None)
    return out


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("tensorflow")
    out = tmp_path_factory.mktemp("story") / "results"
    env = {**os.environ, "CYCLR_CARDIO_CSV": ""}
    proc = subprocess.run([sys.executable, "-m", "cyclr_cardio", "compare", "--seeds", "2",
                           "--out", str(out)], env=env, capture_output=True, text=True,
                          timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "SYNTHETIC DATA" in proc.stdout
    return out / "summary.csv"


@pytest.mark.parametrize("backend", ["tf", "torch"])
def test_the_stand_in_tells_the_real_files_story(story, backend):
    real = ROOT / "reports" / "cardio" / "summary.csv"
    test, final = means(story, "test_accuracy"), means(story, "final_val_accuracy")
    reached = means(story, "epochs_to_target")
    # clr reaches the constant rate's 50-epoch validation accuracy in a third of the epochs
    assert reached[backend, "clr"] is not None and reached[backend, "clr"] <= 50 / 3
    # ... and ends no worse
    assert test[backend, "clr"] >= test[backend, "constant"]
    # the constant rate ends last, as on the real file
    real_test = means(real, "test_accuracy")
    assert min(POLICIES, key=lambda p: real_test[backend, p]) == "constant"
    assert min(POLICIES, key=lambda p: test[backend, p]) == "constant"
    # the constant rate's final accuracy is within 1.5 points of its real value
    real_final = means(real, "final_val_accuracy")
    assert abs(final[backend, "constant"] - real_final[backend, "constant"]) <= 0.015
