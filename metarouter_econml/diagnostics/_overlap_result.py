"""Results of the overlap checks (:class:`OverlapResult`, :class:`OverRuleResult`), with text."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._format import format_number, markdown_table

__all__ = ["SMD_NOTE_THRESHOLD", "OverRuleResult", "OverlapResult", "UncoveredRegion"]

#: |SMD| above which a feature is reported as clearly imbalanced (a common rule of thumb).
SMD_NOTE_THRESHOLD = 0.25


def _names(names) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    names = [str(n) for n in names]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


@dataclass(frozen=True, eq=False)
class UncoveredRegion:
    """Where the uncovered preference rows lie: the feature and the range without gold rows.

    The uncovered rows are the preference rows whose cross-fitted P(gold | x) is below the low
    bound of the propensity check: queries with (almost) no gold rows like them. The feature is
    the one along which they differ most from the gold rows (largest ``|SMD|`` between the two
    groups, pooled standard deviation).

    Attributes
    ----------
    feature : str
        The feature's name.
    column : int
        Its position among the columns of ``X``.
    smd : float
        Standardised mean difference of the feature, uncovered rows minus gold rows.
    n_rows : int
        Number of uncovered preference rows.
    gold_range : (float, float)
        Smallest and largest value of the feature over the gold rows.
    rows_range : (float, float)
        5th and 95th percentiles of the feature over the uncovered rows.
    n_above, n_below : int
        Uncovered rows above the largest / below the smallest gold value of the feature.
    """

    feature: str
    column: int
    smd: float
    n_rows: int
    gold_range: tuple[float, float]
    rows_range: tuple[float, float]
    n_above: int
    n_below: int

    @property
    def condition(self) -> str:
        """The region in one expression, e.g. ``"pc6 > 0.0123"``."""
        low, high = self.gold_range
        if self.n_above >= self.n_rows / 2:
            return f"{self.feature} > {high:.3g}"
        if self.n_below >= self.n_rows / 2:
            return f"{self.feature} < {low:.3g}"
        first, last = self.rows_range
        return f"{first:.3g} <= {self.feature} <= {last:.3g}"

    def describe(self) -> str:
        """Where the gold rows are missing, in one sentence (the feature, the range, the share)."""
        low, high = self.gold_range
        if self.n_above >= self.n_rows / 2:
            where = (
                f"{_share(self.n_above, self.n_rows)} of them lie above the largest gold value "
                f"of {self.feature!r}"
            )
        elif self.n_below >= self.n_rows / 2:
            where = (
                f"{_share(self.n_below, self.n_rows)} of them lie below the smallest gold value "
                f"of {self.feature!r}"
            )
        else:
            where = (
                f"90% of them lie within the gold rows' range of {self.feature!r} "
                f"([{low:.3g}, {high:.3g}]), where gold rows are sparse"
            )
        return (
            f"Gold rows are missing where {self.condition}: the uncovered preference rows (those "
            f"with too rare a P(gold | x)) differ most from the gold rows on feature "
            f"{self.feature!r}, and {where}."
        )


def _share(part: int, whole: int) -> str:
    return "all" if part == whole else f"{part / whole:.0%}"


@dataclass(frozen=True, eq=False)
class OverRuleResult:
    """OverRule's rules for the overlap region of the propensity check (or why there are none).

    OverRule labels each row from a propensity score and learns Boolean rules describing the
    overlapping rows. Its labels are the propensity check's own: a row overlaps when its
    cross-fitted P(gold | x) lies within ``bounds``, the bounds of the extreme-propensity
    check, so the two never disagree on which rows are extreme. The rules use a few readable
    ``inputs``: the leading principal components and possibly one feature. When the extreme
    rows cannot be told apart on those inputs, the rules cannot leave them out
    (``share_flagged_inside`` is high, :attr:`describes_gap` is False) and the propensity
    check, which sees every feature, is the one to trust.

    Attributes
    ----------
    status : {"rules", "all_overlap", "timeout", "error"}
        ``"rules"``: rules were learnt. ``"all_overlap"``: no row is extreme, so the region is
        everything and no rule was needed. ``"timeout"`` / ``"error"``: the rule learner did not
        finish; ``message`` says why.
    message : str
        The outcome in plain words.
    rules : tuple of str
        The rules, each a conjunction such as ``"PC1 <= 0.001 and pc6 > -0.3"``; a row is in the
        overlap region when it satisfies any of them.
    rule_coverage : tuple of float
        Share of all rows each rule covers.
    inputs : tuple of str
        The columns the rules may use: ``PC1``, ... and possibly a feature's name.
    components : int
        Number of leading principal components among the inputs.
    components_requested : int
        The number asked for (``overrule_components``); ``components`` is smaller when the data
        have fewer features.
    feature : str or None
        The feature given beside the components, if any.
    feature_reason : str
        Why that feature was chosen ("" when there is none).
    explained_variance_ratio : tuple of float
        Share of the variance of the (centred or standardised) features each component carries.
    loadings : DataFrame
        The components (columns ``PC1``...) as weights of the features (rows): ``PCk`` is the
        sum of ``loadings[PCk] * (x - mean) / scale`` with ``scale`` the feature's standard
        deviation when ``standardized`` and 1 otherwise.
    standardized : bool
        Whether the features were standardised before the PCA.
    bounds : (float, float)
        The propensity check's bounds: rows with P(gold | x) outside are the flagged ones.
    config : dict
        The rule learner's search settings (DoWhy ``OverlapConfig``).
    seconds : float
        Wall-clock time of the rule learner's process, start-up included (0 without one).
    timeout : float
        The time bound it ran under.
    n_flagged : int
        Rows the propensity check flags as extreme.
    inside : ndarray of bool or None
        Row-wise membership of the overlap region; None when the learner did not finish.
    share_inside, share_inside_gold, share_inside_preference : float
        Share of all, gold-standard and preference-based rows inside the region (NaN when
        the learner did not finish).
    share_flagged_inside : float
        Share of the flagged rows the rules still hold (NaN when none is flagged or the learner
        did not finish); low is good.
    """

    status: str
    message: str
    rules: tuple[str, ...]
    rule_coverage: tuple[float, ...]
    inputs: tuple[str, ...]
    components: int
    components_requested: int
    feature: str | None
    feature_reason: str
    explained_variance_ratio: tuple[float, ...]
    loadings: pd.DataFrame = field(repr=False)
    standardized: bool
    bounds: tuple[float, float]
    config: dict
    seconds: float
    timeout: float
    n_flagged: int
    inside: np.ndarray | None = field(repr=False)
    share_inside: float
    share_inside_gold: float
    share_inside_preference: float
    share_flagged_inside: float

    @property
    def finished(self) -> bool:
        """True when OverRule ran to the end (rules learnt, or none needed)."""
        return self.status in ("rules", "all_overlap")

    @property
    def describes_gap(self) -> bool:
        """True when no row is flagged, or the rules leave out more than half the flagged rows."""
        if self.status == "all_overlap":
            return True
        return self.status == "rules" and self.share_flagged_inside <= 0.5

    def describe_inputs(self) -> str:
        """The inputs in words: which components, how much variance, which feature and why."""
        kind = "standardised" if self.standardized else "centred"
        pcs = [f"PC{i + 1}" for i in range(self.components)]
        text = (
            f"{_names(pcs)} (the {self.components} leading principal component"
            f"{'s' if self.components != 1 else ''} of the {kind} features, "
            f"{sum(self.explained_variance_ratio):.0%} of their variance)"
        )
        if self.components < self.components_requested:
            text += (
                f" ({self.components_requested} requested; the data have only "
                f"{self.loadings.shape[0]} feature{'s' if self.loadings.shape[0] != 1 else ''})"
            )
        if self.feature is not None:
            text += f" and feature {self.feature!r} ({self.feature_reason})"
        return text

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
        return self.to_text()

    def to_text(self, *, timing: bool = True, bounds: bool = True) -> str:
        """The inputs, the rules, who is inside and the conclusion, in plain text.

        Parameters
        ----------
        timing : bool, default=True
            End with the search settings and the time taken (False: settings only).
        bounds : bool, default=True
            Write out the propensity bounds (False when they are shown next to it, as in the
            diagnostic report).

        Returns
        -------
        str
        """
        low, high = self.bounds
        lines = [
            "OverRule (Oberst et al. 2020; DoWhy's rule learner) describes the rows the "
            "propensity check does not flag (P(gold | x) within its bounds"
            + (f" [{low:.4g}, {high:.4g}]" if bounds else "")
            + f") with rules on {self.describe_inputs()}:",
            *(f"  {line}" for line in self.describe_components()),
        ]
        if self.status == "rules":
            lines.append(
                f"Overlap region ({len(self.rules)} rule(s); a row is inside if any holds):"
            )
            for i, (rule, cover) in enumerate(zip(self.rules, self.rule_coverage, strict=True)):
                prefix = "   " if i == 0 else "OR "
                lines.append(f"  {prefix}{rule}   [covers {cover:.1%} of rows]")
            lines.append(
                f"Inside the region: {self.share_inside_gold:.1%} of gold-standard rows, "
                f"{self.share_inside_preference:.1%} of preference rows."
            )
        lines.append(self.message)
        if self.status != "all_overlap":
            settings = ", ".join(f"{k}={v}" for k, v in self.config.items())
            took = f"{self.seconds:.1f} s, " if timing else ""
            lines.append(f"Settings: {settings} ({took}time bound {self.timeout:g} s).")
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
    uncovered : UncoveredRegion or None
        Where the preference rows with P(gold | x) below the low bound lie (the feature and
        range without gold rows); None when there is no such row.
    overrule : OverRuleResult or None
        OverRule's rules, or None when not requested.
    warnings : tuple of str
        Plain-language notes on what failed or deserves a look, with the numbers.
    advice : tuple of str
        What to do about the failed checks (empty when both pass).
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
    uncovered: UncoveredRegion | None = field(repr=False)
    overrule: OverRuleResult | None = field(repr=False)
    warnings: tuple[str, ...] = field(repr=False)
    advice: tuple[str, ...] = field(repr=False)

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
                    f"Feature {self.smd.index[0]!r} ({'+' if top['smd'] > 0 else '-'}: gold "
                    f"rows {'above' if top['smd'] > 0 else 'below'} preference rows on average; "
                    "the SMD table has every feature, before and after reweighting). Above "
                    f"{SMD_NOTE_THRESHOLD} is a large imbalance, not by itself a positivity "
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
        if rule.status == "all_overlap":
            note = rule.message
        elif rule.describes_gap:
            note = (
                f"{len(rule.rules)} rule(s) on {_names(rule.inputs)} describe the rows the "
                "propensity check counts as overlapping; see the rules."
            )
        else:
            note = (
                f"The rules on {_names(rule.inputs)} cannot leave out the rows the propensity "
                "check flags as extreme; trust the propensity check, which sees every feature."
            )
        return {**row, "value": rule.share_inside_preference, "verdict": "info", "note": note}

    def __str__(self) -> str:
        verdict = "PASS" if self.ok else "FAIL"
        header = (
            f"Overlap assessment: {verdict} ({self.n_samples} rows, {self.n_gold} gold-standard, "
            f"base rate {self.base_rate:.4g}; propensity: {self.propensity_source})"
        )
        summary = self.summary()
        table = summary[["check", "value", "threshold", "verdict"]].copy()
        table["value"] = table["value"].map(format_number)
        table["threshold"] = table["threshold"].map(format_number)
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
        if self.advice:
            parts.append("What to do:\n" + "\n".join(f"- {a}" for a in self.advice))
        return "\n\n".join(parts)
