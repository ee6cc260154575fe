"""The diagnostic report of a Meta-Router (:class:`DiagnosticReport`): its checks, advice and text.

The report holds the results of :func:`diagnose`; its methods put them in words
(``summary``, ``what_to_do``) and in plain text, markdown or HTML (laid out by ``_render.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._format import format_number
from ._figures import ReportFigure
from ._overlap_result import OverlapResult
from ._refute import MIN_SIMULATIONS, RefutationResult, verdict_rule
from ._render import (
    ReportContent,
    html_body,
    html_page,
    render_markdown,
    render_text,
    smd_frame,
    summary_frame,
)

__all__ = ["DiagnosticReport", "ReportFigure"]

_SUMMARY_COLUMNS = ["section", "check", "value", "threshold", "verdict", "n_simulations", "note"]
_TITLE = "Meta-Router diagnostic report"


@dataclass(frozen=True, eq=False)
class DiagnosticReport:
    """Outcome of :func:`diagnose`: overlap checks, refutations and figures of a Meta-Router.

    ``summary()`` gives one row per check, ``what_to_do()`` the advice, ``to_markdown()`` a text
    report and ``to_html(path)`` a self-contained HTML page; in a notebook the report shows as
    that HTML.

    Attributes
    ----------
    overlap : OverlapResult
        Positivity checks (:func:`assess_overlap`).
    refutations : RefutationResult or None
        Refutations of the bias estimate (:func:`refute_bias`); None when they were skipped.
    refutation_skipped : str or None
        Why the refutations were skipped (no CATE estimator, or none requested); None when run.
    router_config : mapping
        The router's configuration: learner (asked and used), ``n_gold``, ``n_preference``,
        ``scale``, overlap mode, ``cv``, ``random_state``, the CATE estimator's class, the
        fitted router model (``router_model``: its class and trees, or its parts), and each
        validated choice with its candidates' held-out scores: ``final_stage`` (held-out loss),
        ``router_model_choice`` (held-out squared error) and, with ``learner="auto"``,
        ``auto_choice`` (held-out GS efficiency gain).
    bias : ndarray of shape (n_samples,)
        ``router.estimate_bias(X)`` on the rows diagnosed (preference scale, read-only).
    gold : ndarray of bool, shape (n_samples,)
        The gold-standard mask of those rows (read-only).
    figures : tuple of ReportFigure
        The figures, in the order the HTML report shows them.
    settings : mapping
        What was run: refuters, simulations, OverRule's settings, thresholds, seed.
    seconds : mapping of str to float
        Wall-clock seconds of each step (``overlap``, ``refutation``, ``figures``, ``total``).
    created : str
        When the report was made (UTC, ISO 8601).
    warnings : tuple of str
        Plain-language notes that no row of :meth:`summary` carries (e.g. rows left out of the
        refutation, a refit that does not reproduce the router's estimate); what failed is in
        the summary's notes, the advice in :meth:`what_to_do`.
    """

    overlap: OverlapResult
    refutations: RefutationResult | None
    refutation_skipped: str | None
    router_config: Mapping[str, object]
    bias: np.ndarray = field(repr=False)
    gold: np.ndarray = field(repr=False)
    figures: tuple[ReportFigure, ...] = field(repr=False)
    settings: Mapping[str, Any] = field(repr=False)
    seconds: Mapping[str, float] = field(repr=False)
    created: str = field(repr=False)
    warnings: tuple[str, ...] = ()

    # -- verdicts --------------------------------------------------------------------------------
    @property
    def ok(self) -> bool:
        """Whether no positivity check and no refuter failed.

        False when extreme propensities, the effective sample size or a refuter fails. Skipped
        checks (a refuter that could not run on the data, OverRule not finished) and
        descriptive (``"info"``) rows do not count.
        """
        refuted_ok = self.refutations is None or self.refutations.ok
        return bool(self.overlap.ok and refuted_ok)

    def summary(self) -> pd.DataFrame:
        """Return one row per check of both results, with its verdict and a note in words.

        The columns are ``section``, ``check``, ``value``, ``threshold``, ``verdict``,
        ``n_simulations``, ``note``.

        ``section`` is ``"overlap"`` (the rows of ``overlap.summary()``) or ``"refutation"``
        (one row per refuter: ``value`` is ``|shift|``, how far the mean of its refits lies
        from the value it tests, ``threshold`` the tolerance of the verdict rule, see
        :func:`refute_bias`, and the note adds DoWhy's p-value; one ``"skipped"`` row per
        requested refuter, or a single one, when they did not run). ``verdict`` is ``"pass"``,
        ``"fail"``, ``"info"`` (descriptive) or ``"skipped"``. ``n_simulations`` is the number
        of refits a refuter's verdict rests on (NaN for the overlap rows).
        """
        overlap = self.overlap.summary()
        overlap.insert(0, "section", "overlap")
        overlap["n_simulations"] = np.nan
        if self.refutations is not None:
            table = self.refutations.table
            skipped = table["verdict"] == "skipped"
            refuted = pd.DataFrame(
                {
                    "section": "refutation",
                    "check": table["refuter"] + " refuter",
                    "value": table["shift"].abs().astype(float),
                    "threshold": table["tolerance"].astype(float),
                    "verdict": table["verdict"],
                    "n_simulations": table["n_simulations"].where(~skipped).astype(float),
                    "note": table["note"],
                }
            )
        else:
            names = self.settings["refuters"] or ("refutation",)
            refuted = pd.DataFrame(
                {
                    "section": "refutation",
                    "check": [n if n == "refutation" else f"{n} refuter" for n in names],
                    "value": np.nan,
                    "threshold": np.nan,
                    "verdict": "skipped",
                    "n_simulations": np.nan,
                    "note": self.refutation_skipped,
                }
            )
        frame = pd.concat([overlap, refuted], ignore_index=True)
        return frame[_SUMMARY_COLUMNS]

    @property
    def failed_checks(self) -> list[str]:
        """Names of the checks whose verdict is ``"fail"``."""
        summary = self.summary()
        return summary.loc[summary["verdict"] == "fail", "check"].tolist()

    # -- text ------------------------------------------------------------------------------------

    def _verdict_line(self) -> str:
        failed = self.failed_checks
        if failed:
            line = f"FAIL: {len(failed)} check(s) failed ({', '.join(failed)})."
        else:
            line = "PASS: no check failed."
        r = self.refutations
        if r is None:
            line += " Refutations skipped."
        else:
            skipped = r.table.loc[r.table["verdict"] == "skipped", "refuter"].tolist()
            if skipped:
                line += (
                    f" Skipped (could not run on these data): {', '.join(skipped)} refuter"
                    f"{'s' if len(skipped) > 1 else ''}."
                )
            n = int(self.settings["n_simulations"])
            if n < MIN_SIMULATIONS:
                line += f" Refuter verdicts rest on {n} refits each and are indicative."
        return line

    def _bias_lines(self) -> list[str]:
        lines = [
            f"Estimated bias (preference scale): mean {np.mean(self.bias):.4g} over all rows, "
            f"{np.mean(self.bias[self.gold]):.4g} over gold rows, "
            f"{np.mean(self.bias[~self.gold]):.4g} over preference rows."
        ]
        r = self.refutations
        if r is not None:
            if r.reproduces_router:
                lines.append(
                    "DoWhy's refit of the router's estimator reproduces its mean bias over all "
                    f"rows: that is the original estimate the refuters test (standard error "
                    f"{r.standard_error:.3g})."
                )
                if r.n_outside_overlap:
                    lines[-1] = (
                        f"The refuters test the mean bias over the {r.n_samples} rows the "
                        f"router's estimator saw, {r.estimate:.4g} (standard error "
                        f"{r.standard_error:.3g})."
                    )
            else:
                lines.append(
                    f"DoWhy's refit of the router's estimator gives a mean bias of "
                    f"{r.estimate:.4g} over the {r.n_samples} rows used, not the router's own "
                    f"{r.router_estimate:.4g}: the refuters test the estimator's configuration, "
                    "not the fitted router."
                )
        return lines

    def _overrule_text(self, *, timing: bool) -> str:
        if self.overlap.overrule is None:
            return "OverRule was not run (overrule=False)."
        return self.overlap.overrule.to_text(timing=timing, bounds=False)

    def _what_was_run(self, *, timestamp: bool) -> list[str]:
        s, o = self.settings, self.overlap
        lines = [
            f"Propensity P(gold | x): {o.propensity_source}; extreme outside "
            f"propensity_bounds(base_rate, factor={o.factor:g}).",
        ]
        if self.refutations is not None:
            lines.append(
                f"Refuters: {', '.join(s['refuters'])}, {s['n_simulations']} simulations each "
                f"(every simulation refits the whole estimator; data subsets keep "
                f"{s['subset_fraction']:.0%} of the rows)."
            )
        else:
            lines.append(f"Refuters: none run. {self.refutation_skipped}")
        rule = o.overrule
        if rule is None:
            lines.append("OverRule: not run.")
        else:
            config = ", ".join(f"{k}={v}" for k, v in rule.config.items())
            lines.append(
                f"OverRule: overrule_components={rule.components_requested}, "
                f"overrule_standardize={rule.standardized}, {config}; time bound "
                f"{rule.timeout:g} s; status {rule.status!r}."
            )
        lines.append(f"random_state: {s['random_state']!r}.")
        if timestamp:
            steps = ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items())
            lines.append(f"Wall-clock time: {steps}.")
        return lines

    def what_to_do(self) -> list[str]:
        """Plain-language advice for each failed (or skipped) check; empty when all is well.

        A positivity failure names the feature and the range of it where gold rows are
        missing; refuter advice depends on which refuters failed or could not run.
        """
        o, r = self.overlap, self.refutations
        advice = []
        if not o.ok:
            region = o.uncovered
            if region is not None and not o.positivity_ok:
                where = f"{region.describe()} Collect gold labels for queries there"
            else:
                where = (
                    "Collect gold labels for queries like the preference rows with the lowest "
                    "propensities (`report.overlap.propensity` ranks them)"
                )
            advice.append(
                "Positivity: gold-standard and preference rows do not cover the same queries, so "
                f"the bias estimate extrapolates where no gold label was collected. {where}, or "
                'fit MetaRouter(overlap="trim") to debias only inside the overlap region.'
            )
            rule = o.overrule
            if rule is not None and rule.status == "rules" and not rule.describes_gap:
                advice.append(
                    "OverRule's rules cannot separate the extreme rows on their inputs "
                    f"({rule.describe_inputs()}); the propensity check, which sees every "
                    "feature, is the one to trust."
                )
        if r is not None:
            table = r.table
            failed = table.loc[table["verdict"] == "fail", "refuter"].tolist()
            if "placebo" in failed:
                advice.append(
                    "Placebo: the estimator finds a bias, or reproduces its per-row bias, even "
                    "when the gold flags are shuffled, so its estimate does not come from the "
                    "gold flags (leakage, a final stage fitted in advance or warm-started, or "
                    "overfitting). Check that no feature or model was "
                    "built with the gold flags, use a simpler final model (model_final), more "
                    'gold rows, or learner="auto", which keeps a CATE learner only when it '
                    "beats mean-shift and pooling on held-out gold rows."
                )
            others = [name for name in failed if name != "placebo"]
            if others:
                advice.append(
                    f"{', '.join(others)}: perturbing the data moves the bias estimate by more "
                    "than its standard error and its tolerance. Collect more gold rows or "
                    "regularise the final model; rerun with more simulations to confirm."
                )
            skipped = table.loc[table["verdict"] == "skipped", "refuter"].tolist()
            if skipped:
                advice.append(
                    f"{', '.join(skipped)} could not run on these data (see the notes); with "
                    f"{r.n_gold} gold rows, collect more gold labels to run "
                    f"{'them' if len(skipped) > 1 else 'it'}."
                )
            n = int(self.settings["n_simulations"])
            if n < MIN_SIMULATIONS and len(table):
                advice.append(
                    f"The refuter verdicts rest on {n} refits each: rerun with "
                    f"n_simulations >= {MIN_SIMULATIONS} before acting on them."
                )
        no_cate = self.router_config.get("cate_estimator") is None
        if self.refutations is None and no_cate and self.settings["refuters"]:
            advice.append(
                "Refutation was skipped because the router has no CATE estimator; refit with an "
                'explicit learner (e.g. learner="r") to refute a bias estimate.'
            )
        rule = o.overrule
        if rule is not None and not rule.finished:
            advice.append(
                "OverRule did not finish: raise overrule_timeout or lower overrule_components."
            )
        return advice

    # -- rendering -------------------------------------------------------------------------------
    def _content(self, *, timestamp: bool) -> ReportContent:
        """Everything the renderings show, in words and formatted tables."""
        r = self.refutations
        return ReportContent(
            ok=self.ok,
            verdict=self._verdict_line(),
            created=self.created if timestamp else None,
            config=pd.DataFrame(
                {
                    "setting": list(self.router_config),
                    "value": [_setting_text(v) for v in self.router_config.values()],
                }
            ),
            summary=summary_frame(self.summary()),
            advice=tuple(self.what_to_do()),
            notes=self.warnings,
            bias=tuple(self._bias_lines()),
            overrule=self._overrule_text(timing=timestamp),
            smd=smd_frame(self.overlap.smd_top),
            refutation_rule=None if r is None else verdict_rule(r.tolerance, r.placebo_tolerance),
            figures=self.figures,
            what_was_run=tuple(self._what_was_run(timestamp=timestamp)),
        )

    def to_markdown(self, *, timestamp: bool = True, title: str = _TITLE) -> str:
        """Return the report as markdown: verdict, summary, advice, details, settings.

        Parameters
        ----------
        timestamp : bool, default=True
            Include when the report was made and how long each step took. With False the text
            depends only on the inputs and the seed (for diffs and tests).
        title : str, default="Meta-Router diagnostic report"

        Returns
        -------
        str
        """
        return render_markdown(self._content(timestamp=timestamp), title)

    def to_html(self, path=None, *, timestamp: bool = True, title: str = _TITLE) -> str:
        """Return the report as one self-contained HTML page; write it to ``path`` if given.

        The page has inline CSS only, figures embedded as base64 PNG data URIs, no scripts and no
        external links or stylesheets: it can be mailed or archived and opened anywhere.

        Parameters
        ----------
        path : str or path-like, default=None
            File to write (UTF-8); its directory must exist. None: only return the text.
        timestamp : bool, default=True
            Include when the report was made and how long each step took.
        title : str, default="Meta-Router diagnostic report"

        Returns
        -------
        str
            The HTML text.
        """
        text = html_page(self._content(timestamp=timestamp), title)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def _repr_html_(self) -> str:  # shown by Jupyter: the HTML report without the page around it
        return html_body(self._content(timestamp=True), _TITLE)

    def __str__(self) -> str:
        return render_text(self._content(timestamp=False), _TITLE)


def _setting_text(value) -> str:
    """A configuration value as text (a RandomState is named, not printed)."""
    if isinstance(value, np.random.RandomState):
        return "RandomState"
    return format_number(value)
