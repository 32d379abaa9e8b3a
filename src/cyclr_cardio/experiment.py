"""``cyclr compare``: constant vs cyclical vs one-cycle learning rates on the cardio data, in Keras
and PyTorch side by side, with CSV results, a Markdown report and plots.

What it reproduces: an article trained a 3-layer Keras MLP on the cardiovascular-disease data with
plain SGD at 0.01 for 50 epochs (64.1% train / 64.7% validation accuracy, ~150 s), then with a
cyclical LR (64.3% / 65.0%, "less than 50 s"). Here the same MLP is trained by both frameworks
under each policy, for several seeds, on one stratified split:

``constant``
    SGD at 0.01, the article's baseline.
``clr``
    Smith's ``triangular2`` (Smith 2017, arXiv:1506.01186) between bounds from the LR range test
    :data:`RANGE_TEST` (or :data:`DEFAULT_BOUNDS` when the curve gives no answer); step size
    from the run's length, :data:`CYCLES` full cycles per run (:func:`step_size_epochs`: 5
    epochs of updates for 50 epochs, within Smith's 2-10; a 5-epoch run still cycles five
    times), ending at ``base_lr``.
``one-cycle``
    Smith & Topin's 1cycle (arXiv:1708.07120) over the whole run, peaking at the same ``max_lr``.
``constant-grid``
    The best of constant rates :data:`GRID`, chosen on final validation accuracy: what a careful
    practitioner does without a range test. Its cost (every grid run) is counted as tuning.

Every run's test accuracy is that of the final weights (no checkpoint picking). The split is
fixed (seed 0); ``--seeds`` varies the weight initialisation and the batch order.

This module is the driver: the CLI, loading the data, the range tests, the grid and the training
runs. What becomes of the runs (statistics, CSV files, report, plots) is in :mod:`cyclr.report`.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import functools
import multiprocessing
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import cyclr_cardio
from cyclr import policy as P
from cyclr.rangetest import Sweep
from cyclr_cardio import trainer as T
from cyclr_cardio.options import (
    add_data_and_device,
    data_path,
    positive_float,
    positive_int,
    require,
)
from cyclr_cardio.outputs import RunFolder
from cyclr_cardio.report import (
    ARTICLE_LR,
    CYCLICAL,
    README_END,
    README_START,
    SYNTHETIC_FIGURE,
    Run,
    check_readme,
    devices_used,
    iters_per_epoch,
    plot_lr,
    plot_range_tests,
    plot_val,
    render_report,
    render_table,
    set_epochs_to_target,
    summary_rows,
    update_readme,
    write_grid,
    write_runs,
    write_summary,
)
from cyclr_cardio.trainer import EpochLog, TrainResult

__all__ = ["BACKENDS", "DEFAULT_BOUNDS", "GRID", "POLICIES", "RANGE_TEST", "register", "prepare"]

BACKENDS = tuple(T.BACKENDS)
POLICIES = ("constant", "clr", "one-cycle", "constant-grid")
#: Constant rates tried by ``constant-grid``.
GRID = (0.003, 0.01, 0.03, 0.1, 0.3)
#: CLR / one-cycle bounds when the range test gives no answer: rounded from :data:`RANGE_TEST`
#: on the cleaned cardio data at batch 350 (Smith's rule: base 0.005-0.012, max 0.23-0.59 over
#: both backends and several seeds; see docs/rangetest.md).
DEFAULT_BOUNDS = {"base_lr": 0.01, "max_lr": 0.4}
#: Full cycles in a clr run: the half cycle (step size) is ``epochs / (2 * CYCLES)`` epochs of
#: updates, 5 epochs for the 50-epoch run (Smith 2017: a step size of 2-10 epochs, and several
#: cycles per run; triangular2 then ends each run at ``base_lr``). A short run still cycles.
CYCLES = 5


def step_size_epochs(epochs: int) -> float:
    """The clr half cycle, in epochs, for a run of ``epochs`` epochs (see :data:`CYCLES`)."""
    return epochs / (2 * CYCLES)
#: The LR range test that sets the cyclical bounds, also ``cyclr range-test``'s defaults: 200
#: updates (1.7 epochs at batch 350), the LR rising exponentially from 1e-4 to 10, Smith's rule.
RANGE_TEST = Sweep(start_lr=1e-4, end_lr=10.0, num_steps=200, method="smith")
#: Split seed: every run and the gradient-boosting reference see the same split.
SPLIT_SEED = 0


@dataclass
class Bounds:
    """CLR / one-cycle bounds and where they came from."""

    base_lr: float
    max_lr: float
    source: str
    tuning_steps: int = 0
    tuning_s: float = 0.0
    curve: object = None  # the RangeTestResult, when a range test ran


# ---------------------------------------------------------------------------------- the CLI


def register(subparsers) -> None:
    """Add ``cyclr compare`` to the CLI."""
    p = subparsers.add_parser(
        "compare", help="constant vs cyclical vs one-cycle LR on the cardio data (tf, torch)",
        description="Train the article's MLP on the cardio data with each LR policy, in Keras "
                    "and PyTorch, for several seeds; write runs.csv, summary.csv, report.md and "
                    "plots to --out.")
    add_data_and_device(p, T.DEVICES)
    p.add_argument("--backends", type=_names(BACKENDS), default=",".join(BACKENDS),
                   help="comma-separated: " + ", ".join(BACKENDS))
    p.add_argument("--policies", type=_names(POLICIES), default=",".join(POLICIES),
                   help="comma-separated: " + ", ".join(POLICIES))
    p.add_argument("--epochs", type=positive_int, default=50, help="epochs per run")
    p.add_argument("--seeds", type=positive_int, default=3, help="runs per policy: seeds 0..N-1")
    p.add_argument("--batch-size", type=positive_int, default=350, help="rows per update")
    p.add_argument("--threads", type=positive_int, default=1,
                   help="CPU threads per backend (this small model is fastest on one)")
    p.add_argument("--jobs", type=positive_int, default=None,
                   help="backends trained side by side, one process each (default: as many as "
                        "the CPU cores allow at --threads each; 1: one after the other)")
    p.add_argument("--out", default="results/compare", metavar="DIR",
                   help="folder for runs.csv, summary.csv, report.md and the figures")
    p.add_argument("--no-clean", action="store_true",
                   help="the article's raw setup: keep implausible rows, min-max scaling")
    p.add_argument("--grid", type=_grid, default=",".join(map(str, GRID)), metavar="LRS",
                   help="constant rates tried by constant-grid")
    p.add_argument("--step-size-epochs", type=positive_float, default=None,
                   help=f"clr's half cycle in epochs of updates (default: --epochs / "
                        f"{2 * CYCLES}, so every run holds {CYCLES} full cycles)")
    p.add_argument("--readme", metavar="MD",
                   help="also write the results table into this Markdown file, between the "
                        f"lines {README_START!r} and {README_END!r}")
    p.add_argument("--synthetic-rows", type=positive_int, default=70_000,
                   help="rows of synthetic data when no data file is given")
    p.set_defaults(prepare=prepare, parser=p)


def _names(allowed: Sequence[str]):
    """An option type: a comma-separated list of names from ``allowed``, in order, once each."""
    def parse(text: str) -> list[str]:
        names = [n.strip() for n in text.split(",") if n.strip()]
        if not names or any(n not in allowed for n in names):
            raise argparse.ArgumentTypeError("a comma-separated list of " + ", ".join(allowed))
        return list(dict.fromkeys(names))

    return parse


def _grid(text: str) -> tuple[float, ...]:
    """An option type: a comma-separated list of positive learning rates."""
    try:
        return tuple(positive_float(t) for t in text.split(","))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            "a comma-separated list of positive learning rates") from None


def _command(args, path: str | None) -> str:
    parts = ["cyclr compare"]
    if path:  # by file name: where a reader keeps the file is theirs
        parts.append(f"--data {Path(path).name}")
    parts += [f"--backends {','.join(args.backends)}", f"--policies {','.join(args.policies)}",
              f"--epochs {args.epochs}", f"--seeds {args.seeds}",
              f"--batch-size {args.batch_size}", f"--device {args.device}", f"--out {args.out}"]
    if args.threads != 1:
        parts.append(f"--threads {args.threads}")
    if args.no_clean:
        parts.append("--no-clean")
    if "constant-grid" in args.policies and args.grid != GRID:
        parts.append("--grid " + ",".join(map(str, args.grid)))
    if args.step_size_epochs is not None:
        parts.append(f"--step-size-epochs {args.step_size_epochs:g}")
    if path is None and args.synthetic_rows != 70_000:
        parts.append(f"--synthetic-rows {args.synthetic_rows}")
    if args.readme:
        parts.append(f"--readme {args.readme}")
    return " ".join(parts)


def prepare(args: argparse.Namespace):
    """``cyclr compare``: read the data and check every option, the output folder and the
    backends before any training; returns the job that trains every run and writes the
    outputs."""
    for module in ("pandas", "sklearn"):
        require(module, "data", "cyclr compare")
    from cyclr_cardio import data as D  # pandas + scikit-learn: only when a command needs them

    path = data_path(args)
    if path is None:
        frame = D.synthetic(args.synthetic_rows)
        data = D.prepare(frame, source="synthetic", clean=not args.no_clean, seed=SPLIT_SEED)
    else:
        data = D.load_dataset(path, clean=not args.no_clean, seed=SPLIT_SEED)
    require("matplotlib", "plot", "cyclr compare")  # fail before training, not after
    readme = check_readme(args.readme) if args.readme else None
    # --device cuda without a GPU, or a backend not installed: fail before training
    trainers = {b: T.load(b, device=args.device, threads=args.threads,
                         verbose=args.verbose) for b in args.backends}
    folder = RunFolder(args.out, _command(args, path))  # writable, and ours to replace
    if args.step_size_epochs and "clr" in args.policies and (
            2 * args.step_size_epochs > args.epochs):
        print(f"cyclr: warning: --step-size-epochs {args.step_size_epochs:g} makes one clr cycle "
              f"{2 * args.step_size_epochs:g} epochs long, longer than the run "
              f"({args.epochs} epochs): clr will not complete a cycle", file=sys.stderr)
    return functools.partial(run, args, data, path, trainers, readme, folder)


def run(args: argparse.Namespace, data, path: str | None, trainers: dict[str, T.Trainer],
        readme: str | None, folder: RunFolder) -> int:
    """Train every run of ``args`` on ``data`` and write the outputs to ``args.out``: all of
    them, or (killed, or a write failing) none, the previous results staying in place."""
    if path is None:
        print(SYNTHETIC_BANNER)
    print(f"data: {data.describe()}")
    if data.clean:
        print("cleaning: " + ", ".join(f"{k}={v}" for k, v in data.cleaning.items()))
    print(f"command: {folder.command}", flush=True)
    SECONDS.clear()
    try:
        runs = _all_runs(trainers, data, args)
        lap = time.perf_counter()
        reference = gradient_boosting(data)
        SECONDS["gradient boosting"] += time.perf_counter() - lap
        wall = time.perf_counter() - cyclr_cardio.STARTED  # from start-up on, as a user sees it
        set_epochs_to_target(runs)
        rows = summary_rows(runs)
        try:
            written = _write(folder, runs, rows, data, reference, args, wall)
        except OSError as err:
            print(f"cyclr: error: could not write the results ({err}); {args.out} keeps what "
                  "it held before", file=sys.stderr)
            return 2
    finally:
        folder.discard()  # after a commit there is nothing left to discard
    out = Path(args.out)
    if readme is not None:
        source = "synthetic data" if path is None else data.describe().replace(
            path, Path(path).name)
        update_readme(args.readme, readme, f"`{folder.command}` ({source}; {wall / 60:.1f} min "
                      f"from start to finish on {', '.join(devices_used(rows))}). Mean ± std over "
                      f"{args.seeds} seeds; report: [{out / 'report.md'}]({out / 'report.md'}).\n\n"
                      f"{render_table(rows)}")
    print()
    print(render_table(rows, markdown=False))
    print(f"\nwrote {', '.join(written)} to {out}/ ({wall:.0f} s from start to finish)")
    print("time, summed over the backends (which train side by side when cores allow): "
          + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in SECONDS.items()))
    if readme is not None:
        print(f"updated the results table in {args.readme}")
    if path is None:
        print(SYNTHETIC_BANNER)
    return 0


def _write(folder: RunFolder, runs: list[Run], rows: list[dict], data, reference, args,
           wall: float) -> list[str]:
    """Every output file into ``folder``'s staging area, then the folder swapped in whole."""
    start = time.perf_counter()
    run_id, note = folder.run_id, folder.provenance
    write_runs(folder.path("runs.csv"), runs, run_id)
    write_summary(folder.path("summary.csv"), rows, run_id)
    if any(r.grid for r in runs):
        write_grid(folder.path("grid.csv"), runs, run_id)
    banner = SYNTHETIC_FIGURE if data.source == "synthetic" else ""
    plot_lr(folder.path("lr_schedule.png"), runs, note, banner)
    plot_val(folder.path("val_accuracy.png"), runs, note, banner)
    curves = any(r.curve is not None for r in runs)
    if curves:
        plot_range_tests(folder.path("range_test.png"), runs, note, banner)
    report = render_report(runs, rows, data, reference, args, folder.command, wall, curves,
                           provenance=note)
    folder.path("report.md").write_text(report, encoding="utf-8")
    SECONDS["writing outputs"] += time.perf_counter() - start
    folder.commit(SECONDS)
    return [*folder.files, "run.json"]


SYNTHETIC_BANNER = (
    "=" * 78 + "\n"
    "SYNTHETIC DATA: no --data and no $CYCLR_CARDIO_CSV, so this run uses cyclr's generated\n"
    "stand-in for the cardio file. Its numbers say nothing about the real data; pass\n"
    "--data path/to/cardio_train.csv for those.\n" + "=" * 78
)


# ------------------------------------------------------------------------------- the runs


def _all_runs(trainers: dict[str, T.Trainer], data, args: argparse.Namespace) -> list[Run]:
    """Every run of every backend, in backend order. The backends are independent, so with
    CPU cores to spare (``--threads`` each; ``--jobs`` sets the number) they train side by
    side, one process each; the numbers are the same as one after the other."""
    cores = max(1, (os.cpu_count() or 1) // args.threads)
    workers = min(len(trainers), args.jobs or cores)
    if workers == 1:
        return [run for trainer in trainers.values() for run in _backend_runs(trainer, data, args)]
    options = argparse.Namespace(**{k: v for k, v in vars(args).items()
                                    if k not in ("prepare", "parser")}, side_by_side=True)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_die_with_parent) as pool:
        futures = [pool.submit(_backend_runs_in_process, backend, data, options)
                   for backend in trainers]
        results = [future.result() for future in futures]
    for _, seconds in results:
        SECONDS.update(seconds)
    return [run for runs, _ in results for run in runs]


def _backend_runs(trainer: T.Trainer, data, args: argparse.Namespace) -> list[Run]:
    return [run for seed in range(args.seeds) for run in _run_backend_seed(trainer, seed, data,
                                                                            args)]


def _backend_runs_in_process(backend: str, data, args: argparse.Namespace):
    """:func:`_backend_runs` in a worker process: its runs and its seconds per phase."""
    trainer = T.load(backend, device=args.device, threads=args.threads, verbose=args.verbose)
    return _backend_runs(trainer, data, args), dict(SECONDS)


def _die_with_parent() -> None:
    """A worker ends when ``cyclr compare`` does, killed or not (Linux; elsewhere a no-op)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def clr_step_size(args: argparse.Namespace, ipe: int) -> int:
    """clr's step size in updates: ``--step-size-epochs`` (or :func:`step_size_epochs` of the
    run) epochs of ``ipe`` updates, at least one update."""
    epochs = args.step_size_epochs or step_size_epochs(args.epochs)
    return max(1, round(epochs * ipe))


def _run_backend_seed(trainer: T.Trainer, seed: int, data, args) -> list[Run]:
    backend = trainer.backend
    ipe = iters_per_epoch(data, args.batch_size)
    total = args.epochs * ipe
    bounds = None
    if any(p in CYCLICAL for p in args.policies):
        bounds = find_bounds(trainer, data, seed=seed, batch_size=args.batch_size)
    runs = []
    for name in args.policies:
        if name == "constant-grid":
            runs.append(_grid_run(trainer, seed, data, args))
            continue
        tuning = 0.0 if name == "constant" else bounds.tuning_steps / ipe
        if name == "constant":
            schedule = P.Constant(ARTICLE_LR)
        elif name == "clr":
            schedule = P.Triangular2(base_lr=bounds.base_lr, max_lr=bounds.max_lr,
                                     step_size=clr_step_size(args, ipe))
        else:
            schedule = P.OneCycle(max_lr=bounds.max_lr, total_steps=total)
        result = _train(trainer, name, seed, data, schedule, args)
        runs.append(Run(backend, name, seed, schedule, result, ipe,
                        bounds_source="" if name == "constant" else bounds.source,
                        tuning_epochs=tuning,
                        tuning_s=0.0 if name == "constant" else bounds.tuning_s,
                        curve=None if name == "constant" else bounds.curve))
    return runs


#: Seconds spent in each phase of the current ``cyclr compare`` run (see :func:`run`).
SECONDS: Counter[str] = Counter()


def _train(trainer: T.Trainer, name, seed, data, schedule, args, label=None) -> TrainResult:
    position = args.backends.index(trainer.backend) if getattr(args, "side_by_side", 0) else 0
    bar = Progress(label or f"{trainer.backend} {name} seed {seed}", args.epochs, schedule,
                   iters_per_epoch(data, args.batch_size), position=position)
    start = time.perf_counter()
    result = trainer.train(data, schedule, epochs=args.epochs, batch_size=args.batch_size,
                           seed=seed, on_epoch=bar)
    SECONDS["training (fit, validation)"] += result.wall_s
    SECONDS["model building, compiling, testing"] += time.perf_counter() - start - result.wall_s
    bar.close(result)
    return result


def _grid_run(trainer: T.Trainer, seed, data, args) -> Run:
    """Train every constant rate of the grid; keep the one with the best final val accuracy."""
    backend = trainer.backend
    candidates = []
    for lr in args.grid:
        result = _train(trainer, "constant-grid", seed, data, P.Constant(lr), args,
                        label=f"{backend} constant-grid lr={lr:g} seed {seed}")
        candidates.append((lr, result))
    best_lr, best = max(candidates, key=lambda c: c[1].history[-1].val_accuracy)
    grid = [{"backend": backend, "seed": seed, "lr": lr,
             "final_val_accuracy": r.history[-1].val_accuracy,
             "best_val_accuracy": max(e.val_accuracy for e in r.history),
             "test_accuracy": r.test_accuracy, "wall_s": r.wall_s, "selected": lr == best_lr}
            for lr, r in candidates]
    return Run(backend, "constant-grid", seed, P.Constant(best_lr), best,
               iters_per_epoch(data, args.batch_size),
               bounds_source=f"grid {','.join(f'{lr:g}' for lr in args.grid)}: best final val",
               tuning_epochs=(len(candidates) - 1) * args.epochs,
               tuning_s=sum(r.wall_s for lr, r in candidates if lr != best_lr), grid=grid)


def find_bounds(trainer: T.Trainer, data, *, seed: int, batch_size: int) -> Bounds:
    """CLR bounds from the backend's LR range test :data:`RANGE_TEST`, or
    :data:`DEFAULT_BOUNDS` when the curve gives no answer."""
    backend = trainer.backend
    start = time.perf_counter()
    result = trainer.range_test(data, RANGE_TEST, batch_size=batch_size, seed=seed)
    elapsed = time.perf_counter() - start
    SECONDS["range tests"] += elapsed
    s, steps = result.suggestion, len(result.lrs)
    if s.status != "ok":
        print(f"{backend} seed {seed}: the range test gave no suggestion ({s.status}: "
              f"{s.detail}); using the defaults {DEFAULT_BOUNDS}", file=sys.stderr)
        return Bounds(**DEFAULT_BOUNDS, source=f"defaults (range test: {s.status})",
                      tuning_steps=steps, tuning_s=elapsed, curve=result)
    print(f"{backend} seed {seed}: range test ({steps} updates, {elapsed:.1f} s) suggests "
          f"base_lr={s.base_lr:.3g}, max_lr={s.max_lr:.3g}", file=sys.stderr)
    return Bounds(s.base_lr, s.max_lr, source=f"range test ({s.method}, {steps} updates)",
                  tuning_steps=steps, tuning_s=elapsed, curve=result)


def gradient_boosting(data) -> dict:
    """scikit-learn's HistGradientBoostingClassifier (defaults, random_state=0) on the same
    split: a strong non-neural reference."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    start = time.perf_counter()
    with threadpool_limits(1):  # OpenMP on a small, shared machine: one thread is 5x faster
        model = HistGradientBoostingClassifier(random_state=0).fit(data.x_train, data.y_train)
    return {"train_accuracy": float(model.score(data.x_train, data.y_train)),
            "val_accuracy": float(model.score(data.x_val, data.y_val)),
            "test_accuracy": float(model.score(data.x_test, data.y_test)),
            "wall_s": time.perf_counter() - start}


class Progress:
    """Progress of one run on stderr. On a terminal, a tqdm bar (one line per backend when the
    backends train side by side), one step per epoch, showing the range of the LR over the
    epoch's updates, not only the last one, which a cyclical policy would show at the same point
    of every cycle. Elsewhere (a log file, a pipe), one line per run when it ends, written in
    one piece so that the backends' lines never mix."""

    def __init__(self, label: str, epochs: int, schedule: P.Policy, steps_per_epoch: int,
                 position: int = 0):
        from tqdm import tqdm

        self.label, self.schedule, self.steps_per_epoch = label, schedule, steps_per_epoch
        self.tty = sys.stderr.isatty()
        self.last: EpochLog | None = None
        self.bar = tqdm(total=epochs, desc=f"{label:<38}", unit="epoch", file=sys.stderr,
                        bar_format="{desc} {bar:24} {n_fmt:>3}/{total_fmt}{postfix}",
                        ascii=" #", mininterval=0.5, position=position, leave=True,
                        disable=not self.tty)

    def _lrs(self, first_epoch: int, last_epoch: int) -> str:
        lrs = self.schedule(np.arange((first_epoch - 1) * self.steps_per_epoch,
                                      last_epoch * self.steps_per_epoch))
        return f"lr {lrs.min():.3g}..{lrs.max():.3g}"

    def __call__(self, log: EpochLog) -> None:
        self.last = log
        self.bar.set_postfix_str(f"{self._lrs(log.epoch, log.epoch)} loss "
                                 f"{log.train_loss:.4f} val {log.val_accuracy:.4f} "
                                 f"{log.elapsed_s:6.1f}s", refresh=False)
        self.bar.update(1)

    def close(self, result: TrainResult) -> None:
        end = f" test {result.test_accuracy:.4f} on {result.device}"
        if self.tty:
            self.bar.set_postfix_str(self.bar.postfix + end, refresh=False)
            self.bar.close()
            return
        self.bar.close()
        log = self.last
        line = (f"{self.label:<38} {log.epoch} epochs, {self._lrs(1, log.epoch)}, loss "
                f"{log.train_loss:.4f}, val {log.val_accuracy:.4f},{end}, "
                f"{log.elapsed_s:.1f}s\n")
        sys.stderr.write(line)
        sys.stderr.flush()
