"""The serving path of fitted routers: the models' own predictors, built once per fitted model.

``predict``, ``route`` and ``estimate_bias`` check their input once (``check_features``) and then
call what is cached here: the LightGBM booster of the router model with the arguments its
scikit-learn wrapper would pass (:func:`metarouter_econml._compat.lightgbm_booster_predictor`);
for a router model that is an unweighted ``VotingRegressor`` of LightGBM regressors, the
average of their boosters' predictions taken as ``VotingRegressor.predict`` takes it
(:func:`voting_predictor`); and EconML's final CATE model with the reshaping EconML applies
(:func:`metarouter_econml._persist._standin.final_stage_effect`). The results are the same bits
as the wrappers'; only the per-call overhead (parameter introspection, repeated validation) is
gone. Models without a raw path (any other regressor or average, the forest learners) use their
own ``predict``/``effect``.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from .._compat import lightgbm_booster_predictor
from .._persist._standin import encode_cate, final_stage_effect

__all__ = ["ServingModels", "serving_models", "voting_predictor"]

# Outside the routers, so that predicting never changes a router's __dict__ (scikit-learn's
# contract) and pickles, clones and saved files never carry it; entries die with their router.
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


class ServingModels:
    """Raw predictors of one fitted router (its router model and, if any, its CATE model)."""

    def __init__(self, router: Any) -> None:
        model = router.router_model_
        cate = getattr(router, "cate_estimator_", None)
        self.models = (model, cate)  # held, so a refit's new models can never reuse their ids
        self.psi: Callable[[np.ndarray], Any] = (
            lightgbm_booster_predictor(model) or voting_predictor(model) or model.predict
        )
        self.bias: Callable[[np.ndarray], np.ndarray] | None = (
            None if cate is None else _bias_predictor(cate)
        )


def voting_predictor(model: Any) -> Callable[[np.ndarray], np.ndarray] | None:
    """``X -> model.predict(X)`` for an unweighted ``VotingRegressor`` of LightGBM regressors.

    scikit-learn (1.9) predicts ``np.average(self._predict(X), axis=1, weights=None)``, where
    ``_predict`` stacks the parts' predictions and transposes them; the same operations on the
    parts' boosters (:func:`metarouter_econml._compat.lightgbm_booster_predictor`) give the
    same bits. Returns None for anything else (another model or a subclass, weights, a part
    without a booster path), so the caller falls back to ``model.predict``.
    """
    from sklearn.ensemble import VotingRegressor

    if type(model) is not VotingRegressor or model.weights is not None:
        return None
    predictors = []
    for part in getattr(model, "estimators_", []):
        predictor = lightgbm_booster_predictor(part)
        if predictor is None:
            return None
        predictors.append(predictor)
    if not predictors:
        return None

    def predict(X: np.ndarray) -> np.ndarray:
        return np.average(np.asarray([part(X) for part in predictors]).T, axis=1)

    return predict


def _bias_predictor(estimator: Any) -> Callable[[np.ndarray], np.ndarray]:
    """``X -> estimator.effect(X)`` (preference to gold), through the final model if possible."""
    try:
        encoded = encode_cate(estimator)
    except ValueError:  # forests, featurizers, user estimators: EconML's own path
        return lambda X: np.ravel(estimator.effect(X))
    assert encoded is not None
    kind, model = encoded["kind"], encoded["models"][0]

    def effect(X: np.ndarray) -> np.ndarray:
        marginal = final_stage_effect(kind, model, X)
        # EconML contracts with T1 - T0 (a column of ones); this also turns -0.0 into 0.0
        return np.einsum("mt,mt->m", marginal, np.ones((marginal.shape[0], 1)))

    return effect


def serving_models(router: Any) -> ServingModels:
    """The router's cached :class:`ServingModels`, rebuilt when its fitted models changed."""
    model, cate = router.router_model_, getattr(router, "cate_estimator_", None)
    cached = _CACHE.get(router)
    if cached is None or cached.models[0] is not model or cached.models[1] is not cate:
        cached = ServingModels(router)
        with _LOCK:
            _CACHE[router] = cached
    return cached
