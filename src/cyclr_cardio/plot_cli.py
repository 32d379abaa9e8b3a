"""``cyclr plot``: draw any policy's LR (and momentum) by step as a PNG.

    cyclr plot triangular2 --base-lr 0.001 --max-lr 0.1 --step-size 500 --steps 3000 -o lr.png
    cyclr plot one-cycle --max-lr 0.1 --total-steps 2000 --momentum 0.85 0.95 -o lr.png
    cyclr plot --config policy.json -o lr.png

Each policy's options are its constructor's arguments (``--base-lr`` for ``base_lr``), so every
policy and every argument is available; ``--config`` takes a policy's JSON config (or
``{"policy": config, "momentum": config}``).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import inspect
import json
from pathlib import Path
from typing import Any

from cyclr import policy
from cyclr_cardio.options import UsageError, positive_int, real, require

#: Command-line policy names and their classes.
POLICIES: dict[str, type[policy.Policy]] = {
    "triangular": policy.Triangular,
    "triangular2": policy.Triangular2,
    "exp-range": policy.ExpRange,
    "one-cycle": policy.OneCycle,
    "cosine-restarts": policy.CosineRestarts,
    "constant": policy.Constant,
}

#: Every policy argument: its type and help. A policy accepts the ones its constructor takes.
ARGUMENTS: dict[str, tuple[Any, str]] = {
    "lr": (float, "the learning rate (constant)"),
    "base_lr": (float, "lowest LR of a cycle (triangular, triangular2, exp-range)"),
    "max_lr": (float, "highest LR"),
    "step_size": (int, "updates from base_lr up to max_lr: half a cycle"),
    "step_size_down": (int, "updates back down (default: step_size)"),
    "gamma": (float, "exp-range: amplitude factor per update, in (0, 1]"),
    "total_steps": (int, "one-cycle: its length in updates (default: --steps)"),
    "pct_start": (float, "one-cycle: fraction of total_steps spent rising (default 0.3)"),
    "anneal": (("cos", "linear"), "one-cycle: annealing shape (default cos)"),
    "div_factor": (float, "one-cycle: initial LR = max_lr / div_factor (default 25)"),
    "final_div_factor": (float, "one-cycle: final LR = initial / final_div_factor (default 1e4)"),
    "three_phase": (bool, "one-cycle: back to the initial LR before the final annihilation"),
    "period": (int, "cosine-restarts: updates in the first cycle"),
    "period_mult": (int, "cosine-restarts: each cycle this many times longer (default 1)"),
    "min_lr": (float, "cosine-restarts: the LR at the end of each cycle (default 0)"),
}

#: Policies that can cycle momentum against the LR (``--momentum MIN MAX``).
MOMENTUM_POLICIES = ("triangular", "triangular2", "exp-range", "one-cycle")


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _parameters(cls: type[policy.Policy]) -> dict[str, bool]:
    """The constructor's arguments, each with whether it is required."""
    return {name: p.default is inspect.Parameter.empty
            for name, p in inspect.signature(cls).parameters.items()}


def register(subparsers) -> None:
    """Add ``cyclr plot`` to the CLI."""
    p = subparsers.add_parser(
        "plot", help="draw a policy's LR (and momentum) by step as a PNG",
        description="Draw the LR a policy gives at each optimizer update (and the momentum, with "
                    "--momentum) and save it as a PNG. Give a policy and its options, or "
                    "--config with a policy's JSON config.",
        epilog="options per policy: " + "; ".join(
            f"{name}: " + " ".join(_option(a) for a in _parameters(cls))
            for name, cls in POLICIES.items()))
    p.add_argument("policy", nargs="?", choices=POLICIES, metavar="POLICY",
                   help="one of " + ", ".join(POLICIES))
    p.add_argument("--config", metavar="FILE", help="a policy's JSON config (to_config()), or "
                   '{"policy": config, "momentum": config}, instead of POLICY and its options')
    p.add_argument("--steps", type=positive_int, metavar="N",
                   help="updates drawn (default: one-cycle's total_steps, three cycles of a "
                        "cyclical policy)")
    p.add_argument("-o", "--output", default="schedule.png", metavar="PNG",
                   help="where to write the figure")
    p.add_argument("--momentum", type=real, nargs=2, metavar=("MIN", "MAX"),
                   help="also cycle momentum from MAX down to MIN while the LR rises, and back "
                        "(" + ", ".join(MOMENTUM_POLICIES) + ")")
    p.add_argument("--title", help="the figure's title (default: the policy)")
    group = p.add_argument_group("policy options")
    for name, (kind, text) in ARGUMENTS.items():
        if kind is bool:
            group.add_argument(_option(name), dest=name, action="store_const", const=True,
                               help=text)
        elif isinstance(kind, tuple):
            group.add_argument(_option(name), dest=name, choices=kind, help=text)
        else:
            group.add_argument(_option(name), dest=name, type=real if kind is float else
                               positive_int, metavar="X" if kind is float else "N", help=text)
    p.set_defaults(prepare=prepare, parser=p)


def prepare(args: argparse.Namespace):
    """Build the policy (and momentum) from the options or ``--config``, check the output path
    and the number of steps; returns the job that draws the figure."""
    from cyclr.plot import output_path

    require("matplotlib", "plot", "cyclr plot")
    given = [name for name in ARGUMENTS if getattr(args, name) is not None]
    if args.config is not None:
        if args.policy is not None or given:
            raise UsageError("give either POLICY with its options or --config, not both")
        lr, momentum = _from_file(Path(args.config))
        if args.momentum is not None:
            momentum = _momentum(lr, args.momentum)
    elif args.policy is None:
        raise UsageError("give a POLICY (" + ", ".join(POLICIES) + ") or --config FILE")
    else:
        lr = _from_options(args, given)
        momentum = _momentum(lr, args.momentum) if args.momentum is not None else None
    steps = args.steps if args.steps is not None else default_steps(lr)
    return functools.partial(run, lr, momentum, steps, output_path(args.output), args.title)


def run(lr: policy.Policy, momentum: policy.Policy | None, steps: int, output: Path,
        title: str | None) -> int:
    """Draw the figure and print the policy's range and config."""
    from cyclr.plot import MAX_POINTS, plot_schedule, sampled_steps

    path = plot_schedule(lr, steps, output, momentum=momentum, title=title)
    values = lr(sampled_steps(steps))
    drawn = "" if steps <= MAX_POINTS else f" ({MAX_POINTS:,} evenly spaced drawn)"
    print(f"wrote {path}: {steps} updates{drawn}, LR {values.min():.4g} .. {values.max():.4g}")
    print("policy config: " + json.dumps(lr.to_config()))
    if momentum is not None:
        print("momentum config: " + json.dumps(momentum.to_config()))
    return 0


def _from_options(args: argparse.Namespace, given: list[str]) -> policy.Policy:
    cls = POLICIES[args.policy]
    params = _parameters(cls)
    foreign = [name for name in given if name not in params]
    if foreign:
        raise UsageError(f"{', '.join(_option(n) for n in foreign)} does not apply to "
                         f"{args.policy} (its options: "
                         f"{', '.join(_option(n) for n in params)})")
    kwargs = {name: getattr(args, name) for name in given}
    if args.policy == "one-cycle" and "total_steps" not in kwargs and args.steps is not None:
        kwargs["total_steps"] = args.steps
    missing = [name for name, required in params.items() if required and name not in kwargs]
    if missing:
        raise UsageError(f"{args.policy} needs {', '.join(_option(n) for n in missing)}")
    return cls(**kwargs)


def _from_file(path: Path) -> tuple[policy.Policy, policy.Policy | None]:
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise UsageError(f"{path} is not valid JSON: {err}") from None
    if isinstance(config, dict) and "policy" in config and "type" not in config:
        unknown = sorted(set(config) - {"policy", "momentum"})
        if unknown:
            raise UsageError(f"{path}: unknown keys {unknown} (expected 'policy', 'momentum')")
        momentum = config.get("momentum")
        return (policy.from_config(config["policy"]),
                None if momentum is None else policy.from_config(momentum))
    return policy.from_config(config), None


def _momentum(lr: policy.Policy, bounds: list[float]) -> policy.Policy:
    """Momentum cycling against ``lr`` (Smith 2018): high while the LR is low."""
    low, high = bounds
    if isinstance(lr, policy.OneCycle):
        return policy.one_cycle_momentum(lr.total_steps, base_momentum=low, max_momentum=high,
                                         pct_start=lr.pct_start, anneal=lr.anneal,
                                         three_phase=lr.three_phase)
    if isinstance(lr, (policy.Triangular, policy.Triangular2, policy.ExpRange)):
        return dataclasses.replace(lr, base_lr=high, max_lr=low)
    raise UsageError(f"--momentum cycles against {', '.join(MOMENTUM_POLICIES)}; "
                     f"not {type(lr).__name__}")


def default_steps(p: policy.Policy) -> int:
    """Enough updates to show the policy: all of a one-cycle, three cycles of a cyclical one."""
    if isinstance(p, policy.OneCycle):
        return p.total_steps
    if isinstance(p, policy.CosineRestarts):
        return p.period * (1 + p.period_mult + p.period_mult**2)
    if isinstance(p, policy.Linear):
        return p.total_steps + 1
    if isinstance(p, policy.Join):
        return p.boundaries[-1] + default_steps(p.policies[-1])
    if isinstance(p, policy.Scaled):  # past the last reduction by as much again
        return max(default_steps(p.policy), 2 * p.boundaries[-1] if p.boundaries else 0)
    period = getattr(p, "period", None)
    return 3 * period if isinstance(period, int) else 1000
