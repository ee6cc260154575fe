"""The propensity P(gold | x): cross-fitted estimates and what counts as extreme.

One cross-fitting routine (:func:`cross_fitted_propensity`) serves the truncated Meta-Router's
overlap region and the overlap diagnostics, with one default model
(:func:`~metarouter_econml._estimation.default_overlap_model`), so both see the same region.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.base import clone

from .._validation import Real

__all__ = [
    "KnownPropensity",
    "OverlapRegion",
    "check_extreme_propensity",
    "cross_fitted_propensity",
    "estimate_overlap_region",
    "propensity_bounds",
]


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


@dataclass(frozen=True, eq=False)
class OverlapRegion:
    """Where both sources label queries: cross-fitted P(gold | x) above a threshold.

    Attributes
    ----------
    propensity : ndarray of shape (n_samples,)
        Cross-fitted P(gold | x) of every row.
    models : list
        The fold models behind ``propensity``; their mean predicts new queries.
    threshold : float
        The absolute propensity cut.
    inside : ndarray of bool, shape (n_samples,)
        Rows with ``propensity >= threshold``.
    """

    propensity: np.ndarray
    models: list
    threshold: float
    inside: np.ndarray

    def contains(self, X: np.ndarray) -> np.ndarray:
        """Whether new queries are inside: the fold models' mean propensity against the cut."""
        propensity = np.mean([model.predict_proba(X)[:, 1] for model in self.models], axis=0)
        return propensity >= self.threshold


def estimate_overlap_region(
    model, X: np.ndarray, gold: np.ndarray, folds, relative_threshold: float | None
) -> OverlapRegion:
    """Cross-fit ``model`` for P(gold | x) and cut at ``relative_threshold * base_rate``.

    ``relative_threshold=None`` uses the low bound of :func:`propensity_bounds` (10x below the
    gold base rate, the yardstick of the extreme-propensity warning).

    Raises
    ------
    ValueError
        If fewer preference-based rows than folds fall inside (the bias could not be estimated
        there); the message starts with what was found, so callers can add their own advice.
    """
    propensity, models = cross_fitted_propensity(model, X, gold, folds)
    base_rate = float(gold.mean())
    if relative_threshold is None:
        threshold = float(propensity_bounds(base_rate)[0])
    else:
        threshold = float(relative_threshold * base_rate)
    inside = propensity >= threshold
    n_inside = int(np.sum(inside & ~gold))
    n_splits = folds.get_n_splits()
    if n_inside < n_splits:
        raise ValueError(
            f"leaves {n_inside} preference-based rows inside the overlap region (cross-fitted "
            f"P(gold | x) >= {threshold:.4g}); at least {n_splits} (one per fold) are needed to "
            "estimate the bias."
        )
    return OverlapRegion(propensity=propensity, models=models, threshold=threshold, inside=inside)


class KnownPropensity:
    """A "classifier" of P(gold | x) that returns probabilities known by design (active labelling).

    When gold labels were requested by a randomised rule (:mod:`metarouter_econml.active`), the
    probability that each row became a gold row is known, and the CATE estimator should use it
    instead of estimating it. EconML's nuisance slots take estimators, so this one looks each
    row up by its feature values: ``features`` and ``probability`` are the rows EconML will see
    and their known probabilities. ``fit`` learns nothing; ``predict_proba`` returns
    ``[1 - p, p]`` of each row. Rows with equal features must have equal probabilities (a
    selection rule that depends on ``x`` only gives them that), which is checked; a row that
    was not given is an error, never a guess.
    """

    def __init__(self, features: np.ndarray, probability: np.ndarray) -> None:
        self.features = features
        self.probability = probability

    def get_params(self, deep: bool = True) -> dict:  # what sklearn's clone needs
        return {"features": self.features, "probability": self.probability}

    def set_params(self, **params) -> KnownPropensity:
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def _table(self) -> dict:
        table = getattr(self, "_lookup", None)
        if table is None:
            table = {}
            keys = np.ascontiguousarray(self.features, dtype=np.float64)
            for row, p in zip(keys, np.asarray(self.probability, dtype=np.float64), strict=True):
                key = row.tobytes()
                if table.setdefault(key, p) != p:
                    raise ValueError(
                        "`gold_probability` must be equal on rows with equal features (a "
                        "selection rule that depends on the query only); two equal rows have "
                        f"{table[key]!r} and {p!r}."
                    )
            self._lookup = table
        return table

    def fit(self, X, y, **fit_params) -> KnownPropensity:
        self.classes_ = np.array([0, 1])
        self._table()
        return self

    def predict_proba(self, X) -> np.ndarray:
        table = self._table()
        rows = np.ascontiguousarray(X, dtype=np.float64)
        try:
            p = np.array([table[row.tobytes()] for row in rows])
        except KeyError:
            raise ValueError(
                "KnownPropensity was asked for a row it was not given: the known gold "
                "probabilities apply to the training rows only."
            ) from None
        return np.column_stack([1.0 - p, p])
