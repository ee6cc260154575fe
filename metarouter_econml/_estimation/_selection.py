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
  reference model (boosted trees) is replaced only on evidence (one standard error of the
  paired difference). When the boosted trees are kept they are averaged with a small random
  forest (scikit-learn's ``VotingRegressor``), which ranks queries differently and better on
  part of the battery where squared error cannot tell the two apart.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.ensemble import VotingRegressor
from sklearn.model_selection import KFold, ShuffleSplit, StratifiedKFold, cross_val_predict

from ._models import ROUTER_CV_ROWS, router_average_partner, router_model_candidates

__all__ = [
    "ONE_SE_RULE",
    "ROUTER_CV_FOLDS",
    "ROUTER_STOPPING_ROUNDS",
    "cached_pseudo_outcomes",
    "keep_reference_unless_beaten",
    "paired_losses",
    "select_final_stage",
    "select_router_model",
    "validated_router_model",
]

#: Another router model must beat the reference by this many standard errors of the paired
#: difference of held-out squared errors.
ONE_SE_RULE = 1.0

#: Trees without a lower hold-out error after which an early-stopped router model stops.
ROUTER_STOPPING_ROUNDS = 40

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


def _fit_early_stopped(model, X_train, y_train, X_held, y_held):
    """Fit a boosted LightGBM ``model``, early-stopped on the held-out rows' squared error.

    It stops :data:`ROUTER_STOPPING_ROUNDS` trees after the lowest held-out error; returns the
    model and the number of trees at that lowest error.
    """
    from lightgbm import early_stopping

    model.fit(
        X_train,
        y_train,
        eval_X=(X_held,),
        eval_y=(y_held,),
        eval_metric="l2",
        callbacks=[early_stopping(ROUTER_STOPPING_ROUNDS, first_metric_only=True, verbose=False)],
    )
    # best_iteration_ is 0 when no round improved on the first
    return model, max(1, int(model.best_iteration_))


def select_router_model(
    candidates: dict,
    X: np.ndarray,
    y: np.ndarray,
    *,
    random_state: int,
    partner: object | None = None,
) -> tuple[object, pd.DataFrame]:
    """Choose and fit the router model on held-out rows of its training labels.

    ``candidates`` maps names to unfitted regressors, the reference (the one kept without
    evidence against it) first; :func:`~._models.router_model_candidates` gives them for the
    number of rows. Two designs, by size:

    * Up to :data:`ROUTER_CV_ROWS` rows every row is held out once
      (:data:`ROUTER_CV_FOLDS`-fold ``cross_val_predict``) and every candidate is scored by its
      held-out squared error. Another candidate replaces the reference only when it lowers that
      error by more than :data:`ONE_SE_RULE` standard errors of the paired per-row difference
      (the lowest such error wins): two models of similar error can rank queries quite
      differently, and a coin flip between them would make routing less stable, not better.
    * Above, the reference (LightGBM boosted trees) is fitted once, on 75% of the rows, and
      chooses its number of trees there: it stops :data:`ROUTER_STOPPING_ROUNDS` trees after its
      lowest squared error on the other 25%. It is kept when, with that many trees, it beats the
      mean of the training labels (the constant prediction) on the held-out rows by more than
      :data:`ONE_SE_RULE` paired standard errors; otherwise the labels show no signal boosting
      can learn and the second candidate (the forest, whose average of deep trees still ranks
      such labels, ``benchmarks/RESULTS.md`` §13k) is used, unscored. Squared error alone would
      choose the nearly constant boosted model there, which ranks queries worst.

    The chosen candidate is refitted on all rows (the boosted trees with their chosen number).
    When it is the reference and a ``partner`` (an unfitted regressor) is given, the model
    returned is the average of the two, both fitted on all rows (scikit-learn's
    ``VotingRegressor``, parts named after the reference and ``"forest"``): averaging the
    boosted trees with a small forest gains where the forest ranks better and costs less where
    it ranks worse, which held-out squared error cannot tell apart (``benchmarks/RESULTS.md``
    §13m, §13n). The partner is not scored. A LightGBM random forest (chosen, or the partner)
    with a tree that never split (constant labels or features, a few dozen rows) is not used:
    LightGBM gives such a tree the output 0, not its rows' mean, so the forest's predictions
    shrink towards 0; the reference alone is returned instead (and marked ``chosen``).

    Returns
    -------
    model : regressor
        The chosen candidate (or its average with ``partner``), fitted on all rows.
    table : DataFrame
        One row per candidate, and on large data one for the constant prediction (index
        ``router_model``: ``"boosted"``, ``"mean"``, ``"forest"``): ``mse`` (held-out mean
        squared error; NaN for a candidate not scored), ``diff`` and ``diff_se`` (paired
        difference against the reference, or on large data against the mean, and its standard
        error), ``trees`` (number of trees of the candidate as it would be refitted; 0 for the
        mean) and ``chosen``.
    """
    if X.shape[0] <= ROUTER_CV_ROWS:
        models, table = _cross_validated_choice(candidates, X, y, random_state)
    else:
        models, table = _hold_out_choice(candidates, X, y, random_state)
    reference = next(iter(models))
    chosen = str(table.index[table["chosen"]][0])
    if chosen != reference:
        model = models[chosen].fit(X, y)
        if not _unsplit_forest_trees(model):
            return model, table
        # constant labels or features: the forest cannot split, and would predict 0
        chosen = reference
        table["chosen"] = table.index == reference
    if partner is None:
        return models[reference].fit(X, y), table
    average = VotingRegressor([(reference, models[reference]), ("forest", clone(partner))])
    average.fit(X, y)
    if _unsplit_forest_trees(average.named_estimators_["forest"]):
        return average.named_estimators_[reference], table
    return average, table


def _unsplit_forest_trees(model) -> int:
    """Trees that never split in a fitted LightGBM random forest (0 for any other model).

    LightGBM (4.7) gives such a tree the output 0, not the mean of its rows, and a random
    forest averages the outputs: on constant labels or features, or a few dozen rows, its
    predictions shrink towards 0. A forest with such trees is not used.
    """
    params = model.get_params() if hasattr(model, "get_params") else {}
    if params.get("boosting_type") != "rf" or not hasattr(model, "booster_"):
        return 0
    return model.booster_.model_to_string().count("\nnum_leaves=1\n")


def _trees(model) -> float:
    return float(model.get_params().get("n_estimators", np.nan))


def _cross_validated_choice(candidates: dict, X, y, random_state: int):
    n_rows = X.shape[0]
    n_splits = max(2, min(ROUTER_CV_FOLDS, n_rows // 2))
    folds = KFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    errors = {
        name: (y - cross_val_predict(clone(model), X, y, cv=folds)) ** 2
        for name, model in candidates.items()
    }
    reference = next(iter(candidates))
    table = paired_losses(errors, reference).rename(columns={"loss": "mse"})
    table = table.rename_axis("router_model")
    table["trees"] = [_trees(model) for model in candidates.values()]
    chosen = keep_reference_unless_beaten(
        table, reference, margin=ONE_SE_RULE, score="mse", higher_is_better=False
    )
    table["chosen"] = table.index == chosen
    return {name: clone(model) for name, model in candidates.items()}, table


def _hold_out_choice(candidates: dict, X, y, random_state: int):
    (boosted_name, boosted), (fallback_name, fallback) = candidates.items()
    train, held = next(ShuffleSplit(n_splits=1, test_size=0.25, random_state=random_state).split(X))
    fitted, trees = _fit_early_stopped(clone(boosted), X[train], y[train], X[held], y[held])
    errors = {
        boosted_name: (y[held] - fitted.predict(X[held], num_iteration=trees)) ** 2,
        "mean": (y[held] - y[train].mean()) ** 2,
    }
    table = paired_losses(errors, "mean").rename(columns={"loss": "mse"})
    learns = keep_reference_unless_beaten(
        table, "mean", margin=ONE_SE_RULE, score="mse", higher_is_better=False
    )
    chosen = boosted_name if learns == boosted_name else fallback_name
    models = {
        boosted_name: clone(boosted).set_params(n_estimators=trees),
        fallback_name: clone(fallback),
    }
    table.loc[fallback_name] = np.nan  # not scored
    table = table.rename_axis("router_model")
    table["trees"] = [float(trees), 0.0, _trees(fallback)]
    table["chosen"] = table.index == chosen
    return models, table


def validated_router_model(
    X: np.ndarray, y: np.ndarray, *, random_state: int, n_jobs: int = 1, average: bool = True
) -> tuple[object, pd.DataFrame]:
    """The default router model, chosen and fitted on ``(X, y)``.

    The candidates of :func:`router_model_candidates` for this many rows, chosen by
    :func:`select_router_model`; the boosted trees, when kept, are averaged with
    :func:`~._models.router_average_partner` unless ``average`` is False.
    """
    candidates = router_model_candidates(random_state, n_jobs, n_rows=X.shape[0])
    partner = router_average_partner(random_state, n_jobs) if average else None
    return select_router_model(candidates, X, y, random_state=random_state, partner=partner)
