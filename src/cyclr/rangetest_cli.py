"""``cyclr range-test``: Smith's LR range test on the cardio model, in Keras or PyTorch.

    cyclr range-test --backend torch --data cardio_train.csv -o range.png

Trains the comparison's MLP (``build_model`` of ``cyclr_torch.trainer`` / ``cyclr_tf.trainer``)
with plain SGD, batches of 350 training rows, while the LR sweeps up; writes the loss curve as a
PNG and prints the suggested bounds as a policy line to paste into a training script.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os

from cyclr import validate as check
from cyclr.experiment import RANGE_TEST, STEP_SIZE_EPOCHS
from cyclr.rangetest import METHODS, RangeTestResult, Sweep


def register(subparsers) -> None:
    """Add ``cyclr range-test`` to the CLI."""
    p = subparsers.add_parser(
        "range-test", help="find base_lr / max_lr for a cyclical policy on the cardio model",
        description="Smith's LR range test: train the cardio MLP with SGD while the LR rises, "
                    "plot the loss against the LR and suggest the bounds of a cyclical policy. "
                    "The model and data are left untouched; only the figure is written.")
    p.add_argument("--backend", required=True, choices=("torch", "tf"))
    p.add_argument("--data", metavar="CSV",
                   help="cardio_train.csv (default: $CYCLR_CARDIO_CSV, else the embedded "
                        "synthetic data)")
    p.add_argument("-o", "--output", default="range.png", metavar="PNG",
                   help="where to write the figure (default range.png)")
    d = RANGE_TEST  # the sweep `cyclr compare` uses
    p.add_argument("--start-lr", type=float, default=d.start_lr, metavar="LR")
    p.add_argument("--end-lr", type=float, default=d.end_lr, metavar="LR")
    p.add_argument("--num-steps", type=int, default=d.num_steps, metavar="N",
                   help=f"updates in the sweep (default {d.num_steps})")
    p.add_argument("--mode", choices=("exp", "linear"), default=d.mode,
                   help="LR spacing (default exp: the same number of steps per decade)")
    p.add_argument("--smooth", type=float, default=d.smooth, metavar="BETA",
                   help=f"EMA factor of the smoothed loss, in [0, 1) (default {d.smooth})")
    p.add_argument("--diverge", type=float, default=d.diverge, metavar="X",
                   help=f"stop when the smoothed loss exceeds X times its best "
                        f"(default {d.diverge:g})")
    p.add_argument("--method", choices=METHODS, default=d.method,
                   help=f"how to read the bounds off the curve (default {d.method})")
    p.add_argument("--batch-size", type=int, default=350, metavar="N")
    p.add_argument("--seed", type=int, default=0, help="model init and batch order (default 0)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from cyclr.plot import _output, plot_range_test

    sweep = Sweep(args.start_lr, args.end_lr, args.num_steps, args.mode, args.smooth,
                  args.diverge, args.method)
    check.positive_int("batch_size", args.batch_size)
    check.integer("seed", args.seed, 0, "a non-negative integer")
    output = _output(args.output)
    if importlib.util.find_spec("matplotlib") is None:
        raise ModuleNotFoundError("cyclr range-test needs matplotlib: pip install 'cyclr[plot]'")
    from cyclr.data import load_dataset

    data = load_dataset(args.data or os.environ.get("CYCLR_CARDIO_CSV") or None)
    trainer = importlib.import_module(f"cyclr_{args.backend}.trainer")
    result = trainer.range_test(data, sweep, batch_size=args.batch_size, seed=args.seed)
    plot_range_test(result, output, title=f"LR range test: cardio MLP, {args.backend}, SGD, "
                    f"batch {args.batch_size} ({_sweep_text(result)})")
    print(f"range test ({args.backend}, SGD, batch {args.batch_size}) on {data.describe()}")
    print(f"sweep: {_sweep_text(result)}")
    s = result.suggestion
    print(f"wrote {output}")
    if not s.ok:
        print(f"no suggestion ({s.method}: {s.status}): {s.detail}")
        return 1
    step_size = STEP_SIZE_EPOCHS * math.ceil(len(data.y_train) / args.batch_size)
    print(f"suggested bounds ({s.method}): base_lr={s.base_lr:.3g}, max_lr={s.max_lr:.3g}"
          + (f"  ({s.detail})" if s.detail else ""))
    print(f"policy.Triangular2(base_lr={s.base_lr:.3g}, max_lr={s.max_lr:.3g}, "
          f"step_size={step_size})  # step_size: {STEP_SIZE_EPOCHS} epochs of updates")
    return 0


def _sweep_text(result: RangeTestResult) -> str:
    sweep = result.sweep
    text = f"{sweep.mode} {sweep.start_lr:.3g} .. {sweep.end_lr:.3g} over {sweep.num_steps} updates"
    if result.stop_reason == "completed":
        return text + ", completed"
    return (text + f", stopped at update {len(result.lrs)}: {result.stop_reason} at "
            f"lr={result.lrs[-1]:.3g}")
