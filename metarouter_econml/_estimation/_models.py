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
    "ROUTER_AVERAGE_LEAVES",
    "ROUTER_AVERAGE_TREES",
    "ROUTER_CV_ROWS",
    "ROUTER_LEARNING_RATE",
    "ROUTER_MAX_TREES",
    "check_learner_models",
    "default_models",
    "default_overlap_model",
    "default_router_model",
    "final_stage_candidates",
    "lightgbm_regressor",
    "router_average_partner",
    "router_forest",
    "router_model_candidates",
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
    random_state: int,
    *,
    n_estimators: int,
    learning_rate: float,
    n_jobs: int = 1,
    **params,
):
    """The small LightGBM regressor behind the default outcome, final-stage and router models.

    15 leaves of at least 20 rows, row and column subsampling, 63 histogram bins (half the
    cost of LightGBM's 255 at these sizes; principal-component features need no finer grid);
    ``params`` override any of these. ``deterministic=True`` with a fixed (column-wise)
    histogram layout makes the fitted trees the same for every ``n_jobs`` (LightGBM's documented
    recipe), so threads change speed, not results.
    """
    from lightgbm import LGBMRegressor

    settings = {
        "num_leaves": 15,
        "min_child_samples": 20,
        "subsample": 0.8,
        "subsample_freq": 1,
        "colsample_bytree": 0.8,
        "max_bin": 63,
        **params,
    }
    return LGBMRegressor(
        n_estimators=n_estimators,
        learning_rate=learning_rate,
        deterministic=True,
        force_col_wise=True,
        n_jobs=n_jobs,
        random_state=random_state,
        verbose=-1,
        **settings,
    )


def _default_outcome_model(random_state: int, n_jobs: int = 1):
    return lightgbm_regressor(random_state, n_estimators=200, learning_rate=0.05, n_jobs=n_jobs)


def _default_propensity_model(random_state: int):
    # EconML runs the search once on its cross-fitting folds, then refits the best C per fold.
    # The features reach it standardised (_cate.FeatureScale), so C does not depend on units.
    return GridSearchCV(
        LogisticRegression(max_iter=2000, random_state=random_state),
        {"C": [1e-3, 1e-2, 1e-1, 1.0]},
        scoring="neg_log_loss",
    )


def _linear_final_stage():
    # The features reach it standardised (_cate.FeatureScale).
    return RidgeCV(alphas=np.logspace(-2, 5, 15))


def final_stage_candidates(
    learner: str, n_rows: int, n_gold: int, random_state: int, n_jobs: int = 1
) -> dict:
    """The final CATE models the default ``"r"``/``"dr"`` learner chooses between.

    All see standardised features. ``"linear"``: ridge regression, its penalty chosen by
    generalised cross-validation (a bias spread over many features). ``"sparse"``: the lasso,
    its penalty chosen by 3-fold cross-validation (a bias in a few features). ``"boosted"``:
    100 shallow boosted trees (7 leaves; a nonlinear or interacting bias), each leaf holding at
    least about 10 gold rows' worth of the learner's loss, so that no leaf is estimated from
    preference rows alone: for the R-learner a gold row weighs about 1 in the R-loss and a
    preference row about the squared gold share, hence a minimum leaf weight of 10; the
    DR-learner's rows weigh the same, and a leaf needs ``10 * n_rows / n_gold`` rows to hold
    about 10 gold rows. Which one is used is decided by cross-validation
    (``_selection.select_final_stage``).
    """
    from sklearn.linear_model import LassoCV
    from sklearn.model_selection import KFold

    if learner == "r":
        leaf = {"min_child_weight": 10.0, "min_child_samples": 20}
    else:
        leaf = {"min_child_samples": max(20, int(np.ceil(10 * n_rows / max(n_gold, 1))))}
    boosted = lightgbm_regressor(
        random_state, n_estimators=100, learning_rate=0.05, n_jobs=n_jobs, num_leaves=7, **leaf
    )
    # shuffled folds: the rows may arrive sorted by source (all gold rows first)
    sparse = LassoCV(cv=KFold(3, shuffle=True, random_state=random_state), max_iter=5000)
    return {"linear": _linear_final_stage(), "sparse": sparse, "boosted": boosted}


def default_models(learner: str, random_state: int, n_jobs: int = 1) -> dict:
    """Return fresh default nuisance and final models for ``learner`` (EconML's parameter names).

    ``n_jobs`` is the number of threads of the LightGBM outcome models.
    """
    models = {
        "model_y": _default_outcome_model(random_state, n_jobs),
        "model_regression": _default_outcome_model(random_state, n_jobs),
        "model_t": _default_propensity_model(random_state),
        "model_propensity": _default_propensity_model(random_state),
        "model_final": _linear_final_stage(),
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
    """The small-data boosted candidate of :func:`router_model_candidates` (300 trees)."""
    return lightgbm_regressor(random_state, n_estimators=300, learning_rate=0.03, n_jobs=n_jobs)


#: Up to this many rows the router model is chosen by cross-validation between the candidates
#: of :func:`router_model_candidates`; above, on one 25% hold-out (at least 500 rows), where
#: the boosted candidate is early-stopped (``_selection.select_router_model``).
ROUTER_CV_ROWS = 2000

#: Most trees and learning rate of the early-stopped boosted router model (above
#: :data:`ROUTER_CV_ROWS` rows).
ROUTER_MAX_TREES = 600
ROUTER_LEARNING_RATE = 0.05


#: Trees and leaves of the forest averaged with the boosted router model whenever validation
#: keeps the boosted trees (``_selection.select_router_model``): a smaller forest than the
#: candidate, chosen on the battery (``benchmarks/RESULTS.md`` §13n).
ROUTER_AVERAGE_TREES = 50
ROUTER_AVERAGE_LEAVES = 15


def router_forest(
    random_state: int, n_jobs: int = 1, *, n_estimators: int = 200, num_leaves: int = 63
):
    """A LightGBM random forest as in the paper, for the router model.

    ``boosting_type="rf"``: ``n_estimators`` trees of up to ``num_leaves`` leaves on subsamples
    of 63% of the rows (a bootstrap's share of distinct rows), a third of the features per
    split, leaves of at least 5 rows. It averages instead of chasing residuals; the per-split
    feature sampling is what makes it rank differently from boosting (``benchmarks/RESULTS.md``
    §13m).
    """
    return lightgbm_regressor(
        random_state,
        n_estimators=n_estimators,
        learning_rate=1.0,
        n_jobs=n_jobs,
        boosting_type="rf",
        num_leaves=num_leaves,
        min_child_samples=5,
        subsample=0.632,
        colsample_bytree=1.0,
        colsample_bynode=0.33,
    )


def router_model_candidates(random_state: int, n_jobs: int = 1, *, n_rows: int = 0) -> dict:
    """The models of ``psi`` every router chooses between when ``router_model`` is None.

    ``"boosted"``, the reference: up to :data:`ROUTER_CV_ROWS` training rows (``n_rows``), 300
    boosted trees of 15 leaves (learning rate 0.03); above, up to :data:`ROUTER_MAX_TREES` trees
    at learning rate :data:`ROUTER_LEARNING_RATE`, their number chosen by early stopping on a
    hold-out (``_selection.select_router_model``). ``"forest"``: :func:`router_forest` (200
    trees of 63 leaves), which holds up on small data and ranks labels with little signal
    better than boosting (``benchmarks/RESULTS.md`` §13k). Both are LightGBM models, so routers
    keep one serving path and one saved format.
    """
    if n_rows > ROUTER_CV_ROWS:
        boosted = lightgbm_regressor(
            random_state,
            n_estimators=ROUTER_MAX_TREES,
            learning_rate=ROUTER_LEARNING_RATE,
            n_jobs=n_jobs,
        )
    else:
        boosted = default_router_model(random_state, n_jobs)
    return {"boosted": boosted, "forest": router_forest(random_state, n_jobs)}


def router_average_partner(random_state: int, n_jobs: int = 1):
    """The forest averaged with the boosted router model when validation keeps it.

    :func:`router_forest` with :data:`ROUTER_AVERAGE_TREES` trees of
    :data:`ROUTER_AVERAGE_LEAVES` leaves.
    """
    return router_forest(
        random_state,
        n_jobs,
        n_estimators=ROUTER_AVERAGE_TREES,
        num_leaves=ROUTER_AVERAGE_LEAVES,
    )


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
