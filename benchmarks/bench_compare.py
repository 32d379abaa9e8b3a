"""Where `cyclr compare`'s time goes, as a user sees it.

Runs README's main command (`cyclr compare`, every default, on the real file when
CYCLR_CARDIO_CSV or --data names it, else the synthetic stand-in) in a fresh process, measures
its wall time from the outside, and reads the phases the run records in run.json: range
tests, training (fit and validation), model building / compiling / testing, the
gradient-boosting reference, writing outputs. Prints the wall time and each phase's seconds
(summed over the backends' processes) and share.

    python benchmarks/bench_compare.py [--data cardio_train.csv] [-- extra compare options]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("CYCLR_CARDIO_CSV"))
    parser.add_argument("extra", nargs="*", help="more `cyclr compare` options")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "results"
        cmd = [sys.executable, "-m", "cyclr_cardio", "compare", "--out", str(out), *args.extra]
        if args.data:
            cmd += ["--data", args.data]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        phases = json.loads((out / "run.json").read_text())["seconds"]
    print(f"cyclr compare {' '.join(cmd[4:])}")
    print(f"wall time as a user sees it: {wall:.0f} s ({wall / 60:.1f} min)")
    print("seconds per phase, summed over the backends (which train side by side when cores "
          "allow), and their share of the sum:")
    total = sum(phases.values())
    for name, seconds in phases.items():
        print(f"  {name:<36} {seconds:7.1f} s  {100 * seconds / total:5.1f}%")


if __name__ == "__main__":
    main()
