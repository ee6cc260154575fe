"""Estimation of the evaluation bias Delta(x) = E[Y | gold, x] - E[Y | preference, x], delegated to EconML.

This module knows how to build, fit and read an EconML CATE estimator on the pooled (Y, T, X) data.
It does not know who consumes the estimate (the routers in ``_router.py`` do).

With a few percent of gold rows the propensity P(gold | x) is tiny, so the defaults were chosen by
measurement (``benchmarks/choose_defaults.py``, results in ``benchmarks/RESULTS.md``):

* cross-fitting folds are stratified on the gold flag, shuffled and seeded, so every fold holds
  gold rows and the out-of-fold propensities can be recomputed from the fitted fold models;
* the propensity model is an L2-penalised logistic regression whose penalty is chosen by log-loss
  (not accuracy, which is meaningless at 2 % treated), so that it shrinks to the base rate when the
  features say nothing about which rows are gold;
* the final CATE model is a ridge regression with a penalty chosen by generalised cross-validation,
  on the features as given: with ~100 gold rows a flexible final model mostly fits noise, and
  inverse-propensity pseudo-outcomes (DR) make that worse. On principal-component features an
  unstandardised ridge shrinks low-variance components hardest, which measured clearly better than
  ridge on standardised features (see the benchmark); standardise features yourself when they are
  on unrelated scales, or pass another ``model_final``.
"""

from __future__ import annotations

import copy
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import GridSearchCV
from sklearn.model_selection import StratifiedKFold
from sklearn.utils import check_random_state

from ._compat import import_dowhy_quietly

LEARNERS = ("r", "dr", "causal_forest", "forest_dr")

# Which EconML-named model parameters each learner uses. A parameter given for a learner that has no
# use for it is an error, never silently dropped.
_LEARNER_MODELS = {
    "r": ("model_y", "model_t", "model_final"),
    "causal_forest": ("model_y", "model_t"),
    "dr": ("model_propensity", "model_regression", "model_final"),
    "forest_dr": ("model_propensity", "model_regression"),
}
MODEL_PARAMS = ("model_y", "model_t", "model_propensity", "model_regression", "model_final")


def lightgbm_regressor(random_state: int, *, n_estimators: int, learning_rate: float, n_jobs: int = 1):
    """The small LightGBM regressor behind the default outcome and router models.

    ``deterministic=True`` with a fixed (column-wise) histogram layout makes the fitted trees the
    same for every ``n_jobs`` (LightGBM's documented recipe), so threads change speed, not results.
    """
    from lightgbm import LGBMRegressor

    return LGBMRegressor(
        n_estimators=n_estimators,
        learning_rate=learning_rate,
        num_leaves=15,
        min_child_samples=20,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        deterministic=True,
        force_col_wise=True,
        n_jobs=n_jobs,
        random_state=random_state,
        verbose=-1,
    )


def _default_outcome_model(random_state: int, n_jobs: int = 1):
    return lightgbm_regressor(random_state, n_estimators=200, learning_rate=0.05, n_jobs=n_jobs)


def _default_propensity_model(random_state: int):
    # EconML runs the search once on its cross-fitting folds, then refits the best C per fold.
    return GridSearchCV(
        LogisticRegression(max_iter=2000, random_state=random_state),
        {"C": [1e-3, 1e-2, 1e-1, 1.0]},
        scoring="neg_log_loss",
    )


def default_models(learner: str, random_state: int, n_jobs: int = 1) -> dict:
    """Return fresh default nuisance and final models for ``learner`` (EconML's parameter names).

    ``n_jobs`` is the number of threads of the LightGBM outcome models.
    """
    models = {
        "model_y": _default_outcome_model(random_state, n_jobs),
        "model_regression": _default_outcome_model(random_state, n_jobs),
        "model_t": _default_propensity_model(random_state),
        "model_propensity": _default_propensity_model(random_state),
        "model_final": RidgeCV(alphas=np.logspace(-2, 5, 15)),
    }
    return {name: models[name] for name in _LEARNER_MODELS[learner]}


def check_learner_models(learner: str, given: dict) -> None:
    """Refuse model parameters that the chosen learner would ignore."""
    unused = [name for name, value in given.items() if value is not None and name not in _LEARNER_MODELS[learner]]
    if unused:
        raise ValueError(
            f"{unused} cannot be used with learner={learner!r}, which takes only "
            f"{list(_LEARNER_MODELS[learner])}; remove them or choose another learner."
        )


def make_folds(cv, n_gold: int, random_state: int, n_preference: int | None = None):
    """Return a seeded, shuffled ``StratifiedKFold`` with no more splits than either source has rows.

    Stratification on the gold flag needs at least one row of each source per fold; with fewer
    gold (or preference) rows than ``cv``, the number of folds drops to that count, with a warning.
    """
    if isinstance(cv, bool) or not isinstance(cv, Integral) or cv < 2:
        raise ValueError(f"`cv` must be an integer >= 2 (number of cross-fitting folds); got {cv!r}.")
    n_splits = int(cv)
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
    raise ValueError(f"`learner` must be one of {LEARNERS + ('auto',)} or an EconML estimator; got {learner!r}.")


def fit_cate_estimator(estimator, y: np.ndarray, gold: np.ndarray, X: np.ndarray):
    """Fit ``estimator`` on the pooled data, with treatment ``T = gold`` (1 = gold-standard row)."""
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
    for (_, test), model in zip(splits, fold_models[0]):
        propensity[test] = model.predict_proba(X[test])[:, 1]
    return propensity


def default_overlap_model(random_state: int, n_jobs: int = 1):
    """Return a classifier of P(gold | x) that can drop to ~0 past the edge of gold support.

    Used to find the overlap region of the truncated Meta-Router. The CATE's propensity model (a
    penalised logistic regression) is smooth by design, so its tail decays slowly past a support
    boundary: on ``make_routing_data(5000, 50)`` with 100 gold rows, all at ``pc1 < 0``, it still
    gave 92-98 % of the preference rows at ``pc1 > 1`` more than a tenth of the base rate. These
    shallow boosted trees, without L2 penalty (which at a 2 % base rate swamps the leaves'
    hessians), kept about 1 % of them and 98-100 % of the covered rows, and over 99 % of all rows
    when the gold rows were drawn at random (``benchmarks/truncated_router.py`` measures it too).
    """
    from lightgbm import LGBMClassifier

    return LGBMClassifier(
        n_estimators=100,
        learning_rate=0.05,
        num_leaves=7,
        min_child_samples=40,
        deterministic=True,
        force_col_wise=True,
        n_jobs=n_jobs,
        random_state=random_state,
        verbose=-1,
    )


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
    if isinstance(base_rate, bool) or not isinstance(base_rate, Real) or not 0 < base_rate < 1:
        raise ValueError(f"`base_rate` must be a number in (0, 1); got {base_rate!r}.")
    if isinstance(factor, bool) or not isinstance(factor, Real) or not 1 < factor < np.inf:
        raise ValueError(f"`factor` must be a finite number > 1; got {factor!r}.")
    base_rate, factor = float(base_rate), float(factor)
    return base_rate / factor, min(1.0, 1 - (1 - base_rate) / factor)


def check_extreme_propensity(propensity: np.ndarray, gold: np.ndarray, *, min_propensity: float) -> dict:
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
            f"propensities P(gold | x) (below {low:.4f} or above {high:.4f}, i.e. 10x away from the "
            f"gold base rate {base_rate:.4f}; range {summary['min']:.2e} to {summary['max']:.3f}). "
            "Gold and preference queries may not overlap there, so the bias estimate extrapolates. "
            "Collect gold labels on those queries, or restrict the router to the overlap region.",
            UserWarning,
            stacklevel=3,
        )
    return summary


def random_seed(random_state) -> int:
    """Draw one integer seed from ``random_state`` (None, int or RandomState) for the delegates."""
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
