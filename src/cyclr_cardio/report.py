"""The results of ``cyclr compare``: a finished :class:`Run`, the statistics over runs (summary
rows, mean ± std over seeds, epochs to the constant policy's accuracy), the CSV files, the
Markdown report (with the article's claims checked and the tuning cost), the README block, and
the figures (drawn with :mod:`cyclr.plot`).

:mod:`cyclr_cardio.experiment` trains the runs and hands them here. matplotlib loads only inside
the plotting functions.
"""

from __future__ import annotations

import csv
import json
import math
import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cyclr import plot
from cyclr import policy as P
from cyclr_cardio.trainer import TrainResult

__all__ = [
    "ARTICLE",
    "ARTICLE_LR",
    "CYCLICAL",
    "README_END",
    "README_START",
    "RUN_COLUMNS",
    "SUMMARY_COLUMNS",
    "Run",
    "aggregate",
    "check_readme",
    "devices_used",
    "iters_per_epoch",
    "plot_lr",
    "plot_range_tests",
    "plot_val",
    "render_report",
    "render_table",
    "set_epochs_to_target",
    "summary_rows",
    "update_readme",
    "write_grid",
    "write_runs",
    "write_summary",
]

#: The policies that get their bounds from the LR range test.
CYCLICAL = ("clr", "one-cycle")
#: The article's constant rate.
ARTICLE_LR = 0.01
#: The article's numbers (accuracy on its own random split of the raw data, min-max scaled).
ARTICLE = (
    ("article: SGD 0.01, 50 epochs (Keras)", 0.641, 0.647, "~150"),
    ("article: cyclical LR (TF Addons), 50 epochs", 0.643, 0.650, "< 50"),
)

RUN_COLUMNS = ("run", "backend", "policy", "seed", "epoch", "lr", "train_loss", "train_accuracy",
               "val_accuracy", "elapsed_s")
SUMMARY_COLUMNS = ("run", "backend", "policy", "seed", "test_accuracy", "best_val_accuracy",
                   "final_val_accuracy", "epochs_to_target", "wall_s", "target_val_accuracy",
                   "train_accuracy", "tuning_epochs", "total_epochs", "tuning_s", "bounds_source",
                   "schedule", "device")


# ----------------------------------------------------------------------------- the records


@dataclass
class Run:
    """One finished run of one backend, policy and seed."""

    backend: str
    policy: str
    seed: int
    schedule: P.Policy
    result: TrainResult
    steps_per_epoch: int
    bounds_source: str = ""
    tuning_epochs: float = 0.0
    tuning_s: float = 0.0
    grid: list[dict] = field(default_factory=list)
    curve: object = None  # the range test behind the bounds, if one ran
    target: float | None = None  # set by set_epochs_to_target once every run is done
    epochs_to_target: int | None = None

    @property
    def val(self) -> np.ndarray:
        return np.array([e.val_accuracy for e in self.result.history])

    @property
    def epochs(self) -> int:
        return len(self.result.history)


def iters_per_epoch(data, batch_size: int) -> int:
    """Optimizer updates per epoch (the last batch may be short)."""
    return math.ceil(len(data.y_train) / batch_size)


# ---------------------------------------------------------------------------- statistics


def set_epochs_to_target(runs: list[Run]) -> None:
    """Set each run's target (the constant policy's mean final val accuracy on its backend) and
    the first epoch reaching it (None if never)."""
    for backend in {r.backend for r in runs}:
        finals = [r.val[-1] for r in runs if r.backend == backend and r.policy == "constant"]
        target = float(np.mean(finals)) if finals else None
        for r in runs:
            if r.backend == backend:
                r.target = target
                hit = np.flatnonzero(r.val >= target) if target is not None else []
                r.epochs_to_target = int(hit[0]) + 1 if len(hit) else None


def summary_rows(runs: list[Run]) -> list[dict]:
    rows = []
    for r in runs:
        rows.append({
            "backend": r.backend, "policy": r.policy, "seed": r.seed,
            "test_accuracy": r.result.test_accuracy,
            "best_val_accuracy": float(r.val.max()), "final_val_accuracy": float(r.val[-1]),
            "epochs_to_target": r.epochs_to_target, "wall_s": r.result.wall_s,
            "target_val_accuracy": r.target,
            "train_accuracy": r.result.history[-1].train_accuracy,
            "tuning_epochs": r.tuning_epochs, "total_epochs": r.tuning_epochs + r.epochs,
            "tuning_s": r.tuning_s, "bounds_source": r.bounds_source,
            "schedule": json.dumps(r.schedule.to_config()), "device": r.result.device,
        })
    return rows


def _mean_std(values) -> tuple[float, float]:
    values = [v for v in values if v is not None]
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def aggregate(rows: list[dict]) -> list[dict]:
    """Mean and std over seeds per backend and policy, in run order."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["backend"], row["policy"]), []).append(row)
    out = []
    for (backend, name), rs in groups.items():
        agg = {"backend": backend, "policy": name, "n": len(rs),
               "reached": sum(r["epochs_to_target"] is not None for r in rs)}
        for key in ("test_accuracy", "final_val_accuracy", "best_val_accuracy", "train_accuracy",
                    "epochs_to_target", "wall_s", "tuning_epochs", "total_epochs", "tuning_s"):
            agg[key] = _mean_std(r[key] for r in rs)
        agg["device"] = rs[0]["device"]
        out.append(agg)
    return out


# ------------------------------------------------------------------------------- outputs


def write_runs(path: Path, runs: list[Run], run_id: str) -> None:
    """``runs.csv``: one row per backend, policy, seed and epoch (:data:`RUN_COLUMNS`); the
    ``run`` column names the run that wrote it."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(RUN_COLUMNS)
        for r in runs:
            for e in r.result.history:
                w.writerow([run_id, r.backend, r.policy, r.seed, e.epoch, _g(e.lr),
                            _g(e.train_loss), _g(e.train_accuracy), _g(e.val_accuracy),
                            f"{e.elapsed_s:.3f}"])


def write_summary(path: Path, rows: list[dict], run_id: str) -> None:
    """``summary.csv``: one row per run of a backend, policy and seed (:data:`SUMMARY_COLUMNS`)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=SUMMARY_COLUMNS)
        w.writeheader()
        for row in rows:
            w.writerow({"run": run_id} | {k: _g(v) if isinstance(v, float) else (
                "" if v is None else v) for k, v in row.items()})


def write_grid(path: Path, runs: list[Run], run_id: str) -> bool:
    """Every constant-grid candidate; False (and no file) without that policy."""
    entries = [g for r in runs for g in r.grid]
    if not entries:
        return False
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["run", *entries[0]])
        w.writeheader()
        for g in entries:
            w.writerow({"run": run_id} | {k: _g(v) if isinstance(v, float) else v
                                          for k, v in g.items()})
    return True


def _g(x: float) -> str:
    return f"{x:.6g}"


def _pct(ms: tuple[float, float], digits: int = 2) -> str:
    mean, std = ms
    if math.isnan(mean):
        return "n/a"
    return f"{100 * mean:.{digits}f} ± {100 * std:.{digits}f}"


def _num(ms: tuple[float, float], fmt: str = ".1f") -> str:
    mean, std = ms
    if math.isnan(mean):
        return "n/a"
    return f"{mean:{fmt}} ± {std:{fmt}}"


TABLE_HEADER = ("backend", "policy", "test acc %", "final val acc %", "best val acc %",
                "epochs to target", "epochs incl. tuning", "train s")


def _table_cells(a: dict) -> list[str]:
    reached = _num(a["epochs_to_target"], ".1f")
    if a["reached"] < a["n"]:
        reached += f" ({a['reached']}/{a['n']} reached)"
    return [a["backend"], a["policy"], _pct(a["test_accuracy"]), _pct(a["final_val_accuracy"]),
            _pct(a["best_val_accuracy"]), reached, f"{a['total_epochs'][0]:.1f}",
            _num(a["wall_s"])]


def render_table(rows: list[dict], markdown: bool = True) -> str:
    body = [_table_cells(a) for a in aggregate(rows)]
    if markdown:
        lines = ["| " + " | ".join(TABLE_HEADER) + " |",
                 "|" + "|".join("---" for _ in TABLE_HEADER) + "|"]
        return "\n".join(lines + ["| " + " | ".join(c) + " |" for c in body])
    widths = [max(len(h), *(len(c[i]) for c in body)) for i, h in enumerate(TABLE_HEADER)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*TABLE_HEADER)] + [fmt.format(*c) for c in body])


def _claim_lines(aggs: list[dict], epochs: int, noise: float) -> list[str]:
    """The article's two claims for its cyclical LR, checked per backend as measured, and how
    clr compares with a tuned constant rate. An accuracy difference smaller than ``noise`` (one
    standard error of a test accuracy) is reported as within noise, neither way."""
    lines = []
    by = {(a["backend"], a["policy"]): a for a in aggs}
    for backend in dict.fromkeys(a["backend"] for a in aggs):
        const, clr = by.get((backend, "constant")), by.get((backend, "clr"))
        grid = by.get((backend, "constant-grid"))
        if const and clr:
            e, c = clr["epochs_to_target"][0], const["epochs_to_target"][0]
            c = epochs if math.isnan(c) else c  # constant's mean final: some seeds end below
            ok = clr["reached"] == clr["n"] and e < c
            lines.append(f"- {_mark(ok)} **{backend}**, *trains faster*: clr reaches constant's "
                         f"{epochs}-epoch val accuracy "
                         f"({100 * const['final_val_accuracy'][0]:.2f}%) in "
                         f"{_num(clr['epochs_to_target'])} epochs ({clr['reached']}/{clr['n']} "
                         f"seeds), constant itself in {_num(const['epochs_to_target'])}")
            gap = clr["test_accuracy"][0] - const["test_accuracy"][0]
            mark = _mark(gap > 0) if abs(gap) >= noise else (
                f"within noise (a {100 * abs(gap):.2f}-point difference, under one standard "
                f"error, {100 * noise:.2f}):")
            lines.append(f"- {mark} **{backend}**, *ends more accurate*: clr test "
                         f"{_pct(clr['test_accuracy'])}% vs constant "
                         f"{_pct(const['test_accuracy'])}% (final val "
                         f"{_pct(clr['final_val_accuracy'])}% vs "
                         f"{_pct(const['final_val_accuracy'])}%)")
        if grid and clr:
            gap = 100 * (clr["test_accuracy"][0] - grid["test_accuracy"][0])
            where = ("the same as" if abs(gap) < 0.005 else
                     f"{abs(gap):.2f} points {'below' if gap < 0 else 'above'}")
            lines.append(f"- **{backend}**, beside a tuned constant rate: clr's test accuracy is "
                         f"{where} the grid's best (one standard error: {100 * noise:.2f}), "
                         f"using {clr['total_epochs'][0]:.1f} of "
                         f"{grid['total_epochs'][0]:.0f} training epochs incl. tuning")
    return lines or ["- (the claims need the constant and clr policies)"]


def _mark(ok: bool) -> str:
    return "holds:" if ok else "does not hold:"


def _tuning_lines(aggs: list[dict], runs: list[Run], grid: Sequence[float]) -> list[str]:
    lines = ["| backend | approach | tuning epochs | + final run | total epochs | test acc % | "
             "epochs to constant's accuracy, tuning included |", "|---|---|---|---|---|---|---|"]
    for a in aggs:
        if a["policy"] == "constant":
            approach = f"constant {ARTICLE_LR:g} (the article's guess, no tuning)"
        elif a["policy"] == "constant-grid":
            chosen = sorted({f"{r.schedule.lr:g}" for r in runs if r.backend == a["backend"]
                             and r.policy == "constant-grid"})
            approach = f"grid of {len(grid)} constant rates (chose {', '.join(chosen)})"
        else:
            approach = f"LR range test + one {a['policy']} run"
        tuning = a["tuning_epochs"][0]
        to_target = tuning + a["epochs_to_target"][0]
        lines.append(f"| {a['backend']} | {approach} | {tuning:.1f} | "
                     f"{a['total_epochs'][0] - tuning:.0f} | {a['total_epochs'][0]:.1f} | "
                     f"{_pct(a['test_accuracy'])} | "
                     f"{'n/a' if math.isnan(to_target) else f'{to_target:.1f}'} |")
    return lines


def devices_used(rows: list[dict]) -> list[str]:
    return sorted({f"{r['backend']}: {r['device']}" for r in rows})


def render_report(runs, rows, data, reference, args, command, wall, curves=False,
                  provenance: str = "") -> str:
    aggs = aggregate(rows)
    seeds = args.seeds
    ipe = iters_per_epoch(data, args.batch_size)
    devices = devices_used(rows)
    out = ["# cyclr compare: constant vs cyclical vs one-cycle learning rates", ""]
    if data.source == "synthetic":
        out += ["> **SYNTHETIC DATA.** No data file was given, so these numbers come from cyclr's",
                "> generated stand-in for the cardio file; they say nothing about the real data.",
                "> Run with `--data path/to/cardio_train.csv` for those.", ""]
    out += [f"Regenerate: `{command}` ({wall / 60:.1f} min from start to finish on "
            f"{', '.join(devices)}).",
            "", f"This report and every file beside it: {provenance} (`run.json` lists them "
            "with their SHA-256).", "", "## Setup", "",
            f"- Data: {data.describe()}.",
            ]
    if data.clean:
        dropped = ", ".join(f"{k} {v}" for k, v in data.cleaning.items()
                            if k not in ("rows_in", "rows_out"))
        out.append(f"- Cleaning (rows dropped per rule): {dropped}; age converted from days to "
                   "years. See docs/compare.md for the rules.")
    else:
        out.append("- `--no-clean`: the article's raw setup, every row kept, min-max scaling.")
    out += [f"- Model: Dense 64-32-1 (ReLU, sigmoid), Glorot-uniform, plain SGD (no momentum), "
            f"batch {args.batch_size} ({ipe} updates per epoch), {args.epochs} epochs, "
            f"{_seed_list(seeds)} (init and batch order; one split, seed {data.seed}).",
            f"- Devices: {'; '.join(devices)}; the machine has {os.cpu_count()} CPU cores.",
            "- Policies (bounds per backend and seed in `summary.csv`):",
            *(f"  - {note}" for note in _policy_notes(args, runs)),
            "- Test accuracy is that of the final weights. *Epochs to target*: first epoch whose "
            "validation accuracy reaches the constant policy's mean final validation accuracy "
            "on the same backend.",
            f"- Noise: with {len(data.y_test)} test rows, one standard error of a test accuracy "
            f"near 73% is {100 * _standard_error(0.73, len(data.y_test)):.2f} points; "
            "differences between policies smaller than that are not evidence of anything.",
            "", f"## Results (mean ± std over {seeds} seed{'s' * (seeds > 1)})", "",
            render_table(rows), "",
            "## Beside the article and gradient boosting", "",
            "| | train acc % | val acc % | test acc % | training time s |", "|---|---|---|---|---|"]
    for name, train, val, secs in ARTICLE:
        out.append(f"| {name} | {100 * train:.1f} | {100 * val:.1f} | – | {secs} |")
    for a in aggs:
        out.append(f"| cyclr: {a['backend']} {a['policy']} | {_pct(a['train_accuracy'], 1)} | "
                   f"{_pct(a['final_val_accuracy'], 1)} | {_pct(a['test_accuracy'], 1)} | "
                   f"{_num(a['wall_s'], '.0f')} |")
    out += [f"| sklearn HistGradientBoostingClassifier (same split) | "
            f"{100 * reference['train_accuracy']:.1f} | {100 * reference['val_accuracy']:.1f} | "
            f"{100 * reference['test_accuracy']:.1f} | {reference['wall_s']:.0f} |", "",
            ("The article's accuracies are on its own split of the real raw file; this run's are "
             "on the synthetic stand-in, so the two do not compare." if data.source == "synthetic"
             else "The article's accuracies are on its own split of the raw file with min-max "
             "scaling (what `--no-clean` reproduces); most of the gap to ours is the data "
             "cleaning, not the learning rate."), "",
            "## What tuning costs", "",
            "Total training epochs spent to reach the final accuracy, tuning included: the grid "
            "trains every candidate rate for the full run; the cyclical policies pay for one short "
            "LR range test (counted in epochs of updates) and then train once.", ""]
    out += _tuning_lines(aggs, runs, args.grid)
    out += ["", "## The article's claims, checked", "",
            "The article says its cyclical LR *trains faster* and *ends more accurate* than SGD "
            f"at {ARTICLE_LR:g}. Measured here"
            + (" (on the synthetic stand-in: how it behaves, not the real data)"
               if data.source == "synthetic" else "") + ":", ""]
    out += _claim_lines(aggs, args.epochs, _standard_error(0.73, len(data.y_test)))
    out += ["", "## Plots", "", "![LR vs step](lr_schedule.png)", "",
            "![validation accuracy vs epoch](val_accuracy.png)", "",
            "Validation accuracy: each line is the mean over seeds, the shaded band spans the "
            "lowest to the highest seed at each epoch, and the dotted line is the constant "
            "policy's mean final validation accuracy (the target of *epochs to target*).", ""]
    if curves:
        out += ["![LR range tests](range_test.png)", "",
                "LR range tests: the smoothed training loss of each seed's test, placed at the "
                "LRs the smoothing averages over, and the bounds Smith's rule suggests.", ""]
    out += [
            "Per-epoch numbers: `runs.csv`; per-run: `summary.csv`; grid candidates: `grid.csv`.",
            ""]
    return "\n".join(out)


def _seed_list(seeds: int) -> str:
    return "seed 0" if seeds == 1 else f"seeds 0..{seeds - 1}"


def _standard_error(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n)


def _span(values: list[float]) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:.3g}" if f"{lo:.3g}" == f"{hi:.3g}" else f"{lo:.3g}-{hi:.3g}"


def _policy_notes(args, runs: list[Run]) -> list[str]:
    notes = []
    for name in args.policies:
        rs = [r for r in runs if r.policy == name]
        if name == "constant":
            notes.append(f"`constant` SGD {ARTICLE_LR:g}")
        elif name == "constant-grid":
            notes.append(f"`constant-grid` best final val accuracy of "
                         f"{', '.join(f'{lr:g}' for lr in args.grid)}")
        elif rs:
            sources = "; ".join(sorted({r.bounds_source for r in rs}))
            top = _span([r.schedule.max_lr for r in rs])
            if name == "clr":
                base = _span([r.schedule.base_lr for r in rs])
                epochs = rs[0].schedule.step_size / rs[0].steps_per_epoch
                notes.append(f"`clr` triangular2, step size {epochs:.3g} epochs "
                             f"({rs[0].schedule.step_size} updates), base_lr {base}, max_lr "
                             f"{top} ({sources})")
            else:
                notes.append(f"`one-cycle` over the whole run, max_lr {top} ({sources}), "
                             "torch's OneCycleLR defaults otherwise")
    return notes


# --------------------------------------------------------------------------------- plots


PANEL = (6.0, 4.2)
"""Inches per panel: one panel per backend, side by side."""

COLORS = {"constant": "tab:gray", "clr": "tab:blue", "one-cycle": "tab:orange",
          "constant-grid": "tab:green"}


#: The title every figure of a run on the synthetic stand-in carries.
SYNTHETIC_FIGURE = "SYNTHETIC DATA: cyclr's stand-in, not the real cardio file"


def _panels(n: int):
    return plot.figure(1, n, size=(PANEL[0] * n, PANEL[1]), sharex=False)


def plot_lr(path: Path, runs: list[Run], provenance: str = "", banner: str = "") -> None:
    """LR vs optimizer step for each policy (the first seed), one panel per backend."""
    backends = list(dict.fromkeys(r.backend for r in runs))
    fig, axes = _panels(len(backends))
    for ax, backend in zip(axes, backends):
        first = [r for r in runs if r.backend == backend and r.seed == min(
            x.seed for x in runs if x.backend == backend)]
        for r in first:
            plot.draw_schedule(ax, r.schedule, r.epochs * r.steps_per_epoch, log=True,
                               color=COLORS[r.policy], label=r.policy)
        ax.set(title=f"{backend}: LR per update (seed {first[0].seed})",
               xlabel="optimizer step", ylabel="learning rate")
        ax.legend()
    if banner:
        fig.suptitle(banner, color="#a03020", fontweight="bold")
    plot.save(fig, path, dpi=110, description=provenance)


def plot_val(path: Path, runs: list[Run], provenance: str = "", banner: str = "") -> None:
    """Validation accuracy vs epoch per backend: a line for the mean over seeds, a shaded band
    from the lowest to the highest seed at each epoch."""
    backends = list(dict.fromkeys(r.backend for r in runs))
    fig, axes = _panels(len(backends))
    for ax, backend in zip(axes, backends):
        mine = [r for r in runs if r.backend == backend]
        for name in dict.fromkeys(r.policy for r in mine):
            curves = np.stack([r.val for r in mine if r.policy == name])
            epochs = np.arange(1, curves.shape[1] + 1)
            ax.plot(epochs, 100 * curves.mean(0), label=name, color=COLORS[name])
            ax.fill_between(epochs, 100 * curves.min(0), 100 * curves.max(0),
                            color=COLORS[name], alpha=0.2, lw=0)
        target = mine[0].target
        if target is not None:
            ax.axhline(100 * target, color="k", ls=":", lw=1,
                       label="constant's final (target)")
        ax.set(title=f"{backend}: validation accuracy (band: min..max over seeds)",
               xlabel="epoch", ylabel="validation accuracy %")
        ax.grid(True, alpha=0.35)
        ax.legend(loc="lower right")
    if banner:
        fig.suptitle(banner, color="#a03020", fontweight="bold")
    plot.save(fig, path, dpi=110, description=provenance)


def plot_range_tests(path: Path, runs: list[Run], provenance: str = "", banner: str = "") -> bool:
    """The smoothed range-test loss vs LR per backend and seed (at the LRs the smoothing places
    it), with each seed's suggested bounds; False (and no file) when no range test ran."""
    tested: dict[str, dict[int, object]] = {}
    for r in runs:
        if r.curve is not None:
            tested.setdefault(r.backend, {}).setdefault(r.seed, r.curve)
    if not tested:
        return False
    fig, axes = _panels(len(tested))
    for ax, (backend, by_seed) in zip(axes, tested.items()):
        for i, (seed, curve) in enumerate(sorted(by_seed.items())):
            plot.draw_range_test(ax, curve, raw=False, color=f"C{i}", label=f"seed {seed}")
        start = max(float(c.smoothed[0]) for c in by_seed.values())
        low = min(float(np.nanmin(c.smoothed)) for c in by_seed.values())
        ax.set_ylim(low - 0.05 * (start - low), 1.5 * start)  # the divergence would squash it
        ax.set_title(f"{backend}: LR range test (shaded: suggested base_lr .. max_lr)")
    if banner:
        fig.suptitle(banner, color="#a03020", fontweight="bold")
    plot.save(fig, path, dpi=110, description=provenance)
    return True


# -------------------------------------------------------------------------------- README


README_START = "<!-- cyclr compare: start -->"
README_END = "<!-- cyclr compare: end -->"


def check_readme(path: str) -> str:
    """The Markdown file ``--readme`` names, read and checked before any training."""
    text = Path(path).read_text(encoding="utf-8")
    if text.count(README_START) != 1 or text.count(README_END) != 1 or (
            text.index(README_START) > text.index(README_END)):
        raise ValueError(f"Argument `--readme` must name a Markdown file with one line "
                         f"{README_START!r} before one line {README_END!r}. Received: "
                         f"--readme={path!r}")
    return text


def update_readme(path: str, text: str, block: str) -> None:
    """Replace what stands between the markers of ``text`` (the file at ``path``) by ``block``,
    atomically: a temporary file beside it, then one rename."""
    head, rest = text.split(README_START)
    tail = rest.split(README_END)[1]
    target = Path(path)
    temporary = target.with_name(f".{target.name}.cyclr-{os.getpid()}")
    try:
        temporary.write_text(f"{head}{README_START}\n{block}\n{README_END}{tail}",
                             encoding="utf-8")
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
