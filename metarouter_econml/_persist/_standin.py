"""The CATE model of a saved MetaRouter: EconML's final stage, without the rest of the estimator.

A fitted EconML estimator holds nuisance models for every fold, model selection results and
inference state that ``estimate_bias`` never uses. A router file keeps only its final stage
(:func:`encode_cate`): the final CATE model and, if EconML standardised the features before it,
the fitted ``StandardScaler`` featurizer. A loaded router gets a :class:`SavedCateModel` in
their place, which predicts with them as EconML 0.17 does (:func:`final_stage_effect`).

The final stage of each kind (:data:`KINDS`)
    * ``"nonparam_dml"`` (``NonParamDML``, learner ``"r"``) and ``"drlearner"`` (``DRLearner``,
      learner ``"dr"``): a regressor of the types that :mod:`._models` checks;
    * ``"causal_forest"`` (``CausalForestDML``) and ``"forest_dr"`` (``ForestDRLearner``):
      EconML's forest, whose Cython trees skops cannot rebuild, kept as the plain arrays of its
      point estimate (:mod:`._forest`) and evaluated with numpy.

    Without a featurizer, a regressor is stored as it is (router file format 1). Otherwise the
    final stage is a dict ``{"featurizer": StandardScaler or None, "model_final": regressor or
    encoded forest}`` (format 2, :func:`cate_format_version`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._compat import import_dowhy_quietly
from ._forest import encode_forest, forest_effect

__all__ = [
    "FOREST_KINDS",
    "KINDS",
    "SAVEABLE_LEARNERS",
    "SavedCateModel",
    "cate_format_version",
    "encode_cate",
    "final_stage_effect",
]

KINDS = ("nonparam_dml", "drlearner", "causal_forest", "forest_dr")
FOREST_KINDS = ("causal_forest", "forest_dr")
FINAL_STAGE_KEYS = ("featurizer", "model_final")
SAVEABLE_LEARNERS = (
    "learner 'r', 'dr', 'auto', 'causal_forest' or 'forest_dr' (NonParamDML, DRLearner, "
    "CausalForestDML or ForestDRLearner, without a featurizer or with a scikit-learn "
    "StandardScaler as `featurizer`)"
)


def encode_cate(estimator: Any) -> dict | None:
    """The part of a fitted EconML estimator that a router file keeps.

    Parameters
    ----------
    estimator : NonParamDML, DRLearner, CausalForestDML, ForestDRLearner, SavedCateModel or None
        The router's ``cate_estimator_``; a :class:`SavedCateModel` (a loaded router saved
        again) is kept as it is.

    Returns
    -------
    dict or None
        ``{"kind": one of KINDS, "models": [final stage]}`` (module docstring); None for None.
        The arrays of a forest are not audited here: :mod:`._models` does it on save and load.

    Raises
    ------
    ValueError
        For other estimators, featurizers other than a scikit-learn ``StandardScaler``,
        multitask final models, or more than one final model.
    """
    if estimator is None:
        return None
    if isinstance(estimator, SavedCateModel):
        return {"kind": estimator.kind, "models": list(estimator.models)}
    import_dowhy_quietly()
    from econml.dml import CausalForestDML, NonParamDML
    from econml.dr import DRLearner, ForestDRLearner
    from sklearn.preprocessing import StandardScaler

    name = type(estimator).__name__
    kind = {
        NonParamDML: "nonparam_dml",
        DRLearner: "drlearner",
        CausalForestDML: "causal_forest",
        ForestDRLearner: "forest_dr",
    }.get(type(estimator))
    if kind == "drlearner" and estimator.multitask_model_final:
        kind = None
    if kind is None:
        raise ValueError(
            f"Cannot save a MetaRouter whose `cate_estimator_` is a {name}: only routers with "
            f"{SAVEABLE_LEARNERS} can be saved."
        )
    featurizer = getattr(estimator, "featurizer_", None)
    if featurizer is not None and type(featurizer) is not StandardScaler:
        raise ValueError(
            f"Cannot save a MetaRouter whose {name} has a {type(featurizer).__name__} as "
            "`featurizer`: router files hold only a scikit-learn StandardScaler featurizer (or "
            "none), whose fitted state is checked on load."
        )
    models = _final_models(estimator, kind)
    if len(models) != 1:
        raise ValueError(
            f"Cannot save a MetaRouter whose {name} has {len(models)} final models; the router "
            "has one binary treatment (gold vs preference), so it expects one."
        )
    final = models[0]
    if kind in FOREST_KINDS:
        final = _encode_econml_forest(final, kind, name)
    elif featurizer is None:
        return {"kind": kind, "models": [final]}  # format 1
    return {"kind": kind, "models": [{"featurizer": featurizer, "model_final": final}]}


def _final_models(estimator: Any, kind: str) -> list:
    if kind == "nonparam_dml":
        return [estimator.model_final_]
    if kind == "causal_forest":  # a MultiOutputGRF: one forest per outcome
        return list(getattr(estimator.model_final_, "estimators_", None) or [])
    return list(estimator.fitted_models_final)


def _encode_econml_forest(forest: Any, kind: str, name: str) -> dict:
    from econml.grf import CausalForest, RegressionForest

    expected = CausalForest if kind == "causal_forest" else RegressionForest
    if type(forest) is not expected:
        raise ValueError(
            f"Cannot save a MetaRouter whose {name} has a {type(forest).__name__} as final "
            f"model; a router file holds EconML's {expected.__name__} there."
        )
    return encode_forest(forest)


def cate_format_version(encoded: dict | None) -> int:
    """The router file format that ``encoded`` (:func:`encode_cate`) needs: 1, or 2 (see module)."""
    if encoded is None or not isinstance(encoded["models"][0], dict):
        return 1
    return 2


def decode_cate(encoded: object, bad: str, format_version: int) -> SavedCateModel | None:
    """The stand-in for a loaded payload's ``cate`` entry; ``bad`` starts the error messages.

    Only the shape of the entry is checked here; the models are checked by :mod:`._models`.
    """
    if encoded is None:
        return None
    if not isinstance(encoded, dict) or encoded.get("kind") not in KINDS:
        raise ValueError(f"{bad}: unknown CATE model {encoded!r:.100}.")
    kind, models = encoded["kind"], encoded.get("models")
    if not (isinstance(models, list) and len(models) == 1):
        raise ValueError(f"{bad}: the CATE model is not one final stage.")
    stage = models[0]
    if isinstance(stage, dict):
        if format_version < 2:
            raise ValueError(
                f"{bad}: a featurizer or a forest in the CATE model of a router file of format "
                f"version {format_version} (they came with version 2)."
            )
        if set(stage) != set(FINAL_STAGE_KEYS):
            raise ValueError(
                f"{bad}: the CATE model's final stage must have the entries "
                f"{list(FINAL_STAGE_KEYS)}; got {sorted(map(str, stage))}."
            )
        final = stage["model_final"]
        if kind in FOREST_KINDS:
            if not isinstance(final, dict):
                raise ValueError(f"{bad}: the CATE model of a {kind} is not an encoded forest.")
        elif not hasattr(final, "predict"):
            raise ValueError(f"{bad}: the CATE model is not one fitted regressor.")
    elif kind in FOREST_KINDS or not hasattr(stage, "predict"):
        raise ValueError(f"{bad}: the CATE model is not one fitted regressor.")
    return SavedCateModel(kind, models)


def final_stage_effect(kind: str, model: Any, X: Any) -> np.ndarray:
    """EconML 0.17's ``const_marginal_effect`` from the final stage alone, shape ``(n, 1)``.

    For one binary treatment and a single outcome, EconML's final stage is the featurizer's
    ``transform`` (if any) and the final model's ``predict``, with this reshaping only:

    * ``DRLearner`` (``_ModelFinal.predict``) transforms ``X`` as given and predicts on the
      result, one column per treatment.
    * ``NonParamDML`` (``_FinalWrapper.predict``) transforms the rows repeated once per unit
      treatment (``broadcast_unit_treatments``) and predicts on the ``cross_product`` of the
      result and that treatment; with one treatment that is the transformed ``X`` times 1.0,
      a new C-ordered array of at least float64 (the memory order changes the rounding of a
      linear model's matrix product, so it matters, and so does featurizing before the cast,
      for float32 input). Its weight trick fits no intercept, so none is subtracted.
    * ``CausalForestDML`` (``_CausalForestFinalWrapper.predict``) and ``ForestDRLearner``
      (``_ModelFinal.predict``) transform ``X`` and predict with the forest
      (:func:`._forest.forest_effect`).

    The featurizer transforms a copy (``copy=True``): the values are those of EconML's
    transform, and ``X`` is never modified.

    Parameters
    ----------
    kind : {"nonparam_dml", "drlearner", "causal_forest", "forest_dr"}
        The EconML estimator the model comes from.
    model : regressor or dict
        Its final stage as :func:`encode_cate` gives it: the final model (``model_final_`` or
        ``fitted_models_final[0]``), or ``{"featurizer": ..., "model_final": ...}``.
    X : ndarray of shape (n_queries, n_features)

    Returns
    -------
    ndarray of shape (n_queries, 1)
    """
    X = np.asarray(X)
    featurizer, final = (
        (model["featurizer"], model["model_final"]) if isinstance(model, dict) else (None, model)
    )
    if featurizer is not None:
        X = featurizer.transform(X, copy=True)
    if kind in FOREST_KINDS:
        return forest_effect(final, X)
    if kind == "nonparam_dml":
        X = np.ascontiguousarray(X, dtype=np.result_type(X, np.float64))
    return np.reshape(final.predict(X), (-1, 1))


class SavedCateModel:
    """Read-only stand-in for the EconML estimator of a loaded :class:`MetaRouter`.

    It holds the final stage only and gives the same bits as the fitted estimator's
    ``const_marginal_effect(X)`` and ``effect(X)`` (``T0=0``, ``T1=1``: preference to gold).
    Nuisance models, inference and summaries are not saved.

    Parameters
    ----------
    kind : {"nonparam_dml", "drlearner", "causal_forest", "forest_dr"}
        The EconML estimator the model comes from.
    models : list of one final stage
        Its fitted final model, or a dict of its featurizer and final model (module docstring).
    """

    def __init__(self, kind: str, models: list) -> None:
        self.kind = kind
        self.models = models

    def __repr__(self) -> str:
        stage = self.models[0]
        if not isinstance(stage, dict):
            return f"SavedCateModel(kind={self.kind!r}, model={type(stage).__name__})"
        final = stage["model_final"]
        described = (
            f"forest of {np.size(final.get('node_count', ()))} trees"
            if isinstance(final, dict)
            else type(final).__name__
        )
        featurizer = stage["featurizer"]
        prefix = "" if featurizer is None else f"featurizer={type(featurizer).__name__}, "
        return f"SavedCateModel(kind={self.kind!r}, {prefix}model={described})"

    def const_marginal_effect(self, X: Any) -> np.ndarray:
        """Constant marginal CATE of the gold treatment, shape ``(n_queries, 1)``."""
        return final_stage_effect(self.kind, self.models[0], X)

    def effect(self, X: Any, *, T0: object = 0, T1: object = 1) -> np.ndarray:
        """CATE of moving from preference (``T0=0``) to gold (``T1=1``), shape ``(n_queries,)``.

        As EconML's ``LinearCateEstimator.effect``: the marginal effect contracted with
        ``T1 - T0`` (one-hot, so a column of ones), which also turns ``-0.0`` into ``0.0``.
        """
        if (T0, T1) != (0, 1):
            raise ValueError(
                f"A loaded router's CATE model only computes T0=0, T1=1; got T0={T0!r}, T1={T1!r}."
            )
        effect = self.const_marginal_effect(X)
        return np.einsum("mt,mt->m", effect, np.ones((effect.shape[0], 1)))
