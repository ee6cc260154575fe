"""Building, fitting and reading the EconML estimator of the bias Delta(x).

Delta(x) = E[Y | gold, x] - E[Y | preference, x] is the CATE of the evaluation source on the
pooled (Y, T, X) data. This module is the one place that constructs EconML estimators: the
routers, the refuters and persistence all go through :func:`build_cate_estimator`. It does not
know who consumes the estimate.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold

from .._compat import import_dowhy_quietly
from .._validation import Int
from ._models import check_learner_models, default_models

__all__ = [
    "LEARNERS",
    "FeatureScale",
    "build_cate_estimator",
    "cate_estimator_for",
    "fit_cate_estimator",
    "make_folds",
    "out_of_fold_propensity",
]

LEARNERS = ("r", "dr", "causal_forest", "forest_dr")


class FeatureScale:
    """The standardisation the built-in learners see: ``(X - mean) / scale``, fitted once.

    Every built-in learner is fitted on standardised features, so that no estimate depends on
    the units the features are stored in: a penalised model (the propensity's logistic
    regression, the ridge final stage) would otherwise penalise a column by its scale, and
    EconML's forests treat feature values closer than 1e-7 as equal when they choose splits.
    ``scale`` is the standard deviation, 1 for a constant column (as scikit-learn's
    ``StandardScaler``).

    The standardised values are rounded to float32 precision (7 significant digits, far finer
    than any estimate here needs). Standardising ``c * X`` instead of ``X`` changes the last bits
    of the result, and a forest breaks exact ties between splits (two features that cut a small
    node into the same two sets) by those bits: without the rounding a forest learner's
    estimate would depend on the units after all. With it, the rounded values are the same
    bits unless a value lies within ~1e-16 of a float32 rounding boundary (about one chance in
    10^9 per value).
    """

    def __init__(self, mean: np.ndarray, scale: np.ndarray) -> None:
        self.mean = mean
        self.scale = scale

    @classmethod
    def fit(cls, X: np.ndarray) -> FeatureScale:
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler().fit(X)
        return cls(scaler.mean_.astype(np.float64), scaler.scale_.astype(np.float64))

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Standardised ``X``: float32 for float32 input (no upcast), float64 otherwise."""
        rounded = ((X - self.mean) / self.scale).astype(np.float32)
        return rounded if X.dtype == np.float32 else rounded.astype(np.float64)


def make_folds(cv, n_gold: int, random_state: int, n_preference: int | None = None):
    """Return a seeded, shuffled ``StratifiedKFold`` with no more splits than a source has rows.

    Stratification on the gold flag needs at least one row of each source per fold; with fewer
    gold (or preference) rows than ``cv``, the number of folds drops to that count, with a warning.
    """
    n_splits = Int(low=2, what="number of cross-fitting folds").check(cv, "cv")
    for count, source in ((n_gold, "gold-standard"), (n_preference, "preference-based")):
        if count is not None and count < n_splits:
            warnings.warn(
                f"Only {count} {source} rows for cv={n_splits} folds stratified on the gold flag; "
                f"using {count} folds. Collect more {source} labels for a stable bias estimate.",
                UserWarning,
                stacklevel=3,
            )
            n_splits = count
    return StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)


def build_cate_estimator(
    learner,
    models: dict,
    *,
    folds,
    min_propensity: float,
    random_state: int,
    use_ray: bool = False,
):
    """Construct the (unfitted) EconML estimator for ``learner``.

    ``learner`` is one of :data:`LEARNERS` or an unfitted EconML estimator instance, which is
    deep-copied (EconML estimators are not scikit-learn clonable) and used as given.
    ``use_ray`` is EconML's own switch: the cross-fitting folds become Ray tasks.
    The forest learners' final forests are built with one job: with more, EconML sums the trees'
    predictions in a thread-dependent order and the last bits of ``effect`` change.
    """
    import_dowhy_quietly()
    if not isinstance(learner, str):
        return copy.deepcopy(learner)
    models = {name: clone(model) for name, model in models.items()}
    common = {"cv": folds, "random_state": random_state, "use_ray": use_ray}
    if learner == "r":
        from econml.dml import NonParamDML

        return NonParamDML(**models, discrete_treatment=True, **common)
    if learner == "causal_forest":
        from econml.dml import CausalForestDML

        return CausalForestDML(
            **models, discrete_treatment=True, n_estimators=200, n_jobs=1, **common
        )
    if learner == "dr":
        from econml.dr import DRLearner

        return DRLearner(**models, min_propensity=min_propensity, **common)
    if learner == "forest_dr":
        from econml.dr import ForestDRLearner

        return ForestDRLearner(
            **models, min_propensity=min_propensity, n_estimators=200, n_jobs=1, **common
        )
    raise ValueError(
        f"`learner` must be one of {LEARNERS + ('auto',)} or an EconML estimator; got {learner!r}."
    )


def fit_cate_estimator(
    estimator, y: np.ndarray, gold: np.ndarray, X: np.ndarray, *, cache_values: bool = False
):
    """Fit ``estimator`` on the pooled data, with treatment ``T = gold`` (1 = gold-standard row).

    ``cache_values=True`` keeps EconML's out-of-fold nuisances, for choosing the final stage.
    """
    if cache_values:
        estimator.fit(y, gold.astype(np.int64), X=X, cache_values=True)
    else:
        estimator.fit(y, gold.astype(np.int64), X=X)
    return estimator


def out_of_fold_propensity(estimator, X: np.ndarray, gold: np.ndarray, folds) -> np.ndarray | None:
    """P(gold | x) for every row from the fold models EconML fitted, each read on its held-out fold.

    Returns None when the estimator exposes no per-fold propensity models (e.g. a user-supplied
    estimator of another family).
    """
    fold_models = None
    for attr in ("models_propensity", "models_t"):
        fold_models = getattr(estimator, attr, None)
        if fold_models is not None:
            break
    if not fold_models or not hasattr(folds, "split"):
        return None
    propensity = np.full(X.shape[0], np.nan)
    splits = list(folds.split(X, gold.astype(np.int64)))
    if len(splits) != len(fold_models[0]):
        return None
    for (_, test), model in zip(splits, fold_models[0], strict=True):
        propensity[test] = model.predict_proba(X[test])[:, 1]
    return propensity


def cate_estimator_for(
    learner,
    given_models: dict,
    *,
    cv,
    n_gold: int,
    n_preference: int,
    min_propensity: float,
    random_state: int,
    n_jobs: int = 1,
    use_ray: bool = False,
):
    """The unfitted estimator of a router's configuration, and the folds it cross-fits on.

    The one recipe shared by the routers (fitting) and the refuters (refitting): default models
    for ``learner`` updated with the models the user gave (``given_models``, EconML's names;
    None means the default), folds from :func:`make_folds`, the estimator from
    :func:`build_cate_estimator`. For an EconML estimator passed as ``learner`` the models are
    its own and the folds are None.
    """
    if not isinstance(learner, str):
        estimator = build_cate_estimator(
            learner, {}, folds=None, min_propensity=min_propensity, random_state=random_state
        )
        return estimator, None
    folds = make_folds(cv, n_gold, random_state, n_preference)
    check_learner_models(learner, given_models)
    models = default_models(learner, random_state, n_jobs)
    models.update({k: v for k, v in given_models.items() if v is not None and k in models})
    estimator = build_cate_estimator(
        learner,
        models,
        folds=folds,
        min_propensity=min_propensity,
        random_state=random_state,
        use_ray=use_ray,
    )
    return estimator, folds
