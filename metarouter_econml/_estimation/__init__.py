"""Estimation of the evaluation bias and everything it needs (private).

The layer between the validated inputs (``_validation``) and the routers (``_routers``):

- ``_scaling``: the gold-to-preference scale factor;
- ``_models``: the default model of every role (nuisances, final stage, overlap, router);
- ``_propensity``: cross-fitted P(gold | x) and the extreme-propensity rule;
- ``_cate``: the one builder of EconML estimators, the cross-fitting folds;
- ``_selection``: the validated choice of the default final CATE stage and router model.

Nothing here imports a router, the diagnostics, the evaluation or the CLI.
"""

from ._cate import (
    LEARNERS,
    FeatureScale,
    build_cate_estimator,
    cate_estimator_for,
    fit_cate_estimator,
    make_folds,
    out_of_fold_propensity,
)
from ._models import (
    LEARNER_MODELS,
    MODEL_PARAMS,
    check_learner_models,
    default_models,
    default_overlap_model,
    default_router_model,
    final_stage_candidates,
    lightgbm_regressor,
    router_average_partner,
    router_forest,
    router_model_candidates,
)
from ._propensity import (
    KnownPropensity,
    OverlapRegion,
    check_extreme_propensity,
    cross_fitted_propensity,
    estimate_overlap_region,
    propensity_bounds,
)
from ._scaling import GOLD_SCALES, gold_scale_factor
from ._selection import (
    cached_pseudo_outcomes,
    keep_reference_unless_beaten,
    paired_losses,
    select_final_stage,
    select_router_model,
    validated_router_model,
)

__all__ = [
    "GOLD_SCALES",
    "FeatureScale",
    "KnownPropensity",
    "OverlapRegion",
    "LEARNERS",
    "LEARNER_MODELS",
    "MODEL_PARAMS",
    "build_cate_estimator",
    "cached_pseudo_outcomes",
    "cate_estimator_for",
    "check_extreme_propensity",
    "check_learner_models",
    "cross_fitted_propensity",
    "default_models",
    "default_overlap_model",
    "default_router_model",
    "estimate_overlap_region",
    "final_stage_candidates",
    "fit_cate_estimator",
    "gold_scale_factor",
    "keep_reference_unless_beaten",
    "lightgbm_regressor",
    "make_folds",
    "out_of_fold_propensity",
    "paired_losses",
    "propensity_bounds",
    "router_average_partner",
    "router_forest",
    "router_model_candidates",
    "select_final_stage",
    "select_router_model",
    "validated_router_model",
]
