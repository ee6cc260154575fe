"""Rendering of the diagnostic report's content as plain text, markdown and HTML (with its CSS).

The report gathers what it shows in a :class:`ReportContent` (words and formatted tables); the
functions here only lay it out, so the three formats show the same content. The HTML has inline
CSS only, figures as PNG data URIs, no scripts and no external links.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import pandas as pd

from .._format import format_number, markdown_table
from ._figures import ReportFigure

__all__ = [
    "ReportContent",
    "html_body",
    "html_page",
    "refutation_frame",
    "render_markdown",
    "render_text",
    "smd_frame",
    "summary_frame",
]

#: The class of the element holding a report: the CSS applies inside it only, so the report can
#: be shown inside another page (a notebook) without restyling it.
_SCOPE = "metarouter-report"

_CSS = (
    f".{_SCOPE}{{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;"
    "margin:2em auto;padding:0 1em;color:#222;line-height:1.45}"
    f".{_SCOPE} table{{border-collapse:collapse;margin:0.8em 0;font-size:0.9em}}"
    f".{_SCOPE} th,.{_SCOPE} td{{border:1px solid #ccc;padding:0.3em 0.6em;text-align:left;"
    "vertical-align:top}"
    f".{_SCOPE} th{{background:#f3f3f3}}"
    f".{_SCOPE} td.num{{text-align:right;font-variant-numeric:tabular-nums}}"
    f".{_SCOPE} .pass{{color:#176b2c;font-weight:600}}"
    f".{_SCOPE} .fail{{color:#b00020;font-weight:600}}"
    f".{_SCOPE} .skipped,.{_SCOPE} .info,.{_SCOPE} .muted{{color:#666}}"
    f".{_SCOPE} .verdict{{font-size:1.2em}}"
    f".{_SCOPE} pre{{background:#f7f7f7;padding:0.8em;overflow-x:auto;font-size:0.85em}}"
    f".{_SCOPE} figure{{margin:1.2em 0}}.{_SCOPE} img{{max-width:100%;height:auto}}"
    f".{_SCOPE} figcaption{{color:#555;font-size:0.9em}}"
)

_VERDICT_CLASSES = {"pass", "fail", "skipped", "info"}


@dataclass(frozen=True, eq=False)
class ReportContent:
    """What a rendering of the diagnostic report shows, in words and formatted tables.

    Attributes
    ----------
    ok : bool
        The overall verdict.
    verdict : str
        The verdict line (``"PASS: ..."`` or ``"FAIL: ..."``).
    created : str or None
        When the report was made; None leaves the timestamp out.
    config : DataFrame
        The router's configuration: columns ``setting`` and ``value`` (text).
    summary : DataFrame
        One row per check: ``check``, ``section``, ``value``, ``threshold``, ``verdict``,
        ``note`` (numbers already formatted).
    key_numbers, warnings, advice, what_was_run : sequence of str
        Lines of text.
    overrule : str
        OverRule's outcome (preformatted text).
    smd : DataFrame
        The standardised mean differences shown (formatted).
    refutations : DataFrame or None
        The refutation table shown (formatted); None when refutation did not run.
    figures : tuple of ReportFigure
    """

    ok: bool
    verdict: str
    created: str | None
    config: pd.DataFrame
    summary: pd.DataFrame
    key_numbers: tuple[str, ...]
    warnings: tuple[str, ...]
    advice: tuple[str, ...]
    overrule: str
    smd: pd.DataFrame
    refutations: pd.DataFrame | None
    figures: tuple[ReportFigure, ...]
    what_was_run: tuple[str, ...]


# ----------------------------------------------------------------------------------------------
# Tables for display
# ----------------------------------------------------------------------------------------------
def summary_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary with formatted numbers and the check first (text tables left-align it)."""
    frame = summary.copy()
    frame["value"] = frame["value"].map(format_number)
    frame["threshold"] = frame["threshold"].map(format_number)
    return frame[["check", "section", "value", "threshold", "verdict", "note"]]


def smd_frame(smd: pd.DataFrame) -> pd.DataFrame:
    """Features with their means by source and SMDs, signed, to 3 decimals."""
    smd = smd.reset_index()
    frame = pd.DataFrame({"feature": smd["feature"].astype(str)})
    for column in ("mean_gold", "mean_preference", "smd", "smd_weighted"):
        frame[column] = smd[column].map(lambda v: f"{v:+.3f}")
    return frame


def refutation_frame(table: pd.DataFrame) -> pd.DataFrame:
    """The refutation table's main columns, numbers formatted."""
    shown = table[
        ["refuter", "original", "refuted", "refuted_sd", "p_value", "n_simulations", "verdict"]
    ].copy()
    for column in ("original", "refuted", "refuted_sd", "p_value"):
        shown[column] = shown[column].map(format_number)
    return shown


# ----------------------------------------------------------------------------------------------
# Text and markdown
# ----------------------------------------------------------------------------------------------
def render_text(content: ReportContent, title: str) -> str:
    """A short plain-text view: verdict, configuration, summary, failed checks, advice."""
    summary = content.summary
    parts = [
        f"{title}: {content.verdict}",
        ", ".join(f"{row.setting}={row.value}" for row in content.config.itertuples()),
        markdown_table(summary.drop(columns="note")),
    ]
    failing = summary[summary["verdict"].isin(["fail", "skipped"])]
    if len(failing):
        parts.append("\n".join(f"- {r.check}: {r.note}" for r in failing.itertuples()))
    if content.advice:
        parts.append("What to do:\n" + "\n".join(f"- {a}" for a in content.advice))
    return "\n\n".join(parts)


def render_markdown(content: ReportContent, title: str) -> str:
    """The full report as markdown."""
    parts = [f"# {title}", f"**{content.verdict}**"]
    if content.created is not None:
        parts.append(f"Created {content.created}.")
    parts += ["## Router", markdown_table(content.config)]
    parts += [
        "## Summary",
        markdown_table(content.summary.drop(columns="note")),
        "\n".join(
            f"- **{row.check}** ({row.verdict}): {row.note}" for row in content.summary.itertuples()
        ),
        "## Key numbers",
        _bullets(content.key_numbers),
    ]
    if content.warnings:
        parts += ["## Warnings", _bullets(content.warnings)]
    if content.advice:
        parts += ["## What to do", "\n\n".join(content.advice)]
    parts += ["## Overlap region (OverRule)", "```text\n" + content.overrule + "\n```"]
    parts += [
        "## Standardised mean differences (gold minus preference)",
        markdown_table(content.smd),
    ]
    if content.refutations is not None:
        parts += ["## Refutations", markdown_table(content.refutations)]
    if content.figures:
        names = ", ".join(f.title for f in content.figures)
        parts += ["## Figures", f"In the HTML report (`to_html`): {names}."]
    parts += ["## What was run", _bullets(content.what_was_run)]
    return "\n\n".join(parts) + "\n"


def _bullets(lines) -> str:
    return "\n".join(f"- {line}" for line in lines)


# ----------------------------------------------------------------------------------------------
# HTML
# ----------------------------------------------------------------------------------------------
def html_body(content: ReportContent, title: str) -> str:
    """The report as an HTML fragment, its CSS first (for a notebook cell)."""
    return f"<style>{_CSS}</style>\n" + _html_div(content, title)


def html_page(content: ReportContent, title: str) -> str:
    """The report as one self-contained HTML page."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + _html_div(content, title)
        + "\n</body>\n</html>\n"
    )


def _html_div(content: ReportContent, title: str) -> str:
    """The report's HTML elements, in one ``<div>`` that scopes the CSS."""
    esc = html.escape
    ok_class = "pass" if content.ok else "fail"
    body = [
        f"<h1>{esc(title)}</h1>",
        f'<p class="verdict {ok_class}">{esc(content.verdict)}</p>',
    ]
    if content.created is not None:
        body.append(f'<p class="muted">Created {esc(content.created)}.</p>')
    body += ["<h2>Router</h2>", _html_table(content.config)]
    body += ["<h2>Summary</h2>", _html_table(content.summary)]
    body += ["<h2>Key numbers</h2>", _html_list(content.key_numbers)]
    if content.warnings:
        body += ["<h2>Warnings</h2>", _html_list(content.warnings)]
    if content.advice:
        body += ["<h2>What to do</h2>", *(f"<p>{esc(a)}</p>" for a in content.advice)]
    body += [
        "<h2>Overlap</h2>",
        "<h3>Overlap region (OverRule)</h3>",
        f"<pre>{esc(content.overrule)}</pre>",
        "<h3>Standardised mean differences (gold minus preference)</h3>",
        _html_table(content.smd),
    ]
    if content.refutations is not None:
        body += ["<h2>Refutations</h2>", _html_table(content.refutations)]
    if content.figures:
        body.append("<h2>Figures</h2>")
        body += [_html_figure(figure) for figure in content.figures]
    body += ["<h2>What was run</h2>", _html_list(content.what_was_run)]
    return f'<div class="{_SCOPE}">\n' + "\n".join(body) + "\n</div>"


def _html_figure(figure: ReportFigure) -> str:
    esc = html.escape
    return (
        f'<figure><h3>{esc(figure.title)}</h3><img src="{figure.data_uri}" '
        f'alt="{esc(figure.title, quote=True)}"><figcaption>{esc(figure.caption)}'
        "</figcaption></figure>"
    )


def _html_table(frame: pd.DataFrame) -> str:
    """Render ``frame`` as an HTML table (every cell escaped); verdict cells get a colour class."""
    esc = html.escape
    head = "".join(f"<th>{esc(str(c))}</th>" for c in frame.columns)
    rows = []
    for values in frame.itertuples(index=False):
        cells = []
        for column, value in zip(frame.columns, values, strict=True):
            text = str(value)
            if column == "verdict" and text in _VERDICT_CLASSES:
                cells.append(f'<td class="{text}">{esc(text)}</td>')
            elif _looks_numeric(text):
                cells.append(f'<td class="num">{esc(text)}</td>')
            else:
                cells.append(f"<td>{esc(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _html_list(items) -> str:
    return "<ul>" + "".join(f"<li>{html.escape(str(item))}</li>" for item in items) + "</ul>"
