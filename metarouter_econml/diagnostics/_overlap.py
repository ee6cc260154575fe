"""Positivity (overlap) assessment of pooled gold-standard and preference-based rows.

The Meta-Router estimates the bias of preference labels as a CATE of the evaluation source
(``T = 1`` for gold-standard rows). That needs positivity: every query must have a chance of being
evaluated by either source, ``0 < P(gold | x) < 1``. :func:`assess_overlap` checks it on the data
at hand and says, in numbers and words, where it fails:

* **Extreme propensities.** The cross-fitted ``e(x) = P(gold | x)`` of each row is compared with
  bounds relative to the gold base rate ``b = n_gold / n`` (``propensity_bounds``: ``b / factor``
  and ``1 - (1 - b) / factor``). A gold share of 2 % is by design; a row whose gold propensity is
  10x below that lies where gold rows are (almost) never seen.
* **Effective sample size.** The gold rows reweighted to the preference population
  (weights ``(1 - e) / e``, as for the average effect on the preference rows) are worth
  ``ESS = (sum w)^2 / sum w^2`` rows. Few effective gold rows mean the bias estimate for the
  preference population leans on a handful of gold rows.
* **Standardised mean differences** of every feature between the two sources (pooled sd), before
  and after that reweighting: where the sources differ.
* **OverRule** (Oberst et al., AISTATS 2020), run through DoWhy on a few leading principal
  components: readable rules describing the region where both sources occur.

Choices, with the measurements behind them (synthetic data of ``make_routing_data``, 4,500 rows,
100 gold rows, gold drawn at random vs. only where feature 0 < 0; 2-core machine shared with
other jobs):

* **Propensity model.** By default a small gradient-boosted tree model
  (``HistGradientBoostingClassifier``) cross-fitted on 5 stratified, shuffled, seeded folds. An
  L2 logistic regression on standardised features was tried first: it cannot represent "no gold
  rows at all where feature 0 > 0" (a linear logit has one slope), and flagged only 1-2 % of the
  rows of that deliberate violation (10 features; 6-12 % with 50), so the check passed on broken
  data. With 100 or more gold rows the trees flagged 47-52 % of the rows (93-100 % of the
  uncovered preference rows; 20-50 gold rows: 7-26 % and 13-51 %), and at most 1.6 % of
  well-overlapping rows (2,000-4,500 rows, 6-50 features, 4 seeds). Their leaves must hold at
  least ``5 / base_rate`` rows (five gold rows expected at the base rate; at least 20), so that a
  leaf without gold rows is evidence rather than chance: with fixed 40-row leaves, 20-30 gold rows
  out of 2,000 gave up to 21 % false extremes. The default model runs on one thread (< 1 s of CPU
  for the 5 folds; its OpenMP pool was 20-100x slower on the busy machine). Pass
  ``model_propensity`` to use another classifier, or ``propensity`` to reuse one (e.g.
  ``MetaRouter.propensity_``, learnt by EconML's fold models: its default is linear, so it shares
  the blind spot above).
* **OverRule on principal components of the centred features, not standardised ones.** The
  package's features are usually principal components of an embedding: standardising them gives
  every component the same variance, and the "leading" components of the standardised data are
  then an arbitrary rotation (10.8/10.7/10.4 % of variance; the violating feature loaded 0.04,
  0.3 and 0.1 on them, and OverRule's region kept 94 % of both sources on the broken data). Set
  ``overrule_standardize=True`` when the columns have unrelated units.
* **OverRule's labels and eps.** OverRule labels a row "overlapping" when its own cross-fitted
  propensity (the same model family, fitted on the components) lies in ``(eps, 1 - eps)``; here
  ``eps`` is the low bound ``base_rate / factor`` of the positivity check. On well-overlapping
  data 0-1.2 % of rows fell outside that criterion and the rules' region kept 94-100 % of rows (4
  seeds; describing the few outliers still took 0-20 rules); ``base_rate / 4`` and
  ``base_rate / 2`` put 4-31 % of well-overlapping rows outside the criterion. On the broken data
  OverRule returned one rule, e.g. ``PC1 <= 0.001`` (the truth: feature 0 < 0), holding 99-100 %
  of gold rows and 0-3 % of the uncovered preference rows.
* **OverRule's configuration.** Deciles as thresholds (``num_thresh=9``, DoWhy's default) but a
  reduced column-generation search (``iterMax=3, K=10, D=10, B=5``): 0.5-2.3 s of CPU for the
  fit at 4,500 rows x 3 components, 4-10 s wall for the whole OverRule process on the loaded
  machine (about 2.3 s of it Python start-up and imports), against 4-7 s of CPU (12-21 s wall)
  for the fit with DoWhy's defaults, which found the same rule on the broken data. Quartile
  thresholds (``num_thresh=4``) missed the split at 0 and returned 4-9 approximate rules. Only
  overlap rules are learnt (``overlap_only``): support rules describe where data exist at all,
  not where the sources overlap, and tripled the time.
* **A hard time bound.** OverRule runs in a separate Python process that is killed after
  ``overrule_timeout`` seconds; a timeout or an error is recorded in the result and never stops
  the report. A plain subprocess (``python -c``) is used rather than ``multiprocessing``: the
  "spawn" start method re-imports the caller's ``__main__`` script (running a script without an
  ``if __name__ == "__main__"`` guard twice), and "fork" after the thread pools of the propensity
  model have started can deadlock (GNU OpenMP is not fork-safe).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from .._estimation import propensity_bounds
from .._validation import check_features, check_gold_mask, random_seed
from .._format import markdown_table

__all__ = ["OverlapResult", "OverRuleResult", "assess_overlap"]

logger = logging.getLogger(__name__)

#: OverRule search settings passed to DoWhy's ``OverlapConfig`` (see the module docstring).
OVERRULE_CONFIG = {"num_thresh": 9, "iterMax": 3, "K": 10, "D": 10, "B": 5}

#: |SMD| above which a feature is reported as clearly imbalanced (a common rule of thumb).
SMD_NOTE_THRESHOLD = 0.25

#: Folds of the cross-fitted propensity computed here.
N_FOLDS = 5

_VERDICTS = ("pass", "fail", "skipped", "info")


# ----------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class OverRuleResult:
    """What OverRule found (or why it did not run) on the leading principal components.

    Attributes
    ----------
    status : {"rules", "all_overlap", "timeout", "error"}
        ``"rules"``: rules describing the overlap region were learnt. ``"all_overlap"``: every row
        met the overlap criterion, so no rule was needed and the region is everything.
        ``"timeout"`` / ``"error"``: OverRule did not finish; ``message`` says why.
    message : str
        One sentence on the outcome, in plain words.
    rules : tuple of str
        The rules, each a conjunction such as ``"PC1 <= 0.001 and PC2 > -0.3"``; a row is in the
        overlap region when it satisfies any of them.
    rule_coverage : tuple of float
        Share of all rows each rule covers.
    components : int
        Number of leading principal components OverRule saw (named ``PC1``, ``PC2``, ...).
    explained_variance_ratio : tuple of float
        Share of the variance of the (centred or standardised) features each component carries.
    loadings : DataFrame
        The components (columns ``PC1``...) as weights of the features (rows): ``PCk`` is the
        sum of ``loadings[PCk] * (x - mean) / scale`` with ``scale`` the feature's standard
        deviation when ``standardized`` and 1 otherwise.
    standardized : bool
        Whether the features were standardised before the PCA.
    eps : float
        OverRule's overlap criterion: a row overlaps when its cross-fitted P(gold | components)
        lies in ``(eps, 1 - eps)``.
    config : dict
        OverRule's search settings (DoWhy ``OverlapConfig``).
    seconds : float
        Wall-clock time of the OverRule process, start-up included.
    timeout : float
        The time bound it ran under.
    inside : ndarray of bool or None
        Row-wise membership of the overlap region; None when OverRule did not finish.
    share_inside, share_inside_gold, share_inside_preference : float
        Share of all, gold-standard and preference-based rows inside the region (NaN when
        OverRule did not finish).
    """

    status: str
    message: str
    rules: tuple[str, ...]
    rule_coverage: tuple[float, ...]
    components: int
    explained_variance_ratio: tuple[float, ...]
    loadings: pd.DataFrame = field(repr=False)
    standardized: bool
    eps: float
    config: dict
    seconds: float
    timeout: float
    inside: np.ndarray | None = field(repr=False)
    share_inside: float
    share_inside_gold: float
    share_inside_preference: float

    @property
    def finished(self) -> bool:
        """True when OverRule ran to the end (rules learnt, or none needed)."""
        return self.status in ("rules", "all_overlap")

    def describe_components(self, n_top: int = 3) -> list[str]:
        """One line per component: its share of variance and its largest feature weights."""
        lines = []
        for name, share in zip(self.loadings.columns, self.explained_variance_ratio, strict=True):
            weights = self.loadings[name]
            top = weights.abs().sort_values(ascending=False).index[:n_top]
            terms = " ".join(f"{weights[f]:+.2f}*{f}" for f in top)
            lines.append(f"{name} ({share:.1%} of variance) ~ {terms} ...")
        return lines

    def __str__(self) -> str:
        kind = "standardised" if self.standardized else "centred"
        lines = [
            f"OverRule (Oberst et al. 2020, via DoWhy) on the {self.components} leading principal "
            f"components of the {kind} features "
            f"({sum(self.explained_variance_ratio):.1%} of their variance):",
            *(f"  {line}" for line in self.describe_components()),
            f"A row counts as overlapping when OverRule's cross-fitted P(gold | components) is in "
            f"({self.eps:.4g}, {1 - self.eps:.4g}).",
        ]
        if self.status == "rules":
            lines.append(
                f"Overlap region ({len(self.rules)} rule(s); a row is inside if any holds):"
            )
            for i, (rule, cover) in enumerate(zip(self.rules, self.rule_coverage, strict=True)):
                prefix = "   " if i == 0 else "OR "
                lines.append(f"  {prefix}{rule}   [covers {cover:.1%} of rows]")
        lines.append(self.message)
        if self.finished:
            lines.append(
                f"Inside the region: {self.share_inside_gold:.1%} of gold-standard rows, "
                f"{self.share_inside_preference:.1%} of preference rows "
                f"({self.share_inside:.1%} of all rows)."
            )
        settings = ", ".join(f"{k}={v}" for k, v in self.config.items())
        lines.append(f"Settings: {settings}; {self.seconds:.1f} s (time bound {self.timeout:g} s).")
        return "\n".join(lines)


@dataclass(frozen=True, eq=False)
class OverlapResult:
    """Outcome of :func:`assess_overlap`: positivity checks with numbers and plain-language notes.

    Attributes
    ----------
    propensity : ndarray of shape (n_samples,)
        Cross-fitted P(gold | x) of every row (read-only).
    propensity_source : str
        Where the propensities came from (given by the caller, or the model cross-fitted here).
    base_rate : float
        Share of gold-standard rows, ``n_gold / n_samples``.
    factor : float
        How many times rarer than the base rate a source must be for a row to count as extreme.
    bounds : (float, float)
        ``propensity_bounds(base_rate, factor)``: propensities outside are extreme.
    n_samples, n_gold, n_preference : int
        Rows, gold-standard rows and preference-based rows.
    n_extreme, n_extreme_gold, n_extreme_preference : int
        Rows with an extreme propensity: all, gold-standard, preference-based.
    extreme_share, extreme_share_gold, extreme_share_preference : float
        The same as shares of all, gold-standard and preference-based rows.
    max_extreme_share : float
        The largest tolerated ``extreme_share``.
    extreme_ratio : float
        ``extreme_share / max_extreme_share`` (above 1 fails).
    ess : float
        Effective sample size of the gold-standard rows reweighted to the preference population
        (weights ``(1 - e) / e``): ``(sum w)^2 / sum w^2``.
    ess_ratio : float
        ``ess / n_gold``.
    min_ess_ratio : float
        The smallest tolerated ``ess_ratio``.
    positivity_ok : bool
        ``extreme_share <= max_extreme_share``.
    ess_ok : bool
        ``ess_ratio >= min_ess_ratio``.
    smd : DataFrame
        Every feature (index ``feature``) with ``mean_gold``, ``mean_preference``, ``smd``
        (gold minus preference mean over the pooled standard deviation
        ``sqrt((var_gold + var_preference) / 2)``) and ``smd_weighted`` (gold rows reweighted by
        ``(1 - e) / e``, same denominator), sorted by ``|smd|``, largest first.
    n_smd : int
        How many rows of ``smd`` the text report shows.
    overrule : OverRuleResult or None
        OverRule's rules, or None when not requested.
    warnings : tuple of str
        Plain-language messages about what failed or deserves a look.
    """

    propensity: np.ndarray = field(repr=False)
    propensity_source: str
    base_rate: float
    factor: float
    bounds: tuple[float, float]
    n_samples: int
    n_gold: int
    n_preference: int
    n_extreme: int
    n_extreme_gold: int
    n_extreme_preference: int
    extreme_share: float
    extreme_share_gold: float
    extreme_share_preference: float
    max_extreme_share: float
    extreme_ratio: float
    ess: float
    ess_ratio: float
    min_ess_ratio: float
    positivity_ok: bool
    ess_ok: bool
    smd: pd.DataFrame = field(repr=False)
    n_smd: int
    overrule: OverRuleResult | None = field(repr=False)
    warnings: tuple[str, ...] = field(repr=False)

    @property
    def ok(self) -> bool:
        """True when both checks pass: few extreme propensities and enough effective gold rows.

        SMDs and OverRule describe the data; they do not enter the verdict.
        """
        return bool(self.positivity_ok and self.ess_ok)

    @property
    def smd_top(self) -> pd.DataFrame:
        """The ``n_smd`` features with the largest ``|smd|``."""
        return self.smd.head(self.n_smd)

    def summary(self) -> pd.DataFrame:
        """One row per check: ``check``, ``value``, ``threshold``, ``verdict``, ``note``.

        ``verdict`` is ``"pass"`` or ``"fail"`` for the two checks behind :attr:`ok`, ``"info"``
        for descriptive rows (largest SMD, OverRule's region) and ``"skipped"`` when OverRule was
        not run or did not finish.
        """
        low, high = self.bounds
        rows = [
            {
                "check": "extreme propensity share",
                "value": self.extreme_share,
                "threshold": self.max_extreme_share,
                "verdict": "pass" if self.positivity_ok else "fail",
                "note": (
                    f"{self.n_extreme} of {self.n_samples} rows ({self.n_extreme_gold} gold, "
                    f"{self.n_extreme_preference} preference) have P(gold | x) outside "
                    f"[{low:.4g}, {high:.4g}], i.e. {self.factor:g}x away from the base rate "
                    f"{self.base_rate:.4g}; {self.extreme_ratio:.2f}x the tolerated share."
                ),
            },
            {
                "check": "effective gold sample size ratio",
                "value": self.ess_ratio,
                "threshold": self.min_ess_ratio,
                "verdict": "pass" if self.ess_ok else "fail",
                "note": (
                    f"Reweighted to the preference rows by (1 - e) / e, the {self.n_gold} gold "
                    f"rows are worth {self.ess:.1f} rows."
                ),
            },
        ]
        top = self.smd.iloc[0]
        rows.append(
            {
                "check": "largest |standardised mean difference|",
                "value": float(abs(top["smd"])),
                "threshold": SMD_NOTE_THRESHOLD,
                "verdict": "info",
                "note": (
                    f"Feature {self.smd.index[0]!r}: SMD {top['smd']:+.3f} (gold minus "
                    f"preference), {top['smd_weighted']:+.3f} after reweighting the gold rows; "
                    f"above {SMD_NOTE_THRESHOLD} is a large imbalance, not by itself a positivity "
                    "failure."
                ),
            }
        )
        rows.append(self._overrule_row())
        return pd.DataFrame.from_records(
            rows, columns=["check", "value", "threshold", "verdict", "note"]
        )

    def _overrule_row(self) -> dict:
        row = {"check": "OverRule overlap region (preference rows inside)", "threshold": np.nan}
        rule = self.overrule
        if rule is None:
            return {
                **row,
                "value": np.nan,
                "verdict": "skipped",
                "note": "Not requested (overrule=False).",
            }
        if not rule.finished:
            return {**row, "value": np.nan, "verdict": "skipped", "note": rule.message}
        return {
            **row,
            "value": rule.share_inside_preference,
            "verdict": "info",
            "note": (
                f"{len(rule.rules)} rule(s) on {rule.components} principal components hold "
                f"{rule.share_inside_gold:.1%} of gold and {rule.share_inside_preference:.1%} of "
                "preference rows; see `overrule` for the rules."
            ),
        }

    def __str__(self) -> str:
        verdict = "PASS" if self.ok else "FAIL"
        header = (
            f"Overlap assessment: {verdict} ({self.n_samples} rows, {self.n_gold} gold-standard, "
            f"base rate {self.base_rate:.4g}; propensity: {self.propensity_source})"
        )
        summary = self.summary()
        table = summary[["check", "value", "threshold", "verdict"]].copy()
        table["value"] = table["value"].map(_fmt)
        table["threshold"] = table["threshold"].map(_fmt)
        notes = "\n".join(f"- {row.check}: {row.note}" for row in summary.itertuples())
        smd = self.smd_top.reset_index()[["feature", "smd", "smd_weighted"]]
        smd[["smd", "smd_weighted"]] = smd[["smd", "smd_weighted"]].map(lambda v: f"{v:+.3f}")
        parts = [
            header,
            markdown_table(table),
            notes,
            f"Standardised mean differences, gold minus preference (top {len(smd)} by |SMD|; "
            "weighted: gold rows reweighted by (1 - e) / e):",
            markdown_table(smd),
        ]
        if self.overrule is not None:
            parts.append(str(self.overrule))
        if self.warnings:
            parts.append("Warnings:\n" + "\n".join(f"- {w}" for w in self.warnings))
        return "\n\n".join(parts)


def _fmt(value: float) -> str:
    return "" if not np.isfinite(value) else f"{value:.4g}"


# ----------------------------------------------------------------------------------------------
# Main entry point
# ----------------------------------------------------------------------------------------------
def assess_overlap(
    X,
    gold,
    *,
    propensity=None,
    model_propensity=None,
    factor: float = 10.0,
    max_extreme_share: float = 0.05,
    min_ess_ratio: float = 0.1,
    n_smd: int = 10,
    overrule: bool = True,
    overrule_components: int = 3,
    overrule_standardize: bool = False,
    overrule_timeout: float = 120.0,
    random_state=None,
) -> OverlapResult:
    """Check positivity of pooled gold-standard (GS) and preference-based (PB) rows.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_samples, n_features)
        Query features; DataFrame column names are kept in the SMD table and OverRule's loadings.
    gold : array-like of bool, shape (n_samples,)
        True for gold-standard rows.
    propensity : array-like of shape (n_samples,), default=None
        Cross-fitted P(gold | x) if you have it, e.g. ``MetaRouter.propensity_`` of a router
        fitted on these rows (EconML's fold models, each read on its held-out fold). None:
        computed here with ``model_propensity`` on 5 stratified, shuffled, seeded folds.
    model_propensity : classifier, default=None
        Classifier with ``predict_proba`` for the propensity computed here and for OverRule's
        labels. None: ``HistGradientBoostingClassifier(max_iter=100, learning_rate=0.05,
        max_leaf_nodes=8, min_samples_leaf=max(20, ceil(5 / base_rate)), l2_regularization=1)``
        (see the module docstring for why not a logistic regression).
    factor : float > 1, default=10.0
        A propensity is extreme outside ``propensity_bounds(base_rate, factor)``:
        ``base_rate / factor`` and ``1 - (1 - base_rate) / factor``.
    max_extreme_share : float in (0, 1], default=0.05
        Positivity passes when at most this share of rows has an extreme propensity.
    min_ess_ratio : float in [0, 1], default=0.1
        The effective-sample-size check passes when the GS rows, reweighted by ``(1 - e) / e``
        to the PB population, are worth at least this share of ``n_gold``.
    n_smd : int, default=10
        Number of features shown in the SMD table of the text report.
    overrule : bool, default=True
        Learn OverRule's rules for the overlap region (in a separate process).
    overrule_components : int, default=3
        Number of leading principal components OverRule runs on.
    overrule_standardize : bool, default=False
        Standardise the features before that PCA. Leave False for features in common units such
        as principal components of an embedding; set True when columns have unrelated units.
    overrule_timeout : float, default=120.0
        Seconds after which the OverRule process is killed; the result then records the timeout.
    random_state : int, RandomState or None, default=None
        Seed for the folds, the propensity model and the PCA; the same seed gives the same result.

    Returns
    -------
    OverlapResult
        ``ok`` is True when ``extreme_share <= max_extreme_share`` (``positivity_ok``) and
        ``ess_ratio >= min_ess_ratio`` (``ess_ok``).

    Warns
    -----
    UserWarning
        When a check fails, with the numbers and what to do.

    Examples
    --------
    >>> import numpy as np
    >>> from metarouter_econml.datasets import make_routing_data
    >>> from metarouter_econml.diagnostics import assess_overlap
    >>> X = make_routing_data(n_samples=1500, n_features=6, random_state=0).X
    >>> gold = np.zeros(len(X), dtype=bool)
    >>> gold[np.random.RandomState(0).choice(len(X), 100, replace=False)] = True
    >>> result = assess_overlap(X, gold, overrule=False, random_state=0)
    >>> result.ok, result.summary()["verdict"].tolist()
    (True, ['pass', 'pass', 'info', 'skipped'])
    """
    X_arr, names = _check_X(X)
    n = X_arr.shape[0]
    gold_arr = check_gold_mask(gold, n_rows=n)
    factor = _check_number(factor, "factor", low=1.0, low_open=True, high=np.inf)
    max_extreme_share = _check_number(
        max_extreme_share, "max_extreme_share", low=0.0, low_open=True
    )
    min_ess_ratio = _check_number(min_ess_ratio, "min_ess_ratio", low=0.0)
    n_smd = _check_int(n_smd, "n_smd", low=1)
    if not isinstance(overrule, bool | np.bool_):
        raise TypeError(f"`overrule` must be True or False; got {overrule!r}.")
    if overrule:
        overrule_components = _check_int(
            overrule_components, "overrule_components", low=1, high=min(n, X_arr.shape[1])
        )
        overrule_timeout = _check_number(
            overrule_timeout, "overrule_timeout", low=0.0, low_open=True, high=np.inf
        )
    seed = random_seed(check_random_state(random_state))

    base_rate = float(gold_arr.mean())
    low, high = propensity_bounds(base_rate, factor)
    model = _propensity_model(model_propensity, base_rate, seed)  # validates a given model
    if propensity is None:
        e = cross_fitted_propensity(X_arr, gold_arr, model=model_propensity, random_state=seed)
        source = f"{type(model).__name__} cross-fitted on {_n_splits(gold_arr)} folds"
    else:
        if model_propensity is not None and not overrule:
            raise ValueError(
                "`model_propensity` has no use when `propensity` is given and overrule=False."
            )
        e = _check_propensity(propensity, n)
        source = "given"
    e.setflags(write=False)

    extreme = (e < low) | (e > high)
    n_extreme = int(extreme.sum())
    n_extreme_gold = int(extreme[gold_arr].sum())
    n_gold = int(gold_arr.sum())
    n_pref = n - n_gold
    extreme_share = n_extreme / n
    positivity_ok = extreme_share <= max_extreme_share
    weights = _gold_weights(e[gold_arr])
    ess = _effective_sample_size(weights)
    ess_ratio = ess / n_gold
    ess_ok = ess_ratio >= min_ess_ratio
    smd = _smd_table(X_arr, gold_arr, weights, names)

    overrule_result = None
    if overrule:
        overrule_result = _assess_overrule(
            X_arr,
            gold_arr,
            names,
            components=overrule_components,
            standardize=bool(overrule_standardize),
            eps=low,
            model=model,
            timeout=overrule_timeout,
            seed=seed,
        )

    messages = []
    if not positivity_ok:
        messages.append(
            f"Positivity fails: {n_extreme} of {n} rows ({extreme_share:.1%}; {n_extreme_gold} of "
            f"{n_gold} gold-standard, {n_extreme - n_extreme_gold} of {n_pref} preference rows) "
            f"have cross-fitted P(gold | x) outside [{low:.4g}, {high:.4g}] ({factor:g}x away "
            f"from the gold base rate {base_rate:.4g}), {extreme_share / max_extreme_share:.1f}x "
            f"the tolerated {max_extreme_share:.1%}. Gold and preference queries do not overlap "
            "there, so the bias estimate extrapolates."
        )
    if not ess_ok:
        messages.append(
            f"Reweighted to the preference rows, the {n_gold} gold-standard rows are worth only "
            f"{ess:.1f} rows (ratio {ess_ratio:.3f} < {min_ess_ratio:g}): a few gold rows with "
            "tiny P(gold | x) carry the bias estimate for the preference population."
        )
    if not (positivity_ok and ess_ok):
        where = (
            "`result.overrule` describes the overlap region"
            if overrule_result is not None and overrule_result.status == "rules"
            else "`result.propensity` ranks them"
        )
        messages.append(
            "What to do: collect gold-standard labels for queries in the uncovered region (the "
            f"preference rows with the lowest propensities; {where}), or restrict routing to the "
            'overlap region with MetaRouter(overlap="trim").'
        )
    top_feature, top = smd.index[0], smd.iloc[0]
    if abs(top["smd"]) > SMD_NOTE_THRESHOLD:
        messages.append(
            f"Gold and preference rows differ most on feature {top_feature!r} (SMD "
            f"{top['smd']:+.2f}; above {SMD_NOTE_THRESHOLD} is a large imbalance). That alone is "
            "not a positivity failure, but check that gold queries cover its range."
        )
    if overrule_result is not None and not overrule_result.finished:
        messages.append(overrule_result.message)
        logger.info("%s", overrule_result.message)

    result = OverlapResult(
        propensity=e,
        propensity_source=source,
        base_rate=base_rate,
        factor=factor,
        bounds=(low, high),
        n_samples=n,
        n_gold=n_gold,
        n_preference=n_pref,
        n_extreme=n_extreme,
        n_extreme_gold=n_extreme_gold,
        n_extreme_preference=n_extreme - n_extreme_gold,
        extreme_share=extreme_share,
        extreme_share_gold=n_extreme_gold / n_gold,
        extreme_share_preference=(n_extreme - n_extreme_gold) / n_pref,
        max_extreme_share=max_extreme_share,
        extreme_ratio=extreme_share / max_extreme_share,
        ess=ess,
        ess_ratio=ess_ratio,
        min_ess_ratio=min_ess_ratio,
        positivity_ok=bool(positivity_ok),
        ess_ok=bool(ess_ok),
        smd=smd,
        n_smd=n_smd,
        overrule=overrule_result,
        warnings=tuple(messages),
    )
    if not result.ok:
        failing = [m for m in messages if m.startswith(("Positivity", "Reweighted", "What to do"))]
        warnings.warn(" ".join(failing), UserWarning, stacklevel=2)
    return result


# ----------------------------------------------------------------------------------------------
# Propensity, weights, SMD
# ----------------------------------------------------------------------------------------------
def _propensity_model(model, base_rate: float, seed: int):
    if model is not None:
        if not (hasattr(model, "fit") and hasattr(model, "predict_proba")):
            raise TypeError(
                "`model_propensity` must be a classifier with `fit` and `predict_proba`; got "
                f"{type(model).__name__}."
            )
        return clone(model)
    return HistGradientBoostingClassifier(
        max_iter=100,
        learning_rate=0.05,
        max_leaf_nodes=8,
        # five gold rows expected per leaf at the base rate: a leaf without gold is evidence
        min_samples_leaf=max(20, int(np.ceil(5 / base_rate))),
        l2_regularization=1.0,
        early_stopping=False,
        random_state=seed,
    )


def _n_splits(gold: np.ndarray) -> int:
    return int(min(N_FOLDS, gold.sum(), (~gold).sum()))


def cross_fitted_propensity(X: np.ndarray, gold: np.ndarray, *, model=None, random_state=None):
    """Cross-fitted P(gold | x): each row read from a clone of ``model`` fitted on the other folds.

    Folds: ``StratifiedKFold(min(5, n_gold, n_preference), shuffle=True)``, seeded. ``model=None``
    uses the default model of :func:`assess_overlap`. Inputs are validated arrays.
    """
    seed = random_seed(check_random_state(random_state))
    default = model is None
    model = _propensity_model(model, float(gold.mean()), seed)
    folds = StratifiedKFold(n_splits=_n_splits(gold), shuffle=True, random_state=seed)
    # The default model runs on one OpenMP thread: a 5-fold fit takes < 1 s of CPU at these sizes,
    # and on a busy machine its thread pool was 20-100x slower than one thread.
    limit = threadpool_limits(limits=1, user_api="openmp") if default else contextlib.nullcontext()
    with limit:
        proba = cross_val_predict(model, X, gold.astype(np.int64), cv=folds, method="predict_proba")
    return np.ascontiguousarray(proba[:, 1], dtype=np.float64)


def _gold_weights(e_gold: np.ndarray) -> np.ndarray:
    """Weights ``(1 - e) / e`` taking gold rows to the preference population (``e >= 1e-12``)."""
    return (1 - e_gold) / np.maximum(e_gold, 1e-12)


def _effective_sample_size(weights: np.ndarray) -> float:
    total_sq = float(np.sum(weights**2))
    return 0.0 if total_sq == 0 else float(np.sum(weights) ** 2 / total_sq)


def _smd_table(
    X: np.ndarray, gold: np.ndarray, weights: np.ndarray, names: list[str]
) -> pd.DataFrame:
    Xg, Xp = X[gold], X[~gold]
    mean_g, mean_p = Xg.mean(axis=0), Xp.mean(axis=0)
    pooled_sd = np.sqrt((Xg.var(axis=0, ddof=1) + Xp.var(axis=0, ddof=1)) / 2)
    mean_gw = (
        np.average(Xg, axis=0, weights=weights)
        if weights.sum() > 0
        else np.full(X.shape[1], np.nan)
    )
    frame = pd.DataFrame(
        {
            "mean_gold": mean_g,
            "mean_preference": mean_p,
            "smd": _standardise(mean_g - mean_p, pooled_sd),
            "smd_weighted": _standardise(mean_gw - mean_p, pooled_sd),
        },
        index=pd.Index(names, name="feature"),
    )
    order = np.argsort(-np.abs(frame["smd"].to_numpy()), kind="stable")
    return frame.iloc[order]


def _standardise(diff: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """``diff / sd``; a feature constant within both sources gets 0 (equal) or +-inf (different)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = diff / sd
    constant = sd == 0
    out[constant] = np.where(diff[constant] == 0, 0.0, np.sign(diff[constant]) * np.inf)
    return out


# ----------------------------------------------------------------------------------------------
# OverRule
# ----------------------------------------------------------------------------------------------
def principal_components(X: np.ndarray, n_components: int, *, standardize: bool, random_state):
    """Scores of the leading principal components of centred (or standardised) ``X``.

    Returns ``(scores, pca, scale)``; ``scale`` is the per-feature standard deviation used when
    ``standardize`` (constant features get 1), else ones.
    """
    center = X.mean(axis=0)
    if standardize:
        scale = X.std(axis=0)
        scale[scale == 0] = 1.0
    else:
        scale = np.ones(X.shape[1])
    pca = PCA(n_components=n_components, random_state=random_seed(check_random_state(random_state)))
    scores = pca.fit_transform((X - center) / scale)
    return scores, pca, scale


def _assess_overrule(X, gold, names, *, components, standardize, eps, model, timeout, seed):
    scores, pca, _ = principal_components(X, components, standardize=standardize, random_state=seed)
    columns = [f"PC{i + 1}" for i in range(components)]
    loadings = pd.DataFrame(
        pca.components_.T, index=pd.Index(names, name="feature"), columns=columns
    )
    payload = {"scores": scores, "gold": gold, "columns": columns, "eps": eps, "model": model}
    status, outcome, seconds = _run_in_subprocess(payload, timeout)
    common = {
        "components": components,
        "explained_variance_ratio": tuple(float(v) for v in pca.explained_variance_ratio_),
        "loadings": loadings,
        "standardized": standardize,
        "eps": float(eps),
        "config": dict(OVERRULE_CONFIG),
        "seconds": seconds,
        "timeout": float(timeout),
    }
    if status != "ok":
        nan = float("nan")
        return OverRuleResult(
            status=status,
            message=outcome,
            rules=(),
            rule_coverage=(),
            inside=None,
            share_inside=nan,
            share_inside_gold=nan,
            share_inside_preference=nan,
            **common,
        )
    inside = np.asarray(outcome["inside"], dtype=bool)
    inside.setflags(write=False)
    rules = tuple(_rule_text(rule) for rule in outcome["rules"])
    coverage = tuple(float(_rule_mask(rule, scores, columns).mean()) for rule in outcome["rules"])
    if outcome["rules"]:
        status = "rules"
        message = (
            f"OverRule learnt {len(rules)} rule(s) describing where both sources occur "
            f"({outcome['labelled_share']:.1%} of rows met the overlap criterion)."
        )
    else:
        status = "all_overlap"
        message = "Every row met OverRule's overlap criterion: no rule was needed."
    return OverRuleResult(
        status=status,
        message=message,
        rules=rules,
        rule_coverage=coverage,
        inside=inside,
        share_inside=float(inside.mean()),
        share_inside_gold=float(inside[gold].mean()),
        share_inside_preference=float(inside[~gold].mean()),
        **common,
    )


def _rule_text(rule) -> str:
    return " and ".join(f"{f} {op} {v:.3f}" if op else str(f) for f, op, v in rule)


_OPS = {
    "<=": np.less_equal,
    "<": np.less,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
}


def _rule_mask(rule, scores: np.ndarray, columns: list[str]) -> np.ndarray:
    mask = np.ones(scores.shape[0], dtype=bool)
    for f, op, v in rule:
        mask &= _OPS[op](scores[:, columns.index(f)], v)
    return mask


def _run_in_subprocess(payload: dict, timeout: float) -> tuple[str, object, float]:
    """Run :func:`_fit_overrule` in a fresh Python process killed after ``timeout`` seconds.

    Returns ``("ok", result, seconds)``, or ``("timeout" | "error", message, seconds)``.
    """
    start = time.perf_counter()
    # The child finds this package where the parent did; appended last, the path shadows nothing.
    package_root = str(Path(__file__).resolve().parents[2])
    code = (
        f"import sys; sys.path.append({package_root!r}); "
        "from metarouter_econml.diagnostics._overlap import _worker_main; _worker_main()"
    )
    # a single-threaded worker: thread pools only add overhead at these sizes (see above)
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    try:
        with tempfile.TemporaryDirectory(prefix="metarouter-overrule-") as tmp:
            in_path, out_path = os.path.join(tmp, "in.pkl"), os.path.join(tmp, "out.pkl")
            with open(in_path, "wb") as handle:
                pickle.dump(payload, handle)
            proc = subprocess.Popen(
                [sys.executable, "-c", code, in_path, out_path],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=env,
                start_new_session=os.name == "posix",
            )
            try:
                _, err = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill(proc)
                seconds = time.perf_counter() - start
                return (
                    "timeout",
                    f"OverRule did not finish within overrule_timeout={timeout:g} s and was "
                    "stopped; the other checks are complete. Raise `overrule_timeout` or lower "
                    "`overrule_components` to get its rules.",
                    seconds,
                )
            seconds = time.perf_counter() - start
            if not os.path.exists(out_path):
                lines = err.decode(errors="replace").strip().splitlines()
                return (
                    "error",
                    f"OverRule's process ended (exit code {proc.returncode}) without a result "
                    f"({lines[-1] if lines else 'no message'}). The other checks are complete.",
                    seconds,
                )
            with open(out_path, "rb") as handle:
                status, outcome = pickle.load(handle)
    except Exception as exc:  # the report must survive any failure of the side process
        return (
            "error",
            f"OverRule could not be run ({type(exc).__name__}: {exc}); the other checks are "
            "complete.",
            time.perf_counter() - start,
        )
    if status != "ok":
        return "error", f"OverRule failed ({outcome}); the other checks are complete.", seconds
    return "ok", outcome, seconds


def _kill(proc: subprocess.Popen) -> None:
    """Kill the OverRule process (and its process group on POSIX: it is the group's leader)."""
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass
    proc.communicate()


def _worker_main() -> None:
    """Entry point of the OverRule process: ``argv = [-c, input pickle, output pickle]``."""
    in_path, out_path = sys.argv[1], sys.argv[2]
    try:
        with open(in_path, "rb") as handle:
            payload = pickle.load(handle)
    except Exception as exc:
        outcome = (
            "error",
            f"could not load its inputs: {type(exc).__name__}: {exc}; a `model_propensity` "
            "class defined in a notebook or a script's __main__ cannot be sent to another process",
        )
    else:
        try:
            outcome = ("ok", _fit_overrule(**payload))
        except Exception as exc:
            outcome = ("error", f"{type(exc).__name__}: {exc}")
    with open(out_path + ".part", "wb") as handle:
        pickle.dump(outcome, handle)
    os.replace(out_path + ".part", out_path)


def _fit_overrule(scores, gold, columns, eps, model) -> dict:
    """Learn OverRule's overlap rules with DoWhy: the one function that touches DoWhy's OverRule.

    Uses the public ``OverruleAnalyzer`` and ``OverlapConfig`` of
    ``dowhy.causal_refuters.assess_overlap_overrule`` with ``prop_estimator`` (the same model
    family as the propensity check; DoWhy's default random-forest grid search took ~15 s) and
    ``overlap_only=True``. It then reads attributes DoWhy does not document, which may change
    between versions: ``raw_overlap_set`` (rows meeting the criterion), ``overlap_indicator``
    (rows inside the learnt rules) and ``RS_overlap_estimator.rules()`` (the rules as
    ``(feature, operator, value)`` atoms). It avoids ``predict_overlap_support``: with
    ``overlap_only=True`` and every row overlapping, DoWhy 0.14 predicts with an unfitted rule
    estimator (``AttributeError: 'FeatureBinarizer' object has no attribute 'maps'``).
    DoWhy prints a line in that case; it is swallowed.
    """
    from dowhy.causal_refuters.assess_overlap_overrule import OverlapConfig, OverruleAnalyzer

    treatment = "_gold_source"
    frame = pd.DataFrame(np.asarray(scores), columns=columns)
    frame[treatment] = np.asarray(gold).astype(np.int64)
    analyzer = OverruleAnalyzer(
        backdoor_vars=list(columns),
        treatment_name=treatment,
        overlap_config=OverlapConfig(**OVERRULE_CONFIG),
        prop_estimator=model,
        overlap_eps=float(eps),
        overlap_only=True,
    )
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analyzer.fit(frame)
    labelled = np.asarray(analyzer.raw_overlap_set, dtype=bool)
    if labelled.all():
        return {"rules": [], "inside": np.ones(len(frame), dtype=bool), "labelled_share": 1.0}
    rules = [
        [(str(f), str(op), float(v)) for f, op, v in rule]
        for rule in analyzer.RS_overlap_estimator.rules(as_str=False)
    ]
    inside = np.asarray(analyzer.overlap_indicator, dtype=bool)
    return {"rules": rules, "inside": inside, "labelled_share": float(labelled.mean())}


# ----------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------
class _Features(BaseEstimator):
    """Placeholder estimator so the package's feature validation can record names."""


def _check_X(X) -> tuple[np.ndarray, list[str]]:
    checker = _Features()
    X_arr = np.array(check_features(checker, X, reset=True), dtype=np.float64)
    if X_arr.shape[0] < 2:
        raise ValueError(f"`X` must have at least 2 rows; got {X_arr.shape[0]}.")
    if isinstance(X, pd.DataFrame):
        names = [str(c) for c in X.columns]
    else:
        names = [f"x{j}" for j in range(X_arr.shape[1])]
    return X_arr, names


def _check_propensity(propensity, n: int) -> np.ndarray:
    try:
        e = np.array(propensity, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"`propensity` must be an array of probabilities; got {type(propensity).__name__}."
        ) from None
    if e.ndim != 1:
        raise ValueError(f"`propensity` must be 1-D; got an array of shape {e.shape}.")
    if e.shape[0] != n:
        raise ValueError(
            f"`X` and `propensity` must have the same number of rows; got {n} and {e.shape[0]}."
        )
    bad = ~np.isfinite(e) | (e < 0) | (e > 1)
    if bad.any():
        raise ValueError(
            f"`propensity` must hold probabilities in [0, 1]; got {int(bad.sum())} values outside "
            "(or NaN)."
        )
    return e


def _check_number(value, name, *, low, high=1.0, low_open=False) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"`{name}` must be a real number; got {type(value).__name__} {value!r}.")
    value = float(value)
    too_low = value <= low if low_open else value < low
    if np.isnan(value) or too_low or value > high or (np.isinf(high) and not np.isfinite(value)):
        left = "(" if low_open else "["
        right = ")" if np.isinf(high) else "]"
        raise ValueError(f"`{name}` must be in {left}{low:g}, {high:g}{right}; got {value!r}.")
    return value


def _check_int(value, name, *, low, high=None) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"`{name}` must be an int; got {type(value).__name__} {value!r}.")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValueError(f"`{name}` must be {bound}; got {value}.")
    return int(value)
