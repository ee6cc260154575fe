"""Plain-text formatting shared by the reports and the command line (no tabulate dependency)."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import pandas as pd

__all__ = ["format_number", "markdown_table"]


def format_number(value) -> str:
    """Format a number for a report table: 4 significant digits, blank when not finite.

    Integers (and bools) are shown whole; anything that is not a number is shown with ``str``.

    Examples
    --------
    >>> format_number(0.123456), format_number(12345), format_number(float("nan"))
    ('0.1235', '12345', '')
    >>> format_number("r")
    'r'
    """
    if isinstance(value, (bool, np.bool_, Integral)):
        return str(value)
    if isinstance(value, Real):
        number = float(value)
        return f"{number:.4g}" if np.isfinite(number) else ""
    return str(value)


def _cell(value) -> str:
    r"""``str(value)`` with ``|`` escaped as ``\|``, so a cell cannot split its row."""
    return str(value).replace("|", "\\|")


def markdown_table(frame: pd.DataFrame) -> str:
    r"""Render ``frame`` as a GitHub-flavoured markdown table (without the tabulate package).

    The first column is left-aligned (it holds the row labels), the others right-aligned.
    Values are shown with ``str``; format numbers before calling. A ``|`` inside a cell or a
    column name is escaped as ``\|``, so it cannot add a column.

    Examples
    --------
    >>> print(markdown_table(pd.DataFrame({"method": ["a"], "auc": ["0.100"]})))
    | method |   auc |
    |:-------|------:|
    | a      | 0.100 |
    >>> print(markdown_table(pd.DataFrame({"check": ["|smd|"], "value": ["0.3"]})))
    | check   | value |
    |:--------|------:|
    | \|smd\| |   0.3 |
    """
    columns = [_cell(c) for c in frame.columns]
    cells = [[_cell(v) for v in row] for row in frame.itertuples(index=False)]
    widths = [max(len(c), *(len(r[j]) for r in cells), 3) for j, c in enumerate(columns)]
    left = [j == 0 for j in range(len(columns))]  # first column is the label

    def line(values: list[str]) -> str:
        padded = [
            v.ljust(w) if is_left else v.rjust(w)
            for v, w, is_left in zip(values, widths, left, strict=True)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = [
        ":" + "-" * (w + 1) if is_left else "-" * (w + 1) + ":"
        for w, is_left in zip(widths, left, strict=True)
    ]
    return "\n".join([line(columns), "|" + "|".join(rule) + "|", *(line(r) for r in cells)])
