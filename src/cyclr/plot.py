"""Figures saved as PNG: a range test's loss curve, and a policy's LR (and momentum) by step.

matplotlib is an optional extra (``pip install 'cyclr[plot]'``), imported only when a figure is
drawn. Figures are drawn on matplotlib's Agg canvas directly, without pyplot, so plotting never
changes the caller's backend or opens a window.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from cyclr import validate as check
from cyclr.policy import Policy
from cyclr.rangetest import RangeTestResult

__all__ = ["plot_range_test", "plot_schedule"]

RAW, SMOOTHED, BOUNDS = "#9ab8d6", "#1f5f9e", "#f0a030"


def _figure(rows: int = 1) -> tuple[Any, list[Any]]:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError("cyclr.plot needs matplotlib: pip install 'cyclr[plot]'",
                                  name=err.name) from err
    fig = Figure(figsize=(8, 4.5 if rows == 1 else 6.5), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    return fig, list(axes)


def _output(path: object) -> Path:
    if not isinstance(path, (str, Path)) or not str(path):
        check.fail("path", "a file path (str or pathlib.Path)", path, TypeError)
    out = Path(path)
    if out.suffix.lower() != ".png":
        check.fail("path", "a .png file path", str(path))
    if not out.parent.is_dir():
        raise FileNotFoundError(f"Cannot write {str(out)!r}: folder {str(out.parent)!r} does not "
                                "exist")
    return out


def _fmt(lr: float) -> str:
    return f"{lr:.3g}"


def plot_range_test(result: RangeTestResult, path: str | Path, *, title: str | None = None
                    ) -> Path:
    """Loss against LR (log axis): the raw mini-batch losses, the smoothed curve placed at its
    own LRs (see :func:`cyclr.rangetest.smooth_lrs`), and the suggested ``[base_lr, max_lr]``
    shaded. A diverging tail is cut off the y axis (it is noted in the title instead) so the
    valley stays readable; a non-finite loss is marked at the top. Returns the PNG's path."""
    if not isinstance(result, RangeTestResult):
        check.fail("result", "a cyclr.rangetest.RangeTestResult", result, TypeError)
    out = _output(path)
    fig, (ax,) = _figure()
    lrs, raw = result.lrs, result.losses
    finite = np.isfinite(raw)
    ax.plot(lrs[finite], raw[finite], color=RAW, lw=1, marker=".", ms=3, label="loss (raw)")
    ok = np.isfinite(result.smoothed)
    ax.plot(result.smoothed_lrs[ok], result.smoothed[ok], color=SMOOTHED, lw=2.2,
            label=f"smoothed (EMA {result.sweep.smooth:g})")
    ax.set_xscale("log")
    ax.set_xlim(result.sweep.start_lr, result.sweep.end_lr)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.grid(True, which="major", alpha=0.35)
    ax.grid(True, which="minor", alpha=0.12)

    s = result.suggestion
    if s.ok:
        ax.axvspan(s.base_lr, s.max_lr, color=BOUNDS, alpha=0.22, lw=0,
                   label=f"suggested ({s.method}): {_fmt(s.base_lr)} .. {_fmt(s.max_lr)}")
        for lr in (s.base_lr, s.max_lr):
            ax.axvline(lr, color=BOUNDS, lw=1.2)
    else:
        ax.text(0.5, 0.97, "\n".join(textwrap.wrap(f"no suggestion ({s.status}): {s.detail}", 90)),
                transform=ax.transAxes, ha="center", va="top", fontsize=9, color="#a03020",
                bbox={"facecolor": "white", "edgecolor": "#a03020", "alpha": 0.9})

    if finite.any():
        values = raw[finite]
        lo, start = float(np.nanmin(result.smoothed)), float(values[: max(len(values) // 4, 1)]
                                                             .max())
        span = max(start - lo, 1e-12 * max(abs(lo), 1.0))
        top = min(float(values.max()), start + 0.6 * span)
        ax.set_ylim(min(float(values.min()), lo) - 0.08 * span, top + 0.08 * span)
    if not finite[-1:].all():
        ax.plot([lrs[-1]], [1.0], marker="x", color="#c03020", ms=9, mew=2, ls="none",
                transform=ax.get_xaxis_transform(), clip_on=False,
                label=f"non-finite loss at {_fmt(lrs[-1])}")
    ax.legend(loc="lower left", fontsize=8, framealpha=0.9)  # a falling curve leaves it empty

    sweep = result.sweep
    ended = {"completed": f"{len(lrs)} steps",
             "diverged": f"stopped at step {len(lrs)} of {sweep.num_steps}: diverged at "
                         f"{_fmt(lrs[-1])}",
             "non-finite loss": f"stopped at step {len(lrs)} of {sweep.num_steps}: loss not "
                                f"finite at {_fmt(lrs[-1])}"}[result.stop_reason]
    ax.set_title(title or f"LR range test ({sweep.mode} sweep {_fmt(sweep.start_lr)} .. "
                          f"{_fmt(sweep.end_lr)}, {ended})", fontsize=10)
    fig.savefig(out, dpi=120)
    return out


def plot_schedule(policy: Policy, steps: int, path: str | Path, momentum: Policy | None = None,
                  *, title: str | None = None) -> Path:
    """The LR of ``policy`` at every update ``0 .. steps - 1`` (and ``momentum``'s value below
    it, if given). Returns the PNG's path."""
    if not isinstance(policy, Policy):
        check.fail("policy", "a cyclr policy", policy, TypeError)
    if momentum is not None and not isinstance(momentum, Policy):
        check.fail("momentum", "a cyclr policy or None", momentum, TypeError)
    steps = check.positive_int("steps", steps)
    out = _output(path)
    k = np.arange(steps)
    fig, axes = _figure(2 if momentum is not None else 1)
    lr = policy(k)
    axes[0].plot(k, lr, color=SMOOTHED, lw=1.6, drawstyle="steps-post" if steps <= 60 else None)
    axes[0].set_ylabel("learning rate")
    axes[0].set_ylim(bottom=min(0.0, float(lr.min())))
    axes[0].set_title(title or _describe(policy), fontsize=10)
    if momentum is not None:
        axes[1].plot(k, momentum(k), color=BOUNDS, lw=1.6)
        axes[1].set_ylabel("momentum")
    for ax in axes:
        ax.grid(True, alpha=0.35)
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))
    axes[-1].set_xlabel("step (optimizer update)")
    axes[-1].set_xlim(0, max(steps - 1, 1))
    fig.savefig(out, dpi=120)
    return out


def _describe(policy: Policy) -> str:
    config = policy.to_config()
    kind = config.pop("type")
    parts = [f"{key}={_short(value)}" for key, value in config.items()
             if value is not None and not isinstance(value, list)]
    return "\n".join(textwrap.wrap(f"{kind}({', '.join(parts)})", 95))


def _short(value: object) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.4g}"
    return repr(value)
