"""``learner="auto"``: choose among CATE learners and baselines by validation on gold rows."""

from __future__ import annotations

import warnings
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import KFold

from ._baselines import MeanShiftRouter, PooledRouter

__all__ = ["AUTO_BASELINES", "AUTO_LEARNERS", "choose_learner"]

AUTO_LEARNERS = ("r", "dr")  # the CATE learners "auto" validates
AUTO_BASELINES = ("mean_shift", "pooled")  # what it falls back to
_BASELINE_CLASSES = {"mean_shift": MeanShiftRouter, "pooled": PooledRouter}


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
    candidate = clone(router).set_params(learner=name, gold_scale=1.0, random_state=seed)
    candidate._skip_positivity_check = True  # the router being fitted checks it once
    return candidate


def choose_learner(router, X, y_pb, gold, seed) -> tuple[str, pd.DataFrame, str]:
    """Pick a learner by K-fold cross-validation over the GS rows; PB rows always train.

    Every candidate is refitted without the held-out GS rows and scored by the squared error
    of its psi prediction against their (rescaled) GS labels, which are unbiased for psi. A
    CATE learner is chosen only when it beats the better of mean-shift and pooling by more
    than one standard error of the paired per-row difference: with ~100 noisy GS rows a
    smaller error is often luck, and the baselines are the safer default.

    Returns
    -------
    learner : str
        One of :data:`AUTO_LEARNERS` or :data:`AUTO_BASELINES`.
    scores : DataFrame
        Per candidate: held-out mean squared error, paired difference against the better
        baseline and its standard error.
    reason : str
        What was chosen and why, in words.
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
    errors = {name: np.empty(gold_idx.size) for name in names}
    for _, held in splitter.split(gold_idx):
        held_rows = gold_idx[held]
        keep = np.ones(X.shape[0], dtype=bool)
        keep[held_rows] = False
        for name in names:
            candidate = _candidate(router, name, seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                candidate.fit(X[keep], y_pb[keep], gold=gold[keep])
            errors[name][held] = (candidate.predict(X[held_rows]) - y_pb[held_rows]) ** 2
    mse = {name: float(err.mean()) for name, err in errors.items()}
    baseline = min(AUTO_BASELINES, key=mse.__getitem__)
    best_cate = min(AUTO_LEARNERS, key=mse.__getitem__)
    rows = []
    for name, err in errors.items():
        diff = err - errors[baseline]
        rows.append(
            {
                "learner": name,
                "mse": mse[name],
                "diff_vs_baseline": float(diff.mean()),
                "diff_se": float(diff.std(ddof=1) / np.sqrt(diff.size)),
            }
        )
    scores = pd.DataFrame.from_records(rows).set_index("learner")
    gain = scores.loc[best_cate]
    if gain["diff_vs_baseline"] + gain["diff_se"] < 0:
        reason = (
            f"{best_cate!r} lowered the held-out GS squared error of {baseline!r} by "
            f"{-gain['diff_vs_baseline']:.4g} (more than one standard error, "
            f"{gain['diff_se']:.4g}) over {gold_idx.size} GS rows in {n_splits} folds."
        )
        return best_cate, scores, reason
    reason = (
        f"No CATE learner beat {baseline!r} by more than one standard error on {gold_idx.size} "
        f"held-out GS rows ({best_cate!r}: difference {gain['diff_vs_baseline']:.4g} +/- "
        f"{gain['diff_se']:.4g}); the bias estimate did not validate, so {baseline!r} is used."
    )
    return baseline, scores, reason
