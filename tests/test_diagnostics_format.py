"""The shared plain-text formatting of the reports: numbers and markdown tables."""

import numpy as np
import pandas as pd
import pytest

from metarouter_econml._format import format_number, markdown_table


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.123456, "0.1235"),
        (np.float64(2.5e-5), "2.5e-05"),
        (np.float32(0.5), "0.5"),
        (4400, "4400"),
        (np.int64(12345), "12345"),  # integers are never cut to 4 digits
        (True, "True"),
        (float("nan"), ""),
        (float("inf"), ""),
        (None, "None"),
        ("r", "r"),
    ],
)
def test_format_number(value, expected):
    assert format_number(value) == expected


def _split_row(line: str) -> list[str]:
    """Cells of one markdown table row, splitting on unescaped pipes only."""
    cells, current, escaped = [], "", False
    for char in line.strip()[1:-1]:
        if char == "|" and not escaped:
            cells.append(current.strip())
            current = ""
        else:
            current += char
        escaped = char == "\\"
    cells.append(current.strip())
    return cells


def test_markdown_table_escapes_pipes_in_cells_and_headers():
    frame = pd.DataFrame(
        {
            "check|name": ["largest |standardised mean difference|", "plain"],
            "value": ["0.31", "a|b"],
        }
    )
    text = markdown_table(frame)
    lines = text.splitlines()
    assert len(lines) == 4
    for line in lines:
        assert len(_split_row(line)) == 2, line
    assert _split_row(lines[0]) == ["check\\|name", "value"]
    assert _split_row(lines[2]) == ["largest \\|standardised mean difference\\|", "0.31"]
    assert _split_row(lines[3]) == ["plain", "a\\|b"]
    assert len({len(line) for line in lines}) == 1  # columns stay aligned


def test_markdown_table_without_pipes_is_unchanged():
    frame = pd.DataFrame({"method": ["meta", "pooled"], "auc": ["0.100", "0.050"]})
    assert markdown_table(frame) == (
        "| method |   auc |\n|:-------|------:|\n| meta   | 0.100 |\n| pooled | 0.050 |"
    )
