"""``learner="auto"``: keep the default unless another candidate validates better on gold rows."""

from __future__ import annotations

import warnings
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import KFold

from .._estimation import paired_losses
from ._baselines import GoldOnlyRouter, MeanShiftRouter, PooledRouter

__all__ = [
    "AUTO_BASELINES",
    "AUTO_LEARNERS",
    "AUTO_REFERENCE",
    "choose_learner",
    "held_out_predictions",
]

AUTO_REFERENCE = "r"  # the default learner: kept unless a candidate beats it clearly
AUTO_LEARNERS = ("r", "dr")  # the CATE learners "auto" validates
AUTO_BASELINES = ("gold_only", "mean_shift", "pooled")  # the baselines it validates
_BASELINE_CLASSES = {
    "gold_only": GoldOnlyRouter,
    "mean_shift": MeanShiftRouter,
    "pooled": PooledRouter,
}


def _candidate(router, name: str, seed: int):
    """An unfitted router for candidate ``name``, configured like ``router``.

    GS labels reach the candidates already on the PB scale, hence ``gold_scale=1.0``.
    """
    if name in _BASELINE_CLASSES:
        return _BASELINE_CLASSES[name](
            router_model=router.router_model,
            gold_scale=1.0,
            n_jobs=router.n_jobs,
            random_state=seed,
        )
    candidate = clone(router).set_params(
        learner=name, gold_scale=1.0, random_state=seed, n_bootstrap=None
    )  # intervals are for the chosen learner only
    candidate._skip_positivity_check = True  # the router being fitted checks it once
    return candidate


def held_out_predictions(router, X, y_pb, gold, seed) -> tuple[np.ndarray, dict, np.ndarray]:
    """Every candidate's psi prediction on each GS row, from a fit without that row's fold.

    The GS rows are split into K folds (``router.cv`` when it is an int, else 3; at most
    half the GS rows); for each fold every candidate of :data:`AUTO_LEARNERS` and
    :data:`AUTO_BASELINES` is refitted on all other rows (PB rows always train) and predicts
    the held-out GS rows, on the PB scale of ``y_pb``.

    Returns
    -------
    gold_idx : ndarray of int
        Positions of the GS rows in ``X``.
    predictions : dict
        Candidate name -> held-out predictions, aligned with ``gold_idx``.
    fold : ndarray of int
        The fold of each GS row (0 to K - 1), aligned with ``gold_idx``.
    """
    gold_idx = np.flatnonzero(gold)
    if gold_idx.size < 4:  # each candidate is refitted without a fold and needs 2 GS rows
        raise ValueError(
            "`learner='auto'` cross-validates its candidates on the gold-standard rows and "
            f"needs at least 4 of them in `gold`; got {gold_idx.size}. Pass a learner (e.g. "
            "learner='r') or use MeanShiftRouter."
        )
    cv = router.cv if isinstance(router.cv, Integral) else 3
    n_splits = max(2, min(int(cv), gold_idx.size // 2))
    splitter = KFold(n_splits=n_splits, shuffle=True, random_state=seed)
    names = AUTO_LEARNERS + AUTO_BASELINES
    predictions = {name: np.empty(gold_idx.size) for name in names}
    fold = np.empty(gold_idx.size, dtype=np.int64)
    for k, (_, held) in enumerate(splitter.split(gold_idx)):
        fold[held] = k
        held_rows = gold_idx[held]
        keep = np.ones(X.shape[0], dtype=bool)
        keep[held_rows] = False
        for name in names:
            candidate = _candidate(router, name, seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                candidate.fit(X[keep], y_pb[keep], gold=gold[keep])
            predictions[name][held] = candidate.predict(X[held_rows])
    return gold_idx, predictions, fold


def choose_learner(router, X, y_pb, gold, seed) -> tuple[str, pd.DataFrame, str]:
    """Pick a learner by K-fold cross-validation over the GS rows; PB rows always train.

    Candidates: the default learner (:data:`AUTO_REFERENCE`, with its validated final stage and
    router model), the other CATE learners of :data:`AUTO_LEARNERS` and the baselines of
    :data:`AUTO_BASELINES` (gold-only, mean-shift, pooling). Every candidate is refitted without
    the held-out GS rows and scored by the squared error of its psi prediction against their
    (rescaled) GS labels, which are unbiased for psi (noisy, but with noise that does not depend
    on the candidate). The default is kept unless a candidate lowers that error by more than one
    standard error of the paired per-row difference; among those that do, the lowest error
    wins. So ``"auto"`` departs from the default only on evidence of a lower held-out error.
    That error also rewards predictions shrunk towards the mean, so it is not a guarantee of
    better routing: on a first battery ``"auto"`` sometimes left the default for a candidate that
    ranked queries worse (``benchmarks/RESULTS.md`` §13c).

    Returns
    -------
    learner : str
        One of :data:`AUTO_LEARNERS` or :data:`AUTO_BASELINES`.
    scores : DataFrame
        Per candidate: held-out mean squared error, paired difference against the default and
        its standard error.
    reason : str
        What was chosen and why, in words.
    """
    gold_idx, predictions, fold = held_out_predictions(router, X, y_pb, gold, seed)
    n_splits = int(fold.max()) + 1
    errors = {name: (pred - y_pb[gold_idx]) ** 2 for name, pred in predictions.items()}
    scores = paired_losses(errors, AUTO_REFERENCE).rename(
        columns={"loss": "mse", "diff": "diff_vs_default"}
    )
    scores = scores.rename_axis("learner")
    better = scores[scores["diff_vs_default"] + scores["diff_se"] < 0]
    where = f"{gold_idx.size} held-out GS rows in {n_splits} folds"
    if better.empty:
        best = scores["mse"].drop(AUTO_REFERENCE).idxmin()
        reason = (
            f"No candidate beat the default {AUTO_REFERENCE!r} by more than one standard error "
            f"on {where} (closest: {best!r}, difference "
            f"{scores.loc[best, 'diff_vs_default']:.4g} +/- {scores.loc[best, 'diff_se']:.4g}); "
            f"{AUTO_REFERENCE!r} is kept."
        )
        return AUTO_REFERENCE, scores, reason
    chosen = str(better["mse"].idxmin())
    gain = scores.loc[chosen]
    reason = (
        f"{chosen!r} lowered the held-out GS squared error of the default {AUTO_REFERENCE!r} by "
        f"{-gain['diff_vs_default']:.4g} (more than one standard error, {gain['diff_se']:.4g}) "
        f"on {where}."
    )
    return chosen, scores, reason
