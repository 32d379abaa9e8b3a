"""The ``cyclr`` command line: ``compare``, ``range-test`` and ``plot``.

Each subcommand module exposes ``register(subparsers)``, which adds its parser with
``set_defaults(prepare=function)``. ``prepare(args)`` checks every option and reads the user's
files, then returns the job to run. Every problem found while parsing or preparing (a bad
option, a missing or unreadable file, a missing optional dependency) is one line on stderr in
the project's one message style, naming the option as the user typed it and the value received
("Argument `--batch-size` must be a positive integer. Received: --batch-size=0"), and exit
status 2. The job itself runs outside that net: a bug deep in training shows its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import cyclr_cardio
from cyclr_cardio import experiment, plot_cli, rangetest_cli
from cyclr_cardio.options import USER_ERRORS, Parser, UsageError, options_named

#: The subcommands, in the order ``cyclr --help`` lists them.
SUBCOMMANDS = (experiment, rangetest_cli, plot_cli)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="cyclr", description="Cyclical learning rates for Keras 3 and PyTorch: "
                     "the cardio comparison, the LR range test, and schedule plots.")
    parser.add_argument("--version", action="version",
                        version=f"cyclr {cyclr_cardio.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for module in SUBCOMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``cyclr`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        with options_named(args.parser):
            job = args.prepare(args)
    except (UsageError, *USER_ERRORS) as err:
        print(f"cyclr: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cyclr: interrupted", file=sys.stderr)
        return 130
    try:
        return int(job() or 0)
    except KeyboardInterrupt:
        print("cyclr: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
