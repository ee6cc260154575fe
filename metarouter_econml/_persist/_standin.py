"""The CATE model of a saved MetaRouter: EconML's final stage, without the rest of the estimator.

A fitted EconML estimator holds nuisance models for every fold, model selection results and
inference state that ``estimate_bias`` never uses. A router file keeps only its final CATE
model(s) (:func:`encode_cate`); a loaded router gets a :class:`SavedCateModel` in their place,
which predicts with them as EconML 0.17 does (:func:`final_stage_effect`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._compat import import_dowhy_quietly

__all__ = ["KINDS", "SAVEABLE_LEARNERS", "SavedCateModel", "encode_cate", "final_stage_effect"]

KINDS = ("nonparam_dml", "drlearner")
SAVEABLE_LEARNERS = "learner 'r', 'dr' or 'auto' (NonParamDML or DRLearner without a featurizer)"


def encode_cate(estimator: Any) -> dict | None:
    """The part of a fitted EconML estimator that a router file keeps.

    Parameters
    ----------
    estimator : NonParamDML, DRLearner, SavedCateModel or None
        The router's ``cate_estimator_``; a :class:`SavedCateModel` (a loaded router saved
        again) is kept as it is.

    Returns
    -------
    dict or None
        ``{"kind": one of KINDS, "models": [final model]}``; None for None.

    Raises
    ------
    ValueError
        For ``CausalForestDML`` and ``ForestDRLearner`` (their final model is an EconML forest,
        whose Cython ``Tree`` skops cannot rebuild: its constructor needs arguments, and
        rebuilding it by hand would mean constructing a private EconML class from its private
        state), for other estimators, featurizers, multitask final models, or more than one
        final model.
    """
    if estimator is None:
        return None
    if isinstance(estimator, SavedCateModel):
        return {"kind": estimator.kind, "models": list(estimator.models)}
    import_dowhy_quietly()
    from econml.dml import CausalForestDML, NonParamDML
    from econml.dr import DRLearner, ForestDRLearner

    name = type(estimator).__name__
    if type(estimator) in (CausalForestDML, ForestDRLearner):
        raise ValueError(
            f"Cannot save a MetaRouter whose `cate_estimator_` is a {name} "
            "(learner 'causal_forest' or 'forest_dr'): its final model is an EconML forest, "
            f"whose Cython trees skops cannot rebuild. Routers with {SAVEABLE_LEARNERS} can be "
            "saved."
        )
    kind = {NonParamDML: "nonparam_dml", DRLearner: "drlearner"}.get(type(estimator))
    if kind == "drlearner" and estimator.multitask_model_final:
        kind = None
    if kind is None or getattr(estimator, "featurizer_", None) is not None:
        raise ValueError(
            f"Cannot save a MetaRouter whose `cate_estimator_` is a {name}"
            f"{' with a featurizer' if kind else ''}: only routers with {SAVEABLE_LEARNERS} "
            "can be saved."
        )
    models = (
        list(estimator.fitted_models_final) if kind == "drlearner" else [estimator.model_final_]
    )
    if len(models) != 1:
        raise ValueError(
            f"Cannot save a MetaRouter whose {name} has {len(models)} final models; the router "
            "has one binary treatment (gold vs preference), so it expects one."
        )
    return {"kind": kind, "models": models}


def decode_cate(encoded: object, bad: str) -> SavedCateModel | None:
    """The stand-in for a loaded payload's ``cate`` entry; ``bad`` starts the error messages."""
    if encoded is None:
        return None
    if not isinstance(encoded, dict) or encoded.get("kind") not in KINDS:
        raise ValueError(f"{bad}: unknown CATE model {encoded!r:.100}.")
    models = encoded.get("models")
    if not (isinstance(models, list) and len(models) == 1 and hasattr(models[0], "predict")):
        raise ValueError(f"{bad}: the CATE model is not one fitted regressor.")
    return SavedCateModel(encoded["kind"], models)


def final_stage_effect(kind: str, model: Any, X: Any) -> np.ndarray:
    """EconML 0.17's ``const_marginal_effect`` from the final model alone, shape ``(n, 1)``.

    For one binary treatment and a single outcome, EconML's final stage is the final model's
    ``predict`` with this reshaping only:

    * ``DRLearner`` (``_ModelFinal.predict``) predicts on ``X`` as given, one column per
      treatment.
    * ``NonParamDML`` (``_FinalWrapper.predict``) predicts on ``cross_product`` of the rows and
      their unit treatment from ``broadcast_unit_treatments``; with one treatment that is ``X``
      times 1.0, a new C-ordered array of at least float64 (the memory order changes the
      rounding of a linear model's matrix product, so it matters). Its weight trick fits no
      intercept, so none is subtracted.

    Parameters
    ----------
    kind : {"nonparam_dml", "drlearner"}
        The EconML estimator the model comes from.
    model : regressor
        Its fitted final model (``model_final_`` or ``fitted_models_final[0]``).
    X : ndarray of shape (n_queries, n_features)

    Returns
    -------
    ndarray of shape (n_queries, 1)
    """
    X = np.asarray(X)
    if kind == "nonparam_dml":
        X = np.ascontiguousarray(X, dtype=np.result_type(X, np.float64))
    return np.reshape(model.predict(X), (-1, 1))


class SavedCateModel:
    """Read-only stand-in for the EconML estimator of a loaded :class:`MetaRouter`.

    It holds the final CATE model only and gives the same bits as the fitted estimator's
    ``const_marginal_effect(X)`` and ``effect(X)`` (``T0=0``, ``T1=1``: preference to gold).
    Nuisance models, inference and summaries are not saved.

    Parameters
    ----------
    kind : {"nonparam_dml", "drlearner"}
        The EconML estimator the model comes from.
    models : list of one regressor
        Its fitted final model.
    """

    def __init__(self, kind: str, models: list) -> None:
        self.kind = kind
        self.models = models

    def __repr__(self) -> str:
        return f"SavedCateModel(kind={self.kind!r}, model={type(self.models[0]).__name__})"

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
