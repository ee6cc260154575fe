"""The propensity P(gold | x): cross-fitted estimates and what counts as extreme.

One cross-fitting routine (:func:`cross_fitted_propensity`) serves the truncated Meta-Router's
overlap region and the overlap diagnostics, with one default model
(:func:`~metarouter_econml._estimation.default_overlap_model`), so both see the same region.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import clone

from .._validation import Real

__all__ = ["check_extreme_propensity", "cross_fitted_propensity", "propensity_bounds"]


def cross_fitted_propensity(
    model, X: np.ndarray, gold: np.ndarray, folds
) -> tuple[np.ndarray, list]:
    """P(gold | x) for every row, each read from a clone of ``model`` fitted on the other folds.

    Used before any CATE fit (e.g. to find the overlap region); returns the propensities and the
    fitted fold models, in the order of ``folds.split``.
    """
    treatment = gold.astype(np.int64)
    propensity = np.full(X.shape[0], np.nan)
    fitted = []
    for train, test in folds.split(X, treatment):
        fold_model = clone(model).fit(X[train], treatment[train])
        propensity[test] = fold_model.predict_proba(X[test])[:, 1]
        fitted.append(fold_model)
    return propensity, fitted


def propensity_bounds(base_rate: float, factor: float = 10.0) -> tuple[float, float]:
    """Bounds outside which a propensity P(gold | x) is extreme relative to the gold base rate.

    The low bound is ``base_rate / factor`` (gold is ``factor`` times rarer than on average); the
    high bound mirrors it for the preference source, ``1 - (1 - base_rate) / factor``.

    Parameters
    ----------
    base_rate : float in (0, 1)
        Share of gold-standard rows, ``n_gold / n``.
    factor : float > 1, default=10.0
        How many times rarer than average a source must be for a propensity to count as extreme.

    Returns
    -------
    (low, high) : tuple of float

    Examples
    --------
    >>> propensity_bounds(0.02)
    (0.002, 0.902)
    """
    base_rate = Real(0, 1, low_open=True, high_open=True).check(base_rate, "base_rate")
    factor = Real(1, low_open=True).check(factor, "factor")
    return base_rate / factor, min(1.0, 1 - (1 - base_rate) / factor)


def check_extreme_propensity(
    propensity: np.ndarray, gold: np.ndarray, *, min_propensity: float
) -> dict:
    """Summarise the cross-fitted propensities and warn, with numbers, when many are extreme.

    Extremity is judged relative to the base rate ``n_gold / n``: a gold share of 2 % is by design,
    not a positivity failure, but propensities 10x below (or above) it are.
    """
    base_rate = float(gold.mean())
    low, high = propensity_bounds(base_rate)
    n_low = int(np.sum(propensity < low))
    n_high = int(np.sum(propensity > high))
    n_floor = int(np.sum(propensity < min_propensity))
    summary = {
        "base_rate": base_rate,
        "min": float(propensity.min()),
        "max": float(propensity.max()),
        "n_below_base_rate_over_10": n_low,
        "n_above_symmetric_bound": n_high,
        "n_below_min_propensity": n_floor,
    }
    share = (n_low + n_high) / propensity.size
    if share > 0.05:
        warnings.warn(
            f"{n_low + n_high} of {propensity.size} rows ({share:.1%}) have extreme cross-fitted "
            f"propensities P(gold | x) (below {low:.4f} or above {high:.4f}, i.e. 10x away from "
            "the "
            f"gold base rate {base_rate:.4f}; range {summary['min']:.2e} to {summary['max']:.3f}). "
            "Gold and preference queries may not overlap there, so the bias estimate extrapolates. "
            "Collect gold labels on those queries, or restrict the router to the overlap region.",
            UserWarning,
            stacklevel=3,
        )
    return summary
