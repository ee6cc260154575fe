"""What the commands share: option types, help texts, output checks, messages and tables.

Only the standard library is imported here: the parser is built from this module, and
``metarouter --version`` or ``metarouter <command> --help`` must not pay for the scientific stack.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

PROG = "metarouter"

#: What the demo's numbers mean; shown in ``demo --help`` and written to ``summary.md``. The
#: scale is the library's convention, ``run_protocol``'s default normaliser.
DEMO_METRIC_NOTE = (
    "Efficiency gain = true gold-standard gain of the test queries a router sends to the "
    "primary model minus that of sending the same number of random queries, divided by the "
    "mean gold-standard gain of the data times the test size, as in the paper (0 = random "
    "routing, higher is better); AUC is its mean over shares 0.2-0.8."
)

_SEED_MAX = 2**32 - 1  # numpy's RandomState accepts seeds in [0, 2**32 - 1]


# -- option types (argparse ``type=``): the message names the option through argparse ------------
def _int(text: str, rule: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {rule}; got {text!r}") from None


def at_least(minimum: int) -> Callable[[str], int]:
    """Return an argparse type accepting integers ``>= minimum``.

    Parameters
    ----------
    minimum : int
        The smallest value accepted.

    Returns
    -------
    callable
        ``str -> int``, raising ``argparse.ArgumentTypeError`` with the rule and the value.

    Examples
    --------
    >>> at_least(2)("5")
    5
    """
    rule = f"an int >= {minimum}"

    def parse(text: str) -> int:
        value = _int(text, rule)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {rule}; got {value}")
        return value

    return parse


def seed(text: str) -> int:
    """Parse a ``--random-state`` value: an integer seed in ``[0, 2**32 - 1]``.

    Examples
    --------
    >>> seed("7")
    7
    """
    rule = "an int between 0 and 2**32 - 1"
    value = _int(text, rule)
    if not 0 <= value <= _SEED_MAX:
        raise argparse.ArgumentTypeError(f"must be {rule}; got {value}")
    return value


def n_jobs(text: str) -> int:
    """Parse a ``--n-jobs`` value: a non-zero integer (``-1``: all cores, joblib's convention).

    Examples
    --------
    >>> n_jobs("-1")
    -1
    """
    rule = "a non-zero int (-1: all cores)"
    value = _int(text, rule)
    if value == 0:
        raise argparse.ArgumentTypeError(f"must be {rule}; got 0")
    return value


# -- outputs and progress -----------------------------------------------------------------------
def output_dir(args: argparse.Namespace) -> Path:
    """Return ``--out`` as a directory path, checked (not created) before any work is done."""
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"`out` must be a directory; got an existing file {str(out)!r}.")
    return out


def announce(args: argparse.Namespace, data: Any) -> None:
    """Say on stderr, unless ``--quiet``, which protocol run is about to start."""
    if not args.quiet:
        print(
            f"Running {args.splits} splits of {data.name} (n={len(data)}) ...",
            file=sys.stderr,
            flush=True,
        )


def list_written(paths: Sequence[Path]) -> None:
    """Print the files a command wrote, one per line."""
    print("\nWrote:")
    for path in paths:
        print(f"  {path}")


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Lay out text cells as a GitHub markdown table.

    The first column holds the row labels and is left-aligned; the others hold numbers and are
    right-aligned. Cells are used as given (a ``|`` is escaped): format numbers before calling.

    Parameters
    ----------
    columns : sequence of str
        The header.
    rows : sequence of sequences of str
        The cells, one sequence per row, as long as ``columns``.

    Returns
    -------
    str
        The table, without a trailing newline.

    Examples
    --------
    >>> print(markdown_table(["method", "AUC"], [["pooled", "0.120"]]))
    | method |   AUC |
    |:-------|------:|
    | pooled | 0.120 |
    """
    table = [[cell.replace("|", r"\|") for cell in row] for row in (columns, *rows)]
    widths = [max(3, *(len(cell) for cell in column)) for column in zip(*table, strict=True)]

    def line(row: list[str]) -> str:
        cells = [
            row[0].ljust(widths[0]),
            *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)),
        ]
        return "| " + " | ".join(cells) + " |"

    rule = [":" + "-" * (widths[0] + 1), *("-" * (w + 1) + ":" for w in widths[1:])]
    return "\n".join([line(table[0]), "|" + "|".join(rule) + "|", *map(line, table[1:])])


# -- errors -------------------------------------------------------------------------------------
def names_an_install_command(exc: ImportError) -> bool:
    """Whether ``exc`` is the library's "install this extra" error rather than a broken install.

    The library and the commands raise ImportError for a missing optional dependency with the
    ``pip install ...`` command in the message; any other ImportError is a bug or a broken
    environment and keeps its traceback.
    """
    return "pip install" in str(exc)


def one_line(exc: BaseException, args: argparse.Namespace) -> str:
    r"""Put an error message on one line, naming parameters as the options the user typed.

    The library names parameters in backquotes (```n_gold```); those that are options of the
    command become ```--n-gold```.

    Examples
    --------
    >>> args = argparse.Namespace(command="demo", n_gold=1)
    >>> one_line(ValueError("`n_gold` must be at least 2;\n got 1."), args)
    '`--n-gold` must be at least 2; got 1.'
    """
    message = " ".join(str(exc).split())
    for dest in vars(args).keys() - {"command"}:
        message = message.replace(f"`{dest}`", f"`--{dest.replace('_', '-')}`")
    return message
