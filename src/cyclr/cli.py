"""The ``cyclr`` command line.

Each subcommand lives in its own module, which exposes ``register(subparsers)`` adding its parser
with ``set_defaults(run=function)``. A subcommand imports a framework only inside ``run``, when
the user asks for that backend. Bad input (a :class:`UsageError`, ``ValueError``, ``TypeError``,
or a missing file) becomes one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: Modules that contribute subcommands, in the order ``cyclr --help`` lists them.
SUBCOMMAND_MODULES = ("cyclr.experiment", "cyclr.rangetest_cli", "cyclr.plot_cli")


class UsageError(Exception):
    """A problem with what the user asked for: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own errors: one line, status 2
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cyclr", description="Cyclical learning rates for Keras 3 and PyTorch.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:  # that subcommand is not written yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return int(args.run(args) or 0)
    except (UsageError, ValueError, TypeError, FileNotFoundError, IsADirectoryError,
            PermissionError, ModuleNotFoundError) as err:
        print(f"cyclr: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cyclr: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
