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
from ._refute import MIN_SIMULATIONS

__all__ = [
    "ReportContent",
    "html_body",
    "html_page",
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
    f".{_SCOPE} pre{{background:#f7f7f7;padding:0.8em;white-space:pre-wrap;font-size:0.85em}}"
    f".{_SCOPE} figure{{margin:1.2em 0}}.{_SCOPE} img{{max-width:100%;height:auto}}"
    f".{_SCOPE} figcaption{{color:#555;font-size:0.9em}}"
)

_VERDICT_CLASSES = {"pass", "fail", "skipped", "info"}


@dataclass(frozen=True, eq=False)
class ReportContent:
    """What a rendering of the diagnostic report shows, in words and formatted tables.

    Every number is shown in one place: the summary's notes explain the checks' numbers, the
    advice names the region to act on, the detail sections add only what the summary lacks.

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
        One row per check: ``check``, ``section``, ``value``, ``threshold``, ``verdict`` (with
        the number of refits of a refuter), ``note`` (numbers already formatted).
    advice, notes, bias, what_was_run : sequence of str
        Lines of text: what to do, notes no summary row carries, the bias estimate, settings.
    overrule : str
        OverRule's inputs and rules (preformatted text).
    smd : DataFrame
        The standardised mean differences shown (formatted).
    refutation_rule : str or None
        The refuters' verdict rule with this report's tolerance; None when none ran.
    figures : tuple of ReportFigure
    """

    ok: bool
    verdict: str
    created: str | None
    config: pd.DataFrame
    summary: pd.DataFrame
    advice: tuple[str, ...]
    notes: tuple[str, ...]
    bias: tuple[str, ...]
    overrule: str
    smd: pd.DataFrame
    refutation_rule: str | None
    figures: tuple[ReportFigure, ...]
    what_was_run: tuple[str, ...]


# ----------------------------------------------------------------------------------------------
# Tables for display
# ----------------------------------------------------------------------------------------------
def summary_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary with formatted numbers, the check first and refits next to the verdicts.

    A refuter's verdict reads e.g. ``"pass (10 refits)"``; ``"indicative"`` is added below
    :data:`~metarouter_econml.diagnostics._refute.MIN_SIMULATIONS` refits.
    """
    frame = summary.copy()
    frame["value"] = frame["value"].map(format_number)
    frame["threshold"] = frame["threshold"].map(format_number)
    frame["verdict"] = [
        _verdict_text(verdict, refits)
        for verdict, refits in zip(frame["verdict"], frame["n_simulations"], strict=True)
    ]
    return frame[["check", "section", "value", "threshold", "verdict", "note"]]


def _verdict_text(verdict: str, refits) -> str:
    if verdict == "skipped" or pd.isna(refits):
        return verdict
    refits = int(refits)
    indicative = ", indicative" if refits < MIN_SIMULATIONS else ""
    return f"{verdict} ({refits} refit{'s' if refits != 1 else ''}{indicative})"


def smd_frame(smd: pd.DataFrame) -> pd.DataFrame:
    """Features with their means by source and SMDs, signed, to 3 decimals."""
    smd = smd.reset_index()
    frame = pd.DataFrame({"feature": smd["feature"].astype(str)})
    for column in ("mean_gold", "mean_preference", "smd", "smd_weighted"):
        frame[column] = smd[column].map(lambda v: f"{v:+.3f}")
    return frame


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
    failing = summary[~summary["verdict"].str.startswith(("pass", "info"))]
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
    parts += [
        "## Summary",
        markdown_table(content.summary.drop(columns="note")),
        "\n".join(
            f"- **{row.check}** ({row.verdict}): {row.note}" for row in content.summary.itertuples()
        ),
    ]
    if content.advice:
        parts += ["## What to do", "\n\n".join(content.advice)]
    if content.notes:
        parts += ["## Notes", _bullets(content.notes)]
    parts += ["## Overlap region (OverRule)", "```text\n" + content.overrule + "\n```"]
    parts += [
        "## Standardised mean differences (gold minus preference)",
        markdown_table(content.smd),
    ]
    parts += ["## Bias estimate", _bullets(content.bias)]
    if content.refutation_rule is not None:
        parts += ["## Refutation verdicts", content.refutation_rule]
    if content.figures:
        names = ", ".join(f.title for f in content.figures)
        parts += ["## Figures", f"In the HTML report (`to_html`): {names}."]
    parts += ["## Router", markdown_table(content.config)]
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
    body += ["<h2>Summary</h2>", _html_table(content.summary)]
    if content.advice:
        body += ["<h2>What to do</h2>", *(f"<p>{esc(a)}</p>" for a in content.advice)]
    if content.notes:
        body += ["<h2>Notes</h2>", _html_list(content.notes)]
    body += [
        "<h2>Overlap</h2>",
        "<h3>Overlap region (OverRule)</h3>",
        f"<pre>{esc(content.overrule)}</pre>",
        "<h3>Standardised mean differences (gold minus preference)</h3>",
        _html_table(content.smd),
    ]
    body += ["<h2>Bias estimate</h2>", _html_list(content.bias)]
    if content.refutation_rule is not None:
        body += ["<h2>Refutation verdicts</h2>", f"<p>{esc(content.refutation_rule)}</p>"]
    if content.figures:
        body.append("<h2>Figures</h2>")
        body += [_html_figure(figure) for figure in content.figures]
    body += ["<h2>Router</h2>", _html_table(content.config)]
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
            kind = text.split(" ", 1)[0]
            if column == "verdict" and kind in _VERDICT_CLASSES:
                cells.append(f'<td class="{kind}">{esc(text)}</td>')
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
