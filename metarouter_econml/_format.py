"""Plain-text formatting shared by the reports and the command line (no tabulate dependency)."""

from __future__ import annotations

import pandas as pd

__all__ = ["markdown_table"]


def markdown_table(frame: pd.DataFrame) -> str:
    """Render ``frame`` as a GitHub-flavoured markdown table (without the tabulate package).

    The first column is left-aligned (it holds the row labels), the others right-aligned.
    Values are shown with ``str``; format numbers before calling.

    Examples
    --------
    >>> print(markdown_table(pd.DataFrame({"method": ["a"], "auc": ["0.100"]})))
    | method |   auc |
    |:-------|------:|
    | a      | 0.100 |
    """
    columns = [str(c) for c in frame.columns]
    cells = [[str(v) for v in row] for row in frame.itertuples(index=False)]
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
