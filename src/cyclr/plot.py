"""Figures saved as PNG: a range test's loss curve, and a policy's LR (and momentum) by step.

:func:`plot_range_test` and :func:`plot_schedule` write one figure each; :func:`figure`,
:func:`draw_range_test` and :func:`draw_schedule` are the pieces they are made of, for figures
with several panels (``cyclr compare`` draws its figures with them).

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

__all__ = ["draw_range_test", "draw_schedule", "figure", "plot_range_test", "plot_schedule",
           "sampled_steps", "save"]

RAW, SMOOTHED, BOUNDS = "#9ab8d6", "#1f5f9e", "#f0a030"


def figure(rows: int = 1, cols: int = 1, *, size: tuple[float, float] | None = None,
           sharex: bool = True) -> tuple[Any, list[Any]]:
    """A matplotlib ``Figure`` on the Agg canvas (no pyplot) and its ``rows * cols`` axes, row
    by row.

    Args:
        rows, cols: the grid of panels.
        size: (width, height) in inches; default 8 x 4.5 for one panel.
        sharex: whether the panels share their x axis.

    Returns:
        ``(figure, [axes, ...])``.

    Raises:
        ModuleNotFoundError: matplotlib is not installed (names the ``plot`` extra).
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError("cyclr.plot needs matplotlib: pip install 'cyclr[plot]'",
                                  name=err.name) from err
    if size is None:
        size = (8 * cols if cols > 1 else 8, 4.5 if rows == 1 else 6.5)
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, sharex=sharex, squeeze=False).ravel()
    return fig, list(axes)


def save(fig: Any, path: str | Path, dpi: int = 120, description: str = "") -> Path:
    """Write ``fig`` as the PNG ``path`` (checked by the same rules as every figure here), with
    ``description`` in the PNG's ``Description`` text chunk when given.

    Args:
        fig: a matplotlib figure (from :func:`figure`).
        path: a ``.png`` file in an existing folder.
        dpi: dots per inch. description: text stored in the PNG.

    Returns:
        The PNG's path.

    Raises:
        TypeError / ValueError / FileNotFoundError: see :func:`output_path`.
    """
    out = output_path(path)
    fig.savefig(out, dpi=dpi, metadata={"Description": description} if description else None)
    return out


def output_path(path: object) -> Path:
    """``path`` as a ``Path`` to a ``.png`` file in an existing folder.

    Raises:
        TypeError: ``path`` is not a str or ``Path``. ValueError: not a ``.png`` name.
        FileNotFoundError: its folder does not exist.
    """
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
    """Write a range test's figure (see :func:`draw_range_test`) as the PNG ``path``.

    Args:
        result: what ``range_test`` returned.
        path: a ``.png`` file in an existing folder.
        title: the figure's title (default: the sweep and how it ended).

    Returns:
        The PNG's path.

    Raises:
        TypeError: ``result`` is not a :class:`cyclr.rangetest.RangeTestResult`.
        ValueError / FileNotFoundError: ``path`` is not a ``.png`` in an existing folder.
    """
    if not isinstance(result, RangeTestResult):
        check.fail("result", "a cyclr.rangetest.RangeTestResult", result, TypeError)
    out = output_path(path)
    fig, (ax,) = figure()
    draw_range_test(ax, result)
    ax.set_title(title or range_test_summary(result), fontsize=10)
    fig.savefig(out, dpi=120)
    return out


def range_test_summary(result: RangeTestResult) -> str:
    """One line: the sweep, and how the test ended."""
    sweep, lrs = result.sweep, result.lrs
    ended = {"completed": f"{len(lrs)} steps",
             "diverged": f"stopped at step {len(lrs)} of {sweep.num_steps}: diverged at "
                         f"{_fmt(lrs[-1])}",
             "non-finite loss": f"stopped at step {len(lrs)} of {sweep.num_steps}: loss not "
                                f"finite at {_fmt(lrs[-1])}"}[result.stop_reason]
    return (f"LR range test ({sweep.mode} sweep {_fmt(sweep.start_lr)} .. "
            f"{_fmt(sweep.end_lr)}, {ended})")


def draw_range_test(ax: Any, result: RangeTestResult, *, label: str | None = None,
                    color: str = SMOOTHED, raw: bool = True, bounds: bool = True) -> None:
    """Draw a range test on the matplotlib axes ``ax``: loss against LR (log axis), the raw
    mini-batch losses (``raw``), the smoothed curve placed at its own LRs (see
    :func:`cyclr.rangetest.smooth_lrs`: drawn at the raw LRs it would lag), and the suggested
    ``[base_lr, max_lr]`` shaded (``bounds``), or the reason there is none. With ``raw``, a
    diverging tail is cut off the y axis so the valley stays readable; a non-finite loss is
    marked at the top. Several results can share one axes (``raw=False``, a ``label`` and
    ``color`` each; the caller then sets the y range).

    Args:
        ax: matplotlib axes. result: a :class:`cyclr.rangetest.RangeTestResult`.
        label, color: the smoothed curve's legend entry and colour.
        raw: also draw the raw losses (and fit the y range to the curve).
        bounds: shade the suggested bounds, or say why there are none.

    Returns:
        None: it draws on ``ax``.

    Raises:
        AttributeError: ``result`` is not a range-test result.
    """
    lrs, losses = result.lrs, result.losses
    finite = np.isfinite(losses)
    if raw:
        ax.plot(lrs[finite], losses[finite], color=RAW, lw=1, marker=".", ms=3,
                label="loss (raw)")
    ok = np.isfinite(result.smoothed)
    ax.plot(result.smoothed_lrs[ok], result.smoothed[ok], color=color, lw=2.2 if raw else 1.4,
            label=label or f"smoothed (EMA {result.sweep.smooth:g})")
    ax.set_xscale("log")
    ax.set_xlim(result.sweep.start_lr, result.sweep.end_lr)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.grid(True, which="major", alpha=0.35)
    ax.grid(True, which="minor", alpha=0.12)

    s = result.suggestion
    if bounds and s.ok:
        shade = BOUNDS if raw else color
        ax.axvspan(s.base_lr, s.max_lr, color=shade, alpha=0.22 if raw else 0.1, lw=0,
                   label=f"suggested ({s.method}): {_fmt(s.base_lr)} .. {_fmt(s.max_lr)}")
        for lr in (s.base_lr, s.max_lr):
            ax.axvline(lr, color=shade, lw=1.2, ls="-" if raw else ":")
    elif bounds:
        ax.text(0.5, 0.97, "\n".join(textwrap.wrap(f"no suggestion ({s.status}): {s.detail}", 90)),
                transform=ax.transAxes, ha="center", va="top", fontsize=9, color="#a03020",
                bbox={"facecolor": "white", "edgecolor": "#a03020", "alpha": 0.9})

    if raw and finite.any():
        values = losses[finite]
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


def plot_schedule(policy: Policy, steps: int, path: str | Path, momentum: Policy | None = None,
                  *, title: str | None = None) -> Path:
    """Write the LR of ``policy`` at every update ``0 .. steps - 1`` (and ``momentum``'s value
    below it, if given) as the PNG ``path``.

    Args:
        policy: the LR policy. momentum: a momentum policy, or None.
        steps: updates drawn (a positive integer).
        path: a ``.png`` file in an existing folder.
        title: the figure's title (default: the policy and its arguments).

    Returns:
        The PNG's path.

    Raises:
        TypeError / ValueError: an argument of the wrong type or value, named.
    """
    if not isinstance(policy, Policy):
        check.fail("policy", "a cyclr policy", policy, TypeError)
    if momentum is not None and not isinstance(momentum, Policy):
        check.fail("momentum", "a cyclr policy or None", momentum, TypeError)
    steps = check.positive_int("steps", steps)
    out = output_path(path)
    fig, axes = figure(2 if momentum is not None else 1)
    draw_schedule(axes[0], policy, steps)
    axes[0].set_ylabel("learning rate")
    axes[0].set_title(title or describe(policy), fontsize=10)
    if momentum is not None:
        draw_schedule(axes[1], momentum, steps, color=BOUNDS)
        axes[1].set_ylabel("momentum")
    sampled = "" if steps <= MAX_POINTS else f", {MAX_POINTS:,} of {steps:,} steps drawn"
    axes[-1].set_xlabel(f"step (optimizer update{sampled})")
    axes[-1].set_xlim(0, max(steps - 1, 1))
    fig.savefig(out, dpi=120)
    return out


#: The most steps a schedule figure evaluates: beyond it, this many evenly spaced steps.
MAX_POINTS = 1_000_000


def sampled_steps(steps: int) -> np.ndarray:
    """The steps a figure of ``0 .. steps - 1`` draws: all of them up to :data:`MAX_POINTS`,
    else :data:`MAX_POINTS` evenly spaced ones (first and last included), so the work and
    memory stay bounded at any ``steps`` (up to ``2**63 - 1``)."""
    if steps <= MAX_POINTS:
        return np.arange(steps, dtype=np.int64)
    i = np.arange(MAX_POINTS, dtype=np.int64)  # k_i = floor(i * (steps - 1) / (n - 1)), exactly
    q, r = divmod(steps - 1, MAX_POINTS - 1)
    return i * q + (i * r) // (MAX_POINTS - 1)


def draw_schedule(ax: Any, policy: Policy, steps: int, *, color: str = SMOOTHED,
                  label: str | None = None, log: bool = False) -> None:
    """Draw ``policy``'s value at updates ``0 .. steps - 1`` on the matplotlib axes ``ax`` (as
    steps when there are few; at :func:`sampled_steps` when there are very many), on a log axis
    with ``log``.

    Args:
        ax: matplotlib axes. policy: a cyclr policy.
        steps: updates ``0 .. steps - 1`` (a positive integer).
        color, label: the line's colour and legend entry. log: a logarithmic y axis.

    Returns:
        None: it draws on ``ax``.

    Raises:
        TypeError / ValueError: ``steps`` not a positive integer (from the policy's step check).
    """
    k = sampled_steps(steps)
    values = policy(k)
    ax.plot(k, values, color=color, lw=1.6 if label is None else 1.2, label=label,
            drawstyle="steps-post" if steps <= 60 else None)
    if log:
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=min(0.0, float(values.min())))
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))
    ax.grid(True, alpha=0.35)


def describe(policy: Policy, fields: tuple[str, ...] | None = None, digits: int = 4) -> str:
    """``Kind(field=value, ...)`` with numbers to ``digits`` significant digits: every scalar
    field, or just ``fields``; wrapped at 95 characters."""
    config = policy.to_config()
    kind = config.pop("type")
    names = fields if fields is not None else [k for k, v in config.items()
                                               if v is not None and not isinstance(v, list)]
    parts = [f"{key}={_short(config[key], digits)}" for key in names]
    return "\n".join(textwrap.wrap(f"{kind}({', '.join(parts)})", 95))


def _short(value: object, digits: int = 4) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.{digits}g}"
    return repr(value)
