"""Validated choices of the default final CATE stage and of the default router model.

Neither choice is made by habit: each default role has a small set of candidates (``_models``)
and the data at hand decide between them.

* **Final CATE stage** (learners ``"r"`` and ``"dr"`` without a ``model_final``). EconML fits
  the nuisances once, with cross-fitting, and caches the out-of-fold values; every candidate
  final model is then cross-validated on those cached values with the learner's own loss: the
  R-loss for the R-learner (pseudo-outcome ``Y_res / T_res`` weighted by ``T_res ** 2``, the
  loss EconML's ``RScorer`` computes, here on held-out folds of the same rows rather than on a
  separate validation set, which at 2% gold rows would cost half of them), the squared error
  on the doubly robust pseudo-outcome for the DR-learner. The candidate with the lowest loss
  is kept and EconML refits only its final stage (``refit_final``).
* **Router model** (``router_model=None``). Held-out squared error on the router's own
  training labels (scikit-learn's ``cross_val_predict``, or one hold-out on large data); the
  reference model is replaced only on evidence (one standard error of the paired difference).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import KFold, ShuffleSplit, StratifiedKFold, cross_val_predict

__all__ = [
    "ONE_SE_RULE",
    "ROUTER_CV_FOLDS",
    "ROUTER_CV_ROWS",
    "cached_pseudo_outcomes",
    "keep_reference_unless_beaten",
    "paired_losses",
    "select_final_stage",
    "select_router_model",
]

#: Another router model must beat the reference by this many standard errors of the paired
#: difference of held-out squared errors.
ONE_SE_RULE = 1.0

#: Up to this many rows the router model is chosen by :data:`ROUTER_CV_FOLDS`-fold
#: cross-validation; above, by one 25% hold-out (at least 500 rows: enough to compare two
#: models, at a third of the cost).
ROUTER_CV_ROWS = 2000

#: Folds of the router model's cross-validation. Every row is held out once whatever the
#: number of folds, so the paired comparison keeps its size; 3 folds instead of 5 make the
#: validation about 35% cheaper (7 fits instead of 11, with the refit) for choices that did
#: not differ beyond noise on the battery's small scenarios (``benchmarks/RESULTS.md`` §13i).
ROUTER_CV_FOLDS = 3


def cached_pseudo_outcomes(estimator, kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The final stage's regression problem from EconML's cached nuisances.

    Returns ``(target, weight, treatment)`` per fitted row: for ``"r"`` (``NonParamDML``) the
    target ``Y_res / T_res`` with weight ``T_res ** 2`` (EconML's weight trick, with its clipping
    of ``|T_res|`` at 1e-5); for ``"dr"`` (``DRLearner``) the doubly robust pseudo-outcome with
    weight 1. The estimator must have been fitted with ``cache_values=True``.
    """
    cached = getattr(estimator, "_cached_values", None)  # EconML 0.17: CachedValues namedtuple
    if cached is None:
        raise RuntimeError("the CATE estimator was not fitted with cache_values=True")
    treatment = np.ravel(cached.T).astype(np.int64)
    if kind == "r":
        y_res, t_res = (np.ravel(value) for value in cached.nuisances[:2])
        t_res = np.where(t_res < 0, -1.0, 1.0) * np.clip(np.abs(t_res), 1e-5, np.inf)
        return y_res / t_res, t_res**2, treatment
    y_pred = cached.nuisances[0]
    target = np.reshape(y_pred[..., 1] - y_pred[..., 0], -1)
    return target, np.ones_like(target), treatment


def paired_losses(losses: dict, reference: str, *, total: float | None = None) -> pd.DataFrame:
    """Mean held-out loss per candidate, and its paired difference from ``reference``.

    ``losses`` maps names to per-row losses on the same rows (weighted losses for a weighted
    criterion, ``total`` then being the sum of the weights; None: the number of rows). Returns
    one row per candidate, in order: ``loss`` (sum / total), ``diff`` (the mean paired
    difference against ``reference``) and ``diff_se`` (its standard error,
    ``sd * sqrt(n) / total``, i.e. ``sd / sqrt(n)`` for unweighted losses).
    """
    base = losses[reference]
    total = base.size if total is None else total
    rows = {}
    for name, loss in losses.items():
        diff = loss - base
        rows[name] = {
            "loss": float(loss.sum() / total),
            "diff": float(diff.sum() / total),
            "diff_se": float(np.std(diff, ddof=1) * np.sqrt(diff.size) / total),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def keep_reference_unless_beaten(
    table: pd.DataFrame,
    reference: str,
    *,
    margin: float,
    score: str,
    higher_is_better: bool,
) -> str:
    """The candidate to keep: ``reference``, unless others beat it by ``margin`` paired SEs.

    ``table`` is indexed by candidate, with the criterion in column ``score``, the paired
    difference from ``reference`` in ``diff`` and its standard error in ``diff_se`` (as
    :func:`paired_losses` returns them). A candidate beats the reference when its difference
    is better than zero by more than ``margin`` standard errors; among those that do, the one
    with the best ``score`` is returned (the first on ties).
    """
    sign = 1.0 if higher_is_better else -1.0
    better = table[sign * table["diff"] > margin * table["diff_se"]]
    if better.empty:
        return reference
    return str((sign * better[score]).idxmax())


def _held_out_losses(model, Z, target, weight, treatment, folds, is_r: bool) -> np.ndarray:
    """Per-row weighted squared error of ``model`` refitted without each row's fold."""
    losses = np.empty(target.size)
    for train, test in folds.split(Z, treatment):
        fitted = clone(model)
        if is_r:
            fitted.fit(Z[train], target[train], sample_weight=weight[train])
        else:
            fitted.fit(Z[train], target[train])
        losses[test] = weight[test] * (target[test] - fitted.predict(Z[test])) ** 2
    return losses


def select_final_stage(
    estimator, kind: str, candidates: dict, *, n_splits: int, random_state: int
) -> pd.DataFrame:
    """Choose the final model of a fitted ``NonParamDML``/``DRLearner`` by cross-validation.

    ``candidates`` maps names to unfitted regressors; the estimator must have been fitted with
    the first one and ``cache_values=True``. Each candidate is cross-validated (``n_splits``
    folds stratified on the gold flag) on the cached out-of-fold nuisances, on the features the
    final stage sees (the estimator's fitted featurizer applied, if any). The candidate with
    the lowest loss is kept (no one-standard-error rule: with ~100 gold rows the paired
    differences between final stages are rarely larger than their error, and the rule kept the
    ridge stage where the lasso or boosted stage routed better, ``benchmarks/RESULTS.md``);
    when it is not the first, EconML refits the final stage with it (``refit_final``). The
    estimator's cache is then released.

    Returns
    -------
    DataFrame
        One row per candidate (index ``final_stage``): ``loss`` (mean held-out loss), ``diff``
        and ``diff_se`` (paired difference against the lowest loss and its standard error) and
        ``chosen`` (bool).
    """
    cached = estimator._cached_values
    target, weight, treatment = cached_pseudo_outcomes(estimator, kind)
    featurizer = getattr(estimator, "featurizer_", None)
    Z = np.asarray(cached.X, dtype=np.float64)
    if featurizer is not None:
        Z = featurizer.transform(Z)
    n_splits = max(2, min(n_splits, int(treatment.sum()), int((1 - treatment).sum())))
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    losses = {
        name: _held_out_losses(model, Z, target, weight, treatment, folds, kind == "r")
        for name, model in candidates.items()
    }
    total_weight = weight.sum()
    chosen = min(losses, key=lambda name: losses[name].sum())
    table = paired_losses(losses, chosen, total=total_weight).rename_axis("final_stage")
    table["chosen"] = table.index == chosen
    if chosen != next(iter(candidates)):
        estimator.model_final = clone(candidates[chosen])
        estimator.refit_final()
    # The cache is a copy of the training data and nuisances, which nothing reads any more.
    estimator._cached_values = None
    return table


def select_router_model(
    candidates: dict, X: np.ndarray, y: np.ndarray, *, random_state: int
) -> tuple[object, pd.DataFrame]:
    """Choose and fit the router model by held-out squared error on its training labels.

    ``candidates`` maps names to unfitted regressors, the reference (the one kept without
    evidence against it) first. Up to :data:`ROUTER_CV_ROWS` rows every row is held out once
    (:data:`ROUTER_CV_FOLDS`-fold ``cross_val_predict``); above, one 25% hold-out. Another
    candidate replaces the reference only when it lowers the held-out squared error by more
    than :data:`ONE_SE_RULE` standard errors of the paired per-row difference (the lowest such
    error wins): two models of similar error can rank queries quite differently, and a coin
    flip between them would make routing less stable, not better. The chosen candidate is
    refitted on all rows.

    Returns
    -------
    model : regressor
        The chosen candidate, fitted on all rows.
    table : DataFrame
        One row per candidate (index ``router_model``): ``mse`` (held-out mean squared error),
        ``diff`` and ``diff_se`` (paired difference against the reference and its standard
        error) and ``chosen``.
    """
    n_rows = X.shape[0]
    if n_rows <= ROUTER_CV_ROWS:
        held = np.arange(n_rows)
        n_splits = max(2, min(ROUTER_CV_FOLDS, n_rows // 2))
        folds = KFold(n_splits=n_splits, shuffle=True, random_state=random_state)
        predictions = {
            name: cross_val_predict(clone(model), X, y, cv=folds)
            for name, model in candidates.items()
        }
    else:
        train, held = next(
            ShuffleSplit(n_splits=1, test_size=0.25, random_state=random_state).split(X)
        )
        predictions = {
            name: clone(model).fit(X[train], y[train]).predict(X[held])
            for name, model in candidates.items()
        }
    errors = {name: (y[held] - prediction) ** 2 for name, prediction in predictions.items()}
    reference = next(iter(candidates))
    table = paired_losses(errors, reference).rename(columns={"loss": "mse"})
    table = table.rename_axis("router_model")
    chosen = keep_reference_unless_beaten(
        table, reference, margin=ONE_SE_RULE, score="mse", higher_is_better=False
    )
    table["chosen"] = table.index == chosen
    return clone(candidates[chosen]).fit(X, y), table
