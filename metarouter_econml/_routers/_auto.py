"""``learner="auto"``: keep the default unless a candidate ranks held-out GS rows better."""

from __future__ import annotations

import warnings
from numbers import Integral

import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.base import clone
from sklearn.model_selection import KFold

from .._estimation import keep_reference_unless_beaten, paired_losses
from ._baselines import GoldOnlyRouter, MeanShiftRouter, PooledRouter

__all__ = [
    "AUTO_BASELINES",
    "AUTO_LEARNERS",
    "AUTO_MARGIN",
    "AUTO_REFERENCE",
    "GAIN_BUDGETS",
    "choose_learner",
    "held_out_gain_terms",
    "held_out_predictions",
]

AUTO_REFERENCE = "r"  # the default learner: kept unless a candidate beats it clearly
AUTO_LEARNERS = ("r", "dr")  # the CATE learners "auto" validates
AUTO_BASELINES = ("gold_only", "mean_shift", "pooled")  # the baselines it validates
#: Budgets (shares of queries sent to the primary model) of the held-out gain criterion.
GAIN_BUDGETS = np.linspace(0.05, 1.0, 20)
#: A challenger must beat the default by this many standard errors: the one-sided 5% normal
#: quantile with a Bonferroni correction for the 4 challengers (2.24).
AUTO_MARGIN = float(norm.ppf(1 - 0.05 / (len(AUTO_LEARNERS) + len(AUTO_BASELINES) - 1)))
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


def held_out_gain_terms(label: np.ndarray, pred: np.ndarray, fold: np.ndarray) -> np.ndarray:
    """Per-row terms whose mean is the held-out efficiency-gain AUC on the GS rows.

    Within each fold the GS rows are ranked by ``pred`` (the candidates' held-out predictions
    of one fold come from one fit, so only their order within the fold is compared). At each
    budget ``rho`` of :data:`GAIN_BUDGETS` a row among the top ``floor(rho * n_fold)`` adds its
    label, and every row pays ``rho`` times its label (random routing of the same share); the
    terms average this over the budgets, so their mean is the paper's efficiency-gain AUC on the
    held-out rows (per row, not normalised). It is linear in the labels, so with GS labels
    unbiased for psi it is unbiased for the same ranking scored on psi, and a paired difference
    of two candidates' terms has a standard error from their per-row spread.
    """
    terms = np.empty(label.size)
    for k in np.unique(fold):
        rows = np.flatnonzero(fold == k)
        rank = np.empty(rows.size)
        rank[np.argsort(-pred[rows], kind="stable")] = np.arange(rows.size)
        top = np.floor(GAIN_BUDGETS[:, None] * rows.size) > rank[None, :]  # budgets x rows
        terms[rows] = label[rows] * (top.mean(axis=0) - GAIN_BUDGETS.mean())
    return terms


def choose_learner(router, X, y_pb, gold, seed) -> tuple[str, pd.DataFrame, str]:
    """Pick a learner by K-fold cross-validation over the GS rows; PB rows always train.

    Candidates: the default learner (:data:`AUTO_REFERENCE`, with its validated final stage and
    router model), the other CATE learners of :data:`AUTO_LEARNERS` and the baselines of
    :data:`AUTO_BASELINES` (gold-only, mean-shift, pooling). Every candidate is refitted without
    each fold of the GS rows (:func:`held_out_predictions`) and scored by how well its held-out
    predictions *rank* those rows: the efficiency gain of routing them by the prediction, with
    their (rescaled) GS labels as the gains (:func:`held_out_gain_terms`). Routing needs only
    the ranking; the squared error the rule used before also rewards predictions shrunk
    towards the mean and made ``"auto"`` leave the default for worse routers
    (``benchmarks/RESULTS.md`` §13c, §13h). The default is kept unless a candidate raises that
    gain by more than :data:`AUTO_MARGIN` standard errors of the paired per-row difference (a
    one-sided 5% test shared by the four challengers); among those that do, the highest gain
    wins. At about 100 GS rows that evidence is rare, so ``"auto"`` is mostly the default; it
    departs where the GS rows clearly say that the judge should be trusted less (gold-only)
    or differently.

    Returns
    -------
    learner : str
        One of :data:`AUTO_LEARNERS` or :data:`AUTO_BASELINES`.
    scores : DataFrame
        Per candidate (index ``learner``): ``gain`` (held-out efficiency gain on the GS rows,
        per row), ``mse`` (held-out mean squared error, for information), ``diff_vs_default``
        (paired gain difference against the default, positive is better), ``diff_se`` (its
        standard error) and ``chosen`` (bool).
    reason : str
        What was chosen and why, in words.
    """
    gold_idx, predictions, fold = held_out_predictions(router, X, y_pb, gold, seed)
    label = y_pb[gold_idx]
    n_splits = int(fold.max()) + 1
    gains = {name: held_out_gain_terms(label, pred, fold) for name, pred in predictions.items()}
    table = paired_losses(gains, AUTO_REFERENCE)
    chosen = keep_reference_unless_beaten(
        table, AUTO_REFERENCE, margin=AUTO_MARGIN, score="loss", higher_is_better=True
    )
    scores = table.rename(columns={"loss": "gain", "diff": "diff_vs_default"})
    scores.insert(1, "mse", [float(np.mean((predictions[n] - label) ** 2)) for n in scores.index])
    scores = scores.rename_axis("learner")
    where = f"{gold_idx.size} held-out GS rows in {n_splits} folds"
    scores["chosen"] = scores.index == chosen
    if chosen == AUTO_REFERENCE:
        best = scores["gain"].drop(AUTO_REFERENCE).idxmax()
        reason = (
            f"No candidate raised the held-out GS efficiency gain of the default "
            f"{AUTO_REFERENCE!r} by more than {AUTO_MARGIN:.2f} standard errors on {where} "
            f"(closest: {best!r}, difference {scores.loc[best, 'diff_vs_default']:+.4g} +/- "
            f"{scores.loc[best, 'diff_se']:.4g}); {AUTO_REFERENCE!r} is kept."
        )
        return AUTO_REFERENCE, scores, reason
    gain = scores.loc[chosen]
    reason = (
        f"{chosen!r} raised the held-out GS efficiency gain of the default {AUTO_REFERENCE!r} "
        f"by {gain['diff_vs_default']:.4g} (more than {AUTO_MARGIN:.2f} standard errors of "
        f"{gain['diff_se']:.4g}) on {where}."
    )
    return chosen, scores, reason
