"""Command-line options in the project's one message style.

A bad option is one line naming the option as the user typed it and the text received:
"Argument `--batch-size` must be a positive integer. Received: --batch-size=0". The option types
below reject bad text that way; :class:`Parser` reports argparse's own problems (a bad choice,
text that is not a number) the same way; :func:`options_named` renames a library error about
``max_lr`` to the option ``--max-lr`` that set it.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: What ``prepare`` may raise for bad input: reported in one line, exit status 2.
USER_ERRORS = (ValueError, TypeError, OSError, ModuleNotFoundError)


class UsageError(Exception):
    """A problem with what the user asked for: printed as one line, exit status 2."""


def option_error(option: str, requirement: str, received: str) -> UsageError:
    """The one message style for a bad option, naming it as typed and the text received."""
    return UsageError(f"Argument `{option}` must be {requirement}. Received: {option}={received}")


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where its help already says it or there is none (a
    flag, or a default the help explains)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default in (None, False) or "(default" in text:
            return text
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """argparse, with every error in the project's style and raised instead of exiting, and
    every option's default in ``--help``."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # argparse's own errors (missing or unknown arguments)
        raise UsageError(message)

    def _get_value(self, action, arg_string):
        convert = self._registry_get("type", action.type, action.type)
        try:
            return convert(arg_string)
        except (argparse.ArgumentTypeError, TypeError, ValueError) as err:
            requirement = str(err) if isinstance(err, argparse.ArgumentTypeError) else (
                getattr(convert, "requirement", None) or f"a valid {action.dest}")
            raise option_error(_name(action), requirement, arg_string) from None

    def _check_value(self, action, value):
        if action.choices is not None and value not in action.choices:
            raise option_error(_name(action), "one of " + ", ".join(map(str, action.choices)),
                               str(value))


def _name(action: argparse.Action) -> str:
    """The option as users type it: its long form, or a positional's metavar."""
    long = [o for o in action.option_strings if o.startswith("--")]
    return (long or action.option_strings or [action.metavar or action.dest])[0]


def _typed(requirement: str, convert: Callable, ok: Callable) -> Callable[[str], object]:
    def parse(text: str):
        try:
            value = convert(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(requirement) from None
        if not ok(value):
            raise argparse.ArgumentTypeError(requirement)
        return value

    parse.requirement = requirement
    parse.__name__ = requirement
    return parse


def _finite(value: float) -> bool:
    return value == value and value not in (float("inf"), float("-inf"))


#: Option types: each rejects bad text with its requirement, in the one message style.
positive_int = _typed("a positive integer", int, lambda v: v >= 1)
non_negative_int = _typed("a non-negative integer", int, lambda v: v >= 0)
positive_float = _typed("a finite number > 0", float, lambda v: _finite(v) and v > 0)
real = _typed("a finite number", float, _finite)


@contextmanager
def options_named(parser: argparse.ArgumentParser) -> Iterator[None]:
    """Inside, a library error about argument ``name`` ("Argument `max_lr` must be ...
    Received: max_lr=-1") is re-raised naming the option the user typed (``--max-lr``)."""
    options = {a.dest: _name(a) for a in parser._actions if a.option_strings}
    try:
        yield
    except (ValueError, TypeError) as err:
        text = str(err)
        match = re.match(r"Argument `(\w+)`", text)
        if match and match.group(1) in options:
            name, option = match.group(1), options[match.group(1)]
            text = text.replace(f"`{name}`", f"`{option}`", 1).replace(
                f"Received: {name}=", f"Received: {option}=", 1)
            raise type(err)(text) from None
        raise


def add_data_and_device(parser: argparse.ArgumentParser, devices: tuple[str, ...]) -> None:
    """The options every training command shares: ``--data``, ``--device``, ``--verbose``."""
    parser.add_argument("--data", metavar="CSV",
                        help="cardio_train.csv (default: $CYCLR_CARDIO_CSV, else the embedded "
                             "synthetic stand-in)")
    parser.add_argument("--device", choices=devices, default="auto",
                        help="auto: a GPU when the backend sees one")
    parser.add_argument("--verbose", action="store_true",
                        help="also show the frameworks' own start-up lines (TensorFlow's CUDA "
                             "and oneDNN notices)")


def data_path(args: argparse.Namespace) -> str | None:
    """The data file: ``--data``, else ``$CYCLR_CARDIO_CSV``, else None (the synthetic data)."""
    return args.data or os.environ.get("CYCLR_CARDIO_CSV") or None


def require(module: str, extra: str, who: str) -> None:
    """Raise ``ModuleNotFoundError`` naming the extra to install when ``module`` is missing."""
    if importlib.util.find_spec(module) is None:
        raise ModuleNotFoundError(f"{who} needs {module}: pip install 'cyclr[{extra}]' (or "
                                  f"\".[{extra}]\" from a clone)", name=module)
