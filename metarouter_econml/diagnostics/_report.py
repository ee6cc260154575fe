"""One report of every diagnostic of a fitted Meta-Router: overlap, refutation, figures.

:func:`diagnose` runs :func:`assess_overlap` and :func:`refute_bias` on the router's training
data, draws the figures (with the Display classes of ``_display.py``) and returns a frozen
:class:`DiagnosticReport`: ``summary()`` gives one row per check, ``to_markdown()`` a text
report and ``to_html(path)`` a self-contained HTML file (inline CSS, figures embedded as PNG data
URIs, no scripts and no external links), readable without Python.

Choices, with the measurements behind them:

* **Which propensity the positivity check reads.** By default (``propensity="model"``) it is
  cross-fitted by :func:`assess_overlap` with its gradient-boosted trees, not taken from the
  router. ``MetaRouter.propensity_`` comes from EconML's propensity model, a penalised logistic
  regression (smooth by design): on 2,000 rows x 8 features with 100 gold rows drawn only where
  ``pc1 < 0``, it put 0.05 % of the rows outside the bounds (the check passed on broken data)
  where the trees put 51 % (fail); with gold rows drawn at random, 0.0 % and 0.2 %. The trees
  cost < 1 s of CPU. ``propensity="router"`` reuses the router's propensities (its
  ``overlap_propensity_`` when ``propensity_`` has gaps, as :class:`OverlapDisplay` does).
* **Default simulation count.** ``n_simulations=10`` per refuter (``refute_bias`` defaults to
  20). Every simulation refits the router's whole estimator: about 2.2-2.5 CPU-seconds at 4,500
  rows x 50 features with the default R-learner (see :func:`refute_bias`), so the four default
  refuters cost 41 fits, about 1.5-2 CPU-minutes, plus a few seconds for the overlap checks,
  OverRule and the figures. Measured with the default router on ``make_routing_data(5000, 50)``
  (4,500 training rows, 100 gold) on a 2-core machine at load 4-5: 103 s wall in all (80
  CPU-seconds in the main process), of which 23-26 s per refuter, 3 s for the overlap checks
  with OverRule and 0.7 s for the figures. Ten estimates
  pin the spread that DoWhy's p-value rests on to about 24 % (20: 16 %); pass 20 or more for
  sharper p-values at proportionally more time, or 2-5 for a quick look.
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from .._validation import check_features, check_gold_mask, check_labels
from .._format import markdown_table
from .._routers import MetaRouter
from ._display import OverlapDisplay, ProjectionDisplay
from ._overlap import OverlapResult, assess_overlap
from ._refute import ALPHA, REFUTERS, RefutationResult, _check_refuters, refute_bias

__all__ = ["DEFAULT_N_SIMULATIONS", "DiagnosticReport", "ReportFigure", "diagnose"]

#: Refits per refuter in :func:`diagnose` (see the module docstring for the cost).
DEFAULT_N_SIMULATIONS = 10

_SUMMARY_COLUMNS = ["section", "check", "value", "threshold", "verdict", "note"]
_TITLE = "Meta-Router diagnostic report"


# ----------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ReportFigure:
    """One figure of a :class:`DiagnosticReport`, rendered as PNG.

    Attributes
    ----------
    name : str
        Short identifier (``"propensity"``, ``"projection"``, ``"bias"``, ``"refutation"``).
    title : str
        Heading shown above the figure.
    caption : str
        What the figure shows and how to read it.
    png : bytes
        The PNG image.
    """

    name: str
    title: str
    caption: str
    png: bytes = field(repr=False)

    @property
    def data_uri(self) -> str:
        """The image as a ``data:image/png;base64,...`` URI (for self-contained HTML)."""
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")

    def _repr_png_(self) -> bytes:  # shown inline by Jupyter
        return self.png


@dataclass(frozen=True, eq=False)
class DiagnosticReport:
    """Outcome of :func:`diagnose`: overlap checks, refutations and figures of a Meta-Router.

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
        ``scale``, overlap mode, ``cv``, ``random_state``, the CATE estimator's class.
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
        Plain-language messages about what failed or deserves a look.
    """

    overlap: OverlapResult
    refutations: RefutationResult | None
    refutation_skipped: str | None
    router_config: Mapping[str, object]
    bias: np.ndarray = field(repr=False)
    gold: np.ndarray = field(repr=False)
    figures: tuple[ReportFigure, ...] = field(repr=False)
    settings: Mapping[str, object] = field(repr=False)
    seconds: Mapping[str, float] = field(repr=False)
    created: str = field(repr=False)
    warnings: tuple[str, ...] = ()

    # -- verdicts --------------------------------------------------------------------------------
    @property
    def ok(self) -> bool:
        """Whether no positivity check and no refuter failed.

        False when extreme propensities, the effective sample size or a refuter fails. Skipped
        checks and descriptive (``"info"``) rows do not count.
        """
        refuted_ok = self.refutations is None or self.refutations.ok
        return bool(self.overlap.ok and refuted_ok)

    def summary(self) -> pd.DataFrame:
        """Return one row per check of both results, with its verdict and a note in words.

        The columns are ``section``, ``check``, ``value``, ``threshold``, ``verdict``, ``note``.

        ``section`` is ``"overlap"`` (the rows of ``overlap.summary()``) or ``"refutation"`` (one
        row per refuter: ``value`` is DoWhy's p-value, ``threshold`` the significance level;
        one ``"skipped"`` row per requested refuter, or a single one, when they did not run).
        ``verdict`` is ``"pass"``, ``"fail"``, ``"info"`` (descriptive) or ``"skipped"``.
        """
        overlap = self.overlap.summary()
        overlap.insert(0, "section", "overlap")
        if self.refutations is not None:
            table = self.refutations.table
            refuted = pd.DataFrame(
                {
                    "section": "refutation",
                    "check": table["refuter"] + " refuter",
                    "value": table["p_value"].astype(float),
                    "threshold": float(self.refutations.alpha),
                    "verdict": table["verdict"],
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
            return f"FAIL: {len(failed)} check(s) failed ({', '.join(failed)})."
        skipped = " (refutations skipped)" if self.refutations is None else ""
        return f"PASS: every check passed{skipped}."

    def _config_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "setting": list(self.router_config),
                "value": [_plain(v) for v in self.router_config.values()],
            }
        )

    def _summary_display(self, *, notes: bool) -> pd.DataFrame:
        frame = self.summary()
        frame["value"] = frame["value"].map(_fmt)
        frame["threshold"] = frame["threshold"].map(_fmt)
        # the check first: plain-text tables left-align only their first column
        columns = ["check", "section", "value", "threshold", "verdict"] + (
            ["note"] if notes else []
        )
        return frame[columns]

    def _key_numbers(self) -> list[str]:
        o = self.overlap
        low, high = o.bounds
        lines = [
            f"Rows: {o.n_samples} ({o.n_gold} gold-standard, {o.n_preference} preference); gold "
            f"base rate {o.base_rate:.4g}.",
            f"Extreme propensities: {o.n_extreme} rows ({o.extreme_share:.1%}; {o.n_extreme_gold} "
            f"gold, {o.n_extreme_preference} preference) outside [{low:.4g}, {high:.4g}] "
            f"(tolerated: {o.max_extreme_share:.1%}).",
            f"Effective gold sample size for the preference population: {o.ess:.1f} of {o.n_gold} "
            f"(ratio {o.ess_ratio:.3f}, minimum {o.min_ess_ratio:g}).",
            f"Estimated bias (preference scale): mean {np.mean(self.bias):.4g} over all rows, "
            f"{np.mean(self.bias[self.gold]):.4g} over gold rows, "
            f"{np.mean(self.bias[~self.gold]):.4g} over preference rows.",
        ]
        r = self.refutations
        if r is not None:
            lines.append(
                f"DoWhy's refit: mean bias {r.estimate:.4g} (router's own {r.router_estimate:.4g}) "
                f"over {r.n_samples} rows, {r.estimate_preference:.4g} over their preference rows."
            )
            if "placebo" in r.simulations:
                sims = r.simulations["placebo"]
                lines.append(
                    f"Placebo (permuted gold flags): mean {np.mean(sims):.4g}, "
                    f"sd {np.std(sims):.3g} over {sims.size} refits, against the original "
                    f"{r.estimate:.4g}."
                )
        return lines

    def _overrule_text(self) -> str:
        if self.overlap.overrule is None:
            return "OverRule was not run (overrule=False)."
        return str(self.overlap.overrule)

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
                f"{s['subset_fraction']:.0%} of the rows); significance level {ALPHA}."
            )
        else:
            lines.append(f"Refuters: none run. {self.refutation_skipped}")
        rule = o.overrule
        if rule is None:
            lines.append("OverRule: not run.")
        else:
            config = ", ".join(f"{k}={v}" for k, v in rule.config.items())
            timing = f", {rule.seconds:.1f} s" if timestamp else ""
            lines.append(
                f"OverRule: {rule.components} principal components "
                f"({'standardised' if rule.standardized else 'centred'} features), "
                f"eps={rule.eps:.4g}, {config}; time bound {rule.timeout:g} s{timing}; "
                f"status {rule.status!r}."
            )
        lines.append(f"random_state: {s['random_state']!r}.")
        if timestamp:
            steps = ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items())
            lines.append(f"Wall-clock time: {steps}.")
        return lines

    def what_to_do(self) -> list[str]:
        """Plain-language advice for each failed (or skipped) check; empty when all is well."""
        o, r = self.overlap, self.refutations
        advice = []
        if not o.ok:
            where = (
                "OverRule's rules below describe where both sources occur"
                if o.overrule is not None and o.overrule.status == "rules"
                else "the rows with the lowest propensities in `report.overlap.propensity` "
                "are the uncovered ones"
            )
            advice.append(
                "Positivity: gold-standard and preference rows do not cover the same queries, so "
                "the bias estimate extrapolates where no gold label was collected. Collect gold "
                f"labels for queries in the uncovered region ({where}), or fit "
                'MetaRouter(overlap="trim") to debias only inside the overlap region.'
            )
        if r is not None:
            failed = r.table.loc[r.table["verdict"] == "fail", "refuter"].tolist()
            if "placebo" in failed:
                advice.append(
                    "Placebo: the estimator finds a bias even when the gold flags are shuffled, "
                    "so it fits noise or leakage. Use a simpler final model (model_final), more "
                    'gold rows, or learner="auto", which keeps a CATE learner only when it beats '
                    "mean-shift and pooling on held-out gold rows."
                )
            others = [name for name in failed if name != "placebo"]
            if others:
                advice.append(
                    f"{', '.join(others)}: the bias estimate moves when the data are perturbed. "
                    "Each refuter fails about one time in ten by chance at this level: rerun with "
                    "more simulations (n_simulations) and another random_state; if it still "
                    "fails, collect more gold rows or regularise the final model."
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

    def to_markdown(self, *, timestamp: bool = True, title: str = _TITLE) -> str:
        """Return the report as markdown: verdict, summary, key numbers, rules, settings, advice.

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
        parts = [f"# {title}", f"**{self._verdict_line()}**"]
        if timestamp:
            parts.append(f"Created {self.created}.")
        parts += ["## Router", markdown_table(self._config_frame())]
        summary = self.summary()
        parts += [
            "## Summary",
            markdown_table(self._summary_display(notes=False)),
            "\n".join(
                f"- **{row.check}** ({row.verdict}): {row.note}" for row in summary.itertuples()
            ),
            "## Key numbers",
            "\n".join(f"- {line}" for line in self._key_numbers()),
        ]
        if self.warnings:
            parts += ["## Warnings", "\n".join(f"- {w}" for w in self.warnings)]
        advice = self.what_to_do()
        if advice:
            parts += ["## What to do", "\n\n".join(advice)]
        parts += ["## Overlap region (OverRule)", "```text\n" + self._overrule_text() + "\n```"]
        parts += [
            "## Standardised mean differences (gold minus preference)",
            markdown_table(_smd_display(self.overlap)),
        ]
        if self.refutations is not None:
            parts += ["## Refutations", markdown_table(_refutation_display(self.refutations))]
        if self.figures:
            names = ", ".join(f.title for f in self.figures)
            parts += ["## Figures", f"In the HTML report (`to_html`): {names}."]
        parts += [
            "## What was run",
            "\n".join(f"- {line}" for line in self._what_was_run(timestamp=timestamp)),
        ]
        return "\n\n".join(parts) + "\n"

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
        esc = html.escape
        ok_class = "pass" if self.ok else "fail"
        body = [
            f"<h1>{esc(title)}</h1>",
            f'<p class="verdict {ok_class}">{esc(self._verdict_line())}</p>',
        ]
        if timestamp:
            body.append(f'<p class="muted">Created {esc(self.created)}.</p>')
        body += ["<h2>Router</h2>", _html_table(self._config_frame())]
        body += ["<h2>Summary</h2>", _html_table(self._summary_display(notes=True))]
        body += ["<h2>Key numbers</h2>", _html_list(self._key_numbers())]
        if self.warnings:
            body += ["<h2>Warnings</h2>", _html_list(self.warnings)]
        advice = self.what_to_do()
        if advice:
            body += ["<h2>What to do</h2>", *(f"<p>{esc(a)}</p>" for a in advice)]
        body += [
            "<h2>Overlap</h2>",
            "<h3>Overlap region (OverRule)</h3>",
            f"<pre>{esc(self._overrule_text())}</pre>",
            "<h3>Standardised mean differences (gold minus preference)</h3>",
            _html_table(_smd_display(self.overlap)),
        ]
        if self.refutations is not None:
            body += ["<h2>Refutations</h2>", _html_table(_refutation_display(self.refutations))]
        if self.figures:
            body.append("<h2>Figures</h2>")
            for figure in self.figures:
                body.append(
                    f'<figure><h3>{esc(figure.title)}</h3><img src="{figure.data_uri}" '
                    f'alt="{esc(figure.title, quote=True)}"><figcaption>{esc(figure.caption)}'
                    "</figcaption></figure>"
                )
        body += ["<h2>What was run</h2>", _html_list(self._what_was_run(timestamp=timestamp))]
        text = (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body)
            + "\n</body>\n</html>\n"
        )
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def __str__(self) -> str:
        parts = [
            f"{_TITLE}: {self._verdict_line()}",
            ", ".join(f"{k}={_plain(v)}" for k, v in self.router_config.items()),
            markdown_table(self._summary_display(notes=False)),
        ]
        failing = self.summary().query("verdict in ['fail', 'skipped']")
        if len(failing):
            parts.append("\n".join(f"- {r.check}: {r.note}" for r in failing.itertuples()))
        advice = self.what_to_do()
        if advice:
            parts.append("What to do:\n" + "\n".join(f"- {a}" for a in advice))
        return "\n\n".join(parts)


# ----------------------------------------------------------------------------------------------
# Main entry point
# ----------------------------------------------------------------------------------------------
def diagnose(
    router,
    X,
    y,
    *,
    gold,
    refuters=REFUTERS,
    n_simulations: int = DEFAULT_N_SIMULATIONS,
    subset_fraction: float = 0.8,
    propensity="model",
    model_propensity=None,
    factor: float = 10.0,
    max_extreme_share: float = 0.05,
    min_ess_ratio: float = 0.1,
    overrule: bool = True,
    overrule_components: int = 3,
    overrule_standardize: bool = False,
    overrule_timeout: float = 120.0,
    figures: bool = True,
    random_state=None,
) -> DiagnosticReport:
    """Diagnose a fitted Meta-Router: positivity, refutation of its bias estimate, figures.

    Parameters
    ----------
    router : MetaRouter
        A fitted Meta-Router.
    X : array-like or DataFrame of shape (n_samples, n_features)
        Its training features (the same columns as at fit).
    y : array-like of shape (n_samples,)
        Its training labels: gold-standard gains on gold rows, preference labels elsewhere.
    gold : array-like of bool, shape (n_samples,)
        True for gold-standard rows.
    refuters : sequence of str, default=REFUTERS
        The refuters of :func:`refute_bias` (by default all four: ``"placebo"``,
        ``"random_common_cause"``, ``"data_subset"``, ``"bootstrap"``); an empty sequence (or
        None) skips refutation.
    n_simulations : int, default=10
        Refits per refuter. Each refits the router's whole estimator: at 4,500 rows x 50
        features with the default R-learner about 2.2-2.5 CPU-seconds, so the default (four
        refuters, 41 fits) costs about 1.5-2 CPU-minutes (measured: 103 s wall for the whole
        report at 4,500 x 50 on a shared 2-core machine, 23-26 s per refuter). Ten
        simulations pin the spread of the refuted estimates (on which DoWhy's p-values rest) to
        about 24 %; pass 20 or more for sharper p-values, 2-5 for a quick look.
    subset_fraction : float in (0, 1), default=0.8
        Share of rows the ``"data_subset"`` refuter keeps.
    propensity : {"model", "router"} or array-like, default="model"
        The P(gold | x) the positivity checks read. ``"model"``: cross-fitted by
        :func:`assess_overlap` (gradient-boosted trees, < 1 s). ``"router"``: the router's own
        cross-fitted ``propensity_`` (or ``overlap_propensity_`` when that has gaps, i.e.
        ``overlap="trim"``); its default model is a logistic regression, which misses
        positivity violations the trees catch (see the module docstring). An array: used as
        given.
    model_propensity : classifier, default=None
        Classifier for ``propensity="model"`` and OverRule's labels (see :func:`assess_overlap`).
    factor, max_extreme_share, min_ess_ratio : float
        Thresholds of the positivity checks (see :func:`assess_overlap`).
    overrule : bool, default=True
        Learn OverRule's rules for the overlap region (a separate process, usually 4-10 s).
    overrule_components : int, default=3
    overrule_standardize : bool, default=False
    overrule_timeout : float, default=120.0
        Seconds after which OverRule is stopped; the report then records the timeout.
    figures : bool, default=True
        Draw the figures (propensity histograms, projection on two principal components,
        estimated bias by source, refuted estimates); about a second with matplotlib.
    random_state : int, RandomState or None, default=None
        Seed of the overlap checks, OverRule and the refuters; the same seed gives the same
        report (except timings).

    Returns
    -------
    DiagnosticReport
        ``ok`` is False when a positivity check or a refuter fails.

    Raises
    ------
    TypeError
        If ``router`` is not a :class:`~metarouter_econml.MetaRouter`.
    sklearn.exceptions.NotFittedError
        If it is not fitted.
    ValueError
        If ``X`` does not have the router's features, the inputs disagree in length, or
        ``propensity="router"`` and the router's propensities do not cover these rows.

    Warns
    -----
    UserWarning
        From :func:`assess_overlap` when a positivity check fails, and from :func:`refute_bias`
        when the rows are not the router's training rows.

    Notes
    -----
    When the router has no CATE estimator (``learner="auto"`` fell back to mean-shift or
    pooling), refutation is skipped and the report says why instead of failing.

    Examples
    --------
    >>> from metarouter_econml import MetaRouter
    >>> from metarouter_econml.datasets import make_routing_data
    >>> from metarouter_econml.diagnostics import diagnose
    >>> split = make_routing_data(800, 6, random_state=0).split(n_test=100, n_gold=100,
    ...                                                         random_state=0)
    >>> router = MetaRouter(random_state=0).fit(split.X_train, split.y_train, gold=split.gold_train)
    >>> report = diagnose(router, split.X_train, split.y_train, gold=split.gold_train,
    ...                   refuters=["placebo"], n_simulations=2, overrule=False, figures=False,
    ...                   random_state=0)
    >>> report.summary()["section"].tolist()
    ['overlap', 'overlap', 'overlap', 'overlap', 'refutation']
    """
    start = time.perf_counter()
    created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    if not isinstance(router, MetaRouter):
        raise TypeError(
            f"`router` must be a fitted MetaRouter; got {type(router).__name__}. The diagnostics "
            "read its bias estimate and refit its CATE estimator."
        )
    check_is_fitted(router, "router_model_")
    X_arr = check_features(router, X, reset=False)
    n = X_arr.shape[0]
    y_arr = check_labels(y, n_rows=n)
    gold_arr = check_gold_mask(gold, n_rows=n)
    names = _check_refuter_names(refuters)
    e = _resolve_propensity(propensity, router, n, gold_arr)
    X_named = X if isinstance(X, pd.DataFrame) else _named_frame(X_arr, router)

    seconds = {}
    tick = time.perf_counter()
    overlap = assess_overlap(
        X_named,
        gold_arr,
        propensity=e,
        model_propensity=model_propensity,
        factor=factor,
        max_extreme_share=max_extreme_share,
        min_ess_ratio=min_ess_ratio,
        overrule=overrule,
        overrule_components=overrule_components,
        overrule_standardize=overrule_standardize,
        overrule_timeout=overrule_timeout,
        random_state=random_state,
    )
    seconds["overlap"] = time.perf_counter() - tick

    refutations, skipped = None, None
    if not names:
        skipped = "Not requested (refuters=())."
    elif router.cate_estimator_ is None:
        skipped = (
            f"The router has no CATE estimator (learner_={router.learner_!r}), so there is no "
            "bias estimate to refute."
        )
        if getattr(router, "auto_reason_", None):
            skipped += f' learner="auto" fell back to a baseline: {router.auto_reason_}'
    else:
        tick = time.perf_counter()
        refutations = refute_bias(
            router,
            X,
            y_arr,
            gold_arr,
            refuters=names,
            n_simulations=n_simulations,
            subset_fraction=subset_fraction,
            random_state=random_state,
        )
        seconds["refutation"] = time.perf_counter() - tick

    bias = np.asarray(router.estimate_bias(X), dtype=np.float64)
    bias.setflags(write=False)
    gold_arr.setflags(write=False)
    tick = time.perf_counter()
    drawn = []
    if figures:
        drawn = _draw_figures(overlap, X_arr, gold_arr, bias, refutations, random_state)
        seconds["figures"] = time.perf_counter() - tick
    seconds["total"] = time.perf_counter() - start

    # assess_overlap's own "What to do" names its result's attributes; the report has its own.
    messages = [m for m in overlap.warnings if not m.startswith("What to do")]
    if refutations is not None:
        messages += [
            f"Refuter {row.refuter} failed: {row.note}"
            for row in refutations.table.itertuples()
            if row.verdict == "fail"
        ]
        if refutations.n_outside_overlap:
            messages.append(
                f"Refutation used the {refutations.n_samples} rows the router's CATE estimator "
                f"saw; {refutations.n_outside_overlap} preference rows outside its overlap region "
                "were left out."
            )
    elif router.cate_estimator_ is None and names:
        messages.append(f"Refutation skipped: {skipped}")

    return DiagnosticReport(
        overlap=overlap,
        refutations=refutations,
        refutation_skipped=skipped,
        router_config=MappingProxyType(_router_config(router)),
        bias=bias,
        gold=gold_arr,
        figures=tuple(drawn),
        settings=MappingProxyType(
            {
                "refuters": names,
                "n_simulations": n_simulations,
                "subset_fraction": subset_fraction,
                "propensity": propensity if isinstance(propensity, str) else "given",
                "factor": factor,
                "max_extreme_share": max_extreme_share,
                "min_ess_ratio": min_ess_ratio,
                "overrule": overrule,
                "overrule_components": overrule_components,
                "overrule_standardize": overrule_standardize,
                "overrule_timeout": overrule_timeout,
                "random_state": random_state,
            }
        ),
        seconds=MappingProxyType(seconds),
        created=created,
        warnings=tuple(messages),
    )


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------
def _check_refuter_names(refuters) -> tuple[str, ...]:
    """Empty (skip) or the names; the full validation is :func:`refute_bias`'s, done up front."""
    if refuters is None:
        return ()
    if isinstance(refuters, str):
        refuters = (refuters,)
    names = tuple(refuters)
    return _check_refuters(names) if names else ()


def _resolve_propensity(propensity, router: MetaRouter, n: int, gold: np.ndarray):
    """None (cross-fit in assess_overlap), the router's complete propensities, or the array."""
    if isinstance(propensity, str):
        if propensity == "model":
            return None
        if propensity != "router":
            raise ValueError(
                f'`propensity` must be "model", "router" or an array; got {propensity!r}.'
            )
        counts = (int(gold.sum()), n - int(gold.sum()))
        if counts != (router.n_gold_, router.n_preference_):
            raise ValueError(
                '`propensity="router"` needs the router\'s training rows: it was fitted on '
                f"{router.n_gold_} gold and {router.n_preference_} preference rows; got "
                f'{counts[0]} and {counts[1]}. Use propensity="model".'
            )
        for attr in ("propensity_", "overlap_propensity_"):
            values = getattr(router, attr, None)
            if values is not None and np.shape(values) == (n,) and np.isfinite(values).all():
                return np.asarray(values, dtype=np.float64)
        raise ValueError(
            '`propensity="router"` needs cross-fitted propensities of every training row, but '
            f"the router has none (learner_={router.learner_!r}, a user-supplied estimator, or "
            'gaps from overlap="trim" without overlap_propensity_). Use propensity="model".'
        )
    return propensity


def _named_frame(X_arr: np.ndarray, router: MetaRouter) -> pd.DataFrame:
    names = getattr(router, "feature_names_in_", None)
    if names is None:
        names = [f"x{j}" for j in range(X_arr.shape[1])]
    columns = [str(c) for c in names]
    return pd.DataFrame(X_arr, columns=columns)


def _router_config(router: MetaRouter) -> dict:
    estimator, learner = router.cate_estimator_, router.learner
    config = {
        "learner": learner if isinstance(learner, str) else type(learner).__name__,
        "learner_used": router.learner_,
        "cate_estimator": None if estimator is None else type(estimator).__name__,
        "n_gold": router.n_gold_,
        "n_preference": router.n_preference_,
        "scale": float(router.scale_),
        "gold_scale": router.gold_scale,
        "overlap": router.overlap,
        "cv": router.cv,
        "random_state": router.random_state,
    }
    if getattr(router, "overlap_mask_", None) is not None:
        config["preference_outside_overlap"] = router.n_preference_outside_
    return config


def _plain(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, np.random.RandomState):
        return "RandomState"
    return str(value)


def _fmt(value) -> str:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "" if not np.isfinite(value) else f"{value:.4g}"


def _smd_display(overlap: OverlapResult) -> pd.DataFrame:
    smd = overlap.smd_top.reset_index()
    frame = pd.DataFrame({"feature": smd["feature"].astype(str)})
    for column in ("mean_gold", "mean_preference", "smd", "smd_weighted"):
        frame[column] = smd[column].map(lambda v: f"{v:+.3f}")
    return frame


def _refutation_display(result: RefutationResult) -> pd.DataFrame:
    table = result.table[
        ["refuter", "original", "refuted", "refuted_sd", "p_value", "n_simulations", "verdict"]
    ].copy()
    for column in ("original", "refuted", "refuted_sd", "p_value"):
        table[column] = table[column].map(_fmt)
    return table


# -- figures -------------------------------------------------------------------------------------
def _new_axes(width=7.0, height=4.0):
    from matplotlib.figure import Figure  # lazy; no pyplot, no global backend change

    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.add_subplot()


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return buffer.getvalue()


def _draw_figures(overlap, X_arr, gold, bias, refutations, random_state) -> list[ReportFigure]:
    out = []
    figure, ax = _new_axes()
    OverlapDisplay.from_predictions(overlap.propensity, gold, factor=overlap.factor, ax=ax)
    ax.set_title("Cross-fitted P(gold | x) by source", fontsize="medium")
    out.append(
        ReportFigure(
            "propensity",
            "Propensity of the gold-standard source",
            "Histograms of the cross-fitted P(gold | x) of gold-standard and preference rows "
            "(log scale). Rows in the shaded regions lie where one source is (almost) never "
            "seen; with good overlap both histograms sit around the dashed base rate.",
            _png(figure),
        )
    )
    if X_arr.shape[1] >= 2:
        figure, ax = _new_axes()
        ProjectionDisplay.from_data(X_arr, gold, random_state=random_state, ax=ax)
        out.append(
            ReportFigure(
                "projection",
                "Rows on the first two principal components",
                "Each dot is a row, coloured by source. Regions with preference rows but no "
                "gold-standard rows are where the bias estimate extrapolates.",
                _png(figure),
            )
        )
    figure, ax = _new_axes()
    edges = np.histogram_bin_edges(bias, bins=30)
    for mask, label, color in (
        (~gold, f"preference-based (n={int((~gold).sum())})", "tab:blue"),
        (gold, f"gold-standard (n={int(gold.sum())})", "tab:orange"),
    ):
        ax.hist(
            bias[mask],
            bins=edges,
            density=True,
            alpha=0.45,
            color=color,
            label=label,
            histtype="stepfilled",
        )
    ax.axvline(0.0, color="0.3", lw=1, ls=":")
    ax.set_xlabel("estimated bias (preference scale)")
    ax.set_ylabel("density")
    ax.legend(loc="best", fontsize="small")
    out.append(
        ReportFigure(
            "bias",
            "Estimated bias by source",
            "Distribution of the router's bias estimate (the correction added to preference "
            "labels) over gold-standard and preference rows. Very different shapes mean the "
            "correction of preference rows is read where few gold rows were seen.",
            _png(figure),
        )
    )
    if refutations is not None:
        names = list(refutations.simulations)
        figure, ax = _new_axes(height=1.2 + 0.7 * len(names))
        for i, name in enumerate(names):
            sims = refutations.simulations[name]
            ax.scatter(sims, np.full(sims.size, i), s=18, color="tab:blue", alpha=0.7)
        ax.axvline(refutations.estimate, color="tab:red", lw=1.5, label="original estimate")
        ax.axvline(0.0, color="0.3", lw=1, ls=":", label="zero")
        ax.set_yticks(range(len(names)), names)
        ax.set_ylim(-0.6, len(names) - 0.4)
        ax.set_xlabel("mean bias of each refit (preference scale)")
        ax.legend(loc="best", fontsize="small")
        out.append(
            ReportFigure(
                "refutation",
                "Refuted estimates",
                "Each dot is one refit under a refuter. Placebo refits should scatter around "
                "zero, away from the original estimate; the other refuters' refits should "
                "scatter around the original estimate.",
                _png(figure),
            )
        )
    return out


# -- HTML ----------------------------------------------------------------------------------------
_CSS = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;"
    "margin:2em auto;padding:0 1em;color:#222;line-height:1.45}"
    "table{border-collapse:collapse;margin:0.8em 0;font-size:0.9em}"
    "th,td{border:1px solid #ccc;padding:0.3em 0.6em;text-align:left;vertical-align:top}"
    "th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}"
    ".pass{color:#176b2c;font-weight:600}.fail{color:#b00020;font-weight:600}"
    ".skipped,.info,.muted{color:#666}.verdict{font-size:1.2em}"
    "pre{background:#f7f7f7;padding:0.8em;overflow-x:auto;font-size:0.85em}"
    "figure{margin:1.2em 0}img{max-width:100%;height:auto}figcaption{color:#555;font-size:0.9em}"
)

_VERDICT_CLASSES = {"pass", "fail", "skipped", "info"}


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
