"""Default models of the Meta-Router: one factory per role, fresh instances on every call.

Roles, with EconML's parameter names: outcome nuisances (``model_y``, ``model_regression``),
propensity nuisances (``model_t``, ``model_propensity``), the final CATE model
(``model_final``), the overlap classifier (``model_overlap``, also used by the diagnostics) and
the router model. Why these defaults were chosen is recorded in ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import GridSearchCV

__all__ = [
    "LEARNER_MODELS",
    "MODEL_PARAMS",
    "check_learner_models",
    "default_models",
    "default_overlap_model",
    "default_router_model",
    "lightgbm_regressor",
]

# Which EconML-named model parameters each learner uses. A parameter given for a learner that has no
# use for it is an error, never silently dropped.
LEARNER_MODELS = {
    "r": ("model_y", "model_t", "model_final"),
    "causal_forest": ("model_y", "model_t"),
    "dr": ("model_propensity", "model_regression", "model_final"),
    "forest_dr": ("model_propensity", "model_regression"),
}
MODEL_PARAMS = ("model_y", "model_t", "model_propensity", "model_regression", "model_final")


def lightgbm_regressor(
    random_state: int, *, n_estimators: int, learning_rate: float, n_jobs: int = 1
):
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
    return {name: models[name] for name in LEARNER_MODELS[learner]}


def check_learner_models(learner: str, given: dict) -> None:
    """Refuse model parameters that the chosen learner would ignore."""
    unused = [
        name
        for name, value in given.items()
        if value is not None and name not in LEARNER_MODELS[learner]
    ]
    if unused:
        raise ValueError(
            f"{unused} cannot be used with learner={learner!r}, which takes only "
            f"{list(LEARNER_MODELS[learner])}; remove them or choose another learner."
        )


def default_router_model(random_state: int, n_jobs: int = 1):
    """The LightGBM regressor of ``psi`` shared by every router."""
    return lightgbm_regressor(random_state, n_estimators=300, learning_rate=0.03, n_jobs=n_jobs)


def default_overlap_model(random_state: int, n_jobs: int = 1):
    """Return a classifier of P(gold | x) that can drop to ~0 past the edge of gold support.

    The overlap model of the truncated Meta-Router, of ``fit``'s positivity warning and of the
    diagnostics: shallow boosted trees (100 trees of 7 leaves, at least 40 rows per leaf) without
    an L2 penalty, which at a base rate of a few percent would swamp the leaves' hessians. The
    CATE's own propensity model (a penalised logistic regression) is smooth by design and decays
    too slowly past a support boundary to find it. How well each separates a violation from
    good overlap, and where it fails (50 or fewer gold rows): ``benchmarks/RESULTS.md`` §4, §11.
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
