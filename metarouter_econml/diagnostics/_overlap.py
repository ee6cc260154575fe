"""Positivity (overlap) checks of pooled gold-standard and preference-based rows.

:func:`assess_overlap` cross-fits P(gold | x) with the model and folds of the truncated
Meta-Router's overlap region, counts extreme propensities, computes the effective sample size of
the gold rows reweighted to the preference population and the standardised mean differences of
the features, and can describe the overlap region with OverRule (``_overrule.py``).
"""

from __future__ import annotations

import logging
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from .._estimation import (
    cross_fitted_propensity,
    default_overlap_model,
    make_folds,
    propensity_bounds,
)
from .._validation import (
    Bool,
    Estimator,
    Int,
    Real,
    Seed,
    check_aligned,
    check_features,
    check_gold_mask,
    check_params,
    default_feature_names,
    nullable,
    random_seed,
)
from ._overlap_result import SMD_NOTE_THRESHOLD, OverlapResult, UncoveredRegion
from ._overrule import run_overrule

__all__ = ["DEFAULT_CV", "assess_overlap"]

logger = logging.getLogger(__name__)

#: Folds of the cross-fitted propensity: ``MetaRouter``'s default ``cv``, so that the checks and
#: the truncated router (``overlap="trim"``) compute the same overlap region for the same seed.
DEFAULT_CV = 3

_MODEL_RULE = nullable(Estimator(("fit", "predict_proba"), kind="a classifier"))

#: Rules of the parameters of :func:`assess_overlap` (and of :func:`diagnose`, which passes them).
_RULES = {
    "factor": Real(1, low_open=True),
    "max_extreme_share": Real(0, 1, low_open=True),
    "min_ess_ratio": Real(0, 1),
    "n_smd": Int(low=1),
    "overrule": Bool(),
    "overrule_standardize": Bool(),
    "random_state": Seed(),
}


def check_overlap_params(n_samples: int, n_features: int, **params) -> dict:
    """Validate the parameters of the overlap checks; return them normalised, by name.

    ``overrule_components`` and ``overrule_timeout`` are checked only when ``overrule`` is True
    (they are unused otherwise). ``overrule_components`` larger than the number of features is
    accepted: OverRule then uses every component the data have and says so.
    """
    rules = dict(_RULES)
    if Bool().check(params["overrule"], "overrule"):
        rules["overrule_components"] = Int(low=1)
        rules["overrule_timeout"] = Real(0, low_open=True, what="seconds")
    checked = check_params(SimpleNamespace(**params), rules)
    return {**params, **checked}


def check_model(model, *, propensity_given: bool):
    """``model_propensity``: None or a classifier with ``fit`` and ``predict_proba``, when used.

    It is used to cross-fit the propensity, which OverRule's labels come from too; a given
    propensity leaves it without use.
    """
    model = _MODEL_RULE.check(model, "model_propensity")
    if model is not None and propensity_given:
        raise ValueError(
            "`model_propensity` has no use when `propensity` is given: it only cross-fits the "
            "propensity (OverRule reads the same propensities)."
        )
    return model


def check_propensity(propensity, n_samples: int) -> np.ndarray:
    """Return ``propensity`` as a 1-D ``float64`` copy of probabilities, one per row, or raise."""
    try:
        e = np.array(propensity, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"`propensity` must be an array of probabilities; got {type(propensity).__name__}."
        ) from None
    if e.ndim != 1:
        raise ValueError(f"`propensity` must be 1-D; got an array of shape {e.shape}.")
    if e.shape[0] != n_samples:
        raise ValueError(
            f"`X` and `propensity` must have the same number of rows; got {n_samples} and "
            f"{e.shape[0]}."
        )
    bad = ~np.isfinite(e) | (e < 0) | (e > 1)
    if bad.any():
        raise ValueError(
            f"`propensity` must hold probabilities in [0, 1]; got {int(bad.sum())} values outside "
            "(or NaN)."
        )
    return e


def feature_names(X, n_features: int) -> list[str]:
    """The names shown for the features: DataFrame column names, else ``x0, x1, ...``."""
    if isinstance(X, pd.DataFrame):
        return [str(c) for c in X.columns]
    return default_feature_names(n_features)


def cross_fit_propensity(
    X: np.ndarray, gold: np.ndarray, *, model, cv: int, seed: int
) -> tuple[np.ndarray, str]:
    """Cross-fitted P(gold | x) of validated arrays, and a description of how it was computed.

    ``model=None`` is :func:`~metarouter_econml._estimation.default_overlap_model` (the truncated
    router's overlap classifier, on one thread); folds are
    :func:`~metarouter_econml._estimation.make_folds` with ``cv`` folds, seeded with ``seed``.
    """
    folds = make_folds(cv, int(gold.sum()), seed, int((~gold).sum()))
    if model is None:
        model = default_overlap_model(seed, n_jobs=1)
    propensity, _ = cross_fitted_propensity(model, X, gold, folds)
    source = f"{type(model).__name__} cross-fitted on {folds.get_n_splits()} folds"
    return np.ascontiguousarray(propensity, dtype=np.float64), source


# ----------------------------------------------------------------------------------------------
# The entry point
# ----------------------------------------------------------------------------------------------
def assess_overlap(
    X,
    gold,
    *,
    propensity=None,
    model_propensity=None,
    cv: int = DEFAULT_CV,
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

    Positivity means every query can be labelled by either source, ``0 < P(gold | x) < 1``.
    Four checks, two of which give the verdict:

    - **Extreme propensities** (verdict): the share of rows whose cross-fitted
      ``e(x) = P(gold | x)`` lies outside ``propensity_bounds(base_rate, factor)``, i.e.
      ``factor`` times rarer than the gold base rate for either source.
    - **Effective sample size** (verdict): the GS rows reweighted to the PB population by
      ``w = (1 - e) / e`` are worth ``ESS = (sum w)^2 / sum w^2`` rows.
    - **Standardised mean differences** of every feature between the sources (pooled standard
      deviation), before and after that reweighting (descriptive).
    - **OverRule** (descriptive): readable rules describing the rows the extreme-propensity
      check counts as overlapping (same propensities, same bounds), learnt with DoWhy's OverRule
      rule learner on the leading principal components and the feature along which the
      uncovered rows differ most from the gold rows, in a separate, time-bounded process.

    When preference rows have P(gold | x) below the low bound, ``uncovered`` names the feature
    that separates them most from the gold rows and the range of it without gold rows; the
    advice names it too.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_samples, n_features)
        Query features; DataFrame column names are kept in the SMD table and OverRule's loadings.
    gold : array-like of bool, shape (n_samples,)
        True for gold-standard rows.
    propensity : array-like of shape (n_samples,), default=None
        Cross-fitted P(gold | x) if you have it, e.g. ``MetaRouter.overlap_propensity_`` of a
        router fitted with ``overlap="trim"`` on these rows. None: cross-fitted here with
        ``model_propensity`` on ``cv`` folds.
    model_propensity : classifier, default=None
        Classifier with ``predict_proba`` for the propensity computed here (which OverRule's
        labels are read from). None: the truncated router's overlap classifier
        (``metarouter_econml._estimation.default_overlap_model``: shallow LightGBM trees without
        L2 penalty, on one thread), which can drop to ~0 past the edge of the gold rows'
        support. A logistic regression cannot (a linear logit has one slope) and misses such
        violations.
    cv : int, default=3
        Number of stratified, shuffled, seeded cross-fitting folds (fewer when a source has
        fewer rows). 3 is ``MetaRouter``'s default ``cv``: with the same ``random_state``, the
        propensities equal the ``overlap_propensity_`` of ``MetaRouter(overlap="trim")``.
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
        Number of leading principal components among OverRule's inputs; reduced to the number
        of features when the data have fewer (the result says so).
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
        ``ess_ratio >= min_ess_ratio`` (``ess_ok``). OverRule describes the rows whose
        propensity lies within ``bounds`` (the rows the first check does not flag).

    Raises
    ------
    TypeError, ValueError
        If an input or parameter breaks its rule; the message names it.

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
    X_arr = np.asarray(check_features(BaseEstimator(), X, reset=True), dtype=np.float64)
    n_samples, n_features = X_arr.shape
    gold_arr = check_gold_mask(gold, n_rows=n_samples)
    check_aligned(X, gold, "gold")
    params = check_overlap_params(
        n_samples,
        n_features,
        factor=factor,
        max_extreme_share=max_extreme_share,
        min_ess_ratio=min_ess_ratio,
        n_smd=n_smd,
        overrule=overrule,
        overrule_components=overrule_components,
        overrule_standardize=overrule_standardize,
        overrule_timeout=overrule_timeout,
        random_state=random_state,
    )
    model = check_model(model_propensity, propensity_given=propensity is not None)
    if propensity is not None:
        propensity = check_propensity(propensity, n_samples)
    cv = Int(low=2, what="number of cross-fitting folds").check(cv, "cv")
    seed = random_seed(params.pop("random_state"))
    return overlap_checks(
        X_arr,
        gold_arr,
        feature_names(X, n_features),
        propensity=propensity,
        model=model,
        cv=cv,
        seed=seed,
        **params,
    )


# ----------------------------------------------------------------------------------------------
# The checks, on validated inputs
# ----------------------------------------------------------------------------------------------
def overlap_checks(
    X: np.ndarray,
    gold: np.ndarray,
    names: list[str],
    *,
    propensity: np.ndarray | None,
    model,
    cv: int,
    seed: int,
    factor: float,
    max_extreme_share: float,
    min_ess_ratio: float,
    n_smd: int,
    overrule: bool,
    overrule_components: int,
    overrule_standardize: bool,
    overrule_timeout: float,
) -> OverlapResult:
    """:func:`assess_overlap` on validated arrays and parameters (see there)."""
    n = X.shape[0]
    base_rate = float(gold.mean())
    low, high = propensity_bounds(base_rate, factor)
    if propensity is None:
        e, source = cross_fit_propensity(X, gold, model=model, cv=cv, seed=seed)
    else:
        e, source = np.array(propensity, dtype=np.float64), "given"
    e.setflags(write=False)

    extreme = (e < low) | (e > high)
    n_extreme = int(extreme.sum())
    n_extreme_gold = int(extreme[gold].sum())
    n_gold = int(gold.sum())
    n_pref = n - n_gold
    extreme_share = n_extreme / n
    positivity_ok = extreme_share <= max_extreme_share
    weights = _gold_weights(e[gold])
    ess = _effective_sample_size(weights)
    ess_ratio = ess / n_gold
    ess_ok = ess_ratio >= min_ess_ratio
    smd = _smd_table(X, gold, weights, names)

    uncovered, uncovered_column = _uncovered_region(X, gold, ~gold & (e < low), names)
    overrule_result = None
    if overrule:
        feature, reason = _overrule_feature(X, gold, uncovered_column, positivity_ok)
        overrule_result = run_overrule(
            X,
            gold,
            names,
            overlapping=~extreme,
            bounds=(low, high),
            components=overrule_components,
            standardize=overrule_standardize,
            feature=feature,
            feature_reason=reason,
            timeout=overrule_timeout,
            seed=seed,
        )

    failures = []
    if not positivity_ok:
        failures.append(
            f"Positivity fails: {n_extreme} of {n} rows ({extreme_share:.1%}; {n_extreme_gold} of "
            f"{n_gold} gold-standard, {n_extreme - n_extreme_gold} of {n_pref} preference rows) "
            f"have cross-fitted P(gold | x) outside [{low:.4g}, {high:.4g}] ({factor:g}x away "
            f"from the gold base rate {base_rate:.4g}), {extreme_share / max_extreme_share:.1f}x "
            f"the tolerated {max_extreme_share:.1%}. Gold and preference queries do not overlap "
            "there, so the bias estimate extrapolates."
        )
    if not ess_ok:
        failures.append(
            f"Reweighted to the preference rows, the {n_gold} gold-standard rows are worth only "
            f"{ess:.1f} rows (ratio {ess_ratio:.3f} < {min_ess_ratio:g}): a few gold rows with "
            "tiny P(gold | x) carry the bias estimate for the preference population."
        )
    advice = []
    if failures:
        if uncovered is not None and not positivity_ok:
            where = f"{uncovered.describe()} Collect gold-standard labels there"
        else:
            where = (
                "Collect gold-standard labels for queries like the preference rows with the "
                "lowest propensities (`result.propensity` ranks them)"
            )
        advice.append(
            f'{where}, or restrict routing to the overlap region with MetaRouter(overlap="trim").'
        )
    notes = list(failures)
    top_feature, top = smd.index[0], smd.iloc[0]
    if abs(top["smd"]) > SMD_NOTE_THRESHOLD:
        notes.append(
            f"Gold and preference rows differ most on feature {top_feature!r} (SMD "
            f"{top['smd']:+.2f}; above {SMD_NOTE_THRESHOLD} is a large imbalance). That alone is "
            "not a positivity failure, but check that gold queries cover its range."
        )
    if overrule_result is not None and not overrule_result.finished:
        notes.append(overrule_result.message)
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
        uncovered=uncovered,
        overrule=overrule_result,
        warnings=tuple(notes),
        advice=tuple(advice),
    )
    if failures:
        message = " ".join([*failures, *(f"What to do: {a}" for a in advice)])
        warnings.warn(message, UserWarning, stacklevel=3)
    return result


# ----------------------------------------------------------------------------------------------
# Where the gold rows are missing
# ----------------------------------------------------------------------------------------------
def _uncovered_region(
    X: np.ndarray, gold: np.ndarray, uncovered: np.ndarray, names: list[str]
) -> tuple[UncoveredRegion | None, int | None]:
    """The feature separating the uncovered preference rows from the gold rows, and its range.

    The feature has the largest ``|SMD|`` between the two groups (pooled standard deviation;
    a group of one row contributes no variance). Returns the region and the feature's column,
    or ``(None, None)`` when no row is uncovered.
    """
    n_rows = int(uncovered.sum())
    if n_rows == 0:
        return None, None
    Xu, Xg = X[uncovered], X[gold]
    var_u = Xu.var(axis=0, ddof=1) if n_rows > 1 else np.zeros(X.shape[1])
    smd = _standardise(
        Xu.mean(axis=0) - Xg.mean(axis=0), np.sqrt((var_u + Xg.var(axis=0, ddof=1)) / 2)
    )
    finite = np.where(np.isfinite(smd), np.abs(smd), np.inf)
    j = int(np.argmax(finite))
    values, gold_values = Xu[:, j], Xg[:, j]
    low, high = float(gold_values.min()), float(gold_values.max())
    region = UncoveredRegion(
        feature=names[j],
        column=j,
        smd=float(smd[j]),
        n_rows=n_rows,
        gold_range=(low, high),
        rows_range=(float(np.percentile(values, 5)), float(np.percentile(values, 95))),
        n_above=int((values > high).sum()),
        n_below=int((values < low).sum()),
    )
    return region, j


def _overrule_feature(
    X: np.ndarray, gold: np.ndarray, uncovered_column: int | None, positivity_ok: bool
) -> tuple[int | None, str]:
    """The feature OverRule gets beside the components, as ``(column or None, reason)``.

    When positivity fails, the feature along which the uncovered rows differ most from the gold
    rows; otherwise the feature with the largest ``|SMD|`` between the sources if it is above
    ``SMD_NOTE_THRESHOLD``; otherwise none.
    """
    if not positivity_ok and uncovered_column is not None:
        return uncovered_column, "where the uncovered rows differ most from the gold rows"
    Xg, Xp = X[gold], X[~gold]
    pooled = np.sqrt((Xg.var(axis=0, ddof=1) + Xp.var(axis=0, ddof=1)) / 2)
    smd = np.abs(_standardise(Xg.mean(axis=0) - Xp.mean(axis=0), pooled))
    j = int(np.argmax(np.where(np.isfinite(smd), smd, np.inf)))
    if smd[j] > SMD_NOTE_THRESHOLD:
        return j, "the largest |SMD| between the sources"
    return None, ""


# ----------------------------------------------------------------------------------------------
# Statistics: weights, effective sample size, standardised mean differences
# ----------------------------------------------------------------------------------------------
def _gold_weights(e_gold: np.ndarray) -> np.ndarray:
    """Weights ``(1 - e) / e`` taking gold rows to the preference population (``e >= 1e-12``)."""
    return (1 - e_gold) / np.maximum(e_gold, 1e-12)


def _effective_sample_size(weights: np.ndarray) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2`` (0 when every weight is 0)."""
    total_sq = float(np.sum(weights**2))
    return 0.0 if total_sq == 0 else float(np.sum(weights) ** 2 / total_sq)


def _smd_table(
    X: np.ndarray, gold: np.ndarray, weights: np.ndarray, names: list[str]
) -> pd.DataFrame:
    """Means by source and SMDs (raw and with reweighted gold rows), largest ``|smd|`` first."""
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
