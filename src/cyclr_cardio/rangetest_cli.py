"""``cyclr range-test``: Smith's LR range test on the cardio model, in Keras or PyTorch.

    cyclr range-test --backend torch --data cardio_train.csv -o range.png

Trains the comparison's MLP (the backend's :class:`~cyclr_cardio.trainer.Trainer`) with plain
SGD, batches of 350 training rows, while the LR sweeps up; writes the loss curve as a PNG and
prints the suggested bounds as a policy line to paste into a training script.
"""

from __future__ import annotations

import argparse
import functools
import math

from cyclr.rangetest import METHODS, RangeTestResult, Sweep
from cyclr_cardio import trainer as T
from cyclr_cardio.experiment import RANGE_TEST, SYNTHETIC_BANNER, step_size_epochs
from cyclr_cardio.options import (
    add_data_and_device,
    data_path,
    non_negative_int,
    positive_float,
    positive_int,
    real,
    require,
)


def register(subparsers) -> None:
    """Add ``cyclr range-test`` to the CLI."""
    p = subparsers.add_parser(
        "range-test", help="find base_lr / max_lr for a cyclical policy on the cardio model",
        description="Smith's LR range test: train the cardio MLP with SGD while the LR rises, "
                    "plot the loss against the LR and suggest the bounds of a cyclical policy. "
                    "The model and data are left untouched; only the figure is written.")
    p.add_argument("--backend", required=True, choices=tuple(T.BACKENDS),
                   help="the framework that trains the model")
    add_data_and_device(p, T.DEVICES)
    p.add_argument("-o", "--output", default="range.png", metavar="PNG",
                   help="where to write the figure")
    d = RANGE_TEST  # the sweep `cyclr compare` uses
    p.add_argument("--start-lr", type=positive_float, default=d.start_lr, metavar="LR",
                   help="the first LR of the sweep")
    p.add_argument("--end-lr", type=positive_float, default=d.end_lr, metavar="LR",
                   help="the last LR of the sweep")
    p.add_argument("--num-steps", type=positive_int, default=d.num_steps, metavar="N",
                   help="updates in the sweep")
    p.add_argument("--mode", choices=("exp", "linear"), default=d.mode,
                   help="LR spacing (exp: the same number of steps per decade)")
    p.add_argument("--smooth", type=real, default=d.smooth, metavar="BETA",
                   help="EMA factor of the smoothed loss, in [0, 1)")
    p.add_argument("--diverge", type=real, default=d.diverge, metavar="X",
                   help="stop when the smoothed loss exceeds X times its best")
    p.add_argument("--method", choices=METHODS, default=d.method,
                   help="how to read the bounds off the curve")
    p.add_argument("--batch-size", type=positive_int, default=350, metavar="N",
                   help="rows per update")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="model init and batch order")
    p.set_defaults(prepare=prepare, parser=p)


def prepare(args: argparse.Namespace):
    """Check the sweep, the output path and the data before anything trains; returns the job."""
    from cyclr.plot import output_path

    sweep = Sweep(args.start_lr, args.end_lr, args.num_steps, args.mode, args.smooth,
                  args.diverge, args.method)
    output = output_path(args.output)
    require("matplotlib", "plot", "cyclr range-test")
    for module in ("pandas", "sklearn"):
        require(module, "data", "cyclr range-test")
    from cyclr_cardio.data import load_dataset

    data = load_dataset(data_path(args))
    trainer = T.load(args.backend, device=args.device, verbose=args.verbose)
    return functools.partial(run, args, sweep, output, data, trainer)


def run(args: argparse.Namespace, sweep: Sweep, output, data, trainer: T.Trainer) -> int:
    """Run the range test, write the figure, print the suggestion (exit 1 without one)."""
    from cyclr.plot import plot_range_test

    synthetic = data.source == "synthetic"
    if synthetic:
        print(SYNTHETIC_BANNER)
    result = trainer.range_test(data, sweep, batch_size=args.batch_size, seed=args.seed)
    plot_range_test(result, output, title=("SYNTHETIC DATA: " if synthetic else "")
                    + f"LR range test: cardio MLP, {args.backend}, SGD, batch {args.batch_size} "
                    f"({_sweep_text(result)})")
    print(f"range test ({args.backend}, SGD, batch {args.batch_size}) on {data.describe()}")
    print(f"sweep: {_sweep_text(result)}")
    s = result.suggestion
    print(f"wrote {output}")
    if not s.ok:
        print(f"no suggestion ({s.method}: {s.status}): {s.detail}")
        return 1
    epochs = step_size_epochs(50)
    step_size = round(epochs * math.ceil(len(data.y_train) / args.batch_size))
    print(f"suggested bounds ({s.method}): base_lr={s.base_lr:.3g}, max_lr={s.max_lr:.3g}"
          + (f"  ({s.detail})" if s.detail else ""))
    print(f"policy.Triangular2(base_lr={s.base_lr:.3g}, max_lr={s.max_lr:.3g}, "
          f"step_size={step_size})  # step_size: {epochs:g} epochs of updates, for a 50-epoch "
          "run")
    return 0


def _sweep_text(result: RangeTestResult) -> str:
    sweep = result.sweep
    text = f"{sweep.mode} {sweep.start_lr:.3g} .. {sweep.end_lr:.3g} over {sweep.num_steps} updates"
    if result.stop_reason == "completed":
        return text + ", completed"
    return (text + f", stopped at update {len(result.lrs)}: {result.stop_reason} at "
            f"lr={result.lrs[-1]:.3g}")
